"""Leaderboard: every refusal has its own message and leaves the store byte-for-byte unchanged;
valid runs land on the right board; ranking, rendering, migrations, the paper's tables, the CLI."""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
from test_leaderboard_support import (
    archive_members,
    edit_results,
    make_bench,
    make_run,
    repack,
)
from typer.testing import CliRunner

from flashbench import paths
from flashbench.cli import app
from flashbench.protocol import Protocol
from leaderboard.archive import Limits, members_from_run, pack
from leaderboard.errors import SubmissionRejected
from leaderboard.paper import paper_rows
from leaderboard.ranking import boards
from leaderboard.render import render_html, render_markdown
from leaderboard.schema import SubmitterMetadata
from leaderboard.store import MIGRATIONS, SCHEMA_VERSION, Store


def meta(name: str = "copy-paste", **kw) -> SubmitterMetadata:
    return SubmitterMetadata(model_name=name, generated_by="gen lab", evaluated_by="eval lab", nfe=4, **kw)


def archive_of(run: Path, bench: Path, name: str = "copy-paste", **kw) -> bytes:
    manifest = json.loads((bench / "manifest.json").read_text())
    return pack(members_from_run(run, manifest, paths.home() / "features"), meta(name, **kw))


def snapshot(store: Store) -> dict[str, bytes]:
    """Every file of the store (the database and any WAL beside it), byte for byte."""
    return {p.name: p.read_bytes() for p in sorted(store.path.parent.iterdir()) if p.is_file()}


@pytest.fixture()
def setup(tmp_path):
    bench = make_bench(tmp_path / "bench")
    run = make_run(tmp_path / "run-a", bench, name="model-a", seed=1)
    store = Store(tmp_path / "lb" / "leaderboard.db")
    first = store.submit(archive_of(run, bench, "model-a"))
    assert first["id"] == 1 and first["board"] == "unofficial" and first["complete"]
    valid = archive_of(make_run(tmp_path / "run-b", bench, name="model-b", seed=2), bench, "model-b")
    return {"bench": bench, "store": store, "run": run, "valid": valid, "tmp": tmp_path}


def _proxy_as_official(res):
    res["official"] = True
    for ext in res["extractors"].values():
        ext["official"] = True


def _other_protocol(res):
    proto = Protocol(**res["protocol"]).with_(fid_frame_stride=3)
    res["protocol"], res["protocol_hash"] = proto.to_dict(), proto.hash()


def _drop_row(members):
    lines = members["videos.csv"].decode().splitlines(keepends=True)
    members["videos.csv"] = "".join(lines[:3] + lines[4:]).encode()


