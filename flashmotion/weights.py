"""Cache entries of the FlashMotion weights (thin glue over :mod:`flashbench.weights`).

Loaders in :mod:`flashmotion.loading` take explicit paths; this module only names the cached
files and resolves them. Nothing downloads implicitly.
"""

from __future__ import annotations

from pathlib import Path

from flashbench import weights as cache
from flashbench.weights import WeightSpec

WAN = "wan2.2-ti2v-5b"
FAST_GENERATOR = "flashmotion-fastgenerator"


def adapter_weight_name(kind: str, stage: str) -> str:
    """``flashmotion-<controlnet|resnet>-<slow|fast>adapter``."""
    return f"flashmotion-{kind}-{stage}adapter"


SPECS = (
    WeightSpec(
        name=WAN, filename="Wan2.2-TI2V-5B", urls=("https://huggingface.co/Wan-AI/Wan2.2-TI2V-5B",), size=None, sha256=None,
        description="Wan2.2-TI2V-5B folder: official layout (DiT safetensors shards, Wan2.2_VAE.pth, "
        "models_t5_umt5-xxl-enc-bf16.pth, google/umt5-xxl tokenizer) or the diffusers layout "
        "(model_index.json, transformer/, vae/, text_encoder/, tokenizer/)",
        kind="dir",
    ),
    WeightSpec(
        name=FAST_GENERATOR, filename="generator.pt", urls=(), size=None, sha256=None,
        description="four-step Wan2.2-TI2V-5B generator distilled with DMD (stage 2; keys 'model.<official key>')",
    ),
    *(
        WeightSpec(
            name=adapter_weight_name(kind, stage), filename=f"{adapter_weight_name(kind, stage)}", urls=(), size=None,
            sha256=None, kind="dir",
            description=f"{kind} trajectory adapter trained with the {'multi-step' if stage == 'slow' else 'four-step'} "
            "generator (FlashMotion checkpoint folder: flashmotion.json + adapter.safetensors)",
        )
        for kind in ("controlnet", "resnet")
        for stage in ("slow", "fast")
    ),
)


def register_all() -> None:
    for spec in SPECS:
        cache.register(spec)


def require(name: str) -> Path:
    register_all()
    return cache.require(name)


def is_available(name: str) -> bool:
    register_all()
    return cache.is_available(name)


def sha256(name: str) -> str:
    register_all()
    return cache.verified_sha256(name)
