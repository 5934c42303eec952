"""`flashbench reproduce tiny`: the reference results of the tiny models, rebuilt from real runs.

Three steps, each a function:

1. :func:`plan` lists the rows (:data:`ROWS`): the tiny reference models, the DMD/GAN/LCM
   baselines and the stage-3 ablations, each a label, a registered generator and its options.
   Every row's weights are resolved with :func:`flashmotion.generators.reference_checkpoint`;
   a row without weights is skipped with a one-line reason. The ablations, which the package
   does not ship, are first trained from the installed reference set when missing
   (:func:`train_missing_ablations`; ``--no-train-ablations`` skips them instead).
2. :func:`evaluate_rows` evaluates each remaining row exactly as ``flashbench eval`` does
   (:func:`flashbench.evaluate.run`) into ``DIR/runs/<label>/``, so a rerun resumes and a
   finished row is only re-aggregated.
3. :func:`write_report` lays the results out in the paper's tables with
   :mod:`flashbench.report.tables` (the code behind ``flashbench tables``), draws the plots by
   object count (:mod:`flashbench.report.plots`), and prints beside each table the paper's own
   numbers for the same rows (:mod:`flashbench.report.paper_results`) in a separate,
   unranked table. Output: ``DIR/reference-results.md`` with its images beside it.
"""

from __future__ import annotations

import datetime as _dt
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from . import paths
from .errors import FlashBenchError, InputError, MissingWeightsError
from .report import paper_results as paper
from .utils.text import plural

ADAPTERS = ("resnet", "controlnet")
ADAPTER_NAMES = {"resnet": "ResNet", "controlnet": "ControlNet"}
SWITCHES = ("no-diffusion", "no-gan", "fixed-scale", "heads-vc", "heads-ss-vc", "heads-tc-vc")
REPORT_NAME = "reference-results.md"
RECIPES = {"reference": "tiny-reference", "baseline": "tiny-baselines", "ablation": "tiny-ablations"}


@dataclass(frozen=True)
class Row:
    """One model to evaluate."""

    label: str  # run folder DIR/runs/<label>/ and the --only key
    model: str  # registered generator
    kind: str  # reference | baseline | ablation
    adapter: str  # resnet | controlnet
    weights: str  # checkpoint folder name, resolved by flashmotion.generators.reference_checkpoint

    @property
    def passes_checkpoint(self) -> bool:
        """Ablations load their folder with ``checkpoint=``; registered aliases find their own."""
        return self.kind == "ablation"


def _rows() -> tuple[Row, ...]:
    rows = []
    for a in ADAPTERS:
        for alias in (f"wan-{a}-50step", f"flashmotion-{a}", f"flashmotion-{a}-slowadapter"):
            rows.append(Row(alias, alias, "reference", a, alias))
    for a in ADAPTERS:
        for method in ("dmd", "gan", "lcm"):
            rows.append(Row(f"{method}-{a}", f"{method}-{a}", "baseline", a, f"{method}-{a}"))
    for a in ADAPTERS:
        for switch in SWITCHES:
            name = f"ablation-{a}-{switch}"
            rows.append(Row(name, f"flashmotion-{a}", "ablation", a, name))
    return tuple(rows)


ROWS: tuple[Row, ...] = _rows()
ROW_BY_LABEL: dict[str, Row] = {r.label: r for r in ROWS}


@dataclass
class PlannedRow:
    row: Row
    model_args: dict[str, str]
    checkpoint: Path | None = None
    status: str = "planned"  # planned | evaluated | skipped | error
    reason: str = ""  # why skipped or failed, one line
    results: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return self.row.label


# ----------------------------------------------------------------------------- 1. the plan


def parse_only(values: Sequence[str]) -> list[str]:
    """``--only a --only b,c`` -> [a, b, c]; every name must be a row."""
    names = [v.strip() for value in values for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in ROW_BY_LABEL]
    if unknown:
        raise InputError(f"--only {', '.join(unknown)}: no such row; the rows are {', '.join(ROW_BY_LABEL)}")
    return list(dict.fromkeys(names))


