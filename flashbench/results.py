"""The results file (``results.json``): loading, validation and provenance helpers.

The evaluation harness writes one ``results.json`` per run directory (format described in
``docs/results-format.md``). Everything that reads results (tables, plots, the leaderboard)
goes through :func:`load_results`, which checks the structure and the protocol hash so that
later code can index fields without guarding every access.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .data.schema import GROUPS
from .errors import InputError, ValidationError
from .utils.atomic import sha256_json

FORMAT = "flashbench-results"
FORMAT_VERSION = 1
RESULTS_FILENAME = "results.json"

# Per-group metrics: key -> True when higher is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "fid": False,
    "fvd": False,
    "mask_iou": True,
    "box_iou": True,
    "coverage": True,
    "centroid_error": False,
}

TOP_LEVEL_FIELDS = (
    "format", "format_version", "protocol", "protocol_hash", "benchmark", "generator",
    "trajectory", "extractors", "official", "seed", "overall", "groups", "ceiling",
    "timings", "environment", "rows",
)
GROUP_FLOAT_FIELDS = ("fid", "fvd", "mask_iou", "box_iou", "coverage", "centroid_error")
GROUP_CI_FIELDS = ("mask_iou_ci", "box_iou_ci")
GROUP_INT_FIELDS = ("n_expected", "n_scored", "n_failed", "fid_frames", "fvd_clips")
BENCHMARK_FIELDS = ("name", "manifest_hash", "num_frames", "size", "synthetic")
GENERATOR_FIELDS = ("name", "version", "parameters", "native_size", "max_frames", "nfe", "reference")
TIMING_FIELDS = ("total_s", "generation_s", "metrics_s", "denoise_s_mean", "latency_s_mean")
EXTRACTOR_ROLES = ("fid", "fvd", "segmenter")


def results_file(path: str | Path) -> Path:
    """The ``results.json`` for ``path``: the file itself, or the one inside a run directory."""
    p = Path(path)
    if p.is_dir():
        f = p / RESULTS_FILENAME
        if not f.is_file():
            raise InputError(
                f"{p} is a directory without {RESULTS_FILENAME}; pass a finished run directory "
                f"(one where `flashbench eval` has completed) or the results.json file itself"
            )
        return f
    if not p.exists():
        raise InputError(f"results file {p} does not exist; pass a results.json file or a run directory")
    return p


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results file (a ``results.json`` path or a run directory).

    Raises :class:`InputError` when nothing is there and :class:`ValidationError` when the
    file is not valid JSON, is not a FlashBench results file, lacks a field, has a value of
    the wrong type, or carries a protocol hash that does not match its protocol object.
    """
    f = results_file(path)
    try:
        text = f.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read results file {f}: {exc}") from exc
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{f} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"the file may be truncated; re-run `flashbench eval` to rewrite it"
        ) from exc
    validate_results(obj, source=str(f))
    return obj


def validate_results(obj: Any, source: str = "results") -> None:
    """Check the structure of a results object; raise :class:`ValidationError` naming the field."""
    if not isinstance(obj, dict):
        raise ValidationError(f"{source}: expected a JSON object at the top level, got {type(obj).__name__}")
    if obj.get("format") != FORMAT:
        raise ValidationError(f"{source}: not a FlashBench results file (format is {obj.get('format')!r}, expected {FORMAT!r})")
    version = obj.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValidationError(f"{source}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise ValidationError(
            f"{source}: format_version {version} is newer than this flashbench understands "
            f"({FORMAT_VERSION}); upgrade flashbench"
        )
    if version < 1:
        raise ValidationError(f"{source}: format_version must be >= 1, got {version}")
    _require(obj, TOP_LEVEL_FIELDS, source, "")

    protocol = _dict(obj, "protocol", source)
    phash = obj["protocol_hash"]
    if not isinstance(phash, str) or not phash:
        raise ValidationError(f"{source}: protocol_hash must be a non-empty string, got {phash!r}")
    expected = sha256_json(protocol)[:16]
    if phash != expected:
        raise ValidationError(
            f"{source}: protocol_hash {phash} does not match the stored protocol object (which hashes "
            f"to {expected}); the file was edited by hand or written by a different tool"
        )

    bench = _dict(obj, "benchmark", source)
    _require(bench, BENCHMARK_FIELDS, source, "benchmark.")
    _int(bench, "num_frames", source, "benchmark.", nullable=False)
    _size(bench, "size", source, "benchmark.", nullable=False)

    gen = _dict(obj, "generator", source)
    _require(gen, GENERATOR_FIELDS, source, "generator.")
    if not isinstance(gen["name"], str) or not gen["name"]:
        raise ValidationError(f"{source}: generator.name must be a non-empty string")
    _int(gen, "parameters", source, "generator.", nullable=False)
    _int(gen, "max_frames", source, "generator.", nullable=True)
    _size(gen, "native_size", source, "generator.", nullable=True)
    _bool(gen, "reference", source, "generator.")

    if "label" in obj and (not isinstance(obj["label"], str) or not obj["label"]):
        raise ValidationError(f"{source}: label must be a non-empty string when present, got {obj['label']!r}")

    extractors = _dict(obj, "extractors", source)
    for role in EXTRACTOR_ROLES:
        if not isinstance(extractors.get(role), dict):
            raise ValidationError(f"{source}: missing field extractors.{role}")
        _bool(extractors[role], "official", source, f"extractors.{role}.")
    _bool(obj, "official", source, "")
    all_official = all(extractors[r]["official"] for r in EXTRACTOR_ROLES)
    if obj["official"] and not all_official:
        raise ValidationError(f"{source}: official is true but not every extractor is official")

    _validate_group(_dict(obj, "overall", source), source, "overall.")
    groups = _dict(obj, "groups", source)
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValidationError(f"{source}: unknown group(s) {unknown} in groups; expected {list(GROUPS)}")
    # A group the benchmark has no videos of is absent; tables show its cells as missing.
    for g in groups:
        if not isinstance(groups[g], dict):
            raise ValidationError(f"{source}: groups.{g!r} must be an object")
        _validate_group(groups[g], source, f"groups.{g}.")

    timings = _dict(obj, "timings", source)
    _require(timings, TIMING_FIELDS, source, "timings.")
    for k in TIMING_FIELDS:
        _float(timings, k, source, "timings.", nullable=k in ("denoise_s_mean", "latency_s_mean"))


