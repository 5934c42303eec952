"""The registered FlashMotion generators, end to end on the tiny config (CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flashbench.data.trajectory import Trajectory
from flashbench.errors import InputError, MissingWeightsError
from flashbench.generators.base import GenerationRequest, Generator
from flashbench.generators.registry import load_generator
from flashmotion.generators import frame_plan, scale_trajectory, snap


def _request(seed: int = 1, frames: int = 9, size=(64, 64), kind: str = "box") -> GenerationRequest:
    """A FlashBench-Synth-like sample: a textured square moving right on a gradient background."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    first = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], -1).astype(np.uint8)
    first[16:32, 8:24] = (220, 40, 40)
    masks = np.zeros((1, frames, h, w), bool)
    boxes = np.zeros((1, frames, 4))
    for t in range(frames):
        x0 = 8 + 2 * t
        masks[0, t, 16:32, x0 : x0 + 16] = True
        boxes[0, t] = (x0, 16, x0 + 16, 32)
    traj = Trajectory(kind, masks[:, 0], boxes, np.ones((1, frames), bool), masks if kind == "mask" else None,
                      (0, frames // 2, frames - 1) if kind == "sparse_box" else None)
    return GenerationRequest("synth-0", first, "a red square slides to the right", traj, frames, h, w, seed=seed)


@pytest.fixture(scope="module")
def fast():
    return load_generator("flashmotion-controlnet", init="random", config="tiny", device="cpu")


def test_fast_generator_end_to_end(fast):
    assert isinstance(fast, Generator)
    assert fast.info.nfe == 4 and fast.info.reference and fast.info.extra["sigmas"][1] == 0.9375
    a, b, c = fast.generate([_request(seed=1), _request(seed=1), _request(seed=2)])
    assert a.frames.dtype == np.uint8 and a.frames.shape == (9, 64, 64, 3)
    assert a.denoise_seconds is not None and a.denoise_seconds > 0
    assert np.array_equal(a.frames, b.frames)  # deterministic per seed
    assert not np.array_equal(a.frames, c.frames)  # the seed matters
    # The reported seconds are the denoising loop; the per-video stages are timed apart.
    timings = fast.pipeline.last_timings
    assert set(timings) == {"vae_encode", "text", "prepare", "denoise", "vae_decode"}
    assert c.denoise_seconds == timings["denoise"]
    from flashmotion.schedules import DEFAULT_FEW_STEP

    assert fast.pipeline.sampler.schedule == DEFAULT_FEW_STEP  # the one list, as in training


def test_pipeline_needs_maps(fast):
    first = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="T = 1 mod 4, got None"):
        fast.pipeline.generate_video(first, None, "a prompt", 0)
    with pytest.raises(ValueError, match=r"T = 1 mod 4, got \(6, 64, 64, 3\)"):
        fast.pipeline.generate_video(first, np.zeros((6, 64, 64, 3), np.uint8), "a prompt", 0)


def test_frame_counts_and_sizes(fast):
    # 7 frames (not 1 mod 4) at 48x80: generated as 9 frames at 32x64, then cut and resized back.
    out = fast.generate([_request(frames=7, size=(48, 80), kind="mask")])[0]
    assert out.frames.shape == (7, 48, 80, 3)
    out = fast.generate([_request(frames=6, kind="sparse_box")])[0]
    assert out.frames.shape == (6, 64, 64, 3)
    assert frame_plan(7, 121)[0] == 9 and frame_plan(9, 121)[0] == 9
    m, src, idx = frame_plan(10, 5)
    assert m == 5 and list(src) == [0, 2, 4, 7, 9] and list(idx) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert (snap(720), snap(1280), snap(64), snap(10), snap(80)) == (704, 1280, 64, 32, 64)


def test_batch_equals_single(fast):
    one = fast.generate([_request(seed=3)])[0].frames
    both = fast.generate([_request(seed=4), _request(seed=3)])[1].frames
    assert np.array_equal(one, both)


def test_slow_generator_cfg(fast):
    slow = load_generator("wan-resnet-50step", init="random", config="tiny", device="cpu", steps="3")
    assert slow.info.nfe == 6 and slow.info.extra["guidance_scale"] == 5.0
    no_cfg = load_generator("wan-resnet-50step", init="random", config="tiny", device="cpu", guidance_scale="1")
    assert no_cfg.info.nfe == 50  # one branch without guidance
    out = slow.generate([_request()])[0]
    assert out.frames.shape == (9, 64, 64, 3)
    sa = load_generator("flashmotion-resnet-slowadapter", init="random", config="tiny", device="cpu", timesteps="1000,500")
    assert sa.info.nfe == 2 and sa.info.extra["timesteps"] == [1000.0, 500.0]


def test_scale_trajectory():
    req = _request()
    t = scale_trajectory(req.trajectory, 32, 128)
    assert t.first_masks.shape == (1, 32, 128)
    assert np.allclose(t.boxes[0, 0], (16, 8, 48, 16))


def test_errors():
    # the real config has no weights in the test cache (the shipped tiny checkpoints are not used for it)
    with pytest.raises(MissingWeightsError) as err:
        load_generator("flashmotion-resnet", config="wan2.2-ti2v-5b")
    msg = str(err.value)
    assert "flashmotion-resnet" in msg and "init=random" in msg
    # every missing real weight is named with its fix
    for name in ("wan2.2-ti2v-5b", "flashmotion-fastgenerator", "flashmotion-resnet-fastadapter"):
        assert f"flashbench weights import {name} PATH" in msg
    with pytest.raises(InputError, match="unknown option"):
        load_generator("flashmotion-resnet", init="random", colour="red")
    with pytest.raises(InputError, match="dtype"):
        load_generator("flashmotion-resnet", init="random", dtype="float8")


def test_default_loads_reference_checkpoint():
    """A reference checkpoint in checkpoints_dir()/<alias>/ is picked up with no options."""
    import torch

    from flashbench.paths import checkpoints_dir
    from flashmotion.assemble import random_components
    from flashmotion.configs import TINY
    from flashmotion.loading import save_checkpoint

    comps = random_components(TINY, "resnet", seed=9)
    torch.nn.init.normal_(comps.adapter.proj[0].weight, std=0.05)
    save_checkpoint(checkpoints_dir() / "flashmotion-resnet",
                    {"transformer": comps.transformer, "adapter": comps.adapter, "vae": comps.vae, "text_encoder": comps.text_model},
                    {"config": "tiny", "adapter": "resnet", "reference": True, "notes": "tiny reference (test)"})
    try:
        gen = load_generator("flashmotion-resnet", device="cpu")
        assert gen.info.reference and gen.info.checkpoint_sha256 and gen.info.notes == "tiny reference (test)"
        out = gen.generate([_request()])[0]
        assert out.frames.shape == (9, 64, 64, 3)
        # The trained adapter acts: strength 0 gives another video.
        off = load_generator("flashmotion-resnet", device="cpu", strength="0").generate([_request()])[0]
        assert not np.array_equal(out.frames, off.frames)
    finally:
        import shutil

        shutil.rmtree(checkpoints_dir() / "flashmotion-resnet")


def test_the_shipped_checkpoints_fit_the_package_budget():
    """Every shipped checkpoint together (the blobs the alias folders share, and the folders) at
    most 40 MB, the budget set for the reference set and the baselines; every blob is used."""
    from flashmotion.generators import REFERENCE_DIR
    from flashmotion.loading import read_checkpoint_meta

    files = [f for f in REFERENCE_DIR.rglob("*") if f.is_file()]
    total = sum(f.stat().st_size for f in files)
    assert total <= 40e6, f"{total / 1e6:.1f} MB shipped in {REFERENCE_DIR}"
    used = {Path(entry["file"]).name for meta in REFERENCE_DIR.glob("*/flashmotion.json")
            for entry in read_checkpoint_meta(meta.parent)["components"].values()}
    assert {f.name for f in (REFERENCE_DIR / "_blobs").iterdir()} == used
