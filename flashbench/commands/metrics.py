"""`flashbench metrics`: FID or FVD between two folders, with the protocol's settings."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import typer

from ..errors import InputError

PROXY_MARK = "†"


def _progress_factory(enabled: bool):
    @contextmanager
    def factory(description: str, total: int):
        if not enabled:
            yield lambda n: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description:>9}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as p:
            tid = p.add_task(description, total=total)
            yield lambda n: p.advance(tid, n)

    return factory


def _report(score, json_out: bool) -> None:
    import json

    if json_out:
        typer.echo(json.dumps(score.to_dict(), indent=2))
        return
    ext = score.extractor
    if ext["official"]:
        typer.echo(f"{score.metric.upper()} {score.value:.4f} (official: {ext['name']})")
    else:
        typer.echo(f"{score.metric.upper()} {score.value:.4f}{PROXY_MARK} (proxy: {ext['name']}; not comparable to published numbers)")
    typer.echo(f"  real: {score.real['samples']} samples from {score.real['files']} {score.real['kind']}; "
               f"fake: {score.fake['samples']} samples from {score.fake['files']} {score.fake['kind']}", err=True)
    for note in score.warnings:
        typer.echo(f"  warning: {note}", err=True)


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Score two folders of images or videos: fid, fvd.", no_args_is_help=True)

    def _check_extractor(extractor: str) -> None:
        if extractor not in ("auto", "official", "proxy"):
            raise InputError(f"--extractor {extractor!r}: choose auto, official or proxy")

    @sub.command("fid")
    def fid(
        real: Path = typer.Option(..., "--real", help="Folder of real images or videos."),
        fake: Path = typer.Option(..., "--fake", help="Folder of generated images or videos."),
        extractor: str = typer.Option("auto", "--extractor", help="auto (official if cached, else proxy), official or proxy."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON with the extractor identity."),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
        batch_size: int = typer.Option(32, "--batch-size", min=1),
        stride: int = typer.Option(1, "--stride", min=1, help="Videos: every k-th frame."),
        skip_first: bool = typer.Option(True, "--skip-first/--keep-first", help="Videos: drop frame 0 (the conditioning image)."),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
    ) -> None:
        """FID (clean-fid clean resize, InceptionV3 pool3, unbiased covariance)."""
        from ..metrics import load_inception
        from ..metrics.folders import score_folders
        from ..utils.device import check_device

        _check_extractor(extractor)
        check_device(device)
        ext = load_inception(extractor, device=device)
        score = score_folders("fid", real, fake, ext, progress_factory=_progress_factory(progress and not json_out),
                              skip_first=skip_first, stride=stride, batch_size=batch_size)
        _report(score, json_out)

    @sub.command("fvd")
    def fvd(
        real: Path = typer.Option(..., "--real", help="Folder of real videos."),
        fake: Path = typer.Option(..., "--fake", help="Folder of generated videos."),
        extractor: str = typer.Option("auto", "--extractor", help="auto (official if cached, else proxy), official or proxy."),
        json_out: bool = typer.Option(False, "--json", help="Print JSON with the extractor identity."),
        device: str = typer.Option("cpu", "--device", help="cpu, cuda or cuda:N."),
        clip: str = typer.Option("uniform16", "--clip", help="uniform16 (default), first16 or all."),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
    ) -> None:
        """FVD (I3D Kinetics-400, one clip per video, biased covariance, pooled statistics)."""
        from ..metrics import load_i3d
        from ..metrics.folders import score_folders
        from ..utils.device import check_device

        _check_extractor(extractor)
        check_device(device)
        if clip not in ("uniform16", "first16", "all"):
            raise InputError(f"--clip {clip!r}: choose uniform16, first16 or all")
        ext = load_i3d(extractor, device=device)
        score = score_folders("fvd", real, fake, ext, progress_factory=_progress_factory(progress and not json_out), clip=clip)
        _report(score, json_out)

    app.add_typer(sub, name="metrics")
