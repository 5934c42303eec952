"""A few steps of every stage on a miniature config: finite losses, frozen weights untouched,
zero-initialised projections moving, resume equal to an uninterrupted run, outputs loadable."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from flashbench.distributed import DistContext
from flashbench.errors import InputError
from flashmotion.training.config import load_config
from flashmotion.training.stages import RUNNERS

MINI = {"model": "tiny", "batch_size": 2, "log_every": 1, "checkpoint_every": 2,
        "data": {"source": "synth", "videos": 2, "num_frames": 9, "size": [64, 96], "seed": 0}}


def mini(name: str, **over):
    cfg = {**MINI, **over}
    flat = {k: v for k, v in cfg.items()}
    return load_config(name, flat)


def run(cfg, out, **kw):
    return RUNNERS[cfg.stage](cfg, out, DistContext(), progress=False, **kw)


@pytest.fixture(scope="module")
def stage0(tmp_path_factory):
    out = tmp_path_factory.mktemp("stage0")
    cfg = mini("tiny-stage0", steps=2, ema_start=0, vae={"steps": 2, "batch_size": 2, "crop": [32, 32], "clip_frames": 5})
    return run(cfg, out)


@pytest.fixture(scope="module")
def stage1(stage0, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage1")
    cfg = mini("tiny-stage1-controlnet", steps=3, parent=str(stage0),
               phases=[{"trajectory": "mask", "steps": 1}, {"trajectory": "box", "steps": 2}])
    return run(cfg, out)


@pytest.fixture(scope="module")
def stage2(stage0, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage2")
    return run(mini("tiny-stage2", steps=2, parent=str(stage0), ema_start=0, dmd={"generator_every": 1, "fake_lr": 1e-3}), out)


def _weights(folder, name):
    return load_file(str(folder / f"{name}.safetensors"))


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_stage0_writes_a_loadable_slow_generator(stage0):
    from flashmotion.assemble import model_config_of
    from flashmotion.loading import read_checkpoint_meta

    meta = read_checkpoint_meta(stage0)
    cfg = model_config_of(meta)
    assert len(cfg.vae.latents_mean) == 48 and any(m != 0.0 for m in cfg.vae.latents_mean)  # measured, not defaults
    prov = meta["provenance"]
    assert prov["stage"] == "stage0" and prov["seed"] == 0 and prov["data_manifest_sha256"] and prov["code_version"]
    for part in ("vae", "generator"):
        assert (stage0.parent / part / "losses.csv").is_file() and (stage0.parent / part / "losses.png").is_file()


def test_stage1_trains_only_the_adapter_and_its_zero_projections_move(stage0, stage1):
    assert _same(_weights(stage0, "transformer"), _weights(stage1, "transformer"))  # frozen backbone, bit-identical
    adapter = _weights(stage1, "adapter")
    projections = [v for k, v in adapter.items() if k.startswith("proj.") and k.endswith("weight")]
    assert projections and all(float(p.abs().max()) > 0 for p in projections)  # zero-initialised, now moving


def test_stage2_trains_generator_not_the_real_score(stage0, stage2):
    base, gen = _weights(stage0, "transformer"), _weights(stage2, "transformer")
    assert not _same(base, gen)
    # the real score is the frozen parent: reload it and check it was not touched
    assert _same(base, _weights(stage0, "transformer"))


def test_stage3_trains_adapter_and_heads_only(stage1, stage2, tmp_path):
    cfg = mini("tiny-stage3-controlnet", steps=2, parent=str(stage1), generator=str(stage2),
               phases=[{"trajectory": "box", "steps": 2}], gan={"blocks": [0, 1], "adapter_every": 1, "disc_lr": 1e-3})
    out = run(cfg, tmp_path / "s3")
    assert _same(_weights(stage2, "transformer"), _weights(out, "transformer"))  # FastGenerator frozen
    assert not _same(_weights(stage1, "adapter"), _weights(out, "adapter"))
    import csv

    rows = list(csv.DictReader(open(tmp_path / "s3" / "losses.csv")))
    assert {"disc_loss", "gan_loss", "diffusion_loss", "lambda"} <= set(rows[0])
    import json

    disc = json.loads((out / "flashmotion.json").read_text())["provenance"]["discriminator"]
    assert disc["last_steps"] == 1 and disc["mean_loss_last_steps"] == pytest.approx(float(rows[-1]["disc_loss"]), abs=1e-4)


def test_discriminator_summary_names_a_discriminator_at_chance(tmp_path, capsys):
    from flashmotion.training.loop import discriminator_summary, report_discriminator

    log = tmp_path / "losses.csv"
    log.write_text("step,disc_loss,gan_loss\n" + "".join(f"{i},{1.3863 if i >= 8 else 0.5},\n" for i in range(10)))
    assert discriminator_summary(log) == {"mean_loss_last_steps": 1.3863, "last_steps": 2, "chance": 1.3863,
                                          "at_chance": True}
    assert report_discriminator(log, "stage3: controlnet", DistContext())["at_chance"]
    assert "stage3: controlnet: the discriminator stayed at chance" in capsys.readouterr().err
    log.write_text("step,disc_loss\n" + "".join(f"{i},{0.9 + i / 100}\n" for i in range(10)))
    assert discriminator_summary(log)["at_chance"] is False and discriminator_summary(log)["mean_loss_last_steps"] == 0.985
    log.write_text("step,dmd_loss\n0,0.1\n")
    assert discriminator_summary(log) is None and discriminator_summary(tmp_path / "missing.csv") is None


@pytest.mark.parametrize("gan_shift", [None, 1.0])
def test_stage3_discriminator_noise_levels_follow_their_own_shift(stage1, stage2, tmp_path, monkeypatch, gan_shift):
    from flashmotion.training import data as D
    from flashmotion.training import losses as L
    from flashmotion.training.discriminator import Discriminator

    seen = []
    forward = Discriminator.forward
    monkeypatch.setattr(Discriminator, "forward", lambda self, x, sigma, *a: seen.append(sigma) or forward(self, x, sigma, *a))
    cfg = mini("tiny-stage3-controlnet", steps=2, parent=str(stage1), generator=str(stage2), timestep_shift=5.0,
               phases=[{"trajectory": "box", "steps": 2}], gan={"blocks": [0, 1], "timestep_shift": gan_shift})
    run(cfg, tmp_path / "s3")
    expected = [L.training_sigmas(D.sample_uniform(0, step, [0, 1], "gan-t"), gan_shift or 5.0, 20.0, 980.0)
                for step in (0, 1)]
    # step 0: real, fake, then the adapter's generator loss; step 1: real, fake
    assert [s.tolist() for s in seen] == [expected[0].tolist()] * 3 + [expected[1].tolist()] * 2


def test_stage1_resnet_width_is_recorded_and_rebuilt_by_later_stages(stage0, stage2, tmp_path):
    from flashmotion.training.components import load_parent

    with pytest.raises(InputError, match="resnet_channels"):
        mini("tiny-stage1-controlnet", steps=1, parent=str(stage0), resnet_channels=12)
    cfg = mini("tiny-stage1-resnet", steps=1, parent=str(stage0), resnet_channels=12, phases=[{"trajectory": "box", "steps": 1}])
    out = run(cfg, tmp_path / "s1")
    loaded = load_parent(out, "resnet")
    assert loaded.config.adapter.resnet_channels == 12 and loaded.adapter.stem.out_channels == 12
    assert load_parent(stage0).config.adapter.resnet_channels != 12
    s3 = mini("tiny-stage3-resnet", steps=1, parent=str(out), generator=str(stage2), phases=[{"trajectory": "box", "steps": 1}],
              gan={"blocks": [0, 1]})
    assert load_parent(run(s3, tmp_path / "s3"), "resnet").adapter.stem.out_channels == 12


def test_kill_and_resume_gives_the_same_weights(stage0, tmp_path):
    cfg = mini("tiny-stage1-resnet", steps=4, parent=str(stage0), checkpoint_every=2,
               phases=[{"trajectory": "mask", "steps": 2}, {"trajectory": "box", "steps": 2}])
    whole = run(cfg, tmp_path / "whole")
    run(cfg, tmp_path / "killed", stop_after=2)  # a run stopped after its step-2 checkpoint
    with pytest.raises(InputError, match="--resume"):
        run(cfg, tmp_path / "killed")
    resumed = run(cfg, tmp_path / "killed", resume=True)
    assert _same(_weights(whole, "adapter"), _weights(resumed, "adapter"))


def test_a_folder_being_trained_is_refused_to_a_second_writer(stage0, tmp_path):
    from flashmotion.training.state import lock_run

    cfg = mini("tiny-stage1-resnet", steps=2, parent=str(stage0), phases=[{"trajectory": "box", "steps": 2}])
    other = lock_run(tmp_path / "a")  # another process (flock conflicts between open files too)
    with pytest.raises(InputError, match="being trained by another process"):
        run(cfg, tmp_path / "a")
    assert not (tmp_path / "a" / "checkpoints").exists()
    other.close()
    assert (run(cfg, tmp_path / "a") / "adapter.safetensors").is_file()
    lock_run(tmp_path / "a").close()  # the finished run let go of its folder


def test_resume_accepts_a_checkpoint_older_than_a_new_option_and_refuses_another_config(stage0, tmp_path):
    import json

    cfg = mini("tiny-stage1-resnet", steps=4, parent=str(stage0), checkpoint_every=2,
               phases=[{"trajectory": "box", "steps": 4}])
    run(cfg, tmp_path / "a", stop_after=2)
    state = tmp_path / "a" / "checkpoints" / "step-000002" / "state.json"
    saved = json.loads(state.read_text())
    del saved["config"]["gan"]["disc_warmup"]  # written before the option existed; its default changes nothing
    state.write_text(json.dumps(saved))
    assert (run(cfg, tmp_path / "a", resume=True) / "adapter.safetensors").is_file()
    run(cfg, tmp_path / "b", stop_after=2)
    with pytest.raises(InputError, match="another config"):
        run(mini("tiny-stage1-resnet", steps=4, parent=str(stage0), checkpoint_every=2, seed=1,
                 phases=[{"trajectory": "box", "steps": 4}]), tmp_path / "b", resume=True)


def test_config_typo_names_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: stage1\nadapter: resnet\nlearning_rate: 3\n")
    with pytest.raises(InputError, match="unknown key 'learning_rate'"):
        load_config(bad)
    bad.write_text("stage: stage1\nadapter: resnet\noptim: {lr: fast}\n")
    with pytest.raises(InputError, match=r"optim.lr: expected a number"):
        load_config(bad)
    bad.write_text("stage: stage1\nadapter: resnet\noptim: {decay: linear}\n")
    with pytest.raises(InputError, match=r"optim.decay must be constant or cosine, got 'linear'"):
        load_config(bad)
    for over, msg in (({"gan": {"timestep_shift": 0}}, r"gan.timestep_shift must be > 0"),
                      ({"timestep_shift": -1.0}, r"config: timestep_shift must be > 0"),
                      ({"gan": {"disc_warmup": -5}}, r"gan.disc_warmup must be >= 0"),
                      ({"gan": {"adapter_every": 0}}, r"gan.adapter_every >= 1")):
        with pytest.raises(InputError, match=msg):
            load_config("tiny-stage3-controlnet", over)


def test_exponent_floats_without_a_dot_read_as_numbers(tmp_path):
    """YAML 1.1 reads ``2e-5`` as a string; configs and ``--set`` values read it as YAML 1.2 does."""
    from flashbench.commands.train import parse_overrides

    cfg_file = tmp_path / "lr.yaml"
    cfg_file.write_text("base: tiny-stage3-controlnet\noptim: {lr: 3e-5}\ngan: {disc_lr: 1E-3}\n")
    cfg = load_config(cfg_file)
    assert (cfg.optim.lr, cfg.gan.disc_lr) == (3e-5, 1e-3)
    over = parse_overrides(["optim.lr=2e-5", "steps=7", "seed=+3", "gan.heads=[vc]", "notes=1e5x"])
    assert over == {"optim.lr": 2e-5, "steps": 7, "seed": 3, "gan.heads": ["vc"], "notes": "1e5x"}
    assert load_config("tiny-stage3-controlnet", {"optim.lr": over["optim.lr"]}).optim.lr == 2e-5
    with pytest.raises(InputError, match=r"^--set optim.lr='fast': expected a number, got 'fast'$"):
        load_config("tiny-stage3-controlnet", {"optim.lr": "fast"})


def test_two_process_training_matches_one_process_with_the_whole_batch(stage0, tmp_path):
    """torchrun --nproc_per_node 2 (gloo, CPU): each rank takes half of every global batch and
    the gradients are averaged; the weights match a single process with the whole batch."""
    import os
    import socket
    import subprocess
    import sys

    args = ["-c", "tiny-stage1-resnet", "--no-progress", "--set", f"parent={stage0}", "--set", "steps=2",
            "--set", "phases=[{trajectory: mask, steps: 2}]"]
    for key, value in MINI.items():
        if key != "data":
            args += ["--set", f"{key}={value}"]
    for key, value in MINI["data"].items():
        args += ["--set", f"data.{key}={value}"]
    env = {**os.environ, "FLASHBENCH_DIST_BACKEND": "gloo", "OMP_NUM_THREADS": "1"}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
                          "-m", "flashbench", "train", "stage1", *args, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    one = subprocess.run([sys.executable, "-m", "flashbench", "train", "stage1", *args, "--out", str(tmp_path / "one")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    a, b = _weights(tmp_path / "one" / "final", "adapter"), _weights(tmp_path / "two" / "final", "adapter")
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-5  # float32 reduction order only; measured 2.1e-6 after two Adam steps at lr 1e-3
    # FSDP2 (fully_shard over the blocks) gives the same weights as the all-reduce path
    fsdp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                           str(port), "-m", "flashbench", "train", "stage1", *args, "--set", "fsdp=true",
                           "--out", str(tmp_path / "fsdp")], env=env, capture_output=True, text=True, timeout=600)
    assert fsdp.returncode == 0, fsdp.stderr[-2000:]
    c = _weights(tmp_path / "fsdp" / "final", "adapter")
    assert max(float((c[k] - b[k]).abs().max()) for k in c) < 1e-6  # measured 2.3e-10


def test_synth_train_split_shares_no_video_with_the_benchmark(tiny_bench):
    """Every training video differs from every (decoded) benchmark video by far more than codec
    error, and the train split draws other scenes than the bench split from the same seed."""
    import numpy as np

    from flashbench.data.benchmark import Benchmark
    from flashbench.data.synth import render_scene
    from flashmotion.training.config import DataConfig
    from flashmotion.training.data import iter_source

    bench = [s.frames().astype(np.float32) for s in Benchmark.open(tiny_bench)]

    def closest(frames):
        return min(float(np.abs(frames.astype(np.float32) - b).mean()) for b in bench if b.shape == frames.shape)

    train = list(iter_source(DataConfig(videos=12, num_frames=9, size=(64, 96), max_objects=6)))
    assert len(train) == 12
    distances = [closest(src.load().frames) for src in train]
    assert min(distances) > 10.0  # measured: every training video at least ~20 grey levels from every bench video
    same = render_scene(0, 1, 9, (64, 96), split="bench").frames
    other = render_scene(0, 1, 9, (64, 96), split="train").frames
    assert float(np.abs(same.astype(np.float32) - other).mean()) > 10.0  # same seed, other split: another scene


REFERENCE_ALIASES = ["flashmotion-controlnet", "flashmotion-resnet", "wan-controlnet-50step",
                     "wan-resnet-50step", "flashmotion-controlnet-slowadapter", "flashmotion-resnet-slowadapter"]


@pytest.mark.parametrize("alias", REFERENCE_ALIASES)
def test_shipped_tiny_reference_checkpoints_load_with_provenance(alias):
    """Every registered FlashMotion generator finds its shipped checkpoint, trained by the recipe."""
    from flashmotion.generators import REFERENCE_DIR, reference_checkpoint
    from flashmotion.loading import read_checkpoint_meta

    folder = reference_checkpoint(alias)
    assert folder == REFERENCE_DIR / alias  # the test home has no user-trained set
    meta = read_checkpoint_meta(folder)
    prov = meta["provenance"]
    assert meta["reference"] is True and meta["config"] == "tiny-reference-192"
    assert prov["seed"] == 0 and prov["code_version"].startswith("0.1.0") and prov["data_manifest_sha256"]
    assert prov["stage"] in ("stage1", "stage3") and prov["parents"]["parent"]
    reference = {e["sha256"] for a in REFERENCE_ALIASES for e in read_checkpoint_meta(REFERENCE_DIR / a)["components"].values()}
    assert sum((REFERENCE_DIR / "_blobs" / f"{h}.safetensors").stat().st_size for h in reference) < 30e6  # the reference set
    assert sum(p.stat().st_size for p in REFERENCE_DIR.rglob("*") if p.is_file()) < 40e6  # with the baselines


def test_flashmotion_controlnet_generates_from_the_shipped_checkpoint():
    import numpy as np

    from test_flashmotion_generators import _request

    from flashmotion.generators import load

    gen = load("flashmotion-controlnet", device="cpu")
    assert gen.info.reference and "tiny reference" in gen.info.notes and gen.info.nfe == 4
    assert gen.info.extra["config"] == "tiny-reference-192"
    a, b = gen.generate([_request(seed=3), _request(seed=3)])
    assert a.frames.shape == (9, 64, 64, 3) and np.array_equal(a.frames, b.frames)  # same seed, same video


def test_latent_cache_is_keyed_by_everything_that_makes_its_tensors(stage0, tmp_path):
    """Same inputs: the cached file is reused. Other VAE weights, another latent normalisation,
    another map style or another training video: a new key, so the tensors are recomputed."""
    from dataclasses import replace

    from flashmotion.training.components import load_parent
    from flashmotion.training.config import DataConfig
    from flashmotion.training.data import LatentCache

    data = DataConfig(source="synth", videos=1, num_frames=9, size=(64, 96), seed=0)

    def paths(cfg=data, mutate=None):
        parent = load_parent(stage0)
        if mutate:
            mutate(parent.vae)
        return LatentCache(tmp_path, cfg, parent.codec(), parent.text_encoder()).build().paths

    first = paths()
    assert paths() == first and len(list(tmp_path.iterdir())) == 1  # reused, not re-encoded

    def bump_weight(vae):
        with torch.no_grad():
            next(vae.parameters()).add_(1e-3)

    def bump_std(vae):
        vae.register_to_config(latents_std=[s * 2 for s in vae.config.latents_std])

    for other in (paths(mutate=bump_weight), paths(mutate=bump_std), paths(replace(data, map_style="full-intensity")),
                  paths(replace(data, seed=1))):
        assert other[0] != first[0] and other[0].is_file()
    assert len(list(tmp_path.iterdir())) == 5


def test_stage0_reuses_a_trained_vae_and_refuses_one_built_otherwise(stage0, tmp_path):
    """vae.checkpoint skips the VAE phase: the VAE is the source's bit for bit, the generator
    trains as it would after the VAE phase, and the provenance names the VAE it came from."""
    from flashmotion.loading import read_checkpoint_meta

    cfg = mini("tiny-stage0", steps=2, ema_start=0, vae={"checkpoint": str(stage0)})
    out = run(cfg, tmp_path / "again")
    assert not (tmp_path / "again" / "vae").exists()
    source = read_checkpoint_meta(stage0)["components"]["vae"]["sha256"]
    meta = read_checkpoint_meta(out)
    assert meta["components"]["vae"]["sha256"] == source and meta["provenance"]["parents"]["vae"] == source
    # same seed, same VAE, same data: the generator is the one the one-run stage 0 trained
    assert meta["components"]["transformer"]["sha256"] == read_checkpoint_meta(stage0)["components"]["transformer"]["sha256"]
    other = mini("tiny-stage0", model="tiny-reference", steps=1, vae={"checkpoint": str(stage0)})
    with pytest.raises(InputError, match=r"vae.checkpoint .*not built like model tiny-reference"):
        run(other, tmp_path / "other")


def test_stage0_vae_phase_continues_from_vae_init(stage0, tmp_path):
    """vae.init starts the VAE phase from an earlier stage-0 output's VAE: with a zero learning
    rate the VAE stays that one bit for bit, with a positive one it moves from it; the provenance
    names it; vae.checkpoint and vae.init together are refused."""
    from flashmotion.loading import read_checkpoint_meta

    source = read_checkpoint_meta(stage0)["components"]["vae"]["sha256"]
    phase = {"init": str(stage0), "steps": 1, "batch_size": 2, "crop": [32, 32], "clip_frames": 5, "still_frames": 9, "warmup": 0}
    still = read_checkpoint_meta(run(mini("tiny-stage0", steps=1, ema_start=0, vae={**phase, "lr": 0.0}), tmp_path / "lr0"))
    assert still["components"]["vae"]["sha256"] == source
    assert still["provenance"]["parents"]["vae_init"] == source
    moved = read_checkpoint_meta(run(mini("tiny-stage0", steps=1, ema_start=0, vae={**phase, "lr": 1e-3, "still_weight": 1.0}),
                                     tmp_path / "lr"))
    assert moved["components"]["vae"]["sha256"] != source
    logged = (tmp_path / "lr" / "vae" / "losses.csv").read_text().splitlines()
    still = float(logged[1].split(",")[logged[0].split(",").index("still")])
    assert math.isfinite(still) and still > 0  # the still-clip term is computed and logged
    # the same step on the videos' trajectory maps (9-frame map clips) trains another VAE
    on_maps = read_checkpoint_meta(run(mini("tiny-stage0", steps=1, ema_start=0,
                                            vae={**phase, "lr": 1e-3, "still_weight": 1.0, "map_share": 1.0, "map_frames": 9}),
                                       tmp_path / "maps"))
    assert on_maps["components"]["vae"]["sha256"] not in (source, moved["components"]["vae"]["sha256"])
    both = mini("tiny-stage0", steps=1, vae={**phase, "checkpoint": str(stage0)})
    with pytest.raises(InputError, match="vae.checkpoint .* and vae.init .* exclude each other"):
        run(both, tmp_path / "both")


def test_base_generator_check_finds_the_narrow_token_and_matches_a_known_answer(stage0, stage1, tmp_path):
    """`flashbench train check` on a stage-0 output. Known answer: with the output projection
    zeroed the flow is 0, so the clean estimate is x_t itself and its error at noise level s is
    s^2 (E[eps^2] + E[x0^2]) = s^2 (1 + zero_mse), up to the noise draw."""
    from flashmotion import loading
    from flashmotion.assemble import checkpoint_components
    from flashmotion.training.checks import check_base_generator

    rep = check_base_generator(stage0, videos=2)
    steered = check_base_generator(stage1, videos=2)
    assert steered.x0_mse == rep.x0_mse and rep.adapter_x0_mse is None  # the generator is measured alone
    assert steered.adapter == "controlnet" and set(steered.held_out_adapter_x0_mse) == set(rep.x0_mse)
    assert steered.adapter_x0_mse != steered.x0_mse  # the trained adapter changes the estimate
    assert rep.videos == 2 and (rep.token_width, rep.patch_values) == (24, 192)  # tiny: 2 heads x 12; 48 x 1x2x2
    assert any("token width (24) is below the values per patch (192)" in f for f in rep.findings())
    assert len(rep.static_drift) == 2 and all(v >= 0 for v in rep.static_drift)  # 9 frames: 3 latent frames
    assert set(rep.map_signal) == {"box", "mask"} and all(v > 0 for v in rep.map_signal.values())

    comps = checkpoint_components(stage0, "controlnet", "slow")
    torch.nn.init.zeros_(comps.transformer.proj_out.weight)
    torch.nn.init.zeros_(comps.transformer.proj_out.bias)
    meta = loading.read_checkpoint_meta(stage0)
    loading.save_checkpoint(tmp_path / "zero", {"transformer": comps.transformer, "vae": comps.vae, "text_encoder": comps.text_model},
                            {k: v for k, v in meta.items() if k not in ("components", "format", "version")})
    zero = check_base_generator(tmp_path / "zero", videos=2)
    assert zero.zero_mse == pytest.approx(rep.zero_mse) and zero.copy_mse == pytest.approx(rep.copy_mse)
    for s, err in zero.x0_mse.items():
        assert err == pytest.approx(s * s * (1 + zero.zero_mse), rel=0.1)
    # the held-out scenes are other scenes (another data seed), measured the same way
    assert rep.held_out_zero_mse != rep.zero_mse and set(rep.held_out_x0_mse) == set(rep.x0_mse)
    for s, err in zero.held_out_x0_mse.items():
        assert err == pytest.approx(s * s * (1 + zero.held_out_zero_mse), rel=0.1)


def test_base_generator_check_of_an_untrained_adapter_matches_the_generator(stage0, tmp_path):
    """Known answer: a fresh ControlNet's projections are zero, so with it the clean estimates
    are the generator's own, bit for bit, and the check says it does not steer."""
    from flashmotion import loading
    from flashmotion.adapters import build_adapter
    from flashmotion.assemble import checkpoint_components
    from flashmotion.training.checks import check_base_generator

    comps = checkpoint_components(stage0, "controlnet", "slow")
    adapter = build_adapter("controlnet", comps.config, comps.transformer)
    meta = loading.read_checkpoint_meta(stage0)
    loading.save_checkpoint(tmp_path / "fresh", {"transformer": comps.transformer, "adapter": adapter, "vae": comps.vae,
                                                 "text_encoder": comps.text_model},
                            {**{k: v for k, v in meta.items() if k not in ("components", "format", "version")}, "adapter": "controlnet"})
    rep = check_base_generator(tmp_path / "fresh", videos=1)
    assert rep.adapter_x0_mse == rep.x0_mse and rep.held_out_adapter_x0_mse == rep.held_out_x0_mse
    assert rep.adapter_object_x0_mse == rep.object_x0_mse > 0
    assert any("controlnet adapter leaves 100% of the generator's clean-estimate error inside the objects' boxes" in f
               for f in rep.findings())


