"""Small run directories in the real results format, made in milliseconds, for the leaderboard tests.

A run here has the layout `flashbench eval` writes (results.json, videos.csv, stats/, real-side
statistics in the feature cache) with 8-dimensional features instead of 2048, and its
aggregates come from flashbench's own aggregation, so the leaderboard's recomputation must
reproduce them exactly. The test at the bottom checks that it does.
"""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from flashbench import embedded, paths
from flashbench.aggregate import VideoOutcome, aggregate, group_tag, recompute_from_run
from flashbench.data.schema import GROUPS
from flashbench.metrics.frechet import FeatureStats
from flashbench.utils.atomic import sha256_json

DIM = 8
ROW_COLUMNS = ("video_id", "group", "status", "error", "mask_iou", "box_iou", "coverage", "centroid_error",
               "ceiling_mask_iou", "ceiling_box_iou", "denoise_s", "latency_s", "resized", "objects")


def make_bench(root: Path, per_group: int = 2, name: str = "lb-test-bench") -> Path:
    """A benchmark directory holding only its manifest (what a submission needs of it)."""
    items = [{"video_id": f"v{group_tag(g)}-{i}", "group": g, "num_frames": 9, "height": 64, "width": 96}
             for g in GROUPS for i in range(per_group)]
    manifest = {"format": "flashbench-benchmark", "format_version": 1, "name": name,
                "groups": {g: per_group for g in GROUPS}, "items": items}
    root.mkdir(parents=True, exist_ok=True)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def _video_seed(video_id: str) -> int:
    return int(sha256_json(video_id)[:8], 16)


def _features(seed: int, n: int, shift: float = 0.0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)) + shift


