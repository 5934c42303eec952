"""Backbone with block residuals, and the zero-initialised trajectory adapters."""

from __future__ import annotations

import pytest
import torch
from diffusers import WanTransformer3DModel

from flashmotion.adapters import ControlNetAdapter, ResNetAdapter, build_adapter
from flashmotion.configs import TINY
from flashmotion.model import FlashMotionModel, build_transformer
from flashmotion.samplers import token_timesteps


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 48, 3, 4, 4, generator=g)
    text = torch.randn(1, 8, TINY.transformer.text_dim, generator=g)
    traj = torch.randn(1, 48, 3, 4, 4, generator=g)
    ts = token_timesteps(500.0, (3, 2, 2), "cpu")
    return x, ts, text, traj


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return build_transformer(TINY).eval()


def test_backbone_equals_diffusers_wan(backbone):
    """Same config and weights as WanTransformer3DModel -> the same output, per-token timesteps included."""
    ref = WanTransformer3DModel(**TINY.transformer.kwargs()).eval()
    ref.load_state_dict(backbone.state_dict())
    x, ts, text, _ = _inputs()
    with torch.no_grad():
        assert torch.equal(backbone(x, ts, text), ref(x, ts, text, return_dict=False)[0])
        t1 = torch.tensor([500.0])
        assert torch.equal(backbone(x, t1, text), ref(x, t1, text, return_dict=False)[0])
        # Batch 2 with one timestep per sample, block_residuals=None.
        x2, text2 = torch.cat([x, x.flip(2)]), torch.cat([text, text.flip(1)])
        t2 = torch.tensor([900.0, 120.0])
        assert torch.equal(backbone(x2, t2, text2, block_residuals=None), ref(x2, t2, text2, return_dict=False)[0])
        # Code written for the parent class gets the parent's return types.
        assert torch.equal(backbone(x, ts, text, return_dict=False)[0], ref(x, ts, text, return_dict=False)[0])
        assert torch.equal(backbone(x, ts, text, return_dict=True).sample, ref(x, ts, text).sample)
    with pytest.raises(TypeError):  # a misspelt argument is an error, not silently ignored
        backbone(x, ts, text, block_residual=[])