def test_stage1_adapter_init_continues_an_earlier_adapter(stage0, stage1, tmp_path):
    """``adapter_init`` starts stage 1 from an earlier stage-1 output's adapter (a box phase after
    a mask run): with no steps the output's adapter is that one, bit for bit, and its hash is a parent."""
    from flashmotion.loading import read_checkpoint_meta

    cfg = mini("tiny-stage1-controlnet", steps=0, phases=[], parent=str(stage0), adapter_init=str(stage1))
    out = run(cfg, tmp_path / "continued")
    assert _same(_weights(out, "adapter"), _weights(stage1, "adapter"))
    sha = read_checkpoint_meta(stage1)["components"]["adapter"]["sha256"]
    assert read_checkpoint_meta(out)["provenance"]["parents"]["adapter_init"] == sha
    with pytest.raises(InputError, match="holds a controlnet adapter, not a resnet one"):
        run(mini("tiny-stage1-resnet", steps=0, phases=[], parent=str(stage0), adapter_init=str(stage1)), tmp_path / "rn")


def test_diagnostic_adapter_reads_the_video_latent_and_is_refused_as_a_parent(stage0, stage1, tmp_path):
    """``adapter_input: video`` feeds the clip's own latent to the adapter (the upper bound of
    steering): it trains different weights from the maps run, the check measures it on the video
    latent, and no later stage takes it for a trajectory adapter."""
    from flashmotion.training.checks import check_base_generator
    from flashmotion.training.components import load_parent

    cfg = mini("tiny-stage1-controlnet", steps=3, parent=str(stage0), adapter_input="video",
               phases=[{"trajectory": "mask", "steps": 1}, {"trajectory": "box", "steps": 2}])
    video = run(cfg, tmp_path / "video")
    assert not _same(_weights(video, "adapter"), _weights(stage1, "adapter"))  # same seed and steps, other input
    rep = check_base_generator(video, videos=1)
    assert rep.adapter_reads == "video" and rep.adapter_x0_mse != rep.x0_mse
    with pytest.raises(InputError, match="adapter_input: video"):
        load_parent(video, "controlnet")
    with pytest.raises(InputError, match="adapter_input must be maps or video"):
        mini("tiny-stage1-controlnet", adapter_input="latent")
    # a map adapter is measured on the maps asked for, and only box or mask maps
    assert check_base_generator(stage1, videos=1, trajectory="mask").adapter_reads == "mask"
    with pytest.raises(InputError, match="box or mask maps"):
        check_base_generator(stage1, videos=1, trajectory="sparse_box")


