"""Low precision as diffusers loads it: the modules Wan keeps in float32 stay float32; the VAE is float32."""

from __future__ import annotations

import torch
from diffusers import WanTransformer3DModel

from flashmotion.assemble import random_components
from flashmotion.configs import TINY
from flashmotion.model import FlashMotionModel
from flashmotion.precision import cast, float32_names
from flashmotion.samplers import token_timesteps

# Diffusers' rule (a ``_keep_in_fp32_modules`` entry is a component of the dotted name) applied
# by hand to the tiny backbone's parameters: time embedder, modulation tables, cross-attention norms.
BACKBONE_FP32 = {
    "scale_shift_table",
    *(f"condition_embedder.time_embedder.linear_{i}.{t}" for i in (1, 2) for t in ("weight", "bias")),
    *(f"blocks.{b}.{n}" for b in (0, 1) for n in ("scale_shift_table", "norm2.weight", "norm2.bias")),
}


def _model():
    comps = random_components(TINY, "controlnet", seed=0)
    return FlashMotionModel(comps.transformer, comps.adapter)


def test_bf16_cast_keeps_diffusers_fp32_modules():
    assert {"time_embedder", "scale_shift_table", "norm2"} <= set(WanTransformer3DModel._keep_in_fp32_modules)
    model = cast(_model(), torch.bfloat16)
    fp32 = {n for n, p in model.named_parameters() if p.dtype == torch.float32}
    assert {n[len("transformer."):] for n in fp32 if n.startswith("transformer.")} == BACKBONE_FP32
    # The ControlNet's copies of those modules stay float32 too (it has no output head, so no top-level
    # table); its projections and patch embedding do not.
    assert {n[len("adapter."):] for n in fp32 if n.startswith("adapter.")} == BACKBONE_FP32 - {"scale_shift_table"}
    assert all(p.dtype == torch.bfloat16 for n, p in model.named_parameters() if n not in fp32)
    assert model.adapter.proj[0].weight.dtype == torch.bfloat16
    assert all(b.dtype == torch.float32 for n, b in model.named_buffers() if "rope" in n)  # built float32, never saved
    assert float32_names(model) >= fp32


def test_cast_model_runs_mixed_and_keeps_parameter_identity():
    model = _model().eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 48, 3, 4, 4, generator=g)
    text = torch.randn(1, 8, TINY.transformer.text_dim, generator=g)
    traj = torch.randn(1, 48, 3, 4, 4, generator=g)
    ts = token_timesteps(500.0, (3, 2, 2), "cpu")
    with torch.no_grad():
        full = model(x, ts, text, traj)
        table = model.transformer.scale_shift_table
        cast(model, torch.bfloat16)
        assert model.transformer.scale_shift_table is table  # optimisers keep their references
        low = model(x.bfloat16(), ts, text.bfloat16(), traj.bfloat16())
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    assert (low.float() - full).abs().max() < 0.1 * full.abs().max()
    cast(model, torch.float32)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_generator_dtypes_on_an_accelerator(monkeypatch):
    """On a GPU (dtype auto = bf16): the backbone and adapter mixed as above, the VAE float32."""
    from flashmotion import generators, pipeline

    built = {}

    class Recorder:  # stands in for the pipeline, which would move the components to the GPU
        def __init__(self, model, codec, text, sampler, device, dtype, offload):
            built.update(model=model, codec=codec, text=text, device=device, dtype=dtype)

    monkeypatch.setattr(pipeline, "FlashMotionPipeline", Recorder)
    monkeypatch.setattr(generators, "_device", lambda v: torch.device("cuda"))
    generators.load("flashmotion-controlnet", init="random", config="tiny")
    assert built["dtype"] == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in built["codec"].vae.parameters())
    model = built["model"]
    assert model.transformer.scale_shift_table.dtype == torch.float32
    assert model.transformer.blocks[0].attn1.to_q.weight.dtype == torch.bfloat16
    assert model.adapter.blocks[0].scale_shift_table.dtype == torch.float32
