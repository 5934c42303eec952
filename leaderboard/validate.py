"""Checks of a submission archive, each failure its own message; nothing here writes the store.

Order: archive and schema, results format, protocol, benchmark manifest, completeness of the
rows, extractor claims, recomputation of every aggregate (one copy of the algorithm:
:func:`flashbench.aggregate.recompute_from_run`), then the real-side statistics against the
ones the leaderboard has pinned for that benchmark.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from flashbench.data.schema import GROUPS
from flashbench.errors import FlashBenchError
from flashbench.utils.atomic import sha256_bytes, sha256_json

from .archive import FIXED_MEMBERS, Limits, parse_json, unpack
from .errors import SubmissionRejected
from .schema import SubmitterMetadata

REL_TOL = 1e-9  # uploaded vs recomputed aggregates: float round-off only
ABS_TOL = 1e-9
PIN_RTOL = 1e-4  # real-side statistics of another machine: same data, last-bit differences of the networks
_N_PROJECTIONS = 8
MAX_BOOTSTRAP = 100_000


@dataclass
class Checked:
    """A submission that passed every check, ready for the store."""

    archive_sha256: str
    metadata: SubmitterMetadata
    results: dict[str, Any]
    rows_csv: str
    manifest: dict[str, Any]
    board: str  # "ranked" or "unofficial"
    complete: bool
    identity_key: str
    real_pins: dict[str, dict[str, Any]] = field(default_factory=dict)  # pin key -> fingerprint
    unofficial_reasons: list[str] = field(default_factory=list)


def known_protocols() -> dict[str, str]:
    """Protocol hash -> name of every protocol this flashbench defines (named variants and the embedded default's)."""
    from flashbench import embedded
    from flashbench.protocol import PROTOCOLS

    known = {p.hash(): name for name, p in PROTOCOLS.items()}
    known.setdefault(embedded.PROTOCOL.hash(), f"{embedded.PROTOCOL.name} (embedded default, {embedded.NAME})")
    return known


def official_extractor_hash(name: str) -> str | None:
    """The official weight file's SHA-256 as this installation knows it (published, or pinned at import)."""
    from flashbench.weights import expected_sha256

    try:
        return expected_sha256(name)[0]
    except (KeyError, FlashBenchError, ValueError):
        return None


def expected_videos(manifest: Mapping[str, Any], groups: Sequence[str], limit: int | None) -> list[tuple[str, str]]:
    """(video_id, group) a run of ``groups`` with ``limit`` per group scores, in manifest order."""
    taken: dict[str, int] = {}
    out = []
    for item in manifest.get("items", []):
        g = item.get("group")
        if g in groups and (limit is None or taken.get(g, 0) < limit):
            taken[g] = taken.get(g, 0) + 1
            out.append((str(item.get("video_id")), g))
    return out


def fingerprint(stats: Any) -> dict[str, Any]:
    """What pins a real-side statistic: count, mean, covariance diagonal and seeded projections v^T C v
    (an off-diagonal change shows in these too)."""
    cov = stats.cov() if stats.n >= 2 else np.zeros((stats.dim, stats.dim))
    rng = np.random.default_rng(0)
    v = rng.standard_normal((_N_PROJECTIONS, stats.dim)) / math.sqrt(stats.dim)
    return {"n": int(stats.n), "dim": int(stats.dim), "mean": stats.mean().tolist() if stats.n else [0.0] * stats.dim,
            "diag": np.diag(cov).tolist(), "proj": np.einsum("kd,de,ke->k", v, cov, v).tolist()}


def fingerprints_agree(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """None when two fingerprints describe the same statistics, else what differs."""
    if a["n"] != b["n"] or a["dim"] != b["dim"]:
        return f"count/dimension {b['n']}x{b['dim']} instead of {a['n']}x{a['dim']}"
    for key in ("mean", "diag", "proj"):
        x, y = np.asarray(a[key]), np.asarray(b[key])
        scale = max(float(np.abs(x).max(initial=0.0)), 1e-12)
        if not np.allclose(x, y, rtol=PIN_RTOL, atol=PIN_RTOL * scale):
            return f"{key} differs (max difference {float(np.abs(x - y).max()):.3g})"
    return None


def first_difference(uploaded: Any, recomputed: Any, path: str = "") -> str | None:
    """The path of the first number (or structure) that differs beyond float tolerance, with both values."""
    if isinstance(recomputed, dict):
        if not isinstance(uploaded, dict):
            return f"{path or '(top)'}: uploaded {uploaded!r}, recomputed an object"
        for k in recomputed:
            d = first_difference(uploaded.get(k), recomputed[k], f"{path}.{k}" if path else str(k))
            if d:
                return d
        return None
    if isinstance(recomputed, list):
        if not isinstance(uploaded, list) or len(uploaded) != len(recomputed):
            return f"{path}: uploaded {uploaded!r}, recomputed {recomputed!r}"
        for i, (u, r) in enumerate(zip(uploaded, recomputed)):
            d = first_difference(u, r, f"{path}[{i}]")
            if d:
                return d
        return None
    if recomputed is None or uploaded is None or isinstance(recomputed, (bool, str)):
        return None if uploaded == recomputed else f"{path}: uploaded {uploaded!r}, recomputed {recomputed!r}"
    if isinstance(uploaded, bool) or not isinstance(uploaded, (int, float)):
        return f"{path}: uploaded {uploaded!r}, recomputed {recomputed!r}"
    if not math.isclose(float(uploaded), float(recomputed), rel_tol=REL_TOL, abs_tol=ABS_TOL):
        return f"{path}: uploaded {uploaded!r}, recomputed {recomputed!r}"
    return None


def identity_key(results: Mapping[str, Any]) -> str:
    """Generator identity and checkpoint hash on one benchmark under one protocol: what makes a duplicate."""
    gen = results["generator"]
    return sha256_json({
        "benchmark": results["benchmark"]["manifest_hash"], "protocol": results["protocol_hash"],
        "trajectory": results["trajectory"], "name": gen["name"], "version": gen.get("version"),
        "checkpoint_sha256": gen.get("checkpoint_sha256"), "model_args": gen.get("model_args", {}),
    })[:32]


def check_submission(data: bytes, limits: Limits, pinned: Callable[[str], dict[str, Any] | None]) -> Checked:
    """Every check of one archive; ``pinned(key)`` reads the leaderboard's real-side pins."""
    from flashbench.errors import ValidationError
    from flashbench.results import validate_results

    header, members = unpack(data, limits)
    listed, present = set(header.files), set(members)
    if listed != present:
        extra, missing = sorted(present - listed), sorted(listed - present)
        raise SubmissionRejected("schema", f"submission.json lists {missing[:3]} which the archive lacks" if missing
                                 else f"archive members {extra[:3]} are not listed in submission.json")
    for name, digest in header.files.items():
        if sha256_bytes(members[name]) != digest:
            raise SubmissionRejected("schema", f"member {name} does not match its SHA-256 in submission.json; the archive was altered")
    for name in FIXED_MEMBERS:
        if name not in members:
            raise SubmissionRejected("schema", f"the archive has no {name}; pack it with `flashbench submit RUN_DIR`")

    results = parse_json(members["results.json"], "results.json")
    try:
        validate_results(results, source="results.json")
    except ValidationError as exc:
        raise SubmissionRejected("schema", str(exc)) from None
    if results.get("rows") != "videos.csv":
        raise SubmissionRejected("schema", f"results.json names rows {results.get('rows')!r}; expected videos.csv")

    protocols = known_protocols()
    if results["protocol_hash"] not in protocols:
        raise SubmissionRejected("protocol", f"protocol hash {results['protocol_hash']} ({results['protocol'].get('name')!r}) is not a "
                                 f"protocol this leaderboard knows ({', '.join(f'{h} {n}' for h, n in protocols.items())}); "
                                 "evaluate with `flashbench eval --protocol NAME`")

    manifest = parse_json(members["manifest.json"], "manifest.json")
    bench = results["benchmark"]
    if not isinstance(manifest, dict) or sha256_json(manifest) != bench["manifest_hash"]:
        raise SubmissionRejected("benchmark", f"manifest.json does not hash to the benchmark's manifest_hash {bench['manifest_hash'][:16]}…; "
                                 "pack the manifest of the benchmark the run used (`flashbench submit --bench DIR`)")
    items = manifest.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("video_id"), str) for i in items):
        raise SubmissionRejected("benchmark", "manifest.json has no list of items with video ids; it is not a FlashBench manifest")
    complete, rows = _check_rows(members["videos.csv"], manifest, bench)

    reasons = _official_problems(results)
    _check_listing(results, members)
    recomputed = _recompute(members, results)
    diff = first_difference({k: results[k] for k in recomputed}, recomputed)
    if diff:
        raise SubmissionRejected("aggregate", f"uploaded aggregate differs from the one recomputed from the rows and statistics: {diff}")

    pins = _real_pins(members, results, rows)
    for key, fp in pins.items():
        old = pinned(key)
        problem = fingerprints_agree(old, fp) if old else None
        if problem:
            _, _, _, group, _, name = key.split("|")
            raise SubmissionRejected("real-statistics", f"real-side {name} statistics of group {group} disagree with the ones this "
                                     f"leaderboard holds for benchmark {bench['name']!r}: {problem}")
    return Checked(
        archive_sha256=sha256_bytes(data), metadata=header.metadata, results=results,
        rows_csv=members["videos.csv"].decode("utf-8"), manifest=manifest,
        board="unofficial" if reasons else "ranked", complete=complete, identity_key=identity_key(results),
        real_pins=pins, unofficial_reasons=reasons,
    )