def test_base_generator_check_names_a_memorising_generator():
    from flashmotion.training.checks import MEMORISED_RATIO, BaseGeneratorReport

    def report(held: float) -> BaseGeneratorReport:
        x0 = {0.25: 0.02, 0.5: 0.05, 0.75: 0.1, 1.0: 0.25}
        return BaseGeneratorReport("ck", 4, 192, 192, 0.9, 0.5, x0, [0.01], 0.95, 0.6, {**x0, 1.0: held})

    assert report(0.25 * MEMORISED_RATIO * 1.01).findings() and not report(0.25 * MEMORISED_RATIO * 0.99).findings()
    assert "memorised its training videos; train on more (data.videos)" in report(0.5).findings()[0]


def test_base_generator_check_names_maps_the_vae_barely_encodes():
    from dataclasses import replace

    from flashmotion.training.checks import MAP_SIGNAL_MIN, BaseGeneratorReport

    x0 = {0.25: 0.02, 0.5: 0.05, 0.75: 0.1, 1.0: 0.25}
    rep = BaseGeneratorReport("ck", 4, 192, 192, 0.9, 0.5, x0, [0.01], map_signal={"box": 0.03, "mask": 2 * MAP_SIGNAL_MIN})
    found = rep.findings()
    assert len(found) == 1 and found[0].startswith("inside the boxes, box maps move the VAE latent by 0.030")
    assert "vae.map_share" in found[0]
    assert not replace(rep, map_signal={"box": MAP_SIGNAL_MIN, "mask": 1.0}).findings()


