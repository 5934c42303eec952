"""The diffusion discriminator of stage 3: a frozen backbone read by trainable attention heads.

Each head owns one learnable query token and reads the hidden states after one backbone block:

* Semantic Self-Attention (``ss``): the query, concatenated with the first-frame image tokens
  (the block's tokens of latent frame 0) and the text tokens, self-attends; the query's row is kept;
* Trajectory Cross-Attention (``tc``): the query attends to the trajectory tokens (the
  trajectory latent through the backbone's patch embedding);
* Video Cross-Attention (``vc``): the query attends to the video tokens of the block.

Each layer is pre-normed with a residual on the query, then an MLP maps the query to one token;
the tokens of all heads are concatenated and an MLP gives the logit. Dropping ``ss`` or ``tc``
gives the paper's VC-only, SS+VC and TC+VC ablations.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..samplers import paste_first_frame
from ..transformer import FlashMotionTransformer


class _Attend(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)

    def forward(self, q: Tensor, kv: Tensor) -> Tensor:
        kv = self.norm_kv(kv)
        return q + self.attn(self.norm_q(q), kv, kv, need_weights=False)[0]


class AttentionHead(nn.Module):
    def __init__(self, dim: int, heads: int, layers: Sequence[str] = ("ss", "tc", "vc")):
        super().__init__()
        self.layers = tuple(layers)
        self.query = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.ss = _Attend(dim, heads) if "ss" in self.layers else None
        self.tc = _Attend(dim, heads) if "tc" in self.layers else None
        self.vc = _Attend(dim, heads)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, video: Tensor, image: Tensor, text: Tensor, traj: Tensor | None) -> Tensor:
        q = self.query.expand(video.shape[0], -1, -1).to(video.dtype)
        if self.ss is not None:
            seq = torch.cat([q, image, text], dim=1)
            q = self.ss(q, seq)  # the query row of self-attention over [q, image, text]
        if self.tc is not None and traj is not None:
            q = self.tc(q, traj)
        q = self.vc(q, video)
        return self.mlp(q)[:, 0]


class Discriminator(nn.Module):
    """``D(x_t, t)`` -> one logit per sample. Only the heads and the output MLP train."""

    def __init__(self, backbone: FlashMotionTransformer, blocks: Sequence[int], layers: Sequence[str] = ("ss", "tc", "vc")):
        super().__init__()
        n = len(backbone.blocks)
        self.taps = tuple(sorted({b % n for b in blocks}))
        dim = backbone.config.num_attention_heads * backbone.config.attention_head_dim
        heads = backbone.config.num_attention_heads
        self.backbone = backbone.requires_grad_(False)
        self.heads = nn.ModuleList([AttentionHead(dim, heads, layers) for _ in self.taps])
        width = dim * len(self.taps)
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim), nn.SiLU(), nn.Linear(dim, 1))

    def trainable_parameters(self):
        return [p for name, p in self.named_parameters() if not name.startswith("backbone.")]

    def forward(self, x_t: Tensor, sigma: Tensor, first_latent: Tensor, text: Tensor, traj_latent: Tensor | None,
                token_mask: Tensor) -> Tensor:
        xin = paste_first_frame(x_t, first_latent)
        ts = token_mask.expand(xin.shape[0], -1) * (1000.0 * sigma.reshape(-1, 1))
        emb, feats = self.backbone.block_features(xin, ts, text, self.taps)
        f, h, w = emb.grid
        traj = None
        if traj_latent is not None:
            traj = self.backbone.patch_embedding(traj_latent.to(xin.dtype)).flatten(2).transpose(1, 2)
        tokens = [head(feat, feat[:, : h * w], emb.text, traj) for head, feat in zip(self.heads, feats)]
        return self.out(torch.cat(tokens, dim=-1))[:, 0]