def test_first_frame_timesteps_follow_diffusers_ti2v():
    """WanImageToVideoPipeline(expand_timesteps=True) builds the per-token timestep as
    ``(mask[0][0][:, ::2, ::2] * t).flatten()`` with a latent-size mask that is 0 on latent frame 0."""
    f, h, w, t = 3, 6, 8, 731.0
    mask = torch.ones(1, 1, f, h, w)
    mask[:, :, 0] = 0
    expected = (mask[0][0][:, ::2, ::2] * t).flatten()
    ts = token_timesteps(t, (f, h // 2, w // 2), "cpu", batch=2)
    assert ts.shape == (2, f * (h // 2) * (w // 2))
    assert torch.equal(ts[0], expected) and torch.equal(ts[1], expected)


@pytest.mark.parametrize("kind", ["controlnet", "resnet"])
def test_zero_init_adapter_leaves_backbone_unchanged(backbone, kind):
    adapter = build_adapter(kind, TINY, backbone)
    model = FlashMotionModel(backbone, adapter).eval()
    x, ts, text, traj = _inputs()
    with torch.no_grad():
        base = backbone(x, ts, text)
        both = model(x, ts, text, traj)
        assert torch.equal(base, both)
        # The check can fail: once a projection is non-zero the trajectory changes the output.
        torch.nn.init.normal_(adapter.proj[0].weight, std=0.1)
        assert not torch.allclose(base, model(x, ts, text, traj))
        model.strength = 0.0
        assert torch.equal(base, model(x, ts, text, traj))


def test_controlnet_copies_backbone(backbone):
    adapter = ControlNetAdapter(TINY).init_from_backbone(backbone)
    assert torch.equal(adapter.patch_embedding.weight[:, :48], backbone.patch_embedding.weight)
    # The trajectory channels read a map's latent as the backbone reads a video's.
    assert torch.equal(adapter.patch_embedding.weight[:, 48:], backbone.patch_embedding.weight)
    for a, b in zip(adapter.blocks[-1].state_dict().values(), backbone.blocks[-1].state_dict().values()):
        assert torch.equal(a, b)
    assert all(p.abs().sum() == 0 for p in adapter.proj.parameters())
    # Copied blocks: with an empty trajectory latent block i's hidden state equals the backbone's,
    # and a trajectory changes it from the first step (zeroed channels would not).
    x, ts, text, traj = _inputs()
    with torch.no_grad():
        emb = backbone.embed(x, ts, text)
        h_backbone = backbone.blocks[0](emb.tokens, emb.text, emb.modulation, emb.rotary)
        adapter.proj[0].weight.copy_(torch.eye(adapter.proj[0].in_features))
        res = adapter(x, ts, text, torch.zeros_like(traj))
        steered = adapter(x, ts, text, traj)
    assert torch.allclose(res[0], h_backbone, atol=1e-6)
    assert (steered[0] - h_backbone).abs().max() > 1e-2


def _count_block_calls(adapter) -> list[int]:
    calls = [0] * len(adapter.blocks)
    for i, block in enumerate(adapter.blocks):
        block.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    return calls


def test_residuals_are_lazy_and_can_be_read_again(backbone):
    adapter = build_adapter("controlnet", TINY, backbone)
    torch.nn.init.normal_(adapter.proj[0].weight)
    torch.nn.init.normal_(adapter.proj[1].weight)
    x, ts, text, traj = _inputs()
    with torch.no_grad():
        full = adapter(x, ts, text, traj)
        calls = _count_block_calls(adapter)
        lazy = adapter.stream(x, ts, text, traj, scale=2.0)
        assert len(lazy) == len(backbone.blocks) and calls == [0, 0]  # nothing runs before a read
        assert torch.equal(lazy[0], 2 * full[0]) and calls == [1, 0]
        assert torch.equal(lazy[1], 2 * full[1]) and calls == [1, 1]  # in order: each block once
        # Read again: recomputed from the first block, same numbers.
        assert [torch.equal(a, 2 * b) for a, b in zip(lazy, full)] == [True, True] and calls == [2, 2]
        assert torch.equal(lazy[-1], 2 * full[1]) and calls == [3, 3]
        jump = adapter.stream(x, ts, text, traj)
        assert torch.equal(jump[1], full[1]) and torch.equal(jump[0], full[0])  # out of order
        assert all(torch.equal(a, b) for a, b in zip(jump[:], full))
        with pytest.raises(IndexError):
            jump[2]
        # keep=True: each block runs once however often the residuals are read.
        calls[:] = [0, 0]
        kept = adapter.stream(x, ts, text, traj, keep=True)
        first = list(kept)
        assert all(a is b for a, b in zip(kept, first)) and kept[0] is first[0] and calls == [1, 1]

        res = ResNetAdapter(TINY)
        torch.nn.init.normal_(res.proj[0].weight)
        feats = res.features(traj)
        assert feats[0].shape == (1, 12, 8 * 4)  # C = 8 channels x (1 x 2 x 2) patch
        projected = res.project(feats)
        assert torch.equal(projected[0], res(None, None, None, traj)[0])
        assert torch.equal(projected[1], projected[1]) and torch.equal(next(iter(projected)), projected[0])


def test_in_order_reads_keep_one_residual_alive(backbone):
    """The backbone's path: a residual read and dropped is freed, not held by the sequence."""
    import weakref

    adapter = build_adapter("controlnet", TINY, backbone)
    x, ts, text, traj = _inputs()
    with torch.no_grad():
        lazy = adapter.stream(x, ts, text, traj, scale=2.0)
        r0 = lazy[0]
        alive = weakref.ref(r0)
        del r0
        lazy[1]
        assert alive() is None
        kept = adapter.stream(x, ts, text, traj, keep=True)
        r0 = kept[0]
        alive = weakref.ref(r0)
        del r0
        kept[1]
        assert alive() is not None  # the documented price of keep=True


def test_controlnet_from_backbone_is_todays_init_without_a_random_copy(backbone):
    """Built on meta and filled: every tensor equals the random-then-copied adapter's, bit for bit,
    and no random numbers are drawn (uninitialised memory is NaN here, so a tensor left unfilled fails)."""
    reference = ControlNetAdapter(TINY).init_from_backbone(backbone)
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)  # empty tensors come back filled with NaN
    try:
        rng = torch.get_rng_state()
        adapter = build_adapter("controlnet", TINY, backbone)
        assert torch.equal(rng, torch.get_rng_state())
    finally:
        torch.use_deterministic_algorithms(was)
    ours, theirs = adapter.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    for name in theirs:
        assert ours[name].dtype == theirs[name].dtype and torch.equal(ours[name], theirs[name]), name
    assert {n: b for n, b in adapter.named_buffers()}.keys() == {"rope.freqs_cos", "rope.freqs_sin"}
    for name, buf in reference.named_buffers():
        assert torch.equal(dict(adapter.named_buffers())[name], buf), name
    assert not any(t.is_meta for t in adapter.state_dict().values())
    x, ts, text, traj = _inputs()
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(adapter(x, ts, text, traj), reference(x, ts, text, traj)))


def test_resnet_residuals_have_token_shape(backbone):
    adapter = ResNetAdapter(TINY)
    _, _, _, traj = _inputs()
    res = adapter(None, None, None, traj)
    assert len(res) == len(backbone.blocks)
    assert res[0].shape == (1, 3 * 2 * 2, TINY.transformer.inner_dim)
    assert not adapter.uses_state


def test_block_residuals_added_after_each_block_and_checkpointing(backbone):
    x, ts, text, _ = _inputs()
    g = torch.Generator().manual_seed(3)
    res = [torch.randn(1, 12, TINY.transformer.inner_dim, generator=g) for _ in backbone.blocks]
    with torch.no_grad():
        emb = backbone.embed(x, ts, text)
        h = emb.tokens
        for block, r in zip(backbone.blocks, res):
            h = block(h, emb.text, emb.modulation, emb.rotary) + r
        manual = backbone.head(h, emb)
        assert torch.allclose(backbone(x, ts, text, block_residuals=res), manual)
    with pytest.raises(ValueError, match="block_residuals"):
        backbone(x, ts, text, block_residuals=res[:1])

    # Gradients through the residuals are the same with and without gradient checkpointing.
    adapter = build_adapter("resnet", TINY)
    torch.nn.init.normal_(adapter.proj[1].weight, std=0.1)
    model = FlashMotionModel(backbone, adapter)
    _, _, _, traj = _inputs()

    def grads():
        adapter.zero_grad()
        model(x, ts, text, traj).square().mean().backward()
        return adapter.proj[1].weight.grad.clone()

    plain = grads()
    backbone.enable_gradient_checkpointing()
    adapter.gradient_checkpointing = True
    try:
        ckpt = grads()
    finally:
        backbone.disable_gradient_checkpointing()
        adapter.gradient_checkpointing = False
        backbone.zero_grad()
    assert plain.abs().sum() > 0
    assert torch.allclose(plain, ckpt, atol=1e-6)