def _missing_reason(row: Row) -> str:
    from flashmotion.generators import REFERENCE_DIR

    from .paths import checkpoints_dir

    return (f"no weights: no checkpoint folder {row.weights} in {checkpoints_dir()} or {REFERENCE_DIR} "
            f"(`flashbench train recipe {RECIPES[row.kind]}` writes it)")


def lineage_problem(row: Row, folder: Path, resolve: Callable[[str], Path | None]) -> str:
    """Why a baseline or ablation folder does not belong with the installed reference set (a
    baseline shipped in the package beside a set trained into the checkpoint cache, or
    ablations left from an earlier set), else "": its provenance's parent and generator must
    be the stage-1 and stage-2 weights of the installed aliases `tiny-ablations` trains from
    (``wan-<adapter>-50step``; ``flashmotion-controlnet-slowadapter`` for either adapter)."""
    from flashmotion.loading import read_checkpoint_meta
    from flashmotion.training.components import checkpoint_identities
    from flashmotion.training.recipe import STAGE1_ALIAS, STAGE2_ALIAS

    if row.kind == "reference":
        return ""
    refs = {key: (alias, resolve(alias)) for key, alias in
            (("parent", STAGE1_ALIAS.format(adapter=row.adapter)), ("generator", STAGE2_ALIAS))}
    if all(ref is None for _, ref in refs.values()):
        return ""
    recorded = read_checkpoint_meta(folder).get("provenance", {}).get("parents", {})
    for key, (alias, ref) in refs.items():
        if ref is None or key not in recorded:
            continue
        if recorded[key] not in checkpoint_identities(read_checkpoint_meta(ref)):
            return (f"stale weights: {folder} was trained from another {key} than the installed {alias} ({ref}); "
                    f"`flashbench train recipe {RECIPES[row.kind]}` trains it from the installed set")
    return ""


def plan(only: Sequence[str] = (), model_args: Mapping[str, str] | None = None,
         resolve: Callable[[str], Path | None] | None = None) -> list[PlannedRow]:
    """The rows to evaluate, in :data:`ROWS` order, each resolved or marked skipped.

    ``model_args`` are added to every row's generator options (``init=random`` runs every row
    untrained and skips weight resolution); ``resolve`` maps a checkpoint name to its folder
    (default :func:`flashmotion.generators.reference_checkpoint`).
    """
    if resolve is None:
        from flashmotion.generators import reference_checkpoint as resolve
    extra = {k: str(v) for k, v in (model_args or {}).items()}
    if "checkpoint" in extra:
        raise InputError("--model-arg checkpoint=...: each row has its own weights; pass other options only")
    random_init = extra.get("init") == "random"
    selected = set(only) if only else None
    planned = []
    for row in ROWS:
        if selected is not None and row.label not in selected:
            continue
        pr = PlannedRow(row, dict(extra))
        if not random_init:
            folder = resolve(row.weights)
            stale = lineage_problem(row, Path(folder), resolve) if folder is not None else ""
            if folder is None:
                pr.status, pr.reason = "skipped", _missing_reason(row)
            elif stale:
                pr.status, pr.reason = "skipped", stale
            else:
                pr.checkpoint = Path(folder)
                if row.passes_checkpoint:
                    pr.model_args["checkpoint"] = str(folder)
        planned.append(pr)
    return planned


# ----------------------------------------------------------------------------- 2. evaluation


@dataclass
class Settings:
    """What every row is evaluated with (the ``flashbench eval`` options of one run)."""

    out: Path
    bench: Path | None = None  # None: $FLASHBENCH_BENCH, else the embedded FlashBench-Synth
    groups: tuple[str, ...] | None = None
    limit: int | None = None
    seed: int = 0
    extractor: str = "auto"
    segmenter: str = "auto"
    device: str = "cpu"
    bootstrap: int = 1000
    progress: bool = True
    fid_stride: int | None = None  # score every k-th frame for FID (a protocol field, as `eval --fid-stride`)
    train_ablations: bool = True  # train the selected ablations that are not installed, before evaluating
    command: str = ""  # the command line written into the report