def test_box_region_marks_the_latent_cells_of_each_latent_frames_boxes():
    """Known answer on a 9-frame 64x96 video (latent 3 x 4 x 6, cells of 16 px): latent frame 0 is
    pixel frame 0, latent frame 1 pixel frames 1-4, latent frame 2 pixel frames 5-8."""
    import numpy as np

    from flashbench.data.schema import Annotation, ObjectTrack
    from flashmotion.training.checks import _box_region

    boxes = np.zeros((9, 4))
    boxes[0] = (0, 0, 10, 10)  # cell (0, 0)
    boxes[1:5] = (20, 17, 40, 30)  # x cells 1-2, y cell 1
    boxes[5:9] = (80, 48, 96, 64)  # x cell 5, y cell 3
    visible = np.ones(9, bool)
    visible[5:9] = False  # hidden in the last latent frame's pixel frames: nothing marked there
    ann = Annotation("v", 9, 64, 96, (ObjectTrack(0, "o", tuple({} for _ in range(9)), boxes, visible),))
    region = _box_region(ann, (1, 48, 3, 4, 6))[0, 0]
    expected = torch.zeros(3, 4, 6)
    expected[0, 0, 0] = 1
    expected[1, 1, 1:3] = 1
    assert torch.equal(region, expected)
    visible[5:9] = True
    assert _box_region(ann, (1, 48, 3, 4, 6))[0, 0, 2].nonzero().tolist() == [[3, 5]]