def make_run(run_dir: Path, bench: Path, *, name: str = "copy-paste", label: str | None = None, seed: int = 0,
             limit: int | None = None, official: bool = False, reference: bool = False, checkpoint: str | None = None,
             failed: tuple[str, ...] = ()) -> Path:
    """A finished run of a pretend generator on ``bench`` (quality and accuracy set by ``seed``)."""
    manifest = json.loads((bench / "manifest.json").read_text())
    mhash = sha256_json(manifest)
    items, taken = [], {}
    for it in manifest["items"]:
        if limit is None or taken.get(it["group"], 0) < limit:
            taken[it["group"]] = taken.get(it["group"], 0) + 1
            items.append(it)
    rng = np.random.default_rng(1000 + seed)
    outcomes = []
    for it in items:
        status = "failed" if it["video_id"] in failed else "ok"
        m, b = rng.uniform(0.3, 0.9, 2)
        outcomes.append(VideoOutcome(it["video_id"], it["group"], status, mask_iou=float(m), box_iou=float(b), coverage=0.9,
                                     centroid_error=float(rng.uniform(0, 0.2)), ceiling_mask_iou=0.95, ceiling_box_iou=0.97))
    rows = [o.row() for o in outcomes]
    (run_dir / "stats").mkdir(parents=True, exist_ok=True)
    features_root = paths.home() / "features"
    stats_by_group: dict[str, Any] = {}
    listing: dict[str, Any] = {}
    for g in GROUPS:
        ok = [i for i, it in enumerate(items) if it["group"] == g and it["video_id"] not in failed]
        if not any(it["group"] == g for it in items):
            continue
        tag = group_tag(g)
        real_rel = {n: f"{mhash[:16]}/lbtest/groups/{sha256_json([items[i]['video_id'] for i in ok])[:16]}_{n}.npz" for n in ("fid_real", "fvd_real")}
        gs = {
            # the real side depends only on the benchmark's videos: the same for every run
            "fid_real": FeatureStats.from_features(np.concatenate([_features(_video_seed(items[i]["video_id"]), 3) for i in ok])) if ok else None,
            "fvd_real": FeatureStats.from_features(np.concatenate([_features(7 + _video_seed(items[i]["video_id"]), 1) for i in ok])) if ok else None,
            "fid_fake": FeatureStats.from_features(_features(seed * 31 + GROUPS.index(g), 3 * len(ok), 0.3 + 0.1 * seed)) if ok else None,
            "fvd_fake": FeatureStats.from_features(_features(seed * 37 + GROUPS.index(g), len(ok), 0.2 + 0.1 * seed)) if ok else None,
        }
        stats_by_group[g] = gs
        listing[g] = {n: None for n in gs}
        for n, st in gs.items():
            if st is None:
                continue
            rel = real_rel[n] if n.endswith("_real") else f"stats/{n}_{tag}.npz"
            dest = features_root / rel if n.endswith("_real") else run_dir / rel
            if not dest.is_file():
                st.save(dest)
            listing[g][n] = rel
    agg = aggregate(rows, stats_by_group, bootstrap=50, seed=0)
    with open(run_dir / "videos.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ROW_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({**{k: ("" if isinstance(v, float) and math.isnan(v) else repr(v) if isinstance(v, float) else v) for k, v in r.items()},
                        "error": "" if r["status"] == "ok" else "RuntimeError: test", "denoise_s": 0.5, "latency_s": 0.6,
                        "resized": False, "objects": "[]"})
    protocol = embedded.PROTOCOL
    ext = {role: {"name": official_name if official else f"{role}-proxy", "sha256": f"{role}-sha" if official else f"{role}-proxy-sha",
                  "official": official}
           for role, official_name in (("fid", protocol.fid_extractor), ("fvd", protocol.fvd_extractor), ("segmenter", protocol.segmenter))}
    groups_present = [g for g in GROUPS if g in agg["groups"]]
    results = {
        "format": "flashbench-results", "format_version": 1, "protocol": protocol.to_dict(), "protocol_hash": protocol.hash(),
        "benchmark": {"name": manifest["name"], "manifest_hash": mhash, "num_frames": 9, "size": [64, 96], "synthetic": True,
                      "embedded": False, "groups": groups_present, "limit": limit},
        "generator": {"name": name, "version": "1.0", "parameters": 1000, "native_size": None, "max_frames": None,
                      "trajectory_types": ["box"], "nfe": 4, "checkpoint_sha256": checkpoint, "dtype": "float32",
                      "reference": reference, "notes": "", "extra": {}, "model": name, "model_args": {}},
        "label": label or name, "trajectory": "box", "extractors": ext, "official": official, "seed": 0,
        "overall": agg["overall"], "groups": agg["groups"], "ceiling": agg["ceiling"],
        "statistics": {"bootstrap": 50, "groups": listing},
        "timings": {"total_s": 1.0, "generation_s": 0.5, "metrics_s": 0.5, "denoise_s_mean": 0.5, "latency_s_mean": 0.6},
        "warnings": agg["notes"], "environment": {"flashbench": "test", "device": "cpu", "hardware": "test-cpu", "git": None},
        "rows": "videos.csv",
    }
    (run_dir / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True))
    return run_dir


def archive_members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def repack(data: bytes, change) -> bytes:
    """An archive whose members ``change(members)`` edited, re-signed the way `flashbench submit` signs
    (the member hashes in submission.json updated): only the leaderboard's own checks can catch it."""
    from leaderboard.archive import pack
    from leaderboard.schema import SubmissionHeader

    members = archive_members(data)
    header = SubmissionHeader.model_validate(json.loads(members.pop("submission.json")))
    change(members)
    return pack(members, header.metadata)


def edit_results(data: bytes, edit) -> bytes:
    def change(members):
        res = json.loads(members["results.json"])
        edit(res)
        members["results.json"] = json.dumps(res).encode()
    return repack(data, change)


def test_a_made_run_recomputes_to_its_own_aggregates(tmp_path):
    bench = make_bench(tmp_path / "bench")
    run = make_run(tmp_path / "run", bench, failed=("v1-0",))
    results = json.loads((run / "results.json").read_text())
    again = recompute_from_run(run)
    assert again == {k: results[k] for k in ("overall", "groups", "ceiling")}
    assert results["groups"]["1"]["n_failed"] == 1 and results["overall"]["n_expected"] == 12
