"""`flashbench generate`: run any registered model on a trajectory-map video drawn elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        model: str = typer.Option(..., "--model", "-m", help="Generator alias (`flashbench ls generators`) or package.module:factory."),
        maps: Path = typer.Option(..., "--maps", help="Trajectory-map video (e.g. MagicMotion's mp4) or folder of PNG frames; frame 0 holds the filled masks."),
        first_frame: Path = typer.Option(..., "--first-frame", help="The first frame: an image, or a video whose frame 0 is used; same size as the maps."),
        out: Path = typer.Option(..., "--out", "-o", help="Output video: .mkv (lossless) or .mp4."),
        prompt: str = typer.Option("", "--prompt", help="Text prompt."),
        map_style: Optional[str] = typer.Option(None, "--map-style", help="Style the maps are drawn in (default: detected from frame 0; docs/map-styles.md)."),
        trajectory: str = typer.Option("auto", "--trajectory", help="auto (from the maps), box, mask or sparse_box."),
        seed: int = typer.Option(0, "--seed", help="Generation seed."),
        model_arg: List[str] = typer.Option([], "--model-arg", help="KEY=VALUE option for the generator factory (repeatable)."),
    ) -> None:
        """Turn a map video plus a first frame into a request (boxes or masks per object, recovered by
        colour) and generate the video with MODEL."""
        from ..data.map_import import request_from_maps
        from ..data.video import write_video
        from ..errors import InputError
        from ..generators.base import as_generated
        from ..generators.registry import load_generator
        from .eval import parse_model_args

        req = request_from_maps(maps, first_frame, prompt, style=map_style, kind=trajectory, seed=seed)
        gen = load_generator(model, **parse_model_args(model_arg))
        if req.trajectory.type not in gen.info.trajectory_types:
            raise InputError(
                f"{maps}: the maps hold a {req.trajectory.type!r} condition but {model} takes {list(gen.info.trajectory_types)}; "
                "pass --trajectory to read them as another type"
            )
        video = as_generated(gen.generate([req])[0])
        write_video(out, video.frames, fps=req.fps)
        k = req.trajectory.num_objects
        typer.echo(f"wrote {out}: {video.frames.shape[0]} frames, {k} object(s) from {req.map_style} maps ({req.trajectory.type})")
