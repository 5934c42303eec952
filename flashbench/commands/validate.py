"""`flashbench validate`: prove a benchmark directory intact."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command("validate")
    def validate(
        root: Path = typer.Argument(..., help="Benchmark directory (with manifest.json)."),
        decode: bool = typer.Option(True, "--decode/--no-decode", help="Also decode every video to check its frame count and size."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
        workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes decoding videos in parallel (default: CPU count)."),
    ) -> None:
        """Re-hash every file against the manifest and check counts, frame counts and masks/boxes; exit 2 naming any bad file."""
        from rich.console import Console

        from ..data.validate import check_benchmark, summary_line, summary_table

        console = Console()
        if progress:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            # no refresh thread: the decode workers are forked while the bar is shown
            with Progress(TextColumn("validating"), BarColumn(), MofNCompleteColumn(), console=console, transient=True,
                          auto_refresh=False) as bar:
                tid = bar.add_task("validate", total=None)

                def advance(n: int, total: int) -> None:
                    bar.update(tid, completed=n, total=total)
                    bar.refresh()

                rep = check_benchmark(root, decode=decode, workers=workers, progress=advance)
        else:
            rep = check_benchmark(root, decode=decode, workers=workers)
        console.print(summary_table(rep))
        console.print(summary_line(rep), highlight=False, soft_wrap=True)
