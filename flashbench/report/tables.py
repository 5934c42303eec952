"""Result tables in the paper's layouts, rendered as Markdown, LaTeX or CSV.

Three layouts:

- ``overall``: Table 1 (Method | FID | FVD | M IoU | B IoU), over all videos.
- ``groups``: Tables 7/8, the same metrics per object count (1..5, >5).
- ``models``: Table 6 (Method | Length | Resolution | Denoising latency | Params).

A table is built once (:func:`build_table`) into plain data with ranks already assigned,
then rendered by :func:`render_markdown`, :func:`render_latex` or :func:`render_csv`.

Marking rule (best **bold**, second underlined), per column, respecting its direction:

- Values are compared as displayed (rounded to 2 decimals), so entries that print the same
  are tied. Ranks are dense: every entry equal to the best value is bold, and every entry
  equal to the next distinct value is underlined (two tied best -> both bold, the next
  value underlined).
- Missing values are shown as "–" and never ranked. A column is marked only when at least
  two ranked rows have a value in it.
- Only comparable rows are ranked: rows of the majority protocol (other protocols appear
  only under ``force`` and are marked §), and, when the table holds any official result,
  only official rows (proxy numbers, marked †, are not comparable to official ones).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

from ..data.schema import GROUPS
from ..errors import InputError
from ..results import is_proxy, is_reference, method_label, protocol_hashes

TABLE_KINDS: tuple[str, ...] = ("overall", "groups", "models")
DECIMALS = 2
MISSING = "–"

PROXY_MARK = "†"
REFERENCE_MARK = "‡"
PROTOCOL_MARK = "§"
PROXY_NOTE = "proxy extractors: not comparable to the paper"
REFERENCE_NOTE = "reference (tiny) checkpoint, not official weights"

_METRIC_HEADERS = {"fid": "FID", "fvd": "FVD", "mask_iou": "M IoU", "box_iou": "B IoU"}
_METRIC_DIRECTIONS = {"fid": "min", "fvd": "min", "mask_iou": "max", "box_iou": "max"}


@dataclass(frozen=True)
class Column:
    key: str  # CSV name, unique in the table
    header: str  # short header without the direction arrow
    direction: Literal["min", "max"] | None = None  # None: not ranked
    section: str | None = None  # super-header (object-count group)
    metric: str | None = None  # fid | fvd | mask_iou | box_iou for metric columns
    kind: Literal["number", "int", "size", "params"] = "number"


@dataclass
class Cell:
    value: Any = None  # float | int | (H, W) | None
    ci: tuple[float, float] | None = None
    rank: int | None = None  # dense rank among ranked rows, 1 = best
    mark: int = 0  # 1 = best (bold), 2 = second (underlined), 0 = none


@dataclass
class Row:
    label: str
    cells: dict[str, Cell]
    source: str
    protocol_hash: str
    proxy: bool
    reference: bool
    other_protocol: bool = False
    ranked: bool = True


@dataclass
class Table:
    kind: str
    columns: list[Column]
    rows: list[Row]
    show_ci: bool = False
    footnotes: list[tuple[str, str]] = field(default_factory=list)  # (mark, text)
    warnings: list[str] = field(default_factory=list)

    @property
    def proxy_marks_numbers(self) -> bool:
        """Proxy extractors change metric numbers only, not sizes, latency or parameters."""
        return self.kind != "models"


# ----------------------------------------------------------------------------- building


def _metric_columns(section: str | None = None, prefix: str = "") -> list[Column]:
    return [
        Column(key=f"{prefix}{m}", header=_METRIC_HEADERS[m], direction=_METRIC_DIRECTIONS[m], section=section, metric=m)
        for m in ("fid", "fvd", "mask_iou", "box_iou")
    ]


def _group_prefix(g: str) -> str:
    return f"obj{g}_"


def _group_section(g: str) -> str:
    return f"Obj>{g[1:]}" if g.startswith(">") else f"Obj={g}"


def table_columns(kind: str) -> list[Column]:
    if kind == "overall":
        return _metric_columns()
    if kind == "groups":
        cols: list[Column] = []
        for g in GROUPS:
            cols += _metric_columns(section=_group_section(g), prefix=_group_prefix(g))
        return cols
    if kind == "models":
        return [
            Column(key="length", header="Length", kind="int"),
            Column(key="resolution", header="Resolution", kind="size"),
            Column(key="denoise_s", header="Denoising latency (s)", direction="min"),
            Column(key="params_b", header="Params (B)", kind="params"),
        ]
    raise InputError(f"unknown table {kind!r}; choose one of {', '.join(TABLE_KINDS)}")


def _group_cells(group: Mapping[str, Any] | None, prefix: str, with_ci: bool) -> dict[str, Cell]:
    cells: dict[str, Cell] = {}
    for m in ("fid", "fvd", "mask_iou", "box_iou"):
        value = None if group is None else group.get(m)
        ci = None
        if with_ci and group is not None and m in ("mask_iou", "box_iou") and group.get(f"{m}_ci") is not None:
            lo, hi = group[f"{m}_ci"]
            ci = (float(lo), float(hi))
        cells[f"{prefix}{m}"] = Cell(value=value, ci=ci)
    return cells


def _model_cells(results: Mapping[str, Any]) -> dict[str, Cell]:
    gen = results["generator"]
    bench = results["benchmark"]
    length = gen.get("max_frames") or bench.get("num_frames")
    size = gen.get("native_size") or bench.get("size")
    params = gen.get("parameters")
    return {
        "length": Cell(value=length),
        "resolution": Cell(value=tuple(size) if size else None),
        "denoise_s": Cell(value=results["timings"].get("denoise_s_mean")),
        "params_b": Cell(value=None if params is None else params / 1e9),
    }


def _row_cells(kind: str, results: Mapping[str, Any], with_ci: bool) -> dict[str, Cell]:
    if kind == "overall":
        return _group_cells(results["overall"], "", with_ci)
    if kind == "groups":
        cells: dict[str, Cell] = {}
        for g in GROUPS:
            cells.update(_group_cells(results["groups"].get(g), _group_prefix(g), with_ci))
        return cells
    return _model_cells(results)


def check_protocols(
    results_list: Sequence[Mapping[str, Any]], sources: Sequence[str], *, force: bool
) -> tuple[set[int], list[str]]:
    """Indices of rows from minority protocols, and warning lines.

    Without ``force``, results under different protocol hashes are refused: their numbers
    are not comparable.
    """
    by_hash = protocol_hashes(results_list)
    if len(by_hash) <= 1:
        return set(), []
    listing = "; ".join(
        f"{h}: {', '.join(sources[i] for i in idx)}" for h, idx in by_hash.items()
    )
    if not force:
        raise InputError(
            f"results use different protocols and are not comparable ({listing}); "
            f"evaluate them under one protocol, or pass --force to put them in one table "
            f"with the rows of the other protocol(s) marked {PROTOCOL_MARK}"
        )
    majority = next(iter(by_hash))
    minority = {i for h, idx in by_hash.items() if h != majority for i in idx}
    warning = (
        f"mixing protocols ({listing}); rows not under the majority protocol {majority} "
        f"are marked {PROTOCOL_MARK} and not ranked"
    )
    return minority, [warning]


def build_table(
    kind: str,
    results_list: Sequence[Mapping[str, Any]],
    sources: Sequence[str] | None = None,
    *,
    ci: bool = False,
    force: bool = False,
) -> Table:
    """Build a table from validated results (see :func:`flashbench.results.load_results`).

    ``sources`` names each result in messages (file paths); defaults to the method labels.
    Raises :class:`InputError` when the results mix protocols and ``force`` is false.
    """
    if not results_list:
        raise InputError("no results given; pass at least one results.json or run directory")
    columns = table_columns(kind)
    sources = list(sources) if sources is not None else [method_label(r) for r in results_list]
    if len(sources) != len(results_list):
        raise ValueError("sources must name every result")
    minority, warnings = check_protocols(results_list, sources, force=force)

    rows = [
        Row(
            label=method_label(r),
            cells=_row_cells(kind, r, ci),
            source=src,
            protocol_hash=r["protocol_hash"],
            proxy=is_proxy(r),
            reference=is_reference(r),
            other_protocol=i in minority,
        )
        for i, (r, src) in enumerate(zip(results_list, sources))
    ]

    comparable = [row for row in rows if not row.other_protocol]
    metric_table = kind != "models"
    if metric_table and any(not row.proxy for row in comparable) and any(row.proxy for row in comparable):
        warnings.append(
            f"the table mixes official and proxy results; proxy rows ({PROXY_MARK}) are not ranked "
            f"against official ones"
        )
    for row in rows:
        row.ranked = not row.other_protocol and not (
            metric_table and row.proxy and any(not o.proxy for o in comparable)
        )

    labels = [row.label for row in rows]
    dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
    if dupes:
        warnings.append(
            f"several results share the label(s) {', '.join(dupes)}; pass `--label` to "
            f"`flashbench eval` to tell them apart"
        )

    if metric_table:
        for row, r in zip(rows, results_list):
            failed = r["overall"]["n_failed"]
            if failed:
                warnings.append(
                    f"{row.label}: {failed} of {r['overall']['n_expected']} videos failed to generate "
                    f"(scored as failures, not dropped)"
                )

    assign_marks(columns, rows)
    table = Table(kind=kind, columns=columns, rows=rows, show_ci=ci, warnings=warnings)
    if metric_table and any(row.proxy for row in rows):
        table.footnotes.append((PROXY_MARK, PROXY_NOTE))
    if any(row.reference for row in rows):
        table.footnotes.append((REFERENCE_MARK, REFERENCE_NOTE))
    if minority:
        other = sorted({rows[i].protocol_hash for i in minority})
        table.footnotes.append(
            (PROTOCOL_MARK, f"different protocol ({', '.join(other)}): not comparable with the other rows")
        )
    return table


def display_key(value: float) -> float:
    """The value as displayed (2 decimals); ties and ranks are decided on this."""
    return float(f"{value:.{DECIMALS}f}")


def assign_marks(columns: Sequence[Column], rows: Sequence[Row]) -> None:
    """Set dense ranks and bold/underline marks in place (rule in the module docstring)."""
    for col in columns:
        if col.direction is None:
            continue
        entries = [
            (row, display_key(row.cells[col.key].value))
            for row in rows
            if row.ranked and row.cells[col.key].value is not None
        ]
        if len(entries) < 2:
            continue
        distinct = sorted({v for _, v in entries}, reverse=col.direction == "max")
        rank_of = {v: i + 1 for i, v in enumerate(distinct)}
        for row, v in entries:
            cell = row.cells[col.key]
            cell.rank = rank_of[v]
            cell.mark = cell.rank if cell.rank <= 2 else 0


# ----------------------------------------------------------------------------- rendering


def _display_groups(columns: Sequence[Column], joint: bool) -> list[list[Column]]:
    """Columns as displayed: with ``joint``, each mask/box IoU pair shares one column."""
    out: list[list[Column]] = []
    i = 0
    while i < len(columns):
        c = columns[i]
        nxt = columns[i + 1] if i + 1 < len(columns) else None
        if joint and c.metric == "mask_iou" and nxt is not None and nxt.metric == "box_iou" and nxt.section == c.section:
            out.append([c, nxt])
            i += 2
        else:
            out.append([c])
            i += 1
    return out


def _number(value: float) -> str:
    return f"{value:.{DECIMALS}f}"


def _params(value: float) -> str:
    # Tiny reference models have far fewer than 10M parameters; keep two significant digits.
    if 0 < abs(value) < 0.01:
        return f"{value:.2g}"
    return _number(value)


def _plain_value(col: Column, cell: Cell, times: str) -> str:
    v = cell.value
    if v is None:
        return ""
    if col.kind == "int":
        return str(int(v))
    if col.kind == "size":
        return f"{v[0]}{times}{v[1]}"
    if col.kind == "params":
        return _params(float(v))
    return _number(float(v))


@dataclass(frozen=True)
class _Style:
    bold: str
    underline: str
    times: str
    missing: str
    marks: Mapping[str, str]
    down: str
    up: str

    def escape(self, text: str) -> str:
        return text


class _MarkdownStyle(_Style):
    def escape(self, text: str) -> str:
        # Only the pipe breaks a table row; other Markdown syntax in labels is left as written.
        return text.replace("|", "\\|")


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}",
}


class _LatexStyle(_Style):
    def escape(self, text: str) -> str:
        return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


MARKDOWN = _MarkdownStyle(
    bold="**{}**", underline="<u>{}</u>", times="×", missing=MISSING,
    marks={PROXY_MARK: PROXY_MARK, REFERENCE_MARK: REFERENCE_MARK, PROTOCOL_MARK: PROTOCOL_MARK},
    down="↓", up="↑",
)
LATEX = _LatexStyle(
    bold=r"\textbf{{{}}}", underline=r"\underline{{{}}}", times=r"$\times$", missing="--",
    marks={PROXY_MARK: r"$^\dagger$", REFERENCE_MARK: r"$^\ddagger$", PROTOCOL_MARK: r"$^\S$"},
    down=r"$\downarrow$", up=r"$\uparrow$",
)


def _cell_text(table: Table, row: Row, col: Column, style: _Style) -> str:
    cell = row.cells[col.key]
    if cell.value is None:
        return style.missing
    text = _plain_value(col, cell, style.times)
    if cell.mark == 1:
        text = style.bold.format(text)
    elif cell.mark == 2:
        text = style.underline.format(text)
    if row.proxy and table.proxy_marks_numbers and col.metric is not None:
        text += style.marks[PROXY_MARK]
    if table.show_ci and cell.ci is not None:
        text += f" [{_number(cell.ci[0])}, {_number(cell.ci[1])}]"
    return text


def _label_text(row: Row, style: _Style) -> str:
    text = style.escape(row.label)
    if row.reference:
        text += style.marks[REFERENCE_MARK]
    if row.other_protocol:
        text += style.marks[PROTOCOL_MARK]
    return text


def _header_text(group: Sequence[Column], style: _Style) -> str:
    if len(group) == 2:
        base = "M/B IoU"
    else:
        base = group[0].header
    direction = group[0].direction
    arrow = {"min": style.down, "max": style.up}.get(direction or "", "")
    if not arrow:
        return base
    # "Denoising latency (s)" -> "Denoising latency (s, ↓)"; "FID" -> "FID (↓)"
    return f"{base[:-1]}, {arrow})" if base.endswith(")") else f"{base} ({arrow})"


def render_markdown(table: Table, *, joint_iou: bool = False) -> str:
    """A GitHub-flavoured Markdown table, bold `**x**`, underline `<u>x</u>`, then footnotes."""
    style = MARKDOWN
    groups = _display_groups(table.columns, joint_iou)
    headers = ["Method"] + [
        (f"{g[0].section} " if g[0].section else "") + _header_text(g, style) for g in groups
    ]
    lines = ["| " + " | ".join(headers) + " |", "| :--- | " + " | ".join("---:" for _ in groups) + " |"]
    for row in table.rows:
        cells = [_label_text(row, style)] + [
            "/".join(_cell_text(table, row, c, style) for c in g) for g in groups
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if table.footnotes:
        lines.append("")
        lines += [f"{mark} {text}" for mark, text in table.footnotes]
    return "\n".join(lines) + "\n"


def render_latex(table: Table, *, joint_iou: bool = True) -> str:
    """A booktabs ``tabular``; ``\\textbf`` best, ``\\underline`` second; notes after it."""
    style = LATEX
    groups = _display_groups(table.columns, joint_iou)
    lines = ["% requires \\usepackage{booktabs}", "\\begin{tabular}{l" + "r" * len(groups) + "}", "\\toprule"]
    sections = [g[0].section for g in groups]
    if any(s is not None for s in sections):
        spans: list[tuple[str | None, int, int]] = []  # (section, first, last) display column, 1-based after Method
        for i, s in enumerate(sections, start=2):
            if spans and spans[-1][0] == s:
                spans[-1] = (s, spans[-1][1], i)
            else:
                spans.append((s, i, i))
        head = ["Methods"]
        rules = []
        for s, a, b in spans:
            label = style.escape(s) if s else ""
            head.append(f"\\multicolumn{{{b - a + 1}}}{{c}}{{{label}}}")
            if s:
                rules.append(f"\\cmidrule(lr){{{a}-{b}}}")
        lines.append(" & ".join(head) + " \\\\")
        lines.append(" ".join(rules))
        lines.append(" & ".join([""] + [_header_text(g, style) for g in groups]) + " \\\\")
    else:
        lines.append(" & ".join(["Method"] + [_header_text(g, style) for g in groups]) + " \\\\")
    lines.append("\\midrule")
    for row in table.rows:
        cells = [_label_text(row, style)] + [
            "/".join(_cell_text(table, row, c, style) for c in g) for g in groups
        ]
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    for mark, text in table.footnotes:
        lines.append(f"\\par\\footnotesize {style.marks[mark]} {style.escape(text)}")
    return "\n".join(lines) + "\n"


def render_csv(table: Table) -> str:
    """CSV with plain numbers at full precision and no marks.

    After the value columns come ``<key>_rank`` for each ranked column (dense rank among
    ranked rows, 1 = best, empty when missing or not ranked; 1 and 2 are the bold and
    underlined entries of the other formats), ``<key>_ci_lo``/``<key>_ci_hi`` with ``ci``,
    then the provenance columns ``official``, ``reference``, ``other_protocol``,
    ``protocol_hash`` and ``source``.
    """
    header = ["method"] + [c.key for c in table.columns]
    ranked_cols = [c for c in table.columns if c.direction is not None]
    header += [f"{c.key}_rank" for c in ranked_cols]
    ci_cols = [c for c in table.columns if c.metric in ("mask_iou", "box_iou")] if table.show_ci else []
    for c in ci_cols:
        header += [f"{c.key}_ci_lo", f"{c.key}_ci_hi"]
    header += ["official", "reference", "other_protocol", "protocol_hash", "source"]

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in table.rows:
        out: list[Any] = [row.label]
        for c in table.columns:
            v = row.cells[c.key].value
            if v is None:
                out.append("")
            elif c.kind == "size":
                out.append(f"{v[0]}x{v[1]}")
            elif c.kind == "int":
                out.append(int(v))
            else:
                out.append(repr(float(v)))
        out += ["" if row.cells[c.key].rank is None else row.cells[c.key].rank for c in ranked_cols]
        for c in ci_cols:
            ci = row.cells[c.key].ci
            out += ["", ""] if ci is None else [repr(ci[0]), repr(ci[1])]
        out += [str(not row.proxy).lower(), str(row.reference).lower(), str(row.other_protocol).lower(), row.protocol_hash, row.source]
        writer.writerow(out)
    return buf.getvalue()


def render(table: Table, fmt: str, *, iou: str = "auto") -> str:
    """Render in ``fmt`` (md | latex | csv). ``iou``: auto (joint in LaTeX), split or joint."""
    if iou not in ("auto", "split", "joint"):
        raise InputError(f"unknown IoU layout {iou!r}; choose auto, split or joint")
    if fmt == "md":
        return render_markdown(table, joint_iou=iou == "joint")
    if fmt == "latex":
        return render_latex(table, joint_iou=iou != "split")
    if fmt == "csv":
        if iou == "joint":
            raise InputError("--iou joint is not available for CSV (one number per column); use --iou split or auto")
        return render_csv(table)
    raise InputError(f"unknown format {fmt!r}; choose md, latex or csv")