def _validate_group(g: Mapping[str, Any], source: str, prefix: str) -> None:
    _require(g, GROUP_FLOAT_FIELDS + GROUP_CI_FIELDS + GROUP_INT_FIELDS, source, prefix)
    for k in GROUP_FLOAT_FIELDS:
        _float(g, k, source, prefix, nullable=True)
    for k in GROUP_INT_FIELDS:
        _int(g, k, source, prefix, nullable=False)
    for k in GROUP_CI_FIELDS:
        ci = g[k]
        if ci is None:
            continue
        if not (isinstance(ci, list) and len(ci) == 2 and all(_is_number(v) and math.isfinite(v) for v in ci)):
            raise ValidationError(f"{source}: {prefix}{k} must be null or [lo, hi] with two finite numbers, got {ci!r}")
        if ci[0] > ci[1]:
            raise ValidationError(f"{source}: {prefix}{k} has lo > hi: {ci!r}")


def _require(obj: Mapping[str, Any], names: Iterable[str], source: str, prefix: str) -> None:
    missing = [n for n in names if n not in obj]
    if missing:
        listed = ", ".join(prefix + n for n in missing)
        raise ValidationError(f"{source}: missing field(s) {listed}; see docs/results-format.md")


def _dict(obj: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    if key not in obj:
        raise ValidationError(f"{source}: missing field {key}; see docs/results-format.md")
    value = obj[key]
    if not isinstance(value, dict):
        raise ValidationError(f"{source}: {key} must be an object, got {type(value).__name__}")
    return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _float(obj: Mapping[str, Any], key: str, source: str, prefix: str, *, nullable: bool) -> None:
    v = obj[key]
    if v is None and nullable:
        return
    if not _is_number(v) or not math.isfinite(v):
        kind = "a finite number or null" if nullable else "a finite number"
        raise ValidationError(f"{source}: {prefix}{key} must be {kind}, got {v!r}")


def _int(obj: Mapping[str, Any], key: str, source: str, prefix: str, *, nullable: bool) -> None:
    v = obj[key]
    if v is None and nullable:
        return
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        kind = "a non-negative integer or null" if nullable else "a non-negative integer"
        raise ValidationError(f"{source}: {prefix}{key} must be {kind}, got {v!r}")


def _bool(obj: Mapping[str, Any], key: str, source: str, prefix: str) -> None:
    if not isinstance(obj.get(key), bool):
        raise ValidationError(f"{source}: {prefix}{key} must be true or false, got {obj.get(key)!r}")


def _size(obj: Mapping[str, Any], key: str, source: str, prefix: str, *, nullable: bool) -> None:
    v = obj[key]
    if v is None and nullable:
        return
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v)):
        raise ValidationError(f"{source}: {prefix}{key} must be [height, width] with positive integers, got {v!r}")


# --- provenance helpers -------------------------------------------------------------------


def method_label(results: Mapping[str, Any]) -> str:
    """The display name of the method: ``label`` when set, else the generator name."""
    return results.get("label") or results["generator"]["name"]


def is_proxy(results: Mapping[str, Any]) -> bool:
    """True when any extractor was a proxy: the numbers are not comparable to the paper's."""
    return not results["official"]


def is_reference(results: Mapping[str, Any]) -> bool:
    """True when the generator did not run official weights (a tiny reference checkpoint or random init)."""
    return bool(results["generator"].get("reference", False))


def weights_kind(generator: Mapping[str, Any]) -> str | None:
    """``random init``, ``reference checkpoint`` or None (official weights, or no network), from a
    generator's info (``results["generator"]`` or ``GeneratorInfo.to_dict()``)."""
    if not generator.get("reference"):
        return None
    random = (generator.get("model_args") or {}).get("init") == "random"  # --model-arg init=random
    return "random init" if random else "reference checkpoint"


def is_random_init(results: Mapping[str, Any]) -> bool:
    return weights_kind(results["generator"]) == "random init"


def protocol_hashes(results_list: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
    """Group results by protocol hash: ``{hash: [indices into results_list]}``.

    Hashes are ordered by group size (largest first), ties by first appearance, so the
    first key is the majority protocol.
    """
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(results_list):
        groups.setdefault(r["protocol_hash"], []).append(i)
    order = sorted(groups, key=lambda h: (-len(groups[h]), groups[h][0]))
    return {h: groups[h] for h in order}
