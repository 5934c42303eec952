"""A few steps of every baseline trainer on a miniature config (the stage tests' fixtures):
finite losses, only the adapter (and fake score / discriminator heads) changes, outputs load as
the registered baseline generators; the recipe and the CLI wiring."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from safetensors.torch import load_file
from test_training_stages import MINI, mini, stage0, stage1, stage2  # noqa: F401  (fixtures)

from baselines.train import train_baseline
from flashbench.distributed import DistContext
from flashbench.errors import InputError
from flashmotion.loading import CHECKPOINT_FORMAT
from flashmotion.training.config import load_config

STEP_OVERRIDES = {  # every step updates the adapter, at a learning rate that moves it visibly
    "dmd": {"dmd": {"generator_every": 1, "fake_lr": 1e-3, "guidance_scale": 3.0}},
    "gan": {"gan": {"heads": ["vc"], "blocks": [0, 1], "adapter_every": 1, "disc_lr": 1e-3}},
    "lcm": {},
}


def _cfg(method, stage1, stage2, **over):  # noqa: F811
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
    with open(run_dir / "losses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and columns <= set(rows[0])
    assert all(torch.isfinite(torch.tensor(float(r[k]))) for r in rows for k in columns if r[k])
    ckpt = run_dir / "checkpoints" / "step-000002"
    if method == "dmd":  # the fake score starts as the teacher and follows the student's samples
        fake = _weights(ckpt, "fake_score")
        teacher_t = _weights(stage1, "transformer")
        assert any(not torch.equal(fake[f"transformer.{k}"], v) for k, v in teacher_t.items())
    if method == "gan":
        heads = _weights(ckpt, "discriminator")
        assert any(".vc." in k for k in heads) and not any(".ss." in k or ".tc." in k for k in heads)  # APT-style: VC only
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
    from flashmotion.loading import read_checkpoint_meta

    # each distinct component file is stored once (the baselines share VAE, text encoder and FastGenerator)
    entries = [e for m in trained for e in read_checkpoint_meta(paths.checkpoints_dir() / f"{m}-controlnet")["components"].values()]
    blobs = {p.stem for p in (paths.checkpoints_dir() / "_blobs").glob("*.safetensors")}
    assert blobs == {e["sha256"] for e in entries} and len(blobs) == 3 + len(trained)
    for m in trained:
        gen = load_generator(f"{m}-controlnet", device="cpu")
        assert gen.info.name == f"{m}-controlnet" and gen.info.nfe == 4 and gen.info.parameters > 0
        assert gen.info.extra["teacher"] == "wan-controlnet-50step" and gen.info.extra["baseline"] == m
        assert gen.info.checkpoint_sha256 and gen.info.reference
    import flashmotion.generators as fm

    monkeypatch.setattr(fm, "REFERENCE_DIR", tmp_path / "no-package-set")
    with pytest.raises(Exception, match="tiny-baselines"):
        load_generator("dmd-resnet", device="cpu")  # neither trained nor shipped: the error names the recipe
    from test_flashmotion_generators import _request

    gen = load_generator("lcm-controlnet", checkpoint=str(trained["lcm"][0]), device="cpu")
    a, b = gen.generate([_request(seed=3), _request(seed=3)])
    assert a.frames.dtype == np.uint8 and a.frames.shape == (9, 64, 64, 3) and np.array_equal(a.frames, b.frames)


def test_cli_trains_a_baseline_and_refuses_a_mismatched_config(stage1, stage2, tmp_path, monkeypatch, capsys):  # noqa: F811
    from test_cli_errors import run_cli

    sets = [f"parent={stage1}", f"generator={stage2}", "steps=1", "phases=[{trajectory: box, steps: 1}]"]
    sets += [f"{k}={v}" for k, v in MINI.items() if k != "data"] + [f"data.{k}={v}" for k, v in MINI["data"].items()]
    args = [a for s in sets for a in ("--set", s)]
    code, out, err = run_cli(["train", "baseline", "lcm", "--adapter", "controlnet", "--out", str(tmp_path / "lcm"),
                              "--no-progress", *args], monkeypatch, capsys)
    assert code in (0, None), err
    assert "baseline lcm (controlnet) done" in out and (tmp_path / "lcm" / "final" / "adapter.safetensors").is_file()
    code, out, err = run_cli(["train", "baseline", "lcm", "--config", "tiny-baseline-dmd-resnet", *args], monkeypatch, capsys)
    assert code not in (0, None) and "is not a lcm baseline config" in err and "Traceback" not in err
    code, out, err = run_cli(["train", "baseline", "gan", "--adapter", "unet"], monkeypatch, capsys)
    assert code not in (0, None) and "--adapter 'unet'" in err


def test_ablation_configs_switch_exactly_their_stage3_field():
    from flashmotion.training.config import CONFIG_DIR

    switches = {"no-diffusion": {"diffusion_loss": False}, "no-gan": {"gan_loss": False},
                "fixed-scale": {"lambda_schedule": "fixed"},
                "heads-vc": {"heads": ["vc"]}, "heads-ss-vc": {"heads": ["ss", "vc"]}, "heads-tc-vc": {"heads": ["tc", "vc"]}}
    names = sorted(p.stem for p in CONFIG_DIR.glob("tiny-ablation-*.yaml"))
    assert len(names) == 12
    for adapter in ("resnet", "controlnet"):
        full = load_config(f"tiny-stage3-{adapter}").to_dict()
        for what, change in switches.items():
            abl = load_config(f"tiny-ablation-{adapter}-{what}").to_dict()
            gan_full, gan_abl = full.pop("gan"), abl.pop("gan")
            assert abl == full  # steps, data, optimiser: the stage 3 configuration (as in the paper)
            diff = {k for k in gan_full if gan_full[k] != gan_abl[k]}
            assert diff == set(change)
            assert all((list(gan_abl[k]) if isinstance(v, list) else gan_abl[k]) == v for k, v in change.items())
            assert gan_abl["lambda_fixed"] == 1.0  # "fixing the loss scale to 1"
            full["gan"] = gan_full


def test_recipe_chains_every_baseline_and_ablation_from_the_reference_runs():
    from flashmotion.training.recipe import RECIPE_ALIASES, RECIPES, TINY_REFERENCE

    runs = RECIPES["tiny-baselines"]
    assert runs[: len(TINY_REFERENCE)] == TINY_REFERENCE  # finished reference runs are reused, not retrained
    for run in runs:
        cfg = load_config(run.config)
        if cfg.stage in ("baseline", "stage3"):
            assert run.link("parent") == f"stage1-{cfg.adapter}" and run.link("generator") == "stage2"
    names = {run.name for run in runs}
    assert {f"{m}-{a}" for m in ("dmd", "gan", "lcm") for a in ("resnet", "controlnet")} <= set(RECIPE_ALIASES["tiny-baselines"])
    assert sum(r.startswith("ablation-") for r in names) == 12 and sum(r.startswith("baseline-") for r in names) == 6
    with pytest.raises(InputError, match="baseline.method"):
        load_config("tiny-baseline-lcm-resnet", {"baseline": {"method": "sgd"}})


def test_a_config_with_a_base_merges_over_it_section_by_section(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: tiny-baseline-gan-resnet\ngan: {disc_lr: 0.5}\n")
    cfg = load_config(tmp_path / "mine.yaml")
    assert cfg.gan.disc_lr == 0.5 and cfg.gan.heads == ("vc",) and cfg.gan.blocks == (1, 3)  # the rest of gan kept
    assert cfg.baseline.method == "gan" and cfg.adapter == "resnet" and cfg.steps == load_config("tiny-stage3-resnet").steps
    (tmp_path / "a.yaml").write_text("base: b\n")
    (tmp_path / "b.yaml").write_text("base: a\n")
    with pytest.raises(InputError, match="cycle"):
        load_config(tmp_path / "a.yaml")


BASELINE_ALIASES = [f"{m}-{a}" for m in ("dmd", "gan", "lcm") for a in ("resnet", "controlnet")]


@pytest.fixture(scope="module")
def shipped_baseline_runs(tiny_bench, tmp_path_factory):
    """Every registered baseline evaluated from its shipped checkpoint on two videos (groups 1 and 2)."""
    from test_evaluate import evaluate

    root = tmp_path_factory.mktemp("shipped-baselines")
    return {alias: evaluate(alias, tiny_bench, root / alias, groups=("1", "2")) for alias in BASELINE_ALIASES}


@pytest.mark.parametrize("alias", BASELINE_ALIASES)
def test_every_baseline_evaluates_from_its_shipped_checkpoint(shipped_baseline_runs, alias):
    from flashmotion.generators import REFERENCE_DIR, reference_checkpoint
    from flashmotion.loading import read_checkpoint_meta

    folder = reference_checkpoint(alias)
    assert folder == REFERENCE_DIR / alias  # the test home has no user-trained set
    meta = read_checkpoint_meta(folder)
    assert meta["reference"] is True and meta["provenance"]["stage"] == "baseline" and meta["provenance"]["seed"] == 0
    res = shipped_baseline_runs[alias]
    gen = res["generator"]
    assert gen["name"] == alias and gen["nfe"] == 4 and gen["reference"] is True
    assert gen["extra"]["teacher"] == f"wan-{alias.split('-')[1]}-50step" and gen["extra"]["baseline"] == alias.split("-")[0]
    assert res["overall"]["n_scored"] == 2 and res["overall"]["n_failed"] == 0
    assert 0 <= res["overall"]["mask_iou"] <= 100 and res["overall"]["fvd"] > 0


@pytest.mark.parametrize("name", ["tiny-reference", "tiny-quick", "tiny-baselines"])
def test_recipe_fills_each_link_with_an_earlier_runs_output_and_skips_finished_runs(name, tmp_path, monkeypatch):
    import json

    from flashmotion.training import recipe

    calls = []

    def fake_runner(stage):
        def train(cfg, out, ctx, resume, progress):
            calls.append((out.name, cfg, resume))
            (out / "final").mkdir(parents=True)
            (out / "final" / "flashmotion.json").write_text(json.dumps({"stage": stage}))
        return train

    monkeypatch.setattr(recipe, "_runner", fake_runner)
    runs = recipe.RECIPES[name]
    (tmp_path / runs[0].name / "final").mkdir(parents=True)  # a finished first run is not retrained
    (tmp_path / runs[0].name / "final" / "flashmotion.json").write_text("{}")
    (tmp_path / runs[1].name).mkdir()  # an interrupted second run resumes
    done = recipe.run_recipe(name, tmp_path, DistContext(), progress=False)
    assert [c[0] for c in calls] == [r.name for r in runs[1:]] and set(done) == {r.name for r in runs}
    assert calls[0][2] is True and not any(c[2] for c in calls[1:])
    for (_, cfg, _), run in zip(calls, runs[1:]):
        for key, source in run.links:
            node = cfg
            for part in key.split("."):
                node = getattr(node, part)
            assert node == str(tmp_path / source / "final") and source in [r.name for r in runs[: runs.index(run)]]
    stages = {run.name: cfg.stage for (_, cfg, _), run in zip(calls, runs[1:])}
    assert all(stages[r.name] == "stage1" for r in runs if r.name.startswith("stage1-"))


def _fake_runner(calls, parents=None):
    """A stand-in stage runner: records its call and writes a final/ with the given parents."""
    def runner(stage):
        def train(cfg, out, ctx, resume, progress):
            calls.append((out.name, cfg, resume))
            (out / "final").mkdir(parents=True)
            meta = {"format": CHECKPOINT_FORMAT, "version": 1, "components": {"transformer": {"sha256": out.name}},
                    "provenance": {"parents": dict(parents or {})}}
            (out / "final" / "flashmotion.json").write_text(json.dumps(meta))
        return train
    return runner


def test_ablations_recipe_starts_from_the_installed_reference_set(tmp_path, monkeypatch):
    from flashmotion import generators as fm
    from flashmotion.training import recipe

    installed = {}
    for alias in ("wan-resnet-50step", "wan-controlnet-50step", "flashmotion-controlnet-slowadapter"):
        installed[alias] = tmp_path / "installed" / alias
        installed[alias].mkdir(parents=True)
    monkeypatch.setattr(fm, "reference_checkpoint", lambda alias: installed.get(alias))
    calls = []
    monkeypatch.setattr(recipe, "_runner", _fake_runner(calls))
    recipe.run_recipe("tiny-ablations", tmp_path / "out", DistContext(), progress=False)
    assert [c[0] for c in calls] == [r.name for r in recipe.TINY_ABLATIONS] and len(calls) == 12
    for name, cfg, _ in calls:
        assert cfg.stage == "stage3" and name.startswith(f"ablation-{cfg.adapter}-")
        assert cfg.parent == str(installed[f"wan-{cfg.adapter}-50step"])
        assert cfg.generator == str(installed["flashmotion-controlnet-slowadapter"])
    assert set(recipe.RECIPE_ALIASES["tiny-ablations"]) == {r.name for r in recipe.TINY_ABLATIONS}
    calls.clear()  # a selection: those runs alone
    recipe.run_recipe("tiny-ablations", tmp_path / "out3", DistContext(), progress=False,
                      only={"ablation-resnet-no-gan", "ablation-controlnet-heads-vc"})
    assert [c[0] for c in calls] == ["ablation-resnet-no-gan", "ablation-controlnet-heads-vc"]
    with pytest.raises(InputError, match=r"^recipe tiny-ablations: no run 'stage2'"):
        recipe.run_recipe("tiny-ablations", tmp_path / "out3", DistContext(), progress=False, only={"stage2"})
    with pytest.raises(InputError, match=r"^recipe tiny-quick: run stage3-resnet needs stage1-resnet \(parent\), which is neither"):
        recipe.run_recipe("tiny-quick", tmp_path / "out4", DistContext(), progress=False, only={"stage3-resnet"})
    del installed["wan-controlnet-50step"]
    with pytest.raises(InputError, match=r"^recipe tiny-ablations: no installed wan-controlnet-50step checkpoint"):
        recipe.run_recipe("tiny-ablations", tmp_path / "out2", DistContext(), progress=False)


def test_a_finished_run_from_another_parent_is_refused_not_reused(tmp_path, monkeypatch):
    """Rerunning a recipe after an upstream run changed: the finished downstream run is named, kept
    on disk, and not silently reused."""
    from flashmotion.training import recipe
    from flashmotion.training.components import checkpoint_hash

    calls = []
    monkeypatch.setattr(recipe, "_runner", _fake_runner(calls))
    done = recipe.run_recipe("tiny-quick", tmp_path, DistContext(), progress=False)
    assert len(calls) == len(recipe.TINY_QUICK)
    stage0 = json.loads((done["stage0"] / "flashmotion.json").read_text())
    for run in recipe.TINY_QUICK[1:]:  # each run records the hashes of what it was trained from
        meta_path = done[run.name] / "flashmotion.json"
        meta = json.loads(meta_path.read_text())
        meta["provenance"]["parents"] = {
            k: checkpoint_hash(json.loads((done[src] / "flashmotion.json").read_text())) for k, src in run.links}
        meta_path.write_text(json.dumps(meta))
    calls.clear()
    recipe.run_recipe("tiny-quick", tmp_path, DistContext(), progress=False)
    assert calls == []  # every run finished from the parents it would get now
    stage0["components"]["transformer"]["sha256"] = "retrained"
    (done["stage0"] / "flashmotion.json").write_text(json.dumps(stage0))
    with pytest.raises(InputError, match=r"stage1-controlnet/final: finished from another parent than this recipe's"):
        recipe.run_recipe("tiny-quick", tmp_path, DistContext(), progress=False)
    assert calls == [] and (done["stage1-controlnet"] / "flashmotion.json").is_file()


def test_an_installed_alias_is_known_by_the_hashes_of_the_runs_it_came_from():
    from flashmotion.training.components import checkpoint_hash, checkpoint_identities

    stage1 = {"components": {"transformer": {"sha256": "s0"}, "adapter": {"sha256": "a1"}, "vae": {"sha256": "v"}}}
    stage2 = {"components": {"transformer": {"sha256": "s2"}, "vae": {"sha256": "v"}}}
    half = {"components": {"transformer": {"sha256": "h2", "trained_sha256": "s2"},  # slow adapter on the FastGenerator,
                           "adapter": {"sha256": "ha", "trained_sha256": "a1"},      # stored in float16
                           "vae": {"sha256": "hv", "trained_sha256": "v"}}}
    assert checkpoint_hash(stage2) in checkpoint_identities(half)
    assert checkpoint_hash(stage1) in checkpoint_identities({"components": {**stage1["components"]}})
    assert checkpoint_hash(stage1) not in checkpoint_identities(half)  # another transformer
    assert checkpoint_hash(half) in checkpoint_identities(half)
