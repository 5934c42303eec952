"""Ranked tables from stored entries.

Entries are grouped into boards by benchmark (manifest hash) and protocol hash: numbers are
comparable only inside one board. Within a board, complete entries with official extractors
form the ranked table; proxy (†) and reference-checkpoint (‡) entries form a separate
unofficial table; partial entries (not every video) are listed but never ranked.

The order: the mean over FID, FVD, mask IoU and box IoU of each entry's dense rank in that
column (values compared as printed, 2 decimals, in the metric's direction); ties go to the
higher mask IoU, then the earlier entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from flashbench.data.schema import GROUPS
from flashbench.results import HIGHER_IS_BETTER

COLUMNS = ("fid", "fvd", "mask_iou", "box_iou")
SCOPES = ("overall",) + GROUPS


@dataclass
class Row:
    entry: Mapping[str, Any]
    values: dict[str, float | None]
    cis: dict[str, list[float] | None]
    rank: int | None = None
    score: float | None = None


@dataclass
class Board:
    benchmark: str
    manifest_hash: str
    protocol_hash: str
    ranked: dict[str, list[Row]] = field(default_factory=dict)  # scope -> rows
    unofficial: dict[str, list[Row]] = field(default_factory=dict)
    partial: list[Mapping[str, Any]] = field(default_factory=list)


def _scope(results: Mapping[str, Any], scope: str) -> Mapping[str, Any] | None:
    return results["overall"] if scope == "overall" else results["groups"].get(scope)


def dense_ranks(values: Sequence[float | None], higher_better: bool) -> list[int | None]:
    printed = sorted({round(v, 2) for v in values if v is not None}, reverse=higher_better)
    return [None if v is None else printed.index(round(v, 2)) + 1 for v in values]


def rank_rows(entries: Sequence[Mapping[str, Any]], scope: str) -> list[Row]:
    rows = []
    for e in entries:
        res = _scope(e["results"], scope)
        if res is None:
            continue
        rows.append(Row(e, {c: res.get(c) for c in COLUMNS}, {c: res.get(f"{c}_ci") for c in ("mask_iou", "box_iou")}))
    per_col = {c: dense_ranks([r.values[c] for r in rows], HIGHER_IS_BETTER[c]) for c in COLUMNS}
    worst = len(rows) + 1  # a missing value ranks below every present one
    for i, r in enumerate(rows):
        r.score = sum(per_col[c][i] or worst for c in COLUMNS) / len(COLUMNS)
    rows.sort(key=lambda r: (r.score, -(r.values["mask_iou"] if r.values["mask_iou"] is not None else -1.0), r.entry["id"]))
    for i, r in enumerate(rows, start=1):
        r.rank = i
    return rows


def boards(entries: Sequence[Mapping[str, Any]]) -> list[Board]:
    """One board per (benchmark, protocol), in order of first submission."""
    out: dict[tuple[str, str], Board] = {}
    for e in entries:
        key = (e["manifest_hash"], e["protocol_hash"])
        out.setdefault(key, Board(e["benchmark_name"], e["manifest_hash"], e["protocol_hash"]))
    for (mh, ph), b in out.items():
        mine = [e for e in entries if e["manifest_hash"] == mh and e["protocol_hash"] == ph]
        b.partial = [e for e in mine if not e["complete"]]
        for kind in ("ranked", "unofficial"):
            sel = [e for e in mine if e["complete"] and e["board"] == kind]
            if sel:
                getattr(b, kind).update({s: rank_rows(sel, s) for s in SCOPES})
    return list(out.values())


def entry_marks(entry: Mapping[str, Any]) -> str:
    """† proxy extractors, ‡ reference checkpoint."""
    res = entry["results"]
    return ("†" if not res["official"] else "") + ("‡" if res["generator"].get("reference") else "")


def fmt(v: float | None, ci: list[float] | None = None) -> str:
    if v is None:
        return "–"
    return f"{v:.2f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