def run_dir(settings: Settings, label: str) -> Path:
    return settings.out / "runs" / label


def eval_config(pr: PlannedRow, settings: Settings):
    from .evaluate import EvalConfig

    return EvalConfig(
        model=pr.row.model, model_args=dict(pr.model_args), bench=settings.bench, groups=settings.groups,
        limit=settings.limit, run_dir=run_dir(settings, pr.label), seed=settings.seed, extractor=settings.extractor,
        segmenter=settings.segmenter, device=settings.device, label=pr.label, bootstrap=settings.bootstrap,
        progress=settings.progress, protocol=eval_protocol(settings),
    )


def eval_protocol(settings: Settings):
    """The protocol ``flashbench eval`` would use for these options (None: its default for the benchmark)."""
    if settings.fid_stride is None:
        return None
    from .embedded import PROTOCOL as EMBEDDED_PROTOCOL
    from .protocol import DEFAULT

    base = DEFAULT if settings.bench is not None else EMBEDDED_PROTOCOL
    try:
        return base.with_(fid_frame_stride=settings.fid_stride)
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def evaluate_rows(planned: Sequence[PlannedRow], settings: Settings, console: Any = None,
                  say: Callable[[str], None] = print) -> None:
    """Evaluate every planned row in place (status, reason, results); a row that fails says why
    in one line and the others still run."""
    from .evaluate import run
    from .results import load_results

    for pr in planned:
        if pr.status == "skipped":
            say(f"{pr.label}: skipped: {pr.reason}")
    todo = [pr for pr in planned if pr.status == "planned"]
    for i, pr in enumerate(todo, 1):
        say(f"[{i}/{len(todo)}] {pr.label}: {pr.row.model}" + "".join(f" {k}={v}" for k, v in pr.model_args.items()))
        try:
            run(eval_config(pr, settings), console=console)
            pr.results = load_results(run_dir(settings, pr.label))
            pr.status = "evaluated"
        except MissingWeightsError as exc:
            pr.status, pr.reason = "skipped", _one_line(str(exc))
        except FlashBenchError as exc:
            pr.status, pr.reason = "error", _one_line(str(exc))
        if pr.status != "evaluated":
            say(f"{pr.label}: {pr.status}: {pr.reason}")


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------- 3. the report


@dataclass(frozen=True)
class TableRow:
    label: str  # the plan row
    title: str  # the name shown in this table
    paper_row: tuple[str, str]  # (section, row) in the paper tables shown beside


@dataclass(frozen=True)
class TableSpec:
    """One of our tables and the paper table(s) printed beside it."""

    key: str
    title: str
    kind: str  # overall | groups | ablation | models (flashbench.report.tables)
    about: str
    rows: tuple[TableRow, ...]
    paper_tables: tuple[int, ...]
    paper_columns: tuple[str, ...] | None = None  # None: every column of the paper table
    # our column key -> paper column, for the orderings compared under the tables
    orderings: tuple[tuple[str, str], ...] = ()


_ORDER_METRICS = (("fid", "FID"), ("fvd", "FVD"), ("mask_iou", "M IoU"), ("box_iou", "B IoU"))
_DIRECTIONS = {"fid": "min", "fvd": "min", "mask_iou": "max", "box_iou": "max", "denoise_s": "min"}


