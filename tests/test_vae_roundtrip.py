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
