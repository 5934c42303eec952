"""Output for people and for pipes: full names, json/csv listings, counts and plurals,
random-init labels, and a progress bar that covers the whole torchrun job."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from rich.console import Console

from flashbench.generators.registry import available
from flashbench.ui import EvalUI
from flashbench.utils.text import human_count, plural


def _ls(*args: str, columns: str = "40") -> str:
    env = dict(os.environ, COLUMNS=columns)
    proc = subprocess.run([sys.executable, "-m", "flashbench", "ls", *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_ls_generators_piped_shows_every_full_name():
    out = _ls("generators")  # stdout is a pipe, as in `flashbench ls generators | cat`
    words = set(out.replace("│", " ").replace("┃", " ").split())
    missing = [name for name in available() if name not in words]
    assert not missing, f"names cut or wrapped: {missing}\n{out}"
    assert "…" not in out


def test_ls_json_and_csv_list_the_same_generators():
    records = json.loads(_ls("generators", "--format", "json"))
    assert [r["name"] for r in records] == sorted(available())
    assert set(records[0]) == {"name", "origin", "target"}
    rows = list(csv.DictReader(io.StringIO(_ls("generators", "--format", "csv"))))
    assert [r["name"] for r in rows] == sorted(available()) and rows == records


@pytest.mark.parametrize("n,text", [(10_280_000_000, "10.28B"), (21_600_000, "21.6M"), (4_200, "4.2K"), (0, "0"), (512, "512")])
def test_parameter_counts_for_people(n, text):
    assert human_count(n) == text


def test_plural():
    assert (plural(1, "video"), plural(2, "video"), plural(0, "video")) == ("1 video", "2 videos", "0 videos")


def test_random_init_is_labelled_random_init_in_tables_and_plots():
    from flashbench.report.plots import legend_label
    from flashbench.report.tables import build_table, render_markdown

    from test_tables import make_results

    random = make_results("Plumbing", 1.0, 2.0, 3.0, 4.0, reference=True)
    random["generator"]["model_args"] = {"init": "random", "config": "tiny"}
    tiny = make_results("Tiny", 1.5, 2.5, 3.5, 4.5, reference=True)
    md = render_markdown(build_table("overall", [random, tiny]))
    assert "| Plumbing° |" in md and "° random init" in md
    assert "| Tiny‡ |" in md and "‡ reference (tiny) checkpoint" in md
    assert legend_label(random).startswith("Plumbing (random init")


def test_progress_bar_counts_every_rank():
    """Rank 0 holds 3 of 6 videos; the other rank's 3 arrive through the job-wide counter."""
    counts = {"n": 0}

    def shared(n: int) -> int:
        counts["n"] += n
        if counts["n"] == 3:  # rank 0 done with its share; the other rank reports its three
            counts["n"] += 3
        return counts["n"]

    buf = io.StringIO()
    ui = EvalUI(console=Console(file=buf, width=100))
    with ui.task("generating", 6, shared) as advance:
        for _ in range(3):
            advance(1)
    assert "6/6" in buf.getvalue()
