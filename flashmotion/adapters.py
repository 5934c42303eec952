"""Trajectory adapters: per-block residuals for the backbone from the trajectory latent.

Both adapters return ``list[Tensor]``, one ``(B, L, D)`` residual per DiT block, each through
a zero-initialised projection, so at initialisation backbone + adapter == backbone.

* :class:`ControlNetAdapter` copies the backbone's patch embedding (input = noisy latent
  concatenated with the trajectory latent; the trajectory channels copy the latent ones),
  condition embedder, rope and every DiT block; block ``i``'s output goes through a
  zero-initialised ``Linear(D, D)``. It depends on the noisy state, the timestep and the text.
* :class:`ResNetAdapter` is a light conv stack on the trajectory latent alone: a stem, then
  one residual conv block per DiT block, each block's features patchified to the token grid
  and projected by a zero-initialised ``Linear``. It does not depend on the noisy state, so
  a sampler computes its (small) per-block features once per video (``uses_state = False``)
  and only the projections run at each step.

Residuals are produced lazily (:class:`Residuals`): residual ``i`` is computed when backbone
block ``i`` asks for it, so only one full-size ``(B, L, D)`` residual is alive at a time
(30 of them at 121x704x1280 would hold 5 GB in bf16); they can be read again, recomputed or
kept (``keep=True``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from diffusers import WanTransformer3DModel
from diffusers.models.transformers.transformer_wan import (
    WanRotaryPosEmbed,
    WanTimeTextImageEmbedding,
    WanTransformerBlock,
)
from torch import Tensor, nn

from .configs import ModelConfig
from .transformer import FlashMotionTransformer, embed_inputs

ADAPTER_KINDS = ("controlnet", "resnet")


def _zero_linear(d_in: int, d_out: int) -> nn.Linear:
    layer = nn.Linear(d_in, d_out)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Residuals(Sequence[Tensor]):
    """Per-block residuals computed on demand, scaled by ``scale``, readable any number of times.

    Read in block order, as the backbone reads them, each residual is produced once and not
    kept, so only one full-size ``(B, L, D)`` residual is alive at a time. Any other read
    (a second pass, a jump back, a slice) is answered too, at a price chosen by ``keep``:

    * ``keep=False`` (default): recomputed. ``produce`` must answer any index; the ControlNet
      does so by re-running its blocks from the first one, so a second pass over all
      residuals costs a second adapter forward. Memory stays at one residual.
    * ``keep=True``: every residual produced is kept and later reads return the same tensor.
      Re-reads are free, but all ``len(self)`` residuals stay alive while this object does.
    """

    def __init__(self, count: int, produce: Callable[[int], Tensor], scale: float = 1.0, keep: bool = False):
        self._count, self._produce, self.scale = count, produce, float(scale)
        self._kept: dict[int, Tensor] | None = {} if keep else None

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._count))]
        if not -self._count <= i < self._count:
            raise IndexError(f"residual {i} requested, there are {self._count}")
        i %= self._count
        if self._kept is not None and i in self._kept:
            return self._kept[i]
        r = self._produce(i)
        r = r * self.scale if self.scale != 1.0 else r
        if self._kept is not None:
            self._kept[i] = r
        return r


class ControlNetAdapter(nn.Module):
    uses_state = True
    # The backbone's modules it copies stay float32 in low precision, as in the backbone.
    _keep_in_fp32_modules = WanTransformer3DModel._keep_in_fp32_modules

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        t = cfg.transformer
        d = t.inner_dim
        self.latent_channels = t.in_channels
        self.rope = WanRotaryPosEmbed(t.attention_head_dim, tuple(t.patch_size), t.rope_max_seq_len)
        self.patch_embedding = nn.Conv3d(2 * t.in_channels, d, kernel_size=t.patch_size, stride=t.patch_size)
        self.condition_embedder = WanTimeTextImageEmbedding(
            dim=d, time_freq_dim=t.freq_dim, time_proj_dim=6 * d, text_embed_dim=t.text_dim
        )
        self.blocks = nn.ModuleList(
            [WanTransformerBlock(d, t.ffn_dim, t.num_attention_heads, t.qk_norm, t.cross_attn_norm, t.eps) for _ in range(t.num_layers)]
        )
        self.proj = nn.ModuleList([_zero_linear(d, d) for _ in range(t.num_layers)])
        self.gradient_checkpointing = False

    @torch.no_grad()
    def init_from_backbone(self, backbone: FlashMotionTransformer) -> "ControlNetAdapter":
        """Copy patch embedding, condition embedder and blocks from the backbone.

        The trajectory channels get the backbone's latent-channel weights too: a map's latent is
        a VAE latent like the video's, so the copied blocks see it from the first step. Zeroed,
        they would get no gradient until the zero projections had grown, and measured, they
        stayed near zero through a whole stage 1 (the adapter then ignored the maps); the zero
        projections alone keep backbone + adapter == backbone at initialisation.
        """
        c = self.latent_channels
        self.patch_embedding.weight[:, :c].copy_(backbone.patch_embedding.weight)
        self.patch_embedding.weight[:, c:].copy_(backbone.patch_embedding.weight)
        self.patch_embedding.bias.copy_(backbone.patch_embedding.bias)
        self.condition_embedder.load_state_dict(backbone.condition_embedder.state_dict())
        for mine, theirs in zip(self.blocks, backbone.blocks, strict=True):
            mine.load_state_dict(theirs.state_dict())
        return self

    @classmethod
    def from_backbone(cls, cfg: ModelConfig, backbone: FlashMotionTransformer) -> "ControlNetAdapter":
        """The adapter of :meth:`init_from_backbone` without a random initialisation first.

        Built on the meta device, given memory on the backbone's device (default dtype), then
        filled: the backbone's weights (trajectory channels included), the projections at zero, the
        rope tables rebuilt (non-persistent buffers, not in any state dict).
        """
        with torch.device("meta"):
            adapter = cls(cfg)
        device = next(backbone.parameters()).device
        adapter.to_empty(device=device)
        t = cfg.transformer
        adapter.rope = WanRotaryPosEmbed(t.attention_head_dim, tuple(t.patch_size), t.rope_max_seq_len).to(device)
        with torch.no_grad():
            for layer in adapter.proj:
                layer.weight.zero_()
                layer.bias.zero_()
        return adapter.init_from_backbone(backbone)

    def stream(self, latents: Tensor, timestep: Tensor, text: Tensor, traj_latent: Tensor, scale: float = 1.0,
               keep: bool = False) -> Residuals:
        """Lazy residuals: adapter block ``i`` runs when backbone block ``i`` needs its residual.

        Only the hidden state after the last block run is held; reading an earlier residual
        again re-runs the blocks from the first (see :class:`Residuals` for ``keep``).
        """
        x = torch.cat([latents, traj_latent.to(latents.dtype)], dim=1)
        emb = embed_inputs(self, x, timestep, text)
        state = {"done": -1, "h": emb.tokens}  # hidden state after block ``done``

        def produce(i: int) -> Tensor:
            if i <= state["done"]:  # a re-read: start again from the embedded input
                state["done"], state["h"] = -1, emb.tokens
            while state["done"] < i:
                j = state["done"] + 1
                block, h = self.blocks[j], state["h"]
                if torch.is_grad_enabled() and self.gradient_checkpointing:
                    h = torch.utils.checkpoint.checkpoint(block, h, emb.text, emb.modulation, emb.rotary,
                                                          use_reentrant=False)
                else:
                    h = block(h, emb.text, emb.modulation, emb.rotary)
                state["done"], state["h"] = j, h
            return self.proj[i](state["h"])

        return Residuals(len(self.blocks), produce, scale, keep)

    def forward(self, latents: Tensor, timestep: Tensor, text: Tensor, traj_latent: Tensor) -> list[Tensor]:
        """All residuals at once (the lazy :meth:`stream` is what the model uses)."""
        return list(self.stream(latents, timestep, text, traj_latent))


class _ConvBlock(nn.Module):
    """GroupNorm-SiLU-Conv3d twice, with a skip connection."""

    def __init__(self, channels: int, kernel: Sequence[int]):
        super().__init__()
        pad = tuple(k // 2 for k in kernel)
        groups = 8 if channels % 8 == 0 else 1
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv3d(channels, channels, tuple(kernel), padding=pad)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv3d(channels, channels, tuple(kernel), padding=pad)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        h = self.conv2(nn.functional.silu(self.norm2(h)))
        return x + h


class ResNetAdapter(nn.Module):
    uses_state = False

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        t = cfg.transformer
        c = cfg.adapter.resnet_channels
        kernel = cfg.adapter.resnet_kernel
        self.patch_size = tuple(t.patch_size)
        self.stem = nn.Conv3d(t.in_channels, c, tuple(kernel), padding=tuple(k // 2 for k in kernel))
        self.blocks = nn.ModuleList([_ConvBlock(c, kernel) for _ in range(t.num_layers)])
        patch = t.patch_size[0] * t.patch_size[1] * t.patch_size[2]
        self.proj = nn.ModuleList([_zero_linear(c * patch, t.inner_dim) for _ in range(t.num_layers)])
        self.gradient_checkpointing = False

    def _tokens(self, h: Tensor) -> Tensor:
        """(B, C, F, H, W) -> (B, L, C * pt * ph * pw) in the backbone's token order."""
        p_t, p_h, p_w = self.patch_size
        b, c, f, hh, ww = h.shape
        h = h.reshape(b, c, f // p_t, p_t, hh // p_h, p_h, ww // p_w, p_w)
        h = h.permute(0, 2, 4, 6, 1, 3, 5, 7)  # B, F', H', W', C, pt, ph, pw
        return h.reshape(b, (f // p_t) * (hh // p_h) * (ww // p_w), c * p_t * p_h * p_w)

    def features(self, traj_latent: Tensor) -> list[Tensor]:
        """Per-block token features ``(B, L, C * patch)`` (small: C = 48 channels at latent size)."""
        h = self.stem(traj_latent.to(self.stem.weight.dtype))
        out = []
        for block in self.blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                h = torch.utils.checkpoint.checkpoint(block, h, use_reentrant=False)
            else:
                h = block(h)
            out.append(self._tokens(h))
        return out

    def project(self, features: Sequence[Tensor], scale: float = 1.0, keep: bool = False) -> Residuals:
        """Lazy residuals from :meth:`features`: one projection per block, on demand, in any order."""
        return Residuals(len(self.proj), lambda i: self.proj[i](features[i]), scale, keep)

    def forward(self, latents: Tensor | None, timestep: Tensor | None, text: Tensor | None, traj_latent: Tensor) -> list[Tensor]:
        """All residuals at once (the model uses :meth:`features` + :meth:`project`)."""
        return list(self.project(self.features(traj_latent)))


def build_adapter(kind: str, cfg: ModelConfig, backbone: FlashMotionTransformer | None = None) -> nn.Module:
    """A fresh adapter; the ControlNet copies the backbone's weights when one is given (built
    straight from them, with no random initialisation of a second backbone-sized network)."""
    if kind == "controlnet":
        if backbone is not None:
            return ControlNetAdapter.from_backbone(cfg, backbone)
        return ControlNetAdapter(cfg)
    if kind == "resnet":
        return ResNetAdapter(cfg)
    raise ValueError(f"adapter kind must be one of {ADAPTER_KINDS}, got {kind!r}")
