"""`flashbench export`: the benchmark's conditions as plain files, for models run elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export(
        bench: Optional[Path] = typer.Argument(None, help="Benchmark directory (default: $FLASHBENCH_BENCH, else the embedded FlashBench-Synth)."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder to write the conditions into (created; files are rewritten)."),
        trajectory: Optional[str] = typer.Option(None, "--trajectory", help="box (default), mask or sparse_box."),
        map_style: Optional[str] = typer.Option(None, "--map-style", help="Colours of the trajectory maps: magicmotion (default) or full-intensity."),
        frames: Optional[int] = typer.Option(None, "--frames", min=1, help="Frames your model generates (default: the benchmark's); conditions are resampled as `eval` resamples them."),
        size: Optional[str] = typer.Option(None, "--size", help="HxW of the exported first frame and maps (default: the benchmark's; outputs of any size are resized when scored)."),
        maps: str = typer.Option("png", "--maps", help="Trajectory maps as png (one file per frame), video (lossless maps.mkv) or both."),
        groups: List[str] = typer.Option([], "--groups", help="Groups to export, e.g. --groups 1,2,'>5' (default: all)."),
        limit: Optional[int] = typer.Option(None, "--limit", min=1, help="At most N videos per group."),
        seed: int = typer.Option(0, "--seed", help="Run seed; each video's seed (in its conditions.json) derives from it and the video id."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    ) -> None:
        """Write first frames, prompts, trajectory maps, boxes and masks of every benchmark video, for a model run outside FlashBench."""
        from ..data.export import check_options, parse_size, plan_export, write_export
        from ..evaluate import EvalConfig, resolve_benchmark
        from ..ui import EvalUI
        from ..utils.text import plural
        from .eval import parse_groups

        shape = parse_size(size)
        check_options(trajectory, map_style, maps)
        bench_root, embedded, protocol = resolve_benchmark(EvalConfig(model="", bench=bench), progress)
        planned = plan_export(
            bench_root, out, protocol=protocol, embedded=embedded, trajectory=trajectory, map_style=map_style, frames=frames,
            size=shape, maps=maps, groups=parse_groups(groups), limit=limit, seed=seed,
        )
        ui = EvalUI(progress=progress)
        with ui.task("exporting", len(planned.items)) as advance:
            summary = write_export(planned, advance)
        ui.console.print(
            f"exported {plural(summary.videos, 'video')} ({summary.num_frames} frames of {summary.height}x{summary.width}) to",
            highlight=False)
        ui.print_path(summary.out / "manifest.json")
        ui.console.print(
            f"write each video as <video_id>.mp4 with {summary.num_frames} frames into one folder, then: "
            f"flashbench eval --model video-folder --model-arg path=FOLDER --bench {bench_root}", highlight=False, soft_wrap=True)
