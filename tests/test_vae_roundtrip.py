"""``vae-roundtrip``: the real video through a FlashMotion model's VAE, the ceiling of every
model decoding with it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flashbench.data import trajectory as traj_ops
from flashbench.data.benchmark import Benchmark
from flashbench.errors import InputError
from flashbench.generators import GenerationRequest, load_generator

RANDOM = {"init": "random", "config": "tiny", "device": "cpu"}


def _request(sample) -> GenerationRequest:
    ann = sample.annotation
    traj = traj_ops.from_annotation(ann, "box", 8)
    return GenerationRequest(sample.video_id, sample.first_frame(), sample.info.prompt, traj, ann.num_frames,
                             sample.info.height, sample.info.width, seed=0)


def test_roundtrip_is_the_real_video_encoded_and_decoded_by_the_model_vae(tiny_bench):
    from flashmotion.generators import load

    gen = load_generator("vae-roundtrip", benchmark=str(tiny_bench), **RANDOM)
    assert gen.info.name == "vae-roundtrip" and gen.info.nfe == 0 and gen.info.extra["vae_of"] == "flashmotion-controlnet"
    sample = next(iter(Benchmark.open(tiny_bench)))
    req = _request(sample)
    (out,) = gen.generate([req])
    assert out.frames.shape == (9, 64, 96, 3) and out.frames.dtype == np.uint8
    # the same VAE, used directly on the real frames at the model's working size (64x96 is one)
    codec = load("flashmotion-controlnet", **RANDOM).pipeline.codec
    with torch.no_grad():
        expected = codec.decode(codec.encode(sample.frames()))
    assert np.array_equal(out.frames, expected)
    assert np.abs(out.frames.astype(int) - sample.frames().astype(int)).mean() > 1  # a random VAE is far from identity


def test_roundtrip_refuses_what_it_cannot_use(tiny_bench):
    with pytest.raises(InputError, match="needs the benchmark"):
        load_generator("vae-roundtrip", **RANDOM)
    with pytest.raises(InputError, match="option model='copy-paste'"):
        load_generator("vae-roundtrip", benchmark=str(tiny_bench), model="copy-paste", **RANDOM)


def test_roundtrip_takes_any_checkpoint_with_a_vae(tiny_bench, tmp_path):
    """A stage-0 style folder (VAE, no adapter) works; a folder without a VAE is refused by name."""
    from flashmotion import loading
    from flashmotion.configs import TINY
    from flashmotion.model import build_transformer
    from flashmotion.vae import VideoCodec, build_vae

    torch.manual_seed(1)
    vae = build_vae(TINY).eval()
    loading.save_checkpoint(tmp_path / "ck", {"vae": vae}, {"config": "tiny", "adapter": None})
    gen = load_generator("vae-roundtrip", benchmark=str(tiny_bench), checkpoint=str(tmp_path / "ck"), device="cpu")
    meta = loading.read_checkpoint_meta(tmp_path / "ck")
    assert gen.info.checkpoint_sha256 == meta["components"]["vae"]["sha256"] and gen.info.nfe == 0
    sample = next(iter(Benchmark.open(tiny_bench)))
    (out,) = gen.generate([_request(sample)])
    codec = VideoCodec(vae)
    with torch.no_grad():
        assert np.array_equal(out.frames, codec.decode(codec.encode(sample.frames())))
    loading.save_checkpoint(tmp_path / "novae", {"transformer": build_transformer(TINY)}, {"config": "tiny", "adapter": None})
    with pytest.raises(InputError, match="has no vae component"):
        load_generator("vae-roundtrip", benchmark=str(tiny_bench), checkpoint=str(tmp_path / "novae"))
    with pytest.raises(InputError, match="unknown option 'steps'"):
        load_generator("vae-roundtrip", benchmark=str(tiny_bench), checkpoint=str(tmp_path / "ck"), steps=4)
