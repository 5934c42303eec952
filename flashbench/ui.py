"""Console output of ``flashbench eval``: a header saying what runs, progress bars, a summary."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .data.schema import GROUPS

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
                f"({plan.bench.name}: {len(plan.items)} videos, {plan.eval_frames} frames) at {plan.bench.root}"
            )
        else:
            c.print(f"[bold]Benchmark:[/] {plan.bench.name} ({len(plan.items)} videos, {plan.eval_frames} frames) at {plan.bench.root}")
        ref = " [yellow](tiny reference checkpoint, not the paper's weights)[/]" if info.get("reference") else ""
        c.print(f"[bold]Generator:[/] {info['name']} (NFE {info['nfe']}, {plan.gen_frames} frames requested){ref}")
        if info.get("notes"):
            c.print(f"           {info['notes']}", highlight=False)
        for role, ext in (("FID", scorers.fid), ("FVD", scorers.fvd), ("IoU", scorers.segmenter)):
            tag = "[green]official[/]" if ext.info.official else f"[yellow]proxy {PROXY_MARK}[/]"
            c.print(f"[bold]{role} extractor:[/] {ext.info.name} {tag}")
        if not all(e.info.official for e in (scorers.fid, scorers.fvd, scorers.segmenter)):
            c.print(
                f"[yellow]{PROXY_MARK} proxy extractors (official weights not in the cache): numbers are not comparable "
                "to the paper's; `flashbench weights ls` shows what is missing.[/]"
            )
        c.print(f"[bold]Protocol:[/] {plan.protocol.name} ({plan.protocol.hash()}), trajectory {plan.protocol.trajectory}; run dir {plan.run_dir}")

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        if not self.progress:
            yield lambda n: None
            return
        columns = (TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=self.console, transient=False) as progress:
            tid = progress.add_task(description, total=total)
            yield lambda n: progress.advance(tid, n)

    def summary(self, results: dict[str, Any], run_dir: Path) -> None:
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
            self.console.print(f"[yellow]warning: {len(notes) - len(overall)} more small-sample notes for single groups in results.json[/]")
        self.console.print(f"results: {run_dir / 'results.json'}")
        self.console.print(f"rows:    {run_dir / results['rows']}")
        if (run_dir / "plots").is_dir():
            self.console.print(f"plots:   {run_dir / 'plots'}")


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
