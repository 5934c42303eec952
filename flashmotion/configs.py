"""Model configurations: the real Wan2.2-TI2V-5B sizes and a tiny CPU config of the same classes.

A :class:`ModelConfig` bundles the keyword arguments of each component class
(``WanTransformer3DModel``, ``AutoencoderKLWan``, ``UMT5Config``) and of the two trajectory
adapters, plus the sampling defaults. ``tiny`` differs from ``wan2.2-ti2v-5b`` in sizes only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from flashbench.errors import InputError

from .schedules import FEW_STEP_SHIFT, FEW_STEP_TIMESTEPS, FewStepSchedule

# Per-channel statistics of the Wan2.2 VAE latent space (48 channels); latents are
# normalised as (z - mean) / std before the transformer sees them.
WAN22_LATENTS_MEAN = (
    -0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557,
    -0.1382, 0.0542, 0.2813, 0.0891, 0.1570, -0.0098, 0.0375, -0.1825,
    -0.2246, -0.1207, -0.0698, 0.5109, 0.2665, -0.2108, -0.2158, 0.2502,
    -0.2055, -0.0322, 0.1109, 0.1567, -0.0729, 0.0899, -0.2799, -0.1230,
    -0.0313, -0.1649, 0.0117, 0.0723, -0.2839, -0.2083, -0.0520, 0.3748,
    0.0152, 0.1957, 0.1433, -0.2944, 0.3573, -0.0548, -0.1681, -0.0667,
)
WAN22_LATENTS_STD = (
    0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013,
    0.8158, 1.0344, 0.5894, 1.0901, 0.6885, 0.6165, 0.8454, 0.4978,
    0.5759, 0.3523, 0.7135, 0.6804, 0.5833, 1.4146, 0.8986, 0.5659,
    0.7069, 0.5338, 0.4889, 0.4917, 0.4069, 0.4999, 0.6866, 0.4093,
    0.5709, 0.6065, 0.6415, 0.4944, 0.5726, 1.2042, 0.5458, 1.6887,
    0.3971, 1.0600, 0.3943, 0.5537, 0.5444, 0.4089, 0.7468, 0.7744,
)

# The official negative prompt of Wan2.2 sample configs (Chinese), used by the CFG sampler.
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
    "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走"
)


@dataclass(frozen=True)
class TransformerConfig:
    """Keyword arguments of ``diffusers.WanTransformer3DModel``."""

    patch_size: tuple[int, int, int] = (1, 2, 2)
    num_attention_heads: int = 24
    attention_head_dim: int = 128
    in_channels: int = 48
    out_channels: int = 48
    text_dim: int = 4096
    freq_dim: int = 256
    ffn_dim: int = 14336
    num_layers: int = 30
    cross_attn_norm: bool = True
    qk_norm: str = "rms_norm_across_heads"
    eps: float = 1e-6
    rope_max_seq_len: int = 1024

    @property
    def inner_dim(self) -> int:
        return self.num_attention_heads * self.attention_head_dim

    def kwargs(self) -> dict[str, Any]:
        d = asdict(self)
        d["patch_size"] = tuple(self.patch_size)
        return d


@dataclass(frozen=True)
class VAEConfig:
    """Keyword arguments of ``diffusers.AutoencoderKLWan`` (the Wan2.2 residual VAE)."""

    base_dim: int = 160
    decoder_base_dim: int = 256
    z_dim: int = 48
    dim_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    temperal_downsample: tuple[bool, ...] = (False, True, True)
    is_residual: bool = True
    in_channels: int = 12
    out_channels: int = 12
    patch_size: int = 2
    scale_factor_spatial: int = 16
    scale_factor_temporal: int = 4
    latents_mean: tuple[float, ...] = WAN22_LATENTS_MEAN
    latents_std: tuple[float, ...] = WAN22_LATENTS_STD

    def kwargs(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("dim_mult", "temperal_downsample", "latents_mean", "latents_std"):
            d[k] = list(d[k])
        return d


@dataclass(frozen=True)
class TextConfig:
    """``transformers.UMT5Config`` fields and the tokenizer to pair with it."""

    vocab_size: int = 256384
    d_model: int = 4096
    d_kv: int = 64
    d_ff: int = 10240
    num_layers: int = 24
    num_heads: int = 64
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    feed_forward_proj: str = "gated-gelu"
    max_length: int = 512
    tokenizer: str = "umt5"  # "umt5": the google/umt5-xxl tokenizer files; "byt5": file-free ByT5Tokenizer()

    def umt5_kwargs(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("max_length")
        d.pop("tokenizer")
        d.update(is_encoder_decoder=False, use_cache=False, dense_act_fn="gelu_new", is_gated_act=True,
                 tie_word_embeddings=False, dropout_rate=0.0)
        return d


@dataclass(frozen=True)
class AdapterConfig:
    """Sizes of the trajectory adapters (the ControlNet copies the backbone's own sizes)."""

    resnet_channels: int = 48  # width of the ResNet adapter's conv stack (latent channels)
    resnet_kernel: tuple[int, int, int] = (3, 3, 3)


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling defaults (REFERENCE section 3 and 4)."""

    slow_steps: int = 50
    slow_shift: float = 5.0
    guidance_scale: float = 5.0
    negative_prompt: str = WAN_NEGATIVE_PROMPT
    fast_timesteps: tuple[float, ...] = FEW_STEP_TIMESTEPS
    fast_shift: float = FEW_STEP_SHIFT
    native_size: tuple[int, int] = (704, 1280)
    max_frames: int = 121
    fps: float = 24.0

    def few_step_schedule(self) -> FewStepSchedule:
        """The few-step schedule of this config (the one object training and inference use)."""
        return FewStepSchedule(self.fast_timesteps, self.fast_shift)


@dataclass(frozen=True)
class ModelConfig:
    name: str
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    text: TextConfig = field(default_factory=TextConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    @property
    def spatial_factor(self) -> int:
        """Pixels per latent token side: VAE factor x transformer patch (16 x 2 = 32)."""
        return self.vae.scale_factor_spatial * self.transformer.patch_size[1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "ModelConfig":
        """The inverse of :meth:`to_dict` (lists back to tuples), for configs stored in checkpoints."""
        def build(kind, d):
            out = {}
            for f in fields(kind):
                v = d.get(f.name, f.default)
                out[f.name] = tuple(v) if isinstance(v, list) else v
            return kind(**out)

        try:
            return cls(name=str(obj["name"]), transformer=build(TransformerConfig, obj.get("transformer", {})),
                       vae=build(VAEConfig, obj.get("vae", {})), text=build(TextConfig, obj.get("text", {})),
                       adapter=build(AdapterConfig, obj.get("adapter", {})),
                       sampling=build(SamplingConfig, obj.get("sampling", {})))
        except (KeyError, TypeError) as exc:
            raise InputError(f"malformed model config ({exc})") from None


WAN22_TI2V_5B = ModelConfig(name="wan2.2-ti2v-5b")

TINY = ModelConfig(
    name="tiny",
    transformer=TransformerConfig(num_attention_heads=2, attention_head_dim=12, text_dim=32, freq_dim=16,
                                  ffn_dim=32, num_layers=2, rope_max_seq_len=64),
    vae=VAEConfig(base_dim=4, decoder_base_dim=4, dim_mult=(1, 1, 1, 1), num_res_blocks=1,
                  latents_mean=(0.0,) * 48, latents_std=(1.0,) * 48),
    text=TextConfig(vocab_size=384, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                    relative_attention_num_buckets=8, relative_attention_max_distance=16, max_length=32,
                    tokenizer="byt5"),
    adapter=AdapterConfig(resnet_channels=8),
    sampling=replace(SamplingConfig(), native_size=(64, 64)),
)

# The size of the shipped tiny reference models: the same classes, wide enough to learn the
# FlashBench-Synth scenes on two CPU cores in minutes. The VAE's latent statistics are measured
# by stage 0 and stored with the checkpoint's copy of this config.
TINY_REFERENCE = ModelConfig(
    name="tiny-reference",
    transformer=TransformerConfig(num_attention_heads=4, attention_head_dim=16, text_dim=32, freq_dim=32,
                                  ffn_dim=192, num_layers=4, rope_max_seq_len=64),
    vae=VAEConfig(base_dim=16, decoder_base_dim=16, dim_mult=(1, 1, 2, 2), num_res_blocks=1,
                  latents_mean=(0.0,) * 48, latents_std=(1.0,) * 48),
    text=TINY.text,
    adapter=AdapterConfig(resnet_channels=16),
    sampling=replace(SamplingConfig(), native_size=(128, 224), max_frames=33),
)

# The next tiny reference size: tokens as wide as a latent patch (48 channels x 1x2x2 = 192
# values), so the flow prediction can carry the noise through (``flashbench train check``);
# at width 64 the stage-0 generator could not even learn the average scene.
TINY_REFERENCE_192 = replace(
    TINY_REFERENCE, name="tiny-reference-192",
    transformer=replace(TINY_REFERENCE.transformer, num_attention_heads=6, attention_head_dim=32, ffn_dim=384),
)

CONFIGS: dict[str, ModelConfig] = {c.name: c for c in (WAN22_TI2V_5B, TINY, TINY_REFERENCE, TINY_REFERENCE_192)}


def get_config(name: str | ModelConfig) -> ModelConfig:
    if isinstance(name, ModelConfig):
        return name
    try:
        return CONFIGS[name]
    except KeyError:
        raise InputError(f"unknown flashmotion config {name!r}; known: {', '.join(CONFIGS)}") from None
