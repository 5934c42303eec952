"""`flashbench eval`: generate the benchmark's videos with a model and score them."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import InputError


def parse_model_args(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--model-arg {pair!r}: expected KEY=VALUE")
        out[key.strip().replace("-", "_")] = value
    return out


def parse_groups(values: list[str]) -> tuple[str, ...] | None:
    groups = [g.strip() for v in values for g in v.split(",") if g.strip()]
    return tuple(groups) or None


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_(
        model: str = typer.Option(..., "--model", "-m", help="Generator alias (`flashbench ls generators`) or package.module:factory."),
        bench: Optional[Path] = typer.Option(None, "--bench", help="Benchmark directory (default: $FLASHBENCH_BENCH, else the embedded FlashBench-Synth)."),
        groups: List[str] = typer.Option([], "--groups", help="Groups to evaluate, e.g. --groups 1,2,'>5' (default: all)."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most N videos per group."),
        trajectory: Optional[str] = typer.Option(None, "--trajectory", help="box (default), mask or sparse_box."),
        run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Where videos, per-video files and results go (default: in the cache, keyed by model, benchmark, protocol and seed)."),
        seed: int = typer.Option(0, "--seed", help="Run seed; each video's seed derives from it and the video id."),
        batch_size: int = typer.Option(1, "--batch-size", min=1, help="Requests per generate() call."),
        model_arg: List[str] = typer.Option([], "--model-arg", help="KEY=VALUE option for the generator factory (repeatable)."),
        extractor: str = typer.Option("auto", "--extractor", help="auto (official if cached, else proxy), official or proxy."),
        segmenter: str = typer.Option("auto", "--segmenter", help="auto, sam2 or tracker (the weight-free proxy)."),
        device: str = typer.Option("cpu", "--device", help="Device for the metric networks: cpu, cuda or cuda:N."),
        label: Optional[str] = typer.Option(None, "--label", help="Method name shown in tables."),
        protocol_name: Optional[str] = typer.Option(None, "--protocol", help="Named protocol (`flashbench ls protocols`): flashbench-v1 (default with --bench) or magicbench-49 (first 49 frames)."),
        fid_stride: Optional[int] = typer.Option(None, "--fid-stride", min=1, help="Score every k-th frame for FID (recorded in the protocol)."),
        fvd_clip: Optional[str] = typer.Option(None, "--fvd-clip", help="uniform16 (default), first16 or all."),
        bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples for IoU confidence intervals (0: none)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
        retry_failed: bool = typer.Option(False, "--retry-failed", help="Generate again the videos that failed in an earlier run of this evaluation."),
        strict: bool = typer.Option(False, "--strict", help="Exit with status 1 when any video failed (results are still written)."),
    ) -> None:
        """Generate the benchmark's videos with MODEL (resumable) and compute FID, FVD, mask and box IoU."""
        from ..distributed import init_from_env, shutdown
        from ..embedded import PROTOCOL as EMBEDDED_PROTOCOL
        from ..evaluate import EvalConfig, run
        from ..protocol import DEFAULT, get_protocol
        from ..utils.device import check_device

        if extractor not in ("auto", "official", "proxy"):
            raise InputError(f"--extractor {extractor!r}: choose auto, official or proxy")
        if segmenter not in ("auto", "sam2", "tracker"):
            raise InputError(f"--segmenter {segmenter!r}: choose auto, sam2 or tracker")
        check_device(device)
        protocol = None
        changes = {}
        if fid_stride is not None:
            changes["fid_frame_stride"] = fid_stride
        if fvd_clip is not None:
            changes["fvd_clip"] = fvd_clip
        if protocol_name is not None:
            protocol = get_protocol(protocol_name)
        if changes:
            base = protocol or (DEFAULT if bench is not None else EMBEDDED_PROTOCOL)
            try:
                protocol = base.with_(**changes)
            except ValueError as exc:
                raise InputError(str(exc)) from exc
        cfg = EvalConfig(
            model=model, model_args=parse_model_args(model_arg), bench=bench, groups=parse_groups(groups), limit=limit,
            trajectory=trajectory, run_dir=run_dir, seed=seed, batch_size=batch_size, extractor=extractor,
            segmenter=segmenter, device=device, label=label, protocol=protocol, bootstrap=bootstrap, progress=progress,
            retry_failed=retry_failed,
        )
        ctx = init_from_env()
        try:
            results = run(cfg, ctx)
        except KeyboardInterrupt:
            typer.echo("\ninterrupted: finished videos are kept; rerun the same command to resume", err=True)
            raise typer.Exit(130)
        finally:
            shutdown(ctx)
        failed = results["overall"]["n_failed"] if results else 0
        if strict and failed:
            typer.echo(f"--strict: {failed} of {results['overall']['n_expected']} videos failed (listed above)", err=True)
            raise typer.Exit(1)
