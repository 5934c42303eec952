"""Key mappings between the official Wan2.2 layouts and the diffusers/transformers classes.

Written from the renames that diffusers documents (``loaders/single_file_utils.py`` and its
Wan converter) and the UMT5 layout of the official ``.pth``. Each mapping is a pair of pure
functions on key names (``official -> ours`` and back) so a round trip can be tested.
"""

from __future__ import annotations

import re

# ---------------------------------------------------------------- transformer (DiT)
# Ordered (official, ours) substring renames. The official block norms are named norm1
# (self-attn), norm3 (cross-attn, affine) and norm2 (ffn); diffusers calls them norm1, norm2,
# norm3. Only the affine cross-attention norm has weights.
_DIT_RENAMES: tuple[tuple[str, str], ...] = (
    ("time_embedding.0.", "condition_embedder.time_embedder.linear_1."),
    ("time_embedding.2.", "condition_embedder.time_embedder.linear_2."),
    ("text_embedding.0.", "condition_embedder.text_embedder.linear_1."),
    ("text_embedding.2.", "condition_embedder.text_embedder.linear_2."),
    ("time_projection.1.", "condition_embedder.time_proj."),
    ("head.modulation", "scale_shift_table"),
    ("head.head.", "proj_out."),
    (".self_attn.q.", ".attn1.to_q."),
    (".self_attn.k.", ".attn1.to_k."),
    (".self_attn.v.", ".attn1.to_v."),
    (".self_attn.o.", ".attn1.to_out.0."),
    (".self_attn.norm_q.", ".attn1.norm_q."),
    (".self_attn.norm_k.", ".attn1.norm_k."),
    (".cross_attn.q.", ".attn2.to_q."),
    (".cross_attn.k.", ".attn2.to_k."),
    (".cross_attn.v.", ".attn2.to_v."),
    (".cross_attn.o.", ".attn2.to_out.0."),
    (".cross_attn.norm_q.", ".attn2.norm_q."),
    (".cross_attn.norm_k.", ".attn2.norm_k."),
    (".ffn.0.", ".ffn.net.0.proj."),
    (".ffn.2.", ".ffn.net.2."),
    (".modulation", ".scale_shift_table"),
)
_BLOCK_NORM = re.compile(r"^(blocks\.\d+\.)norm([23])\.")


def dit_official_to_ours(key: str) -> str:
    m = _BLOCK_NORM.match(key)
    if m:  # swap norm3 (official cross-attn norm) <-> norm2
        key = f"{m.group(1)}norm{'2' if m.group(2) == '3' else '3'}." + key[m.end():]
    for old, new in _DIT_RENAMES:
        if old in key:
            key = key.replace(old, new)
    return key


def dit_ours_to_official(key: str) -> str:
    for old, new in reversed(_DIT_RENAMES):
        if new in key:
            key = key.replace(new, old)
    m = _BLOCK_NORM.match(key)
    if m:
        key = f"{m.group(1)}norm{'2' if m.group(2) == '3' else '3'}." + key[m.end():]
    return key


def is_official_dit(keys) -> bool:
    return any(k.endswith("self_attn.q.weight") for k in keys)


# ---------------------------------------------------------------- VAE (Wan2.2, residual)
_RES_PARTS = (
    (".residual.0.gamma", ".norm1.gamma"),
    (".residual.2.weight", ".conv1.weight"),
    (".residual.2.bias", ".conv1.bias"),
    (".residual.3.gamma", ".norm2.gamma"),
    (".residual.6.weight", ".conv2.weight"),
    (".residual.6.bias", ".conv2.bias"),
    (".shortcut.weight", ".conv_shortcut.weight"),
    (".shortcut.bias", ".conv_shortcut.bias"),
)
_VAE_FIXED = {
    "encoder.conv1.weight": "encoder.conv_in.weight",
    "encoder.conv1.bias": "encoder.conv_in.bias",
    "decoder.conv1.weight": "decoder.conv_in.weight",
    "decoder.conv1.bias": "decoder.conv_in.bias",
    "conv1.weight": "quant_conv.weight",
    "conv1.bias": "quant_conv.bias",
    "conv2.weight": "post_quant_conv.weight",
    "conv2.bias": "post_quant_conv.bias",
    "encoder.head.0.gamma": "encoder.norm_out.gamma",
    "encoder.head.2.weight": "encoder.conv_out.weight",
    "encoder.head.2.bias": "encoder.conv_out.bias",
    "decoder.head.0.gamma": "decoder.norm_out.gamma",
    "decoder.head.2.weight": "decoder.conv_out.weight",
    "decoder.head.2.bias": "decoder.conv_out.bias",
}
_VAE_FIXED_INV = {v: k for k, v in _VAE_FIXED.items()}
# official: {enc,dec}.middle.{0,2} residual blocks and middle.1 attention
_MID = re.compile(r"^(encoder|decoder)\.middle\.(\d)\.(.*)$")
# official: encoder.downsamples.{i}.downsamples.{j}.(residual|shortcut|resample|time_conv)...
_STAGE = re.compile(r"^(encoder|decoder)\.(downsamples|upsamples)\.(\d+)\.(downsamples|upsamples)\.(\d+)\.(.*)$")