def _table_specs() -> tuple[TableSpec, ...]:
    main_rows = []
    for a in ADAPTERS:
        main_rows.append(TableRow(f"wan-{a}-50step", f"Wan2.2 ({ADAPTER_NAMES[a]}), 50 steps",
                                  (paper.MULTISTEP, f"Wan2.2 ({ADAPTER_NAMES[a]})")))
    for a, section in (("resnet", paper.RESNET), ("controlnet", paper.CONTROLNET)):
        for method in ("dmd", "gan", "lcm"):
            oom = a == "controlnet" and method in ("dmd", "gan")
            main_rows.append(TableRow(f"{method}-{a}", f"{method.upper()} ({ADAPTER_NAMES[a]})",
                                      (section, "DMD / GAN" if oom else method.upper())))
        main_rows.append(TableRow(f"flashmotion-{a}", f"FlashMotion ({ADAPTER_NAMES[a]})", (section, "FlashMotion")))
    main_rows = tuple(main_rows)
    specs = [
        TableSpec(
            "table-1", "Table 1: overall", "overall",
            "FID, FVD, mask and box IoU over the whole benchmark, the mean denoising time per video and the "
            "parameters (backbone + adapter) of the 50-step references, the three few-step baselines and FlashMotion, "
            "both adapters.",
            main_rows, (1,), tuple(f"FlashBench {m}" for m in paper.METRICS) + ("Denoising Time (s)", "Params (B)"),
            tuple((k, f"FlashBench {m}") for k, m in _ORDER_METRICS) + (("denoise_s", "Denoising Time (s)"),),
        ),
        TableSpec(
            "tables-7-8", "Tables 7/8: by object count", "groups",
            "The same rows and metrics per object-count group (1 to 5 foreground objects, more than 5).",
            main_rows, (7, 8),
        ),
    ]
    for a, section in (("resnet", paper.ABL_RESNET), ("controlnet", paper.ABL_CONTROLNET)):
        name = ADAPTER_NAMES[a]
        specs.append(TableSpec(
            f"table-2-4-{a}", f"Tables 2/4: ablations, {name} adapter", "ablation",
            "The full model against the SlowAdapter on the FastGenerator (no FastAdapter stage) and stage 3 without "
            "the diffusion loss, without the GAN loss, and with the diffusion loss scale fixed to 1.",
            (
                TableRow(f"flashmotion-{a}-slowadapter", "w/o FastAdapter (SlowAdapter)", (section, "Slow Adapter")),
                TableRow(f"ablation-{a}-no-diffusion", "w/o diffusion loss", (section, "w/o Diffusion Loss")),
                TableRow(f"ablation-{a}-no-gan", "w/o GAN loss", (section, "w/o GAN Loss")),
                TableRow(f"ablation-{a}-fixed-scale", "w/o dynamic scale", (section, "w/o Dynamic Scale")),
                TableRow(f"flashmotion-{a}", "FlashMotion (full)", (section, "FlashMotion")),
            ),
            (2,), None, _ORDER_METRICS,
        ))
    for a, section in (("resnet", paper.ABL_RESNET), ("controlnet", paper.ABL_CONTROLNET)):
        name = ADAPTER_NAMES[a]
        specs.append(TableSpec(
            f"table-3-5-{a}", f"Tables 3/5: discriminator heads, {name} adapter", "ablation",
            "Stage 3 with the discriminator's Video Cross-Attention heads only, plus the Semantic Self-Attention or "
            "the Trajectory Cross-Attention heads, against the full model (SS+TC+VC).",
            (
                TableRow(f"ablation-{a}-heads-vc", "VC only", (section, "VC only")),
                TableRow(f"ablation-{a}-heads-ss-vc", "SS+VC", (section, "SS+VC")),
                TableRow(f"ablation-{a}-heads-tc-vc", "TC+VC", (section, "TC+VC")),
                TableRow(f"flashmotion-{a}", "SS+TC+VC (FlashMotion)", (section, "FlashMotion")),
            ),
            (3,), None, _ORDER_METRICS,
        ))
    specs.append(TableSpec(
        "table-6", "Table 6: models", "models",
        "Frames generated, working resolution, mean denoising time per video and parameters (backbone + adapter).",
        tuple(TableRow(label, title, ("", prow)) for label, title, prow in (
            ("wan-resnet-50step", "Wan+ResNet, 50 steps", "Wan+ResNet"),
            ("wan-controlnet-50step", "Wan+ControlNet, 50 steps", "Wan+ControlNet"),
            ("flashmotion-resnet", "FlashMotion (ResNet)", "FlashMotion (ResNet)"),
            ("flashmotion-controlnet", "FlashMotion (ControlNet)", "FlashMotion (ControlNet)"),
        )),
        (6,), ("Video Length", "Video Resolution", "Denoising Latency (s)", "Total Params (B)"),
        (("denoise_s", "Denoising Latency (s)"),),
    ))
    return tuple(specs)