def _check_rows(data: bytes, manifest: Mapping[str, Any], bench: Mapping[str, Any]) -> tuple[bool, list[dict[str, str]]]:
    """Rows are exactly the videos the run covered; returns whether that is the whole benchmark, and the rows."""
    try:
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SubmissionRejected("schema", f"videos.csv cannot be read as CSV ({exc})") from None
    groups = bench.get("groups") or [g for g in GROUPS if any(i.get("group") == g for i in manifest.get("items", []))]
    limit = bench.get("limit")
    if not isinstance(groups, list) or any(g not in GROUPS for g in groups) or not (limit is None or isinstance(limit, int)):
        raise SubmissionRejected("schema", f"results.json benchmark.groups/limit are malformed: {groups!r}, {limit!r}")
    expected = expected_videos(manifest, groups, limit)
    got = [(r.get("video_id"), r.get("group")) for r in rows]
    if got != expected:
        missing = [v for v, _ in expected if v not in {g for g, _ in got}]
        unknown = [v for v, _ in got if v not in {e for e, _ in expected}]
        if missing:
            raise SubmissionRejected("missing-videos", f"{len(missing)} of the {len(expected)} videos the run covers have no row in "
                                     f"videos.csv (first: {missing[0]}); every video is scored, a failed one as a failure")
        if unknown:
            raise SubmissionRejected("missing-videos", f"videos.csv has rows for {len(unknown)} videos the run does not cover (first: {unknown[0]})")
        raise SubmissionRejected("missing-videos", "videos.csv rows are not in manifest order or repeat a video")
    all_groups = {i.get("group") for i in manifest.get("items", [])}
    return limit is None and set(groups) == all_groups, rows


