"""A pipeline uses the components it is given as they are (a trainer passes its trainable model for previews)."""

from __future__ import annotations

import numpy as np
import torch

from flashmotion.assemble import random_components
from flashmotion.configs import TINY
from flashmotion.model import FlashMotionModel
from flashmotion.pipeline import FlashMotionPipeline, SamplerSpec
from flashmotion.text import TextEncoder
from flashmotion.vae import VideoCodec


def _flags(module: torch.nn.Module) -> tuple[list[bool], list[bool]]:
    return [m.training for m in module.modules()], [p.requires_grad for p in module.parameters()]


def test_pipeline_leaves_modes_and_grad_flags_as_given():
    comps = random_components(TINY, "controlnet", seed=0)
    model = FlashMotionModel(comps.transformer, comps.adapter).train()
    model.transformer.requires_grad_(False)  # a trainer's mix: frozen backbone, trainable adapter
    model.transformer.blocks[0].eval()
    vae, text_model = comps.vae.train(), comps.text_model.train()
    before = {name: _flags(m) for name, m in (("model", model), ("vae", vae), ("text", text_model))}

    pipe = FlashMotionPipeline(model, VideoCodec(vae), TextEncoder(comps.tokenizer, text_model, TINY.text.max_length),
                               SamplerSpec(kind="fewstep"))
    rng = np.random.default_rng(0)
    first = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    maps = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    frames, _ = pipe.generate_video(first, maps, "a prompt", seed=0)
    assert frames.shape == (5, 32, 32, 3)
    after = {name: _flags(m) for name, m in (("model", model), ("vae", vae), ("text", text_model))}
    assert after == before
    assert not model.transformer.blocks[0].training and model.adapter.training
