"""The embedded benchmark's real side shipped in the package: used under its key, and only there."""

from __future__ import annotations

import json
import shutil

import numpy as np
from test_evaluate import evaluate, numbers

from flashbench import embedded, metrics

TWO = ("1", "2")  # two of the tiny benchmark's six videos


def _counting(monkeypatch):
    calls = []
    fid_features = metrics.fid_features
    monkeypatch.setattr(metrics, "fid_features", lambda *a, **k: calls.append(1) or fid_features(*a, **k))
    return calls


def test_a_shipped_real_side_is_used_under_its_key_only(tiny_bench, tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHBENCH_HOME", str(tmp_path / "a"))
    calls = _counting(monkeypatch)
    first = evaluate("copy-paste", tiny_bench, tmp_path / "run-a", groups=TWO)
    assert len(calls) == 4  # two videos, the real and the generated side each
    (computed,) = (tmp_path / "a" / "features").glob("*/*")
    sub = computed.relative_to(tmp_path / "a" / "features")
    package = tmp_path / "package"
    shutil.copytree(computed, package / sub, ignore=shutil.ignore_patterns("groups"))
    monkeypatch.setattr(embedded, "FEATURES_DIR", package)

    calls.clear()  # a fresh cache: the real side comes from the package, identical numbers
    monkeypatch.setenv("FLASHBENCH_HOME", str(tmp_path / "b"))
    assert numbers(evaluate("copy-paste", tiny_bench, tmp_path / "run-b", groups=TWO)) == numbers(first)
    assert len(calls) == 2
    assert sorted(p.name for p in (tmp_path / "b" / "features" / sub).glob("*.npz")) == sorted(
        p.name for p in (package / sub).glob("*.npz"))

    # files under another key (another scoring code, protocol, device...) are never read
    other = package / sub.parent / "0123456789abcdef"
    (package / sub).rename(other)
    for f in other.glob("*.npz"):
        with np.load(f) as z:
            doctored = {k: z[k] for k in z.files}
        doctored["fid"] = np.zeros_like(doctored["fid"])
        np.savez(f, **doctored)
    calls.clear()
    monkeypatch.setenv("FLASHBENCH_HOME", str(tmp_path / "c"))
    assert numbers(evaluate("copy-paste", tiny_bench, tmp_path / "run-c", groups=TWO)) == numbers(first)
    assert len(calls) == 4


def test_the_shipped_real_side_is_filed_under_todays_key():
    """Fails after a change to the scoring code, the extractors, the protocol or the synthetic
    benchmark until `python -m flashbench.embedded refresh-features` recomputes the files (else
    a first evaluation silently computes them again: correct, but a minute slower)."""
    sub, material = embedded.real_side_key()  # builds the embedded benchmark in the test cache
    shipped = [p.relative_to(embedded.FEATURES_DIR) for p in embedded.FEATURES_DIR.glob("*/*") if p.is_dir()]
    if shipped != [sub]:
        old = json.loads((embedded.FEATURES_DIR / shipped[0] / "key.json").read_text()) if len(shipped) == 1 else {}
        changed = sorted(k for k in set(old) | set(material) if old.get(k) != material.get(k))
        raise AssertionError(f"shipped real side {[str(s) for s in shipped]}, today's key {sub} (changed: "
                             f"{', '.join(changed) or 'the benchmark'}): run `python -m flashbench.embedded refresh-features`")
    assert json.loads((embedded.FEATURES_DIR / sub / "key.json").read_text()) == material
    assert len(list((embedded.FEATURES_DIR / sub).glob("synth-*.npz"))) == embedded.PER_GROUP * 6
