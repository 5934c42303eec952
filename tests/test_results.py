"""Loading and validating results files."""

from __future__ import annotations

import json

import pytest

from flashbench.errors import InputError, ValidationError
from flashbench.protocol import Protocol
from flashbench.results import load_results, method_label, protocol_hashes, validate_results


def _group(fid=20.0, fvd=150.0, m=60.0, b=65.0):
    return {
        "fid": fid, "fvd": fvd, "mask_iou": m, "box_iou": b,
        "mask_iou_ci": [m - 2.0, m + 2.0], "box_iou_ci": [b - 2.0, b + 2.0],
        "coverage": 95.0, "centroid_error": 0.04,
        "n_expected": 10, "n_scored": 10, "n_failed": 0, "fid_frames": 120, "fvd_clips": 10,
    }


def make_results(*, protocol: Protocol | None = None, official: bool = True, label: str | None = "M") -> dict:
    p = protocol or Protocol()
    r = {
        "format": "flashbench-results", "format_version": 1,
        "protocol": p.to_dict(), "protocol_hash": p.hash(),
        "benchmark": {"name": "b", "manifest_hash": "x", "num_frames": 25, "size": [64, 96], "synthetic": True},
        "generator": {
            "name": "gen", "version": "0", "parameters": 1000, "native_size": None, "max_frames": None,
            "trajectory_types": ["box"], "nfe": 4, "checkpoint_sha256": None, "dtype": "float32",
            "reference": True, "notes": "", "extra": {},
        },
        "trajectory": "box",
        "extractors": {k: {"name": k, "sha256": "0", "official": official} for k in ("fid", "fvd", "segmenter")},
        "official": official, "seed": 0,
        "overall": _group(), "groups": {g: _group() for g in ("1", "2", "3", "4", "5", ">5")},
        "ceiling": None,
        "timings": {"total_s": 1.0, "generation_s": 0.5, "metrics_s": 0.5, "denoise_s_mean": None, "latency_s_mean": 0.1},
        "environment": {}, "rows": "videos.csv",
    }
    if label is not None:
        r["label"] = label
    return r


def _write(tmp_path, obj, name="results.json"):
    path = tmp_path / name
    path.write_text(json.dumps(obj))
    return path


def test_load_file_and_run_directory(tmp_path):
    r = make_results()
    path = _write(tmp_path, r)
    assert load_results(path) == r
    assert load_results(tmp_path) == r  # a run directory holding results.json


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(InputError, match="nope.json does not exist"):
        load_results(tmp_path / "nope.json")
    with pytest.raises(InputError, match="without results.json"):
        load_results(tmp_path)


def test_truncated_json(tmp_path):
    text = json.dumps(make_results(), indent=1)
    path = tmp_path / "results.json"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValidationError, match=r"not valid JSON \(line \d+"):
        load_results(path)


def test_wrong_format_and_newer_version(tmp_path):
    r = make_results()
    r["format"] = "something-else"
    with pytest.raises(ValidationError, match="not a FlashBench results file"):
        load_results(_write(tmp_path, r))
    r = make_results()
    r["format_version"] = 2
    with pytest.raises(ValidationError, match="upgrade flashbench"):
        load_results(_write(tmp_path, r))


@pytest.mark.parametrize(
    "path,expected",
    [
        (("timings",), "missing field(s) timings"),
        (("groups", "3", "fid"), "missing field(s) groups.3.fid"),
        (("overall", "n_failed"), "missing field(s) overall.n_failed"),
        (("generator", "reference"), "missing field(s) generator.reference"),
        (("extractors", "fvd"), "missing field extractors.fvd"),
    ],
)
def test_missing_fields_are_named(tmp_path, path, expected):
    r = make_results()
    node = r
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    with pytest.raises(ValidationError) as info:
        load_results(_write(tmp_path, r))
    assert expected in str(info.value)
    assert str(tmp_path / "results.json") in str(info.value)


def test_bad_values(tmp_path):
    r = make_results()
    path = tmp_path / "results.json"
    path.write_text(json.dumps(r).replace('"fid": 20.0', '"fid": NaN', 1))
    with pytest.raises(ValidationError, match="overall.fid must be a finite number or null"):
        load_results(path)
    r = make_results()
    r["groups"]["2"]["mask_iou_ci"] = [70.0, 60.0]
    with pytest.raises(ValidationError, match="lo > hi"):
        validate_results(r)
    r = make_results()
    r["generator"]["native_size"] = [64]
    with pytest.raises(ValidationError, match="generator.native_size"):
        validate_results(r)


def test_protocol_hash_must_match_protocol(tmp_path):
    r = make_results()
    r["protocol"]["fvd_clip"] = "all"  # edited after the run
    with pytest.raises(ValidationError, match="does not match the stored protocol"):
        load_results(_write(tmp_path, r))


def test_official_flag_consistent_with_extractors():
    r = make_results()
    r["extractors"]["segmenter"]["official"] = False
    with pytest.raises(ValidationError, match="not every extractor is official"):
        validate_results(r)


def test_groups_may_be_absent_but_not_unknown():
    r = make_results()
    del r["groups"][">5"]  # the benchmark had no video with more than five objects
    validate_results(r)
    r["groups"]["7"] = r["groups"]["1"]
    with pytest.raises(ValidationError, match=r"unknown group\(s\) \['7'\]"):
        validate_results(r)


def test_label_defaults_to_generator_name():
    assert method_label(make_results(label="FlashMotion")) == "FlashMotion"
    assert method_label(make_results(label=None)) == "gen"


def test_protocol_hashes_majority_first():
    a, b = Protocol(), Protocol(fvd_clip="all")
    rs = [make_results(protocol=b), make_results(protocol=a), make_results(protocol=a)]
    groups = protocol_hashes(rs)
    assert list(groups) == [a.hash(), b.hash()]
    assert groups[a.hash()] == [1, 2] and groups[b.hash()] == [0]
    # A tie keeps the first-seen protocol first.
    assert list(protocol_hashes(rs[:2])) == [b.hash(), a.hash()]


def test_extra_fields_are_accepted():
    # Writers may record more than the documented fields (e.g. frames generated).
    r = make_results()
    r["benchmark"]["limit"] = 2
    r["generator"]["frames_generated"] = 25
    r["overall"]["note"] = "x"
    validate_results(r)