TABLE_SPECS: tuple[TableSpec, ...] = _table_specs()

PROXY_NOTE = (
    "Numbers marked † were made with proxy extractors (the same architectures with seeded random weights, and a "
    "weight-free optical-flow tracker instead of SAM2), because the official extractor weights are not in the cache: "
    "they compare the rows of one table with each other and are not comparable with the paper's numbers."
)
OFFICIAL_NOTE = "All numbers were made with the official extractors."
SCALE_NOTE = (
    "Every model here is a tiny checkpoint (‡) trained on CPU by the project's stage runners, evaluated on the "
    "small synthetic benchmark; the paper's are 5B models on FlashBench. Compare orderings within a table, not values "
    "across tables: the paper's numbers are printed beside ours in their own table and never ranked with them."
)


def code_version() -> str:
    """``flashbench <version>``, the git description of the checkout (if it is one) and the scoring code hash."""
    from . import __version__
    from .provenance import code_hash

    parts = [f"flashbench {__version__}"]
    try:
        git = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=10, check=False)
        if git.returncode == 0 and git.stdout.strip():
            parts.append(f"git {git.stdout.strip()}")
    except (OSError, subprocess.SubprocessError):
        pass
    parts.append(f"scoring code {code_hash()}")
    return ", ".join(parts)


def command_line(settings: Settings, only: Sequence[str], model_args: Mapping[str, str]) -> str:
    """The command that makes this report, every option spelled out."""
    words = ["flashbench", "reproduce", "tiny", "--out", str(settings.out)]
    if settings.bench is not None:
        words += ["--bench", str(settings.bench)]
    if settings.groups:
        words += ["--groups", ",".join(settings.groups)]
    if settings.limit is not None:
        words += ["--limit", str(settings.limit)]
    for label in only:
        words += ["--only", label]
    for k, v in model_args.items():
        words += ["--model-arg", f"{k}={v}"]
    words += ["--seed", str(settings.seed)]
    if settings.fid_stride is not None:
        words += ["--fid-stride", str(settings.fid_stride)]
    for opt, value, default in (("--extractor", settings.extractor, "auto"), ("--segmenter", settings.segmenter, "auto"),
                                ("--device", settings.device, "cpu")):
        if value != default:
            words += [opt, value]
    if not settings.train_ablations:
        words += ["--no-train-ablations"]
    return shlex.join(words)


def _with_title(results: Mapping[str, Any], title: str) -> dict[str, Any]:
    return {**results, "label": title}


