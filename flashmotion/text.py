"""The UMT5 text encoder and a prompt-embedding cache.

Prompts are tokenised to ``max_length`` tokens; embeddings past each prompt's length are
zeroed (as Wan does), so a prompt's embedding does not depend on the other prompts of a batch.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor
from transformers import UMT5Config, UMT5EncoderModel

from .configs import ModelConfig


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
    """Encodes prompts to ``(B, max_length, d_model)`` embeddings, caching each prompt."""

    def __init__(self, tokenizer, model: UMT5EncoderModel, max_length: int):
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False)
        self.max_length = int(max_length)
        self.cache: dict[str, Tensor] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def _encode(self, prompts: list[str]) -> Tensor:
        tok = self.tokenizer(prompts, padding="max_length", max_length=self.max_length, truncation=True,
                             add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
        ids, mask = tok.input_ids.to(self.device), tok.attention_mask.to(self.device)
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        return hidden * mask.unsqueeze(-1).to(hidden.dtype)

    def encode(self, prompts: list[str]) -> Tensor:
        """Embeddings (on CPU, in the model's dtype) of ``prompts``, one row per prompt."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self.cache]
        for p in missing:  # one at a time: the result must not depend on the batch
            self.cache[p] = self._encode([p])[0].cpu()
        return torch.stack([self.cache[p] for p in prompts])