def _check_listing(results: Mapping[str, Any], members: Mapping[str, bytes]) -> None:
    """Every statistics path in results.json names a member of the archive (never a path outside it)."""
    from .archive import safe_member_name

    listing = results.get("statistics")
    if not isinstance(listing, dict) or not isinstance(listing.get("groups"), dict):
        raise SubmissionRejected("statistics", "results.json lists no feature statistics; evaluate with a current `flashbench eval`")
    boot = listing.get("bootstrap")
    if not isinstance(boot, int) or isinstance(boot, bool) or not 0 <= boot <= MAX_BOOTSTRAP:
        raise SubmissionRejected("statistics", f"statistics.bootstrap must be an integer in 0..{MAX_BOOTSTRAP}, got {boot!r}")
    for group, files in listing["groups"].items():
        if group not in GROUPS or not isinstance(files, dict):
            raise SubmissionRejected("statistics", f"statistics.groups has an unknown group {group!r}")
        for name, rel in files.items():
            if rel is None:
                continue
            member = f"real/{rel}" if str(name).endswith("_real") else rel
            if not isinstance(rel, str) or not safe_member_name(member) or not (member.startswith(("stats/", "real/"))):
                raise SubmissionRejected("archive-path", f"statistics.groups.{group}.{name} names {rel!r}, not a plain relative path")
            if member not in members:
                raise SubmissionRejected("statistics", f"statistics.groups.{group}.{name}: {member} is not in the archive")


