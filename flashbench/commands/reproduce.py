"""`flashbench reproduce tiny`: evaluate every tiny model, baseline and ablation and write the paper's tables."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Rebuild reference results from real runs: tiny.", no_args_is_help=True)
    app.add_typer(sub, name="reproduce")

    @sub.command("tiny")
    def tiny(
        out: Path = typer.Option(Path("reference-results"), "--out", "-o", help="Folder for runs/<row>/, reference-results.md and its plots."),
        limit: int | None = typer.Option(None, "--limit", min=1, help="At most N videos per group (a quick look; the tables name the subset)."),
        groups: list[str] = typer.Option([], "--groups", help="Groups to evaluate, e.g. --groups 1,2 (default: all)."),
        only: list[str] = typer.Option([], "--only", help="Evaluate and report only these rows (repeatable or comma-separated; --list shows them)."),
        seed: int = typer.Option(0, "--seed", help="Run seed of every row (same seed, same numbers)."),
        bench: Path | None = typer.Option(None, "--bench", help="Benchmark directory (default: $FLASHBENCH_BENCH, else the embedded FlashBench-Synth)."),
        model_arg: list[str] = typer.Option([], "--model-arg", help="KEY=VALUE added to every row's generator options, e.g. device=cuda, or init=random for a plumbing run (repeatable)."),
        extractor: str = typer.Option("auto", "--extractor", help="auto (official if cached, else proxy), official or proxy."),
        segmenter: str = typer.Option("auto", "--segmenter", help="auto, sam2 or tracker (the weight-free proxy)."),
        device: str = typer.Option("cpu", "--device", help="Device for the metric networks: cpu, cuda or cuda:N."),
        fid_stride: int | None = typer.Option(None, "--fid-stride", min=1, help="Score every k-th frame for FID (recorded in the protocol)."),
        list_rows: bool = typer.Option(False, "--list", help="Print the rows, their weights or why they would be skipped, and exit."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
        train_ablations: bool = typer.Option(True, "--train-ablations/--no-train-ablations",
                                             help="Train the selected ablations that are not installed (the package does not ship them) from the installed reference set first (2-4 minutes each on two cores, after a one-time latent cache of about 15); --no-train-ablations skips their rows."),
    ) -> None:
        """Evaluate the tiny reference models, baselines and ablations on the benchmark (resumable, as `eval`) and write
        OUT/reference-results.md: the paper's Tables 1, 2/4, 3/5, 6 and 7/8 layouts, each beside the paper's own numbers
        for the same rows, plus plots by object count. Ablations that are not installed are trained first (see
        --no-train-ablations); other rows without weights are skipped with the reason."""
        from ..errors import InputError
        from ..reproduce import Settings, parse_only, plan, reproduce_tiny
        from ..utils.device import check_device
        from .eval import parse_groups, parse_model_args

        if extractor not in ("auto", "official", "proxy"):
            raise InputError(f"--extractor {extractor!r}: choose auto, official or proxy")
        if segmenter not in ("auto", "sam2", "tracker"):
            raise InputError(f"--segmenter {segmenter!r}: choose auto, sam2 or tracker")
        check_device(device)
        names = parse_only(only)
        args = parse_model_args(model_arg)
        if list_rows:
            for pr in plan(names, args):
                where = str(pr.checkpoint) if pr.checkpoint else "–"
                state = f"skipped: {pr.reason}" if pr.status == "skipped" else f"weights {where}"
                opts = "".join(f" {k}={v}" for k, v in pr.model_args.items())
                typer.echo(f"{pr.label} ({pr.row.kind}): {pr.row.model}{opts}; {state}")
            return
        settings = Settings(out=out, bench=bench, groups=parse_groups(groups), limit=limit, seed=seed, extractor=extractor,
                            segmenter=segmenter, device=device, progress=progress, fid_stride=fid_stride,
                            train_ablations=train_ablations)
        try:
            outcome = reproduce_tiny(settings, names, args, say=lambda line: typer.echo(line, err=True))
        except KeyboardInterrupt:
            typer.echo("\ninterrupted: finished rows and videos are kept; rerun the same command to resume", err=True)
            raise typer.Exit(130)
        typer.echo(f"wrote {outcome.report}", err=True)
        if outcome.errors:
            typer.echo(f"{len(outcome.errors)} row(s) failed: " + ", ".join(pr.label for pr in outcome.errors)
                       + " (reasons above and in the report's Rows section)", err=True)
            raise typer.Exit(1)