def _traversal(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in archive_members(data).items():
            zf.writestr(name, content)
        zf.writestr("stats/../../../escaped.txt", b"owned")
    return buf.getvalue()


REFUSALS = {
    "malformed JSON": (lambda d: repack(d, lambda m: m.__setitem__("results.json", b'{"format": "flashbench-results", ')),
                       "malformed-json", "results.json is not valid JSON (line 1"),
    "wrong protocol": (lambda d: edit_results(d, _other_protocol), "protocol", "is not a protocol this leaderboard knows"),
    "tampered aggregate": (lambda d: edit_results(d, lambda r: r["overall"].__setitem__("mask_iou", r["overall"]["mask_iou"] + 0.5)),
                           "aggregate", "overall.mask_iou: uploaded"),
    "missing videos": (lambda d: repack(d, _drop_row), "missing-videos", "have no row in videos.csv (first: v2-0)"),
    "proxy offered as official": (lambda d: edit_results(d, _proxy_as_official), "extractors", "extractors.fid claims to be official"),
    "path traversal": (_traversal, "archive-path", "'stats/../../../escaped.txt' is not allowed"),
    "not an archive": (lambda d: b"PK\x03\x04 garbage", "not-an-archive", "not a zip archive"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_refusal_has_its_own_message_and_leaves_the_store_unchanged(setup, case):
    make, code, fragment = REFUSALS[case]
    store = setup["store"]
    before = snapshot(store)
    with pytest.raises(SubmissionRejected) as err:
        store.submit(make(setup["valid"]))
    assert err.value.code == code and fragment in str(err.value), str(err.value)
    assert snapshot(store) == before
    assert not (setup["tmp"] / "escaped.txt").exists() and not (store.path.parent / "escaped.txt").exists()
    # the untouched archive is still accepted: the refusal was about the change alone
    assert store.submit(setup["valid"])["id"] == 2


def test_oversize_archive_is_refused_before_reading(setup):
    small = Store(setup["store"].path, Limits(max_archive_bytes=len(setup["valid"]) - 1))
    before = snapshot(small)
    with pytest.raises(SubmissionRejected, match=r"\(too-large\).*over the limit of") as err:
        small.submit(setup["valid"])
    assert err.value.status == 413 and snapshot(small) == before


def test_replayed_duplicate_and_same_generator_are_refused_new_version_is_accepted(setup):
    store, bench = setup["store"], setup["bench"]
    replay = archive_of(setup["run"], bench, "model-a")
    before = snapshot(store)
    with pytest.raises(SubmissionRejected, match=r"\(duplicate\): this archive was already submitted \(entry 1\)"):
        store.submit(replay)
    assert snapshot(store) == before
    renamed = archive_of(setup["run"], bench, "model-a, renamed")  # another archive, the same generator and checkpoint
    with pytest.raises(SubmissionRejected, match=r"is already entry 1 on this benchmark and protocol; declare it a new version"):
        store.submit(renamed)
    assert snapshot(store) == before
    with pytest.raises(SubmissionRejected, match=r"\(permission\): entry 1 was submitted by 'local'; only they can replace it"):
        store.submit(archive_of(setup["run"], bench, "model-a v2", new_version_of=1), submitter="someone else")
    assert snapshot(store) == before
    again = store.submit(archive_of(setup["run"], bench, "model-a v2", new_version_of=1))
    assert again["id"] == 2
    current = store.entries()
    assert [e["id"] for e in current] == [2] and store.entries(include_superseded=True)[0]["superseded_by"] == 2


def test_real_side_statistics_are_pinned(setup):
    """A cheater who shifts the real-side statistics and recomputes every aggregate consistently
    passes the recomputation; the pinned real side of the benchmark refuses it."""
    import numpy as np

    from flashbench.aggregate import recompute_from_run
    from flashbench.metrics.frechet import FeatureStats

    tmp = setup["tmp"] / "cheat"

    def cheat(members):
        for name, content in members.items():
            dest = tmp / "real" / name[len("real/"):] if name.startswith("real/") else tmp / "run" / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(content)
        name = next(n for n in members if n.startswith("real/") and n.endswith("fid_real.npz"))
        path = tmp / "real" / name[len("real/"):]
        st = FeatureStats.load(path)
        st.sum, st.outer = st.sum + 0.5 * st.n, st.outer + np.eye(st.dim)
        st.save(path)
        del members[name]
        # under a file name never seen before, so that only a pin keyed by content's meaning can catch it
        fresh = "fresh/" + name.split("/")[-1]
        (tmp / "real" / fresh).parent.mkdir(parents=True, exist_ok=True)
        path.rename(tmp / "real" / fresh)
        members["real/" + fresh] = (tmp / "real" / fresh).read_bytes()
        res = json.loads(members["results.json"])
        for files in res["statistics"]["groups"].values():
            if files.get("fid_real") == name[len("real/"):]:
                files["fid_real"] = fresh
        (tmp / "run" / "results.json").write_text(json.dumps(res))
        res.update(recompute_from_run(tmp / "run", real_root=tmp / "real"))
        members["results.json"] = json.dumps(res).encode()

    store = setup["store"]
    store.submit(setup["valid"])  # pins the honest real side of every group
    before = snapshot(store)
    with pytest.raises(SubmissionRejected, match=r"\(real-statistics\): real-side fid_real statistics of group \S+ disagree"):
        store.submit(repack(archive_of(make_run(setup["tmp"] / "run-c", setup["bench"], name="model-c", seed=7), setup["bench"], "model-c"), cheat))
    assert snapshot(store) == before


def test_official_complete_entries_are_ranked_apart_from_proxies_and_partials(setup, monkeypatch):
    import leaderboard.validate as v

    monkeypatch.setattr(v, "official_extractor_hash", lambda name: {"inception-2015-12-05": "fid-sha", "i3d_torchscript": "fvd-sha",
                                                                     "sam2.1_hiera_large": "segmenter-sha"}.get(name))
    store, bench, tmp = setup["store"], setup["bench"], setup["tmp"]
    for i, name in enumerate(("official-good", "official-bad")):
        got = store.submit(archive_of(make_run(tmp / name, bench, name=name, seed=3 + 2 * i, official=True), bench, name))
        assert got["board"] == "ranked" and got["complete"]
    partial = store.submit(archive_of(make_run(tmp / "partial", bench, name="partial", seed=9, limit=1, official=True), bench, "partial"))
    assert partial["board"] == "ranked" and not partial["complete"]
    ref = store.submit(archive_of(make_run(tmp / "ref", bench, name="tiny-ref", seed=4, reference=True, official=True), bench, "tiny-ref"))
    assert ref["board"] == "unofficial" and "reference checkpoint" in ref["notes"][0]

    (board,) = boards(store.entries())
    ranked = [r.entry["metadata"]["model_name"] for r in board.ranked["overall"]]
    assert sorted(ranked) == ["official-bad", "official-good"]
    assert {r.entry["metadata"]["model_name"] for r in board.unofficial["overall"]} == {"model-a", "tiny-ref"}
    assert [e["metadata"]["model_name"] for e in board.partial] == ["partial"]
    # ranks follow the mean of per-column ranks
    rows = board.ranked["overall"]
    assert rows[0].score <= rows[1].score and [r.rank for r in rows] == [1, 2]
    text = render_markdown(store.entries())
    assert "### Ranked" in text and "### Unofficial" in text and "### Partial" in text and "tiny-ref‡" in text and "model-a†" in text


def test_user_strings_are_escaped_in_markdown_and_html(setup):
    store, bench, tmp = setup["store"], setup["bench"], setup["tmp"]
    evil = "<script>alert(1)</script>|**x**"
    store.submit(archive_of(make_run(tmp / "evil", bench, name="evil", seed=5), bench, evil))
    md = render_markdown(store.entries())
    assert "<script>" not in md and "&lt;script&gt;alert\\(1\\)" not in md and "&lt;script&gt;alert(1)&lt;/script&gt;\\|\\*\\*x\\*\\*" in md
    page = render_html(store.entries())
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script>") == 1  # the sorting script alone, pinned by the CSP hash
    assert "script-src 'sha256-" in page


def test_metadata_fields_are_length_limited():
    with pytest.raises(Exception, match="at most 120 characters"):
        SubmitterMetadata(model_name="x" * 121, generated_by="a", evaluated_by="b", nfe=1)


def test_schema_migrates_an_older_store(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    store = Store(path)
    assert store.schema_version() == SCHEMA_VERSION == 2
    assert store.import_paper(paper_rows()) > 0
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(Exception, match="newer than this flashbench reads"):
        Store(path)


def test_paper_tables_are_a_separate_unranked_section(setup):
    store = setup["store"]
    rows = paper_rows()
    store.import_paper(rows)
    assert store.import_paper(rows) == len(rows) and len(store.paper_results()) == len(rows)  # idempotent
    by = {(r["section"].split(": ")[-1], r["method"], r["benchmark"], r["grp"]): r for r in store.paper_results()}
    fm = by[("ControlNet", "FlashMotion", "FlashBench", "overall")]
    assert (fm["fid"], fm["fvd"], fm["mask_iou"], fm["box_iou"], fm["denoise_s"], fm["params_b"]) == (14.35, 96.08, 69.15, 75.38, 24.44, 10.28)
    assert by[("ControlNet", "FlashMotion", "FlashBench", ">5")]["fvd"] == 305.68  # Table 8
    assert by[("ControlNet", "FlashMotion", "MagicBench", "overall")]["fid"] == 12.49
    assert by[("ResNet", "DMD [58]", "FlashBench", "1")]["mask_iou"] == 55.34  # Table 7
    assert len({r["grp"] for r in rows if r["benchmark"] == "FlashBench"}) == 7
    text = render_markdown(store.entries(), store.paper_results())
    ranked_part, paper_part = text.split("## Reported in paper, not re-evaluated")
    assert "MagicMotion" not in ranked_part and "MagicMotion" in paper_part
    assert all(e["metadata"]["model_name"] != "FlashMotion" for e in store.entries())


def test_submit_and_show_through_the_cli(tmp_path):
    bench = make_bench(tmp_path / "bench")
    run = make_run(tmp_path / "run", bench, name="copy-paste", seed=6)
    db = tmp_path / "store.db"
    runner = CliRunner()
    res = runner.invoke(app, ["submit", str(run), "--bench", str(bench), "--leaderboard", str(db), "--generated-by", "me",
                              "--evaluated-by", "me", "--out", str(tmp_path / "sub.zip")])
    assert res.exit_code == 0, res.output
    assert "stored as entry 1 on the unofficial board" in res.output and (tmp_path / "sub.zip").is_file()
    res = runner.invoke(app, ["leaderboard", "show", "--leaderboard", str(db)])
    assert res.exit_code == 0, res.output
    assert "### Unofficial" in res.output and "| 1 | copy-paste† |" in res.output and "#### 3 objects" in res.output
    res = runner.invoke(app, ["leaderboard", "render", "--leaderboard", str(db), "--out", str(tmp_path / "site"), "--no-plots"])
    assert res.exit_code == 0 and (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / "leaderboard.md").is_file()
    res = runner.invoke(app, ["submit", str(run), "--bench", str(bench), "--leaderboard", str(db)])
    assert res.exit_code != 0 and "is already entry 1 on this benchmark and protocol" in str(res.exception)
