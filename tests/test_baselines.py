"""A few steps of every baseline trainer on a miniature config (the stage tests' fixtures):
finite losses, only the adapter (and fake score / discriminator heads) changes, outputs load as
the registered baseline generators; the recipe and the CLI wiring."""

from __future__ import annotations

import csv

import pytest
import torch
from safetensors.torch import load_file

from baselines.train import train_baseline
from flashbench.distributed import DistContext
from flashbench.errors import InputError
from flashmotion.training.config import load_config
from test_training_stages import MINI, mini, stage0, stage1, stage2  # noqa: F401  (fixtures)

STEP_OVERRIDES = {  # every step updates the adapter, at a learning rate that moves it visibly
    "dmd": {"dmd": {"generator_every": 1, "fake_lr": 1e-3, "guidance_scale": 3.0}},
    "gan": {"gan": {"heads": ["vc"], "blocks": [0, 1], "adapter_every": 1, "disc_lr": 1e-3}},
    "lcm": {},
}


def _cfg(method, stage1, stage2, **over):
    base = {"steps": 2, "parent": str(stage1), "generator": str(stage2), "optim": {"lr": 1e-3},
            "phases": [{"trajectory": "box", "steps": 2}], **STEP_OVERRIDES[method], **over}
    return mini(f"tiny-baseline-{method}-controlnet", **base)


def _weights(folder, name):
    return load_file(str(folder / f"{name}.safetensors"))


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def trained(stage1, stage2, tmp_path_factory):  # noqa: F811
    out = {}
    for method in ("dmd", "gan", "lcm"):
        over = {"baseline": {"method": "gan", "r1_weight": 1.0}} if method == "gan" else {}
        run_dir = tmp_path_factory.mktemp(f"baseline-{method}")
        out[method] = (train_baseline(_cfg(method, stage1, stage2, **over), run_dir, DistContext(), progress=False), run_dir)
    return out


@pytest.mark.parametrize("method,columns", [("dmd", {"dmd_loss", "fake_score_loss"}),
                                            ("gan", {"disc_loss", "gan_loss", "r1"}),
                                            ("lcm", {"lcm_loss", "sigma"})])
def test_only_the_adapter_and_its_helpers_train(trained, stage1, stage2, method, columns):  # noqa: F811
    final, run_dir = trained[method]
    assert _same(_weights(stage2, "transformer"), _weights(final, "transformer"))  # FastGenerator frozen
    for part in ("vae", "text_encoder"):
        assert _same(_weights(stage1, part), _weights(final, part))
    assert not _same(_weights(stage1, "adapter"), _weights(final, "adapter"))  # the student adapter moved
    rows = list(csv.DictReader(open(run_dir / "losses.csv")))
    assert len(rows) == 2 and columns <= set(rows[0])
    assert all(torch.isfinite(torch.tensor(float(r[k]))) for r in rows for k in columns if r[k])
    ckpt = run_dir / "checkpoints" / "step-000002"
    if method == "dmd":  # the fake score starts as the teacher and follows the student's samples
        fake = _weights(ckpt, "fake_score")
        teacher_t = _weights(stage1, "transformer")
        assert any(not torch.equal(fake[f"transformer.{k}"], v) for k, v in teacher_t.items())
    if method == "gan":
        assert {"discriminator.safetensors"} <= {p.name for p in ckpt.iterdir()}
    from flashmotion.loading import read_checkpoint_meta

    prov = read_checkpoint_meta(final)["provenance"]
    assert prov["method"] == method and prov["stage"] == "baseline" and prov["parents"]["generator"]
    assert prov["teacher"]["adapter"] == "SlowAdapter" and prov["teacher"]["checkpoint"] == str(stage1)


def test_baseline_generators_load_and_generate(trained, tmp_path, monkeypatch):
    """Installed as the alias's checkpoint folder (as the recipe does), each loads by name and
    declares NFE, parameters and its teacher; one loads from checkpoint=... and generates."""
    import numpy as np

    from flashbench.generators.registry import load_generator
    from flashmotion.training.recipe import assemble_aliases

    monkeypatch.setenv("FLASHBENCH_HOME", str(tmp_path))
    from flashbench import paths

    runs = {f"baseline-{m}-controlnet": trained[m][0] for m in trained}
    assemble_aliases(runs, paths.checkpoints_dir(), {f"{m}-controlnet": (f"baseline-{m}-controlnet", None) for m in trained})
    for m in trained:
        gen = load_generator(f"{m}-controlnet", device="cpu")
        assert gen.info.name == f"{m}-controlnet" and gen.info.nfe == 4 and gen.info.parameters > 0
        assert gen.info.extra["teacher"] == "wan-controlnet-50step" and gen.info.extra["baseline"] == m
        assert gen.info.checkpoint_sha256 and gen.info.reference
    with pytest.raises(Exception, match="tiny-baselines"):
        load_generator("dmd-resnet", device="cpu")  # not installed: the error names the recipe
    from test_flashmotion_generators import _request

    gen = load_generator("lcm-controlnet", checkpoint=str(trained["lcm"][0]), device="cpu")
    a, b = gen.generate([_request(seed=3), _request(seed=3)])
    assert a.frames.dtype == np.uint8 and a.frames.shape == (9, 64, 64, 3) and np.array_equal(a.frames, b.frames)