def _official_problems(results: Mapping[str, Any]) -> list[str]:
    """Why an entry belongs on the unofficial board (empty: it may be ranked).

    An entry that *claims* official extractors whose hashes are not the official ones is refused
    outright: that is a false claim, not an unofficial result.
    """
    protocol = results["protocol"]
    wanted = {"fid": protocol.get("fid_extractor"), "fvd": protocol.get("fvd_extractor"), "segmenter": protocol.get("segmenter")}
    reasons = []
    for role, ext in results["extractors"].items():
        if role not in wanted:
            continue
        if not ext.get("official"):
            reasons.append(f"{role} extractor {ext.get('name')!r} is a proxy (†)")
            continue
        official = official_extractor_hash(wanted[role]) if ext.get("name") == wanted[role] else None
        if ext.get("name") != wanted[role] or official is None or ext.get("sha256") != official:
            known = f"the official {wanted[role]} hashes to {official}" if official else f"this leaderboard has no verified hash of {wanted[role]}"
            raise SubmissionRejected("extractors", f"extractors.{role} claims to be official but is {ext.get('name')!r} with sha256 "
                                     f"{str(ext.get('sha256'))[:16]}…; {known}. Proxy results are accepted only as unofficial (official: false)")
    if results["generator"].get("reference"):
        reasons.append("tiny reference checkpoint (‡), not the official weights")
    return reasons


def _recompute(members: Mapping[str, bytes], results: Mapping[str, Any]) -> dict[str, Any]:
    """The aggregates from the archive's rows and statistics, by flashbench's own aggregation."""
    from flashbench.aggregate import recompute_from_run

    with tempfile.TemporaryDirectory(prefix="flashbench-submission-") as tmp:
        run, real = Path(tmp) / "run", Path(tmp) / "real"
        for name, content in members.items():
            if name == "manifest.json":
                continue
            dest = real / name[len("real/"):] if name.startswith("real/") else run / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(content)
        try:
            return recompute_from_run(run, real_root=real)
        except FlashBenchError as exc:
            raise SubmissionRejected("statistics", f"the aggregates cannot be recomputed: {exc}") from None
        except (ValueError, KeyError, OSError) as exc:
            raise SubmissionRejected("statistics", f"the rows or statistics are malformed ({type(exc).__name__}: {exc})") from None


def _real_pins(members: Mapping[str, bytes], results: Mapping[str, Any], rows: Sequence[Mapping[str, str]]) -> dict[str, dict[str, Any]]:
    """Fingerprints of the real-side statistics, keyed by what determines them: benchmark, protocol,
    extractor and the group's scored videos (never by a file name the submitter chose)."""
    from flashbench.metrics.frechet import FeatureStats

    ext = results["extractors"]
    pins = {}
    for group, files in results["statistics"]["groups"].items():
        scored = [r["video_id"] for r in rows if r.get("group") == group and r.get("status") == "ok"]
        for name, rel in files.items():
            if rel is None or not name.endswith("_real"):
                continue
            role = name.split("_")[0]
            key = "|".join((results["benchmark"]["manifest_hash"], results["protocol_hash"], str(ext[role]["sha256"]),
                            group, sha256_json(scored)[:16], name))
            with tempfile.NamedTemporaryFile(suffix=".npz") as f:
                f.write(members[f"real/{rel}"])
                f.flush()
                pins[key] = fingerprint(FeatureStats.load(f.name))
    return pins
