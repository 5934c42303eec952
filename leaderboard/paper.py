"""The FlashMotion paper's published Tables 1, 7 and 8, as reported (``data/paper_tables.json``).

These numbers were not re-evaluated here: they are shown in their own section and never
ranked with evaluated entries.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SOURCE = "paper"


def load_paper_tables() -> dict[str, Any]:
    return json.loads(resources.files("leaderboard").joinpath("data/paper_tables.json").read_text(encoding="utf-8"))


def paper_rows(tables: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """One row per (method, benchmark, group): Table 1 gives the overall rows of the three
    benchmarks, Tables 7/8 the FlashBench rows per object count."""
    tables = tables or load_paper_tables()
    rows = []
    for e in tables["entries"]:
        base = {"source": SOURCE, "section": e["section"], "method": e["method"], "denoise_s": e.get("denoise_s"),
                "params_b": e.get("params_b"), "note": "OOM" if e.get("oom") else ""}
        empty = {"fid": None, "fvd": None, "mask_iou": None, "box_iou": None}
        if e.get("oom"):
            rows.append(base | empty | {"benchmark": "FlashBench", "grp": "overall"})
            continue
        for bench, m in e["benchmarks"].items():
            rows.append(base | m | {"benchmark": bench, "grp": "overall"})
        for g, m in e.get("flashbench_groups", {}).items():
            rows.append(base | m | {"benchmark": "FlashBench", "grp": g})
    return rows
