"""`flashbench build`: build a benchmark directory from FlashBench-Synth, MagicData, raw videos or DAVIS."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import InputError


def register(app: typer.Typer) -> None:
    @app.command("build")
    def build(
        source: str = typer.Option(..., "--source", help="synth (procedural, exact masks), magicdata (MagicData/MagicBench folder), videos (raw videos + prompt file, annotated by SAM2) or davis (a DAVIS 2016/2017 root, scored overall)."),
        src: Optional[Path] = typer.Argument(None, help="Source folder (magicdata, videos, davis)."),
        out: Path = typer.Option(..., "--out", "-o", help="Benchmark directory to create (or resume)."),
        per_group: int = typer.Option(100, "--per-group", min=1, help="Videos per object-count group (1, 2, 3, 4, 5, >5)."),
        frames: Optional[int] = typer.Option(None, "--frames", min=1, help="Frames per video (default: FlashBench 121; davis 49, as the paper evaluates it)."),
        size: Optional[str] = typer.Option(None, "--size", help="HxW, e.g. 128x224 (synth default 128x224; other sources keep each video's size)."),
        seed: int = typer.Option(0, "--seed", help="Seed of the stratified sample (and of the synthetic scenes)."),
        allow_short: bool = typer.Option(False, "--allow-short", help="Record a group the pool cannot fill as a shortfall instead of failing."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Worker processes (default: CPU count)."),
        prompts: Optional[Path] = typer.Option(None, "--prompts", help="magicdata: CSV with videoid/text columns (default: the CSV in SRC); videos: the prompt JSON (default SRC/prompts.json); davis: JSON {sequence: prompt} or CSV (default: empty prompts, recorded)."),
        split: str = typer.Option("val", "--split", help="davis: the split, ImageSets/<year>/<split>.txt (val: 2017 if present, else 2016; or e.g. 2016/val)."),
        resolution: str = typer.Option("480p", "--resolution", help="davis: 480p or Full-Resolution."),
        name: Optional[str] = typer.Option(None, "--name", help="Benchmark name recorded in the manifest."),
        sam2_model: str = typer.Option("sam2.1_hiera_large", "--sam2-model", help="videos: SAM2.1 checkpoint name."),
        device: str = typer.Option("cpu", "--device", help="videos: device for SAM2."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    ) -> None:
        """Build (or resume) a benchmark: pool -> filter -> group by object count -> seeded sample -> videos, annotations, manifest."""
        from ..data.builder import build_benchmark

        if source == "davis":
            from ..data.davis import DEFAULT_FRAMES, build_davis

            if src is None:
                raise InputError("--source davis needs the DAVIS root folder (DAVIS_ROOT)")
            root = build_davis(src, out, split=split, resolution=resolution, num_frames=frames or DEFAULT_FRAMES, size=size,
                               prompts=prompts, workers=workers, progress=progress, name=name)
            typer.echo(f"benchmark ready: {root}  (check it with `flashbench validate {root}`)")
            return
        from ..utils.device import check_device

        if source == "videos":
            check_device(device)

        root = build_benchmark(
            source, out, src=src, per_group=per_group, num_frames=frames or 121,
            size=size if size is not None else ((128, 224) if source == "synth" else None),
            seed=seed, workers=workers, allow_short=allow_short, prompts=prompts, progress=progress,
            name=name, sam2_model=sam2_model, device=device,
        )
        typer.echo(f"benchmark ready: {root}  (check it with `flashbench validate {root}`)")
