"""`flashbench tables`: print result tables (and optionally plots) from results files."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer


class TableFormat(str, Enum):
    md = "md"
    latex = "latex"
    csv = "csv"


class TableKind(str, Enum):
    overall = "overall"
    ablation = "ablation"
    groups = "groups"
    models = "models"


class IouLayout(str, Enum):
    auto = "auto"
    split = "split"
    joint = "joint"


def register(app: typer.Typer) -> None:
    @app.command("tables")
    def tables(
        results: List[Path] = typer.Argument(..., help="results.json files or run directories, one row each."),
        fmt: TableFormat = typer.Option(TableFormat.md, "--format", "-f", help="Output format."),
        table: TableKind = typer.Option(
            TableKind.overall, "--table", "-t",
            help="overall (paper Table 1: a column group per benchmark, denoising time, parameters), ablation (Tables 4/5), "
                 "groups (Tables 7/8, per object count) or models (Table 6).",
        ),
        ci: bool = typer.Option(False, "--ci", help="Show bootstrap 95% intervals of the IoUs, e.g. 62.70 [60.10, 65.00]."),
        force: bool = typer.Option(
            False, "--force",
            help="Show results that are not comparable in one table, unranked: another protocol's rows are marked §, "
                 "another benchmark's or video subset's ¶.",
        ),
        iou: IouLayout = typer.Option(
            IouLayout.auto, "--iou", help="Mask/box IoU as two columns (split) or one 'M/B IoU' column (joint); auto: joint in LaTeX."
        ),
        plot: Optional[Path] = typer.Option(None, "--plot", help="Also write IoU and FID/FVD by object count plots (PNG, SVG) here."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the table to this file (atomically) instead of stdout."),
    ) -> None:
        """Tables of one or more evaluation results, in the paper's layouts.

        Best value per column in bold, second underlined; proxy-extractor numbers are marked †.
        Each table names the benchmark and the videos of each column group; results of
        different benchmarks, video subsets or protocols are never ranked together.
        """
        from ..errors import InputError
        from ..report.tables import build_table, render
        from ..results import load_results
        from ..utils.atomic import atomic_write_text

        sources = [str(p) for p in results]
        loaded = [load_results(p) for p in results]
        built = build_table(table.value, loaded, sources, ci=ci, force=force)
        text = render(built, fmt.value, iou=iou.value)
        for line in built.warnings:
            typer.echo(f"warning: {line}", err=True)

        if out is not None:
            atomic_write_text(out, text)
            typer.echo(f"wrote {out}", err=True)
        else:
            typer.echo(text, nl=False)

        if plot is not None:
            from ..report.plots import legend_label, plot_by_object_count

            from ..report.tables import benchmark_ref

            if len(built.benchmarks) > 1:
                raise InputError("--plot draws one benchmark by object count; pass the results of one benchmark (the table is written)")
            overall_only = [src for src, r in zip(sources, loaded) if benchmark_ref(r).scoring == "overall"]
            if overall_only:
                raise InputError(f"{overall_only[0]}: its benchmark is scored overall, not by object count: nothing to plot (the table is written)")
            notes = {"§": " § other protocol", "¶": " ¶ other benchmark or videos"}
            labels = [legend_label(r) + "".join(notes[m] for m in marks) for r, marks in zip(loaded, built.result_marks)]
            for path in plot_by_object_count(loaded, plot, labels=labels):
                typer.echo(f"wrote {path}", err=True)