def vae_official_to_ours(key: str, num_res_blocks: int) -> str:
    if key in _VAE_FIXED:
        return _VAE_FIXED[key]
    m = _MID.match(key)
    if m:
        part, idx, rest = m.groups()
        if idx == "1":
            return f"{part}.mid_block.attentions.0.{rest}"
        key = f"{part}.mid_block.resnets.{int(idx) // 2}.{rest}"
    else:
        m = _STAGE.match(key)
        if not m:
            return key
        part, _, i, _, j, rest = m.groups()
        blocks = "down_blocks" if part == "encoder" else "up_blocks"
        if rest.startswith(("resample.", "time_conv.")):
            sampler = "downsampler" if part == "encoder" else "upsampler"
            return f"{part}.{blocks}.{i}.{sampler}.{rest}"
        key = f"{part}.{blocks}.{i}.resnets.{j}.{rest}"
    for old, new in _RES_PARTS:
        if key.endswith(old):
            return key[: -len(old)] + new
    return key


_OURS_MID = re.compile(r"^(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d)\.(.*)$")
_OURS_STAGE = re.compile(r"^(encoder|decoder)\.(down_blocks|up_blocks)\.(\d+)\.(resnets\.(\d+)|downsampler|upsampler)\.(.*)$")


def vae_ours_to_official(key: str, num_res_blocks: int) -> str:
    """Inverse of :func:`vae_official_to_ours`. The resampler sits after the residual blocks:
    index ``num_res_blocks`` in the encoder, ``num_res_blocks + 1`` in the decoder."""
    if key in _VAE_FIXED_INV:
        return _VAE_FIXED_INV[key]
    for new_suffix, old_suffix in ((n, o) for o, n in _RES_PARTS):
        if key.endswith(new_suffix):
            key = key[: -len(new_suffix)] + old_suffix
            break
    m = _OURS_MID.match(key)
    if m:
        part, kind, idx, rest = m.groups()
        return f"{part}.middle.{1 if kind == 'attentions' else 2 * int(idx)}.{rest}"
    m = _OURS_STAGE.match(key)
    if not m:
        return key
    part, _, i, which, j, rest = m.groups()
    inner = "downsamples" if part == "encoder" else "upsamples"
    if j is None:
        j = num_res_blocks if part == "encoder" else num_res_blocks + 1
    return f"{part}.{inner}.{i}.{inner}.{j}.{rest}"


def is_official_vae(keys) -> bool:
    return any(k.startswith("encoder.downsamples.") for k in keys)


# ---------------------------------------------------------------- UMT5 encoder
_T5_BLOCK = (
    ("attn.q.weight", "layer.0.SelfAttention.q.weight"),
    ("attn.k.weight", "layer.0.SelfAttention.k.weight"),
    ("attn.v.weight", "layer.0.SelfAttention.v.weight"),
    ("attn.o.weight", "layer.0.SelfAttention.o.weight"),
    ("pos_embedding.embedding.weight", "layer.0.SelfAttention.relative_attention_bias.weight"),
    ("norm1.weight", "layer.0.layer_norm.weight"),
    ("ffn.gate.0.weight", "layer.1.DenseReluDense.wi_0.weight"),
    ("ffn.fc1.weight", "layer.1.DenseReluDense.wi_1.weight"),
    ("ffn.fc2.weight", "layer.1.DenseReluDense.wo.weight"),
    ("norm2.weight", "layer.1.layer_norm.weight"),
)
_T5_FIXED = {"token_embedding.weight": "shared.weight", "norm.weight": "encoder.final_layer_norm.weight"}
_T5_RE = re.compile(r"^blocks\.(\d+)\.(.*)$")
_T5_OURS_RE = re.compile(r"^encoder\.block\.(\d+)\.(.*)$")


def umt5_official_to_ours(key: str) -> str:
    if key in _T5_FIXED:
        return _T5_FIXED[key]
    m = _T5_RE.match(key)
    if m:
        for old, new in _T5_BLOCK:
            if m.group(2) == old:
                return f"encoder.block.{m.group(1)}.{new}"
    return key


def umt5_ours_to_official(key: str) -> str:
    inv = {v: k for k, v in _T5_FIXED.items()}
    if key in inv:
        return inv[key]
    m = _T5_OURS_RE.match(key)
    if m:
        for old, new in _T5_BLOCK:
            if m.group(2) == new:
                return f"blocks.{m.group(1)}.{old}"
    return key


def is_official_umt5(keys) -> bool:
    return "token_embedding.weight" in keys
