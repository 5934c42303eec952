"""The UMT5 text encoder, its bounded prompt cache and the on-disk embedding cache for training.

Prompts are tokenised to ``max_length`` tokens; embeddings past each prompt's length are
zeroed (as Wan does), so a prompt's embedding does not depend on the other prompts of a batch.
The disk cache stores only a prompt's own rows (the rest are zeros by construction) and pads
them back on read.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor
from transformers import UMT5Config, UMT5EncoderModel

from flashbench.errors import InputError
from flashbench.utils.atomic import atomic_path, sha256_json

from . import __version__
from .configs import ModelConfig
from .modes import eval_mode

# Bump when the stored embedding of a prompt changes for the same weights (tokenisation, zeroing, layout).
EMBEDDING_FORMAT = 1


def build_text_model(cfg: ModelConfig) -> UMT5EncoderModel:
    return UMT5EncoderModel(UMT5Config(**cfg.text.umt5_kwargs()))


def build_tokenizer(cfg: ModelConfig, path: str | Path | None = None):
    """ByT5 (file-free) for tiny configs; the UMT5 tokenizer from a local folder otherwise."""
    if cfg.text.tokenizer == "byt5":
        from transformers import ByT5Tokenizer

        return ByT5Tokenizer()
    if path is None:
        raise ValueError("the UMT5 tokenizer needs its local folder (tokenizer files of google/umt5-xxl)")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


class TextEncoder:
    """Encodes prompts to ``(B, max_length, d_model)`` embeddings, keeping the ``cache_size`` latest prompts.

    The model is used as given: it runs in eval mode under ``no_grad`` for each call, and its
    modes and ``requires_grad`` flags are left as they were.
    """

    def __init__(self, tokenizer, model: UMT5EncoderModel, max_length: int, cache_size: int = 64):
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self.tokenizer = tokenizer
        self.model = model
        self.max_length = int(max_length)
        self.cache_size = int(cache_size)
        self.cache: OrderedDict[str, Tensor] = OrderedDict()  # least recently used first
        self._weights_sha256: str | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def weights_sha256(self) -> str:
        """Hash of the encoder's weights, computed once (the encoder is a frozen component)."""
        if self._weights_sha256 is None:
            from flashbench.metrics.extractors import module_sha256

            self._weights_sha256 = module_sha256(self.model)
        return self._weights_sha256

    def tokenize(self, prompts: list[str]) -> tuple[Tensor, Tensor]:
        """Token ids and attention mask, ``(B, max_length)`` each (padded on the right)."""
        tok = self.tokenizer(prompts, padding="max_length", max_length=self.max_length, truncation=True,
                             add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
        return tok.input_ids, tok.attention_mask

    @torch.no_grad()
    def encode_one(self, prompt: str) -> Tensor:
        """``(max_length, d_model)`` embedding on CPU in the model's dtype, uncached."""
        ids, mask = (t.to(self.device) for t in self.tokenize([prompt]))
        with eval_mode(self.model):
            hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return (hidden * mask.unsqueeze(-1).to(hidden.dtype))[0].cpu()

    def encode(self, prompts: list[str]) -> Tensor:
        """Embeddings (on CPU, in the model's dtype) of ``prompts``, one row per prompt."""
        found: dict[str, Tensor] = {}
        for p in dict.fromkeys(prompts):  # one at a time: the result must not depend on the batch
            if p in self.cache:
                self.cache.move_to_end(p)
                found[p] = self.cache[p]
            else:
                found[p] = self.encode_one(p)
                self._remember(p, found[p])
        return torch.stack([found[p] for p in prompts])

    def _remember(self, prompt: str, emb: Tensor) -> None:
        if self.cache_size == 0:
            return
        self.cache[prompt] = emb
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)


def embedding_key(encoder: TextEncoder, prompt: str) -> str:
    """Disk-cache key of ``prompt``: everything that determines its embedding."""
    import transformers

    ids, _ = encoder.tokenize([prompt])
    return sha256_json({
        "prompt": prompt, "input_ids": ids[0].tolist(), "max_length": encoder.max_length,
        "weights": encoder.weights_sha256(), "dtype": str(encoder.dtype), "device": encoder.device.type,
        "code": {"flashmotion": __version__, "format": EMBEDDING_FORMAT, "torch": torch.__version__,
                 "transformers": transformers.__version__},
    })


def _read(path: Path, max_length: int, width: int) -> Tensor | None:
    """The stored rows padded back to ``(max_length, width)``; None when missing or unreadable."""
    try:
        rows = load_file(str(path))["embedding"]
    except (FileNotFoundError, SafetensorError, KeyError, OSError):
        return None
    if rows.ndim != 2 or rows.shape[0] > max_length or rows.shape[1] != width:
        return None
    out = rows.new_zeros(max_length, width)
    out[: rows.shape[0]] = rows
    return out


def _write(path: Path, emb: Tensor, length: int) -> None:
    with atomic_path(path) as tmp:
        save_file({"embedding": emb[:length].contiguous()}, str(tmp))


def embed_prompts(encoder: TextEncoder, prompts: list[str], cache_dir: Path | None) -> Tensor:
    """``(B, max_length, d_model)`` float32 embeddings on CPU, read from / written to ``cache_dir``.

    Each prompt is one file ``<cache_dir>/<key[:2]>/<key>.safetensors`` (see :func:`embedding_key`),
    written atomically, so data-loader workers and distributed ranks can share the folder.
    Without ``cache_dir`` this is :meth:`TextEncoder.encode` in float32.
    """
    if cache_dir is None:
        return encoder.encode(prompts).float()
    cache_dir = Path(cache_dir)
    if cache_dir.exists() and not cache_dir.is_dir():
        raise InputError(f"text-embedding cache {cache_dir} is a file; pass a folder (created when missing)")
    found: dict[str, Tensor] = {}
    width = encoder.model.config.d_model
    for p in dict.fromkeys(prompts):
        key = embedding_key(encoder, p)
        path = cache_dir / key[:2] / f"{key}.safetensors"
        emb = _read(path, encoder.max_length, width)
        if emb is None:
            emb = encoder.encode_one(p)
            _write(path, emb, int(encoder.tokenize([p])[1].sum()))
        found[p] = emb
    return torch.stack([found[p] for p in prompts]).float()
