"""The Wan2.2-TI2V backbone with an explicit per-block residual input.

:class:`FlashMotionTransformer` is ``diffusers.WanTransformer3DModel`` (same config, same
weights, same keys) with its forward split into three reusable pieces:

* :meth:`embed`: patch embedding, rotary embedding, timestep and text conditioning;
* :meth:`run_blocks`: the DiT blocks, adding ``block_residuals[i]`` after block ``i``;
* :meth:`head`: output norm, projection and unpatchify.

The trajectory adapters reuse ``embed`` and the block modules; a trainer calls ``forward``.
Timesteps are per token, shape ``(B, L)`` (TI2V first-frame conditioning: first-frame tokens
get ``t = 0``), or ``(B,)`` for one timestep per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from diffusers import WanTransformer3DModel
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.utils import apply_lora_scale
from torch import Tensor


@dataclass
class Embedded:
    """Everything the DiT blocks need, computed once per forward."""

    tokens: Tensor  # (B, L, D) patch tokens
    text: Tensor  # (B, S, D) projected text tokens
    temb: Tensor  # (B, L, D) or (B, D): timestep embedding (for the output head)
    modulation: Tensor  # (B, L, 6, D) or (B, 6, D): per-block adaLN input
    rotary: tuple[Tensor, Tensor]  # rope cos/sin
    grid: tuple[int, int, int]  # token grid (frames, height, width)


class FlashMotionTransformer(WanTransformer3DModel):
    """``WanTransformer3DModel`` with ``block_residuals`` and split embed / blocks / head."""

    def token_grid(self, latent_shape: Sequence[int]) -> tuple[int, int, int]:
        p_t, p_h, p_w = self.config.patch_size
        _, _, f, h, w = latent_shape
        return f // p_t, h // p_h, w // p_w

    def embed(self, hidden_states: Tensor, timestep: Tensor, encoder_hidden_states: Tensor) -> Embedded:
        return embed_inputs(self, hidden_states, timestep, encoder_hidden_states)

    def run_blocks(self, emb: Embedded, block_residuals: Sequence[Tensor] | None = None,
                   taps: Sequence[int] | None = None) -> Tensor | tuple[Tensor, list[Tensor]]:
        """The DiT blocks. With ``taps``, also the hidden states after those blocks (the
        discriminator heads read them), stopping after the last tapped block."""
        if block_residuals is not None and len(block_residuals) != len(self.blocks):
            raise ValueError(f"block_residuals has {len(block_residuals)} entries; the backbone has {len(self.blocks)} blocks")
        wanted = sorted(set(taps)) if taps is not None else []
        if wanted and not 0 <= wanted[0] <= wanted[-1] < len(self.blocks):
            raise ValueError(f"tapped blocks {wanted} outside 0..{len(self.blocks) - 1}")
        last = wanted[-1] if wanted else len(self.blocks) - 1
        x = emb.tokens
        tapped: list[Tensor] = []
        checkpointing = torch.is_grad_enabled() and self.gradient_checkpointing
        for i, block in enumerate(self.blocks[: last + 1]):
            if checkpointing:
                x = self._gradient_checkpointing_func(block, x, emb.text, emb.modulation, emb.rotary)
            else:
                x = block(x, emb.text, emb.modulation, emb.rotary)
            if block_residuals is not None:
                x = x + block_residuals[i].to(x.dtype)
            if i in wanted:
                tapped.append(x)
        return (x, tapped) if taps is not None else x

    def block_features(self, hidden_states: Tensor, timestep: Tensor, encoder_hidden_states: Tensor,
                       taps: Sequence[int], block_residuals: Sequence[Tensor] | None = None) -> tuple[Embedded, list[Tensor]]:
        """Embedding and the hidden states after blocks ``taps`` (same forward as :meth:`forward`)."""
        emb = self.embed(hidden_states, timestep, encoder_hidden_states)
        _, tapped = self.run_blocks(emb, block_residuals, taps=taps)
        return emb, tapped

    def head(self, x: Tensor, emb: Embedded) -> Tensor:
        temb = emb.temb
        if temb.ndim == 3:  # per-token timesteps
            shift, scale = (self.scale_shift_table.unsqueeze(0) + temb.unsqueeze(2)).chunk(2, dim=2)
            shift, scale = shift.squeeze(2), scale.squeeze(2)
        else:
            shift, scale = (self.scale_shift_table + temb.unsqueeze(1)).chunk(2, dim=1)
        x = (self.norm_out(x.float()) * (1 + scale) + shift).type_as(x)
        x = self.proj_out(x)
        f, h, w = emb.grid
        p_t, p_h, p_w = self.config.patch_size
        b = x.shape[0]
        x = x.reshape(b, f, h, w, p_t, p_h, p_w, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)

    @apply_lora_scale("attention_kwargs")
    def forward(  # type: ignore[override]
        self,
        hidden_states: Tensor,
        timestep: Tensor,
        encoder_hidden_states: Tensor,
        block_residuals: Sequence[Tensor] | None = None,
        return_dict: bool | None = None,
        encoder_hidden_states_image: Tensor | None = None,
        attention_kwargs: dict[str, Any] | None = None,
    ):
        """Flow prediction ``v = eps - x0`` of shape ``hidden_states.shape``.

        ``block_residuals[i]`` (``(B, L, D)``) is added to the hidden states after block ``i``.
        Returns a tensor when ``return_dict`` is not given (the project's calls); with an
        explicit ``return_dict`` it returns what the parent class returns (``(out,)`` for
        ``False``, an output with ``.sample`` for ``True``), so code written for
        ``WanTransformer3DModel`` (``model(..., return_dict=False)[0]``) gets the same tensor.
        ``attention_kwargs`` carries the LoRA scale, as in the parent.
        """
        if encoder_hidden_states_image is not None:
            raise ValueError("the TI2V backbone has no image branch (encoder_hidden_states_image must be None)")
        emb = self.embed(hidden_states, timestep, encoder_hidden_states)
        x = self.run_blocks(emb, block_residuals)
        out = self.head(x, emb)
        if return_dict is None:
            return out
        if not return_dict:
            return (out,)
        return Transformer2DModelOutput(sample=out)


def embed_inputs(model: WanTransformer3DModel, hidden_states: Tensor, timestep: Tensor, text: Tensor) -> Embedded:
    """Patch/rope/condition embedding of a Wan transformer (or an adapter holding the same modules).

    ``model`` needs ``rope`` (which carries the patch size), ``patch_embedding`` and
    ``condition_embedder`` attributes.
    """
    p_t, p_h, p_w = model.rope.patch_size
    _, _, f, h, w = hidden_states.shape
    grid = (f // p_t, h // p_h, w // p_w)
    rotary = model.rope(hidden_states)
    tokens = model.patch_embedding(hidden_states).flatten(2).transpose(1, 2).contiguous()
    seq_len = tokens.shape[1]
    if timestep.ndim == 2:
        if timestep.shape[1] != seq_len:
            raise ValueError(f"per-token timestep has {timestep.shape[1]} entries; the latent has {seq_len} tokens")
        temb, mod, text_tokens, _ = model.condition_embedder(timestep.flatten(), text, None, timestep_seq_len=seq_len)
        mod = mod.unflatten(2, (6, -1))
    else:
        temb, mod, text_tokens, _ = model.condition_embedder(timestep, text, None)
        mod = mod.unflatten(1, (6, -1))
    return Embedded(tokens=tokens, text=text_tokens, temb=temb, modulation=mod, rotary=rotary, grid=grid)
