"""Console output: the ``eval`` header, progress bars and summary, listings, numbers for people.

Output must survive pipes and narrow terminals: names and paths are never truncated (a path
is printed whole on one line so it can be copied), and listings have json/csv forms.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .data.schema import GROUPS
from .results import weights_kind
from .utils.text import plural

PROXY_MARK = "†"


def fmt(value: float | None, proxy: bool = False, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}{PROXY_MARK if proxy else ''}"


class EvalUI:
    def __init__(self, enabled: bool = True, progress: bool = True, console: Console | None = None):
        self.enabled = enabled  # False on ranks other than 0: they print nothing
        self.progress = enabled and progress
        self.console = console or Console(stderr=False)

    def header(self, cfg: Any, plan: Any, scorers: Any) -> None:
        if not self.enabled:
            return
        c = self.console
        info = plan.identity["info"]
        if plan.embedded:
            c.print(
                f"[bold]Embedded default:[/] no benchmark given, evaluating on FlashBench-Synth "
                f"({plan.bench.name}: {plural(len(plan.items), 'video')}, {plan.eval_frames} frames) at {plan.bench.root}",
                soft_wrap=True,  # the path stays whole, on one line
            )
        else:
            c.print(f"[bold]Benchmark:[/] {plan.bench.name} ({plural(len(plan.items), 'video')}, {plan.eval_frames} frames) "
                    f"at {plan.bench.root}", soft_wrap=True)
        tag = weights_kind(info | {"model_args": plan.identity["model_args"]})
        ref = f" [yellow]({tag}, not the paper's weights)[/]" if tag else ""
        c.print(f"[bold]Generator:[/] {info['name']} (NFE {info['nfe']}, {plan.gen_frames} frames requested){ref}")
        if info.get("notes"):
            c.print(f"           {info['notes']}", highlight=False, soft_wrap=True)
        for role, ext in (("FID", scorers.fid), ("FVD", scorers.fvd), ("IoU", scorers.segmenter)):
            tag = "[green]official[/]" if ext.info.official else f"[yellow]proxy {PROXY_MARK}[/]"
            c.print(f"[bold]{role} extractor:[/] {ext.info.name} {tag}")
        if not all(e.info.official for e in (scorers.fid, scorers.fvd, scorers.segmenter)):
            c.print(
                f"[yellow]{PROXY_MARK} proxy extractors (official weights not in the cache): numbers are not comparable "
                "to the paper's; `flashbench weights ls` shows what is missing.[/]"
            )
        from .evaluate import segmenter_warning

        if segmenter_warning(scorers, plan):
            c.print(f"[bold red]warning: {segmenter_warning(scorers, plan)}[/]")
        c.print(f"[bold]Protocol:[/] {plan.protocol.name} ({plan.protocol.hash()}), trajectory {plan.protocol.trajectory}")
        self.print_path(plan.run_dir, "run dir: ")

    def missing(self, video_ids: Sequence[str], source: str) -> None:
        """Say which of the selected videos a pre-generated folder lacks (they are scored as failures)."""
        if not self.enabled or not video_ids:
            return
        preview = ", ".join(video_ids[:3]) + (" ..." if len(video_ids) > 3 else "")
        self.console.print(f"[yellow]{plural(len(video_ids), 'selected video')} missing from {source} (scored as failures): {preview}[/]",
                           soft_wrap=True)

    def print_path(self, path: Path | str, prefix: str = "") -> None:
        """A path whole on one line (never wrapped or cut), so it can be copied."""
        if self.enabled:
            self.console.print(f"{prefix}{path}", soft_wrap=True, highlight=False, markup=False)

    @contextmanager
    def task(self, description: str, total: int, shared: Callable[[int], int] | None = None) -> Iterator["Advance"]:
        """A progress bar over ``total`` items.

        ``shared`` is a job-wide counter (``DistContext.counter``): every rank adds its items
        to it and rank 0's bar shows the sum, so under ``torchrun`` the bar covers the whole
        job; rank 0 then waits for the other ranks' counts before the bar closes.
        """
        if not self.progress:
            yield Advance(shared=shared)
            return
        columns = (TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            tid = progress.add_task(description, total=total)
            advance = Advance(progress, tid, shared)
            yield advance
            if shared is not None:
                while (done := shared(0)) < total:
                    progress.update(tid, completed=done)
                    time.sleep(0.5)
                progress.update(tid, completed=done)

    def summary(self, results: dict[str, Any], run_dir: Path, failures: Sequence[tuple[str, str]] = ()) -> None:
        if not self.enabled:
            return
        self.console.print(results_table(results))
        line = ceiling_line(results)
        if line:
            self.console.print(line)
        notes = results.get("warnings") or []
        overall = [n for n in notes if n.startswith("overall:")]
        for note in overall:
            self.console.print(f"[yellow]warning: {note}[/]")
        if len(notes) > len(overall):
            more = plural(len(notes) - len(overall), "more small-sample note")
            self.console.print(f"[yellow]warning: {more} for single groups in results.json[/]")
        if failures:
            self.console.print(f"[red]{plural(len(failures), 'video')} failed (scored as failures; "
                               "`--retry-failed` generates them again):[/]")
            for video_id, error in failures:
                self.console.print(f"  {video_id}: {error}", soft_wrap=True, highlight=False, markup=False)
        self.print_path(run_dir / "results.json", "results: ")
        self.print_path(run_dir / results["rows"], "rows:    ")
        if (run_dir / "plots").is_dir():
            self.print_path(run_dir / "plots", "plots:   ")


class Advance:
    """The callable a progress task yields: ``advance(n)`` after n items are done."""

    def __init__(self, progress: Progress | None = None, task_id: Any = None, shared: Callable[[int], int] | None = None):
        self._progress, self._task, self._shared = progress, task_id, shared

    def __call__(self, n: int) -> None:
        done = self._shared(n) if self._shared is not None else None
        if self._progress is None:
            return
        if done is None:
            self._progress.advance(self._task, n)
        else:
            self._progress.update(self._task, completed=done)


# ----------------------------------------------------------------------------- listings


@dataclass
class Listing:
    """One table of ``flashbench ls``: printed for people, or as json/csv for scripts."""

    kind: str
    title: str
    columns: tuple[str, ...]
    rows: list[list[str]] = field(default_factory=list)

    def add(self, *values: Any) -> None:
        self.rows.append([str(v) for v in values])

    def records(self) -> list[dict[str, str]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


def table_console() -> Console:
    """A console that never truncates: unlimited width when stdout is not a terminal."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=100_000, soft_wrap=True)
    return console