def _fmt_paper(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def paper_table_markdown(spec: TableSpec, number: int, rows: Sequence[tuple[TableRow, str]]) -> str:
    """The paper's numbers of ``rows`` (our row, its status note) as a Markdown table, unranked."""
    table = paper.TABLES[number]
    columns = [c for c in spec.paper_columns if c in table.columns] if spec.paper_columns else list(table.columns)
    lines = [f"*{paper.table_label(number)}; not re-evaluated here, not ranked:*", ""]
    lines.append("| Method | " + " | ".join(columns) + " |")
    lines.append("| :--- | " + " | ".join("---:" for _ in columns) + " |")
    for trow, note in rows:
        section, name = trow.paper_row
        prow = table.row(section, name)
        if prow.values:
            cells = [_fmt_paper(table.value(section, name, c)) for c in columns]
        else:
            cells = [prow.note] * len(columns)
        lines.append(f"| {trow.title}{note} | " + " | ".join(cells) + " |")
    if any(not table.row(*t.paper_row).values for t, _ in rows):
        lines += ["", "OOM: out of GPU memory at 5B scale in the paper (no numbers); these run here at tiny scale."]
    return "\n".join(lines) + "\n"


def _ordering(values: Mapping[str, float], direction: str) -> str:
    """``a > b = c``: best first, entries that display the same joined by ``=``."""
    from .report.tables import display_key

    sign = 1 if direction == "min" else -1
    ranked = sorted(values, key=lambda t: sign * display_key(values[t]))
    out = ranked[:1]
    for prev, cur in pairwise(ranked):
        out += ["=" if display_key(values[prev]) == display_key(values[cur]) else ">", cur]
    return " ".join(out)


def ordering_lines(spec: TableSpec, ours: Mapping[str, Mapping[str, float | None]]) -> list[str]:
    """Per compared column: our order and the paper's order of the rows both have, and how many
    pairs of rows are in the same order (ties, as displayed, count as not the same)."""
    from .report.tables import display_key

    table = paper.TABLES[spec.paper_tables[0]]
    out = []
    for key, pcol in spec.orderings:
        direction = _DIRECTIONS[key]
        both: dict[str, tuple[float, float]] = {}
        for trow in spec.rows:
            mine = (ours.get(trow.title) or {}).get(key)
            theirs = table.value(*trow.paper_row, pcol) if table.row(*trow.paper_row).values else None
            if mine is not None and theirs is not None:
                both[trow.title] = (float(mine), float(theirs))
        if len(both) < 2:
            continue
        sign = 1 if direction == "min" else -1
        titles = list(both)
        pairs = same = 0
        for i, a in enumerate(titles):
            for b in titles[i + 1:]:
                pairs += 1
                d_ours = sign * (display_key(both[a][0]) - display_key(both[b][0]))
                d_paper = sign * (display_key(both[a][1]) - display_key(both[b][1]))
                same += d_ours * d_paper > 0
        arrow = "↓" if direction == "min" else "↑"
        order_ours = _ordering({t: v[0] for t, v in both.items()}, direction)
        order_paper = _ordering({t: v[1] for t, v in both.items()}, direction)
        out.append(f"- {pcol} ({arrow}), best first: ours {order_ours}; paper {order_paper}; "
                   f"{same} of {plural(pairs, 'pair')} in the same order")
    return out


def _status_note(pr: PlannedRow | None) -> str:
    if pr is None or pr.status == "evaluated":
        return ""
    return " (not run here)"


def table_section(spec: TableSpec, by_label: Mapping[str, PlannedRow], settings: Settings) -> str:
    """Our table (``flashbench tables`` code) and, beside it, the paper's numbers of the same rows."""
    from .report.tables import build_table, render_markdown

    present = [t for t in spec.rows if t.label in by_label]
    lines = [f"## {spec.title}", "", spec.about, ""]
    done = [t for t in present if by_label[t.label].status == "evaluated"]
    ours: dict[str, dict[str, float | None]] = {}
    if done:
        results = [_with_title(by_label[t.label].results, t.title) for t in done]
        sources = [f"runs/{t.label}" for t in done]
        table = build_table(spec.kind, results, sources)
        for row in table.rows:
            ours[row.label] = {k: c.value for k, c in row.cells.items() if not isinstance(c.value, tuple)}
        lines.append("**Ours** (best per column bold, second underlined):")
        lines.append("")
        lines.append(render_markdown(table).rstrip("\n"))
        lines += [f"- warning: {w}" for w in table.warnings]
    else:
        lines.append("**Ours:** no row of this table was evaluated (see Rows).")
    missing = [t for t in present if by_label[t.label].status != "evaluated"]
    if missing:
        lines += ["", "Not in our table: " + "; ".join(
            f"{t.title} (`{t.label}`, {by_label[t.label].status})" for t in missing) + "."]
    for number in spec.paper_tables:
        lines += ["", paper_table_markdown(spec, number, [(t, _status_note(by_label[t.label])) for t in present]).rstrip("\n")]
    order = ordering_lines(spec, ours) if spec.orderings else []
    if order:
        lines += ["", ("Orderings of the rows both tables have, best first (as displayed; `=` a tie, which counts as a "
                       "different order):"), ""]
        lines += order
    return "\n".join(lines) + "\n"


def plot_section(by_label: Mapping[str, PlannedRow], settings: Settings) -> str:
    """Plots by object count of Table 1's rows, one pair per adapter, written beside the report."""
    from .report.plots import (
        figure_iou_by_object_count,
        figure_quality_by_object_count,
        legend_label,
        save_figure,
    )

    spec = TABLE_SPECS[0]
    lines = ["## Plots by object count", ""]
    drawn = False
    for a in ADAPTERS:
        rows = [t for t in spec.rows if t.label in by_label and by_label[t.label].status == "evaluated"
                and by_label[t.label].row.adapter == a]
        if not rows:
            continue
        results = [_with_title(by_label[t.label].results, t.title) for t in rows]
        if any(r["benchmark"].get("scoring") == "overall" for r in results):
            continue
        labels = [legend_label(r) for r in results]
        for name, what, figure in (("iou", "mask and box IoU", figure_iou_by_object_count),
                                   ("quality", "FID and FVD", figure_quality_by_object_count)):
            stem = settings.out / f"reference-results-{a}-{name}"
            save_figure(figure(results, labels), stem, formats=("png",))
            lines.append(f"![{ADAPTER_NAMES[a]} adapter: {what} by object count]({stem.name}.png)")
            drawn = True
        lines.append("")
    if not drawn:
        lines.append("No plot: no row of Table 1 was evaluated.")
    return "\n".join(lines).rstrip("\n") + "\n"


def rows_section(planned: Sequence[PlannedRow]) -> str:
    lines = ["## Rows", "", "| Row | Generator | Options | Status |", "| :--- | :--- | :--- | :--- |"]
    for pr in planned:
        opts = ", ".join(f"{k}={v}" for k, v in pr.model_args.items()) or "–"
        if pr.status == "evaluated":
            o = pr.results["overall"]
            status = f"evaluated, {o['n_scored']} of {o['n_expected']} videos scored (`runs/{pr.label}`)"
            if o["n_failed"]:
                status += f", {o['n_failed']} failed"
        else:
            status = f"{pr.status}: {pr.reason}"
        lines.append(f"| `{pr.label}` | `{pr.row.model}` | {opts.replace('|', '/')} | {status.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def header_section(planned: Sequence[PlannedRow], settings: Settings, bench_line: str, date: str) -> str:
    done = [pr for pr in planned if pr.status == "evaluated"]
    proxy = any(not pr.results["official"] for pr in done)
    lines = [
        "# Reference results of the tiny models", "",
        f"- Command: `{settings.command}`",
        f"- Code: {code_version()}",
        f"- Date: {date}",
        f"- Benchmark: {bench_line}",
        (f"- Rows: {len(done)} evaluated, {sum(pr.status == 'skipped' for pr in planned)} skipped (weights missing), "
         f"{sum(pr.status == 'error' for pr in planned)} failed, of {len(planned)} planned"),
        "",
        PROXY_NOTE if proxy else OFFICIAL_NOTE,
        "",
        SCALE_NOTE,
    ]
    return "\n".join(lines) + "\n"


def benchmark_line(settings: Settings) -> str:
    """Name, manifest hash, videos and protocol of the benchmark the rows are evaluated on."""
    from .data.benchmark import Benchmark
    from .evaluate import EvalConfig, resolve_benchmark

    root, embedded, protocol = resolve_benchmark(EvalConfig(model="", bench=settings.bench, protocol=eval_protocol(settings)),
                                                 settings.progress)
    bench = Benchmark.open(root)
    items = bench.select(settings.groups, settings.limit)
    if not items:
        raise InputError(f"{root}: no videos selected (groups={settings.groups}, limit={settings.limit})")
    where = "the embedded FlashBench-Synth" if embedded else str(root)
    subset = "all" if not settings.groups and settings.limit is None else "selected"
    return (f"{bench.name} ({where}), manifest {bench.manifest_hash}, {subset} {len(items)} of {len(bench.items)} videos; "
            f"protocol {protocol.name} ({protocol.hash()}); seed {settings.seed}")


def write_report(planned: Sequence[PlannedRow], settings: Settings, bench_line: str | None = None,
                 date: str | None = None) -> Path:
    """Write ``DIR/reference-results.md`` (and the plots beside it); returns its path."""
    from .utils.atomic import atomic_write_text

    date = date or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    by_label = {pr.label: pr for pr in planned}
    parts = [header_section(planned, settings, bench_line or benchmark_line(settings), date)]
    for spec in TABLE_SPECS:
        if any(t.label in by_label for t in spec.rows):
            parts.append(table_section(spec, by_label, settings))
    parts.append(plot_section(by_label, settings))
    parts.append(rows_section(planned))
    path = settings.out / REPORT_NAME
    atomic_write_text(path, "\n".join(parts))
    return path


# ----------------------------------------------------------------------------- all three


@dataclass
class Outcome:
    report: Path
    rows: list[PlannedRow] = field(default_factory=list)

    @property
    def errors(self) -> list[PlannedRow]:
        return [pr for pr in self.rows if pr.status == "error"]


def train_missing_ablations(planned: Sequence[PlannedRow], settings: Settings, say: Callable[[str], None]) -> bool:
    """The package ships the reference models and baselines but not the ablations (its size
    budget): train the selected ones that are missing from the installed reference set into the
    checkpoint cache (`flashbench train recipe tiny-ablations`, resumable). True if any were."""
    from flashmotion.training import recipe

    from .distributed import DistContext

    missing = [pr.row.weights for pr in planned if pr.row.kind == "ablation" and pr.status == "skipped"]
    if not missing:
        return False
    try:  # one recipe folder per installed reference set: another set's finished runs are not its own
        sources = recipe.installed_sources("tiny-ablations")
    except InputError as exc:
        say(f"ablations not trained: {_one_line(str(exc))}")
        return False
    from flashmotion.loading import read_checkpoint_meta
    from flashmotion.training.components import checkpoint_hash

    from .utils.atomic import sha256_json

    set_id = sha256_json({run: checkpoint_hash(read_checkpoint_meta(f)) for run, f in sorted(sources.items())})[:12]
    folder = paths.home() / "training" / f"tiny-ablations-{set_id}"
    say(f"training {len(missing)} ablation(s) from the installed reference set into {paths.checkpoints_dir()} "
        f"(`flashbench train recipe tiny-ablations`, runs in {folder}; 2-4 minutes each on two cores, after a "
        f"one-time cache of the training scenes' latents, about 15 minutes; --no-train-ablations skips them)")
    try:
        recipe.run_recipe("tiny-ablations", folder, DistContext(), progress=settings.progress,
                          install=paths.checkpoints_dir(), only=set(missing))
    except InputError as exc:
        say(f"ablations not trained: {_one_line(str(exc))}")
        return False
    return True


def reproduce_tiny(settings: Settings, only: Sequence[str] = (), model_args: Mapping[str, str] | None = None,
                   console: Any = None, say: Callable[[str], None] = print,
                   resolve: Callable[[str], Path | None] | None = None) -> Outcome:
    """Plan, evaluate and report (see the module docstring)."""
    model_args = dict(model_args or {})
    if not settings.command:
        settings = replace(settings, command=command_line(settings, only, model_args))
    if settings.out.exists() and not settings.out.is_dir():
        raise InputError(f"--out {settings.out}: is a file; choose a folder")
    planned = plan(only, model_args, resolve)
    bench_line = benchmark_line(settings)  # a wrong benchmark fails here, before any row; the embedded one is built once
    if settings.train_ablations and train_missing_ablations(planned, settings, say):
        planned = plan(only, model_args, resolve)
    settings.out.mkdir(parents=True, exist_ok=True)
    evaluate_rows(planned, settings, console=console, say=say)
    return Outcome(write_report(planned, settings, bench_line), planned)