def test_vae_clips_draw_maps_at_the_configured_share_and_replay_older_runs():
    """``vae.map_share``: that share of the VAE phase's batches are trajectory maps (box or mask
    per clip, ``map_frames`` long); without it the draws are the older runs' (video index, then
    the crop), so their recorded commands still replay."""
    from dataclasses import replace

    from flashmotion.training.config import VAETrainConfig
    from flashmotion.training.data import hash_seed
    from flashmotion.training.stages import vae_clips

    plain = VAETrainConfig(batch_size=4, clip_frames=5, crop=(64, 64))
    g = torch.Generator().manual_seed(hash_seed(3, "vae-crop", 7))
    k = int(torch.randint(10, (), generator=g))
    t0, y0, x0 = (int(torch.randint(n, (), generator=g)) for n in (33 - 5 + 1, 128 - 64 + 1, 224 - 64 + 1))
    assert vae_clips(3, 7, plain, (33, 128, 224), 10)[0] == (k, None, (slice(t0, t0 + 5), slice(y0, y0 + 64), slice(x0, x0 + 64)))

    mixed = replace(plain, map_share=0.3, map_frames=33)
    batches = [vae_clips(0, step, mixed, (33, 128, 224), 10) for step in range(600)]
    for batch in batches:  # one kind of clip, one length per batch
        assert len({kind is None for _, kind, _ in batch}) == 1
        assert {c[0].stop - c[0].start for _, kind, c in batch} == ({5} if batch[0][1] is None else {33})
    kinds = [kind for batch in batches for _, kind, _ in batch]
    assert sum(b[0][1] is not None for b in batches) / len(batches) == pytest.approx(0.3, abs=0.05)
    assert kinds.count("box") == pytest.approx(kinds.count("mask"), rel=0.2)
    assert vae_clips(0, 5, mixed, (33, 128, 224), 10) == vae_clips(0, 5, mixed, (33, 128, 224), 10)
    with pytest.raises(InputError, match="vae.map_share"):
        load_config("tiny-stage0", {"vae": {"map_share": 1.5}})
    with pytest.raises(InputError, match="vae.map_frames must be 1 more than a multiple of 4"):
        load_config("tiny-stage0", {"vae": {"map_frames": 30}})


def test_code_version_names_the_commit_and_a_changed_tracked_file(tmp_path):
    import subprocess

    from flashbench.provenance import git_revision
    from flashmotion.training.components import code_version

    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    assert git_revision(tmp_path) == ""  # not a checkout
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git("rev-parse", "--short", "HEAD")
    (tmp_path / "notes.txt").write_text("untracked\n")
    assert git_revision(tmp_path) == head  # untracked files do not count
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_revision(tmp_path) == f"{head}.dirty"
    assert git_revision(tmp_path, short=False) == git("rev-parse", "HEAD") + ".dirty"  # the evaluation's form
    assert code_version() is code_version()  # read once per process: a long run keeps the commit it started from