def print_listings(listings: Sequence[Listing], format: str = "table") -> None:
    if format == "json":
        out = {lst.kind: lst.records() for lst in listings}
        sys.stdout.write(json.dumps(out if len(listings) > 1 else out[listings[0].kind], indent=2, ensure_ascii=False) + "\n")
        return
    if format == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        for lst in listings:
            writer.writerow(lst.columns)
            writer.writerows(lst.rows)
        return
    console = table_console()
    for lst in listings:
        table = Table(title=lst.title)
        for i, col in enumerate(lst.columns):
            # the first column names the thing: never wrapped or cut, even in a narrow terminal
            width = max([len(col)] + [len(r[i]) for r in lst.rows]) if i == 0 else None
            table.add_column(col, no_wrap=i == 0, min_width=width, overflow="fold")
        for row in lst.rows:
            table.add_row(*row)
        console.print(table)


def results_table(results: dict[str, Any]) -> Table:
    proxy = not results.get("official", False)
    table = Table(title=f"{results['label']} on {results['benchmark']['name']}" + (f" ({PROXY_MARK} proxy extractors)" if proxy else ""))
    for col in ("group", "FID↓", "FVD↓", "M IoU↑", "B IoU↑", "cover%", "scored"):
        table.add_column(col, justify="right", no_wrap=True)
    rows = [(g, results["groups"][g]) for g in GROUPS if g in results["groups"]]
    rows.append(("overall", results["overall"]))
    for name, r in rows:
        scored = f"{r['n_scored']}/{r['n_expected']}" + (f" ({r['n_failed']} failed)" if r["n_failed"] else "")
        table.add_row(
            name, fmt(r["fid"], proxy), fmt(r["fvd"], proxy), fmt(r["mask_iou"], proxy), fmt(r["box_iou"], proxy),
            fmt(r["coverage"], digits=1), scored,
        )
    return table


def ceiling_line(results: dict[str, Any]) -> str | None:
    ceil = (results.get("ceiling") or {}).get("overall")
    if not ceil or ceil.get("mask_iou") is None:
        return None
    return (f"segmenter ceiling (the same pipeline on ground truth): mask IoU {fmt(ceil['mask_iou'])}, "
            f"box IoU {fmt(ceil.get('box_iou'))}")
