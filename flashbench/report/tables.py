"""Result tables in the paper's layouts, rendered as Markdown, LaTeX or CSV.

Four layouts:

- ``overall``: Table 1. One column group (FID | FVD | M IoU | B IoU) per benchmark
  (FlashBench | MagicBench | DAVIS, then any other), then the denoising time and parameter
  columns. With several benchmarks, the results of one method (one label) share a row and a
  method without a result on a benchmark shows "–" there.
- ``ablation``: Tables 4/5, the same column groups without the time and parameter columns.
- ``groups``: Tables 7/8, the metrics per object count (1..5, >5) on one benchmark.
- ``models``: Table 6 (Method | Length | Resolution | Denoising latency | Params).

A table is built once (:func:`build_table`) into plain data with ranks already assigned,
then rendered by :func:`render_markdown`, :func:`render_latex` or :func:`render_csv`. Every
rendering names the benchmark of each column group and the videos it covers.

Marking rule (best **bold**, second underlined), per column, respecting its direction:

- Values are compared as displayed (rounded to 2 decimals), so entries that print the same
  are tied. Ranks are dense: every entry equal to the best value is bold, and every entry
  equal to the next distinct value is underlined (two tied best -> both bold, the next
  value underlined).
- Missing values are shown as "–" and never ranked. A column is marked only when at least
  two ranked rows have a value in it.
- Only comparable entries are ranked, within one column group (one benchmark): results of
  one benchmark manifest, one video subset (all videos, or the same ``--groups``/``--limit``
  selection) and one protocol. Anything else is refused; under ``force`` the minority is
  shown, marked ¶ (other benchmark or subset) or § (other protocol), and not ranked. When a
  column group holds any official result, only official entries are ranked there (proxy
  numbers, marked †, are not comparable to official ones).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

from ..data.schema import GROUPS
from ..errors import InputError
from ..results import is_proxy, is_random_init, is_reference, method_label
from ..utils.text import plural

TABLE_KINDS: tuple[str, ...] = ("overall", "ablation", "groups", "models")
PER_BENCHMARK_KINDS = ("overall", "ablation")
DECIMALS = 2
MISSING = "–"

PROXY_MARK = "†"
REFERENCE_MARK = "‡"
PROTOCOL_MARK = "§"
BENCHMARK_MARK = "¶"
PROXY_NOTE = "proxy extractors: not comparable to the paper"
REFERENCE_NOTE = "reference (tiny) checkpoint, not official weights"
RANDOM_MARK = "°"
RANDOM_NOTE = "random init: untrained weights, a plumbing run, not a model"

_METRIC_HEADERS = {"fid": "FID", "fvd": "FVD", "mask_iou": "M IoU", "box_iou": "B IoU"}
_METRIC_DIRECTIONS = {"fid": "min", "fvd": "min", "mask_iou": "max", "box_iou": "max"}

# Column-group name of a benchmark by its build source, and the paper's order of the groups.
FAMILY_BY_SOURCE = {"videos": "FlashBench", "synth": "FlashBench-Synth", "magicdata": "MagicBench", "davis": "DAVIS"}
FAMILY_ORDER = ("FlashBench", "FlashBench-Synth", "MagicBench", "DAVIS")


@dataclass(frozen=True)
class BenchmarkRef:
    """Which benchmark and which of its videos a result was scored on."""

    family: str  # column-group name
    name: str
    manifest_hash: str
    full: bool  # every video of the benchmark (no --groups / --limit)
    groups: tuple[str, ...]
    limit: int | None
    n_videos: int
    scoring: str  # "groups" or "overall"

    @property
    def key(self) -> tuple:
        """Equal keys: the same videos of the same benchmark."""
        return (self.manifest_hash, True, (), None) if self.full else (self.manifest_hash, False, self.groups, self.limit)

    def subset(self) -> str:
        if self.full:
            return f"all {plural(self.n_videos, 'video')}"
        limit = f", at most {self.limit} per group" if self.limit is not None else ""
        return f"groups {', '.join(self.groups)}{limit} ({plural(self.n_videos, 'video')})"

    def describe(self) -> str:
        return f"{self.name} (manifest {self.manifest_hash[:12]}, {self.subset()})"


def benchmark_ref(results: Mapping[str, Any]) -> BenchmarkRef:
    b = results["benchmark"]
    family = FAMILY_BY_SOURCE.get(b.get("source")) or ("FlashBench-Synth" if b.get("synthetic") else str(b["name"]))
    groups = tuple(b.get("groups") or ())
    limit = b.get("limit")
    full = b.get("full")
    if full is None:  # results written before the field existed: judged by the selection
        full = limit is None and (not groups or set(groups) == set(GROUPS))
    return BenchmarkRef(
        family=family, name=str(b["name"]), manifest_hash=str(b["manifest_hash"]), full=bool(full), groups=groups,
        limit=limit, n_videos=int(results["overall"]["n_expected"]), scoring=str(b.get("scoring") or "groups"),
    )


@dataclass(frozen=True)
class Column:
    key: str  # CSV name, unique in the table
    header: str  # short header without the direction arrow
    direction: Literal["min", "max"] | None = None  # None: not ranked
    section: str | None = None  # super-header (benchmark or object-count group)
    metric: str | None = None  # fid | fvd | mask_iou | box_iou for metric columns
    kind: Literal["number", "int", "size", "params"] = "number"


@dataclass
class Cell:
    value: Any = None  # float | int | (H, W) | None
    ci: tuple[float, float] | None = None
    rank: int | None = None  # dense rank among ranked entries, 1 = best
    mark: int = 0  # 1 = best (bold), 2 = second (underlined), 0 = none
    ranked: bool = True  # comparable with the column's other ranked entries
    proxy: bool = False  # made with proxy extractors


@dataclass
class Row:
    label: str
    cells: dict[str, Cell]
    source: str  # the result file(s), "; "-joined
    protocol_hash: str
    proxy: bool
    reference: bool  # not official weights: a tiny reference checkpoint or random init
    other_protocol: bool = False
    random_init: bool = False
    other_benchmark: bool = False
    benchmarks: str = ""  # "family=description" of each result in the row

    @property
    def ranked(self) -> bool:
        return any(c.ranked for c in self.cells.values())


@dataclass
class Table:
    kind: str
    columns: list[Column]
    rows: list[Row]
    show_ci: bool = False
    footnotes: list[tuple[str, str]] = field(default_factory=list)  # (mark, text)
    warnings: list[str] = field(default_factory=list)
    benchmarks: list[tuple[str, str]] = field(default_factory=list)  # (column group, description) of the ranked results
    result_marks: list[str] = field(default_factory=list)  # per input result: "", "§", "¶" or both

    @property
    def proxy_marks_numbers(self) -> bool:
        """Proxy extractors change metric numbers only, not sizes, latency or parameters."""
        return self.kind != "models"


# ----------------------------------------------------------------------------- building


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "bench"


def _metric_columns(section: str | None = None, prefix: str = "") -> list[Column]:
    return [
        Column(key=f"{prefix}{m}", header=_METRIC_HEADERS[m], direction=_METRIC_DIRECTIONS[m], section=section, metric=m)
        for m in ("fid", "fvd", "mask_iou", "box_iou")
    ]


def _group_prefix(g: str) -> str:
    return f"obj{g}_"


def _group_section(g: str) -> str:
    return f"Obj>{g[1:]}" if g.startswith(">") else f"Obj={g}"


def _family_prefix(families: Sequence[str], family: str) -> str:
    return "" if len(families) <= 1 else f"{_slug(family)}_"


_TIME = Column(key="denoise_s", header="Denoising time (s)", direction="min")
_PARAMS = Column(key="params_b", header="Params (B)", kind="params")


def table_columns(kind: str, families: Sequence[str] = ()) -> list[Column]:
    """Columns of a layout; ``families`` are the benchmark column groups of overall/ablation."""
    if kind in PER_BENCHMARK_KINDS:
        cols: list[Column] = []
        for fam in families or [None]:
            # one benchmark: no super-header (the caption names it), keys without a prefix
            cols += _metric_columns(section=fam if len(families) > 1 else None, prefix=_family_prefix(families, fam) if fam else "")
        return cols + ([_TIME, _PARAMS] if kind == "overall" else [])
    if kind == "groups":
        cols = []
        for g in GROUPS:
            cols += _metric_columns(section=_group_section(g), prefix=_group_prefix(g))
        return cols
    if kind == "models":
        return [
            Column(key="length", header="Length", kind="int"),
            Column(key="resolution", header="Resolution", kind="size"),
            Column(key="denoise_s", header="Denoising latency (s)", direction="min"),
            _PARAMS,
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


def _result_cells(kind: str, results: Mapping[str, Any], prefix: str, with_ci: bool) -> dict[str, Cell]:
    """The cells one result fills: its metric column group, or its group/model columns."""
    if kind in PER_BENCHMARK_KINDS:
        return _group_cells(results["overall"], prefix, with_ci)
    if kind == "groups":
        cells: dict[str, Cell] = {}
        for g in GROUPS:
            cells.update(_group_cells(results["groups"].get(g), _group_prefix(g), with_ci))
        return cells
    return _model_cells(results)


def _majority(indices: Sequence[int], key_of: Sequence[Any]) -> Any:
    """The most frequent key among ``indices`` (ties: the first to appear)."""
    counts = Counter(key_of[i] for i in indices)
    return max(counts, key=lambda k: (counts[k], -min(j for j in indices if key_of[j] == k)))


def check_comparable(
    results_list: Sequence[Mapping[str, Any]],
    sources: Sequence[str],
    refs: Sequence[BenchmarkRef],
    column_of: Sequence[str],
    *,
    force: bool,
) -> tuple[set[int], set[int], list[str]]:
    """Results that are not comparable with the majority of their column group.

    Returns (indices under another protocol, indices of another benchmark or video subset,
    warning lines). Without ``force`` any such result is an :class:`InputError` naming the
    files, the protocol hashes or the benchmarks and subsets.
    """
    other_protocol: set[int] = set()
    other_bench: set[int] = set()
    warnings: list[str] = []
    hashes = [r["protocol_hash"] for r in results_list]
    keys = [ref.key for ref in refs]
    for col in dict.fromkeys(column_of):
        idx = [i for i, c in enumerate(column_of) if c == col]
        where = f" in the {col} columns" if col != "*" and len(set(column_of)) > 1 else ""
        if len({keys[i] for i in idx}) > 1:
            by_key: dict[Any, list[int]] = {}
            for i in idx:
                by_key.setdefault(keys[i], []).append(i)
            listing = "; ".join(f"{refs[v[0]].describe()}: {', '.join(sources[i] for i in v)}" for v in by_key.values())
            if not force:
                raise InputError(
                    f"results{where} come from different benchmarks or video subsets and are not comparable ({listing}); "
                    f"compare results of the same benchmark and the same videos (a --groups/--limit run only with a run "
                    f"of the same selection), or pass --force to show them with the others marked {BENCHMARK_MARK}"
                )
            major = _majority(idx, keys)
            other_bench |= {i for i in idx if keys[i] != major}
            warnings.append(f"mixing benchmarks or video subsets{where} ({listing}); the others are marked {BENCHMARK_MARK} and not ranked")
        if len({hashes[i] for i in idx}) > 1:
            by_hash: dict[str, list[int]] = {}
            for i in idx:
                by_hash.setdefault(hashes[i], []).append(i)
            listing = "; ".join(f"{h}: {', '.join(sources[i] for i in v)}" for h, v in by_hash.items())
            if not force:
                raise InputError(
                    f"results{where} use different protocols and are not comparable ({listing}); "
                    f"evaluate them under one protocol, or pass --force to put them in one table "
                    f"with the rows of the other protocol(s) marked {PROTOCOL_MARK}"
                )
            major = _majority(idx, hashes)
            other_protocol |= {i for i in idx if hashes[i] != major}
            warnings.append(
                f"mixing protocols{where} ({listing}); rows not under the majority protocol {major} "
                f"are marked {PROTOCOL_MARK} and not ranked"
            )
    return other_protocol, other_bench, warnings


def _ordered_families(refs: Sequence[BenchmarkRef]) -> list[str]:
    seen = list(dict.fromkeys(ref.family for ref in refs))
    return sorted(seen, key=lambda f: (FAMILY_ORDER.index(f) if f in FAMILY_ORDER else len(FAMILY_ORDER), seen.index(f)))


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
    Raises :class:`InputError` when results in one column group are not comparable (other
    protocol, benchmark or video subset) and ``force`` is false, when a method has two
    results on one benchmark, and when a result scored overall is asked for by group.
    """
    if not results_list:
        raise InputError("no results given; pass at least one results.json or run directory")
    if kind not in TABLE_KINDS:
        raise InputError(f"unknown table {kind!r}; choose one of {', '.join(TABLE_KINDS)}")
    sources = list(sources) if sources is not None else [method_label(r) for r in results_list]
    if len(sources) != len(results_list):
        raise ValueError("sources must name every result")
    refs = [benchmark_ref(r) for r in results_list]
    if kind == "groups":
        for src, ref in zip(sources, refs):
            if ref.scoring == "overall":
                raise InputError(
                    f"{src}: {ref.name} is scored overall, not by object-count groups (its manifest says so); use --table overall"
                )
    per_bench = kind in PER_BENCHMARK_KINDS
    families = _ordered_families(refs) if per_bench else []
    column_of = [ref.family for ref in refs] if per_bench else ["*"] * len(refs)
    other_protocol, other_bench, warnings = check_comparable(results_list, sources, refs, column_of, force=force)
    columns = table_columns(kind, families)
    metric_table = kind != "models"

    # a result is ranked unless it is another protocol's or benchmark's, or a proxy among official ones
    minority = other_protocol | other_bench
    ranked = [i not in minority for i in range(len(results_list))]
    proxy = [is_proxy(r) for r in results_list]
    if metric_table:
        for col in dict.fromkeys(column_of):
            idx = [i for i, c in enumerate(column_of) if c == col and i not in minority]
            if any(not proxy[i] for i in idx) and any(proxy[i] for i in idx):
                where = f" in the {col} columns" if col != "*" and len(families) > 1 else ""
                warnings.append(
                    f"the table mixes official and proxy results{where}; proxy rows ({PROXY_MARK}) are not ranked "
                    f"against official ones"
                )
                for i in idx:
                    ranked[i] = ranked[i] and not proxy[i]

    labels = [method_label(r) for r in results_list]
    merge = per_bench and len(families) > 1
    if merge:
        seen: dict[tuple[str, str], int] = {}
        for i, (lab, fam) in enumerate(zip(labels, column_of)):
            if (lab, fam) in seen:
                raise InputError(
                    f"two results of {lab!r} on {fam} ({sources[seen[lab, fam]]}, {sources[i]}); one row holds one result "
                    f"per benchmark: pass different --label values to `flashbench eval`, or leave one out"
                )
            seen[lab, fam] = i
        members = [[i for i, lab in enumerate(labels) if lab == label] for label in dict.fromkeys(labels)]
    else:
        members = [[i] for i in range(len(results_list))]
        dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dupes:
            warnings.append(
                f"several results share the label(s) {', '.join(dupes)}; pass `--label` to "
                f"`flashbench eval` to tell them apart"
            )

    rows = []
    for idx in members:
        if per_bench:
            idx = sorted(idx, key=lambda i: families.index(column_of[i]))
        cells = {c.key: Cell() for c in columns}
        for i in idx:
            prefix = _family_prefix(families, column_of[i]) if per_bench else ""
            for key, cell in _result_cells(kind, results_list[i], prefix, ci).items():
                cell.ranked, cell.proxy = ranked[i], proxy[i]
                cells[key] = cell
        if kind == "overall":
            # time and parameters: the row's result on the first benchmark it has (the paper times one setting)
            first = min(idx, key=lambda i: families.index(column_of[i]))
            for key, cell in _model_cells(results_list[first]).items():
                if key in ("denoise_s", "params_b"):
                    cell.ranked = first not in minority and (not merge or column_of[first] == families[0])
                    cells[key] = cell
        rows.append(Row(
            label=labels[idx[0]], cells=cells, source="; ".join(sources[i] for i in idx),
            protocol_hash=results_list[idx[0]]["protocol_hash"], proxy=any(proxy[i] for i in idx),
            reference=any(is_reference(results_list[i]) for i in idx),
            random_init=any(is_random_init(results_list[i]) for i in idx),
            other_protocol=any(i in other_protocol for i in idx), other_benchmark=any(i in other_bench for i in idx),
            benchmarks="; ".join(f"{column_of[i] if per_bench else refs[i].family}={refs[i].describe()}" for i in idx),
        ))

    if metric_table:
        for label, r in zip(labels, results_list):
            failed = r["overall"]["n_failed"]
            if failed:
                warnings.append(
                    f"{label}: {failed} of {r['overall']['n_expected']} videos failed to generate "
                    f"(scored as failures, not dropped)"
                )

    assign_marks(columns, rows)
    table = Table(kind=kind, columns=columns, rows=rows, show_ci=ci, warnings=warnings)
    table.result_marks = [
        (PROTOCOL_MARK if i in other_protocol else "") + (BENCHMARK_MARK if i in other_bench else "") for i in range(len(refs))
    ]
    for col in families or ["*"]:
        idx = [i for i, c in enumerate(column_of) if c == col and i not in minority]
        ref = refs[idx[0]] if idx else refs[column_of.index(col)]
        table.benchmarks.append((ref.family if col == "*" else col, ref.describe()))
    if metric_table and any(proxy):
        table.footnotes.append((PROXY_MARK, PROXY_NOTE))
    if any(row.reference and not row.random_init for row in rows):
        table.footnotes.append((REFERENCE_MARK, REFERENCE_NOTE))
    if any(row.random_init for row in rows):
        table.footnotes.append((RANDOM_MARK, RANDOM_NOTE))
    if other_protocol:
        other = sorted({results_list[i]["protocol_hash"] for i in other_protocol})
        table.footnotes.append(
            (PROTOCOL_MARK, f"different protocol ({', '.join(other)}): not comparable with the other rows")
        )
    if other_bench:
        other = sorted({refs[i].describe() for i in other_bench})
        table.footnotes.append(
            (BENCHMARK_MARK, f"other benchmark or video subset ({'; '.join(other)}): not comparable with the other rows")
        )
    if kind == "overall" and merge:
        table.footnotes.append(("", f"Denoising time: mean per video on {families[0]}; a method timed only elsewhere is shown unranked"))
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
            if row.cells[col.key].ranked and row.cells[col.key].value is not None
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
    marks={PROXY_MARK: PROXY_MARK, REFERENCE_MARK: REFERENCE_MARK, RANDOM_MARK: RANDOM_MARK, PROTOCOL_MARK: PROTOCOL_MARK,
           BENCHMARK_MARK: BENCHMARK_MARK, "": ""},
    down="↓", up="↑",
)
LATEX = _LatexStyle(
    bold=r"\textbf{{{}}}", underline=r"\underline{{{}}}", times=r"$\times$", missing="--",
    marks={PROXY_MARK: r"$^\dagger$", REFERENCE_MARK: r"$^\ddagger$", RANDOM_MARK: r"$^\circ$", PROTOCOL_MARK: r"$^\S$",
           BENCHMARK_MARK: r"$^\P$", "": ""},
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
    if cell.proxy and table.proxy_marks_numbers and col.metric is not None:
        text += style.marks[PROXY_MARK]
    if table.show_ci and cell.ci is not None:
        text += f" [{_number(cell.ci[0])}, {_number(cell.ci[1])}]"
    return text


def _label_text(row: Row, style: _Style) -> str:
    text = style.escape(row.label)
    if row.reference:
        text += style.marks[RANDOM_MARK if row.random_init else REFERENCE_MARK]
    if row.other_protocol:
        text += style.marks[PROTOCOL_MARK]
    if row.other_benchmark:
        text += style.marks[BENCHMARK_MARK]
    return text


def benchmark_caption(table: Table) -> str:
    """The line naming the benchmark (and videos) of each column group."""
    if len(table.benchmarks) == 1:
        return f"Benchmark: {table.benchmarks[0][1]}"
    return "Benchmarks: " + "; ".join(f"{fam}: {desc}" for fam, desc in table.benchmarks)


def _footnote(mark: str, text: str, style: "_Style") -> str:
    return f"{style.marks[mark]} {text}" if mark else text


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
    lines = [style.escape(benchmark_caption(table)), ""]
    lines += ["| " + " | ".join(headers) + " |", "| :--- | " + " | ".join("---:" for _ in groups) + " |"]
    for row in table.rows:
        cells = [_label_text(row, style)] + [
            "/".join(_cell_text(table, row, c, style) for c in g) for g in groups
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if table.footnotes:
        lines.append("")
        lines += [_footnote(mark, text, style) for mark, text in table.footnotes]
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
    lines.append(f"\\par\\footnotesize {style.escape(benchmark_caption(table))}")
    for mark, text in table.footnotes:
        lines.append(f"\\par\\footnotesize {_footnote(mark, style.escape(text), style)}")
    return "\n".join(lines) + "\n"


def render_csv(table: Table) -> str:
    """CSV with plain numbers at full precision and no marks.

    After the value columns come ``<key>_rank`` for each ranked column (dense rank among
    ranked rows, 1 = best, empty when missing or not ranked; 1 and 2 are the bold and
    underlined entries of the other formats), ``<key>_ci_lo``/``<key>_ci_hi`` with ``ci``,
    then the provenance columns ``official``, ``reference``, ``other_protocol``,
    ``other_benchmark``, ``protocol_hash``, ``benchmark`` (column group = benchmark and
    videos of each result in the row) and ``source``.
    """
    header = ["method"] + [c.key for c in table.columns]
    ranked_cols = [c for c in table.columns if c.direction is not None]
    header += [f"{c.key}_rank" for c in ranked_cols]
    ci_cols = [c for c in table.columns if c.metric in ("mask_iou", "box_iou")] if table.show_ci else []
    for c in ci_cols:
        header += [f"{c.key}_ci_lo", f"{c.key}_ci_hi"]
    header += ["official", "reference", "other_protocol", "other_benchmark", "protocol_hash", "benchmark", "source"]

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
        out += [str(not row.proxy).lower(), str(row.reference).lower(), str(row.other_protocol).lower(),
                str(row.other_benchmark).lower(), row.protocol_hash, row.benchmarks, row.source]
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
