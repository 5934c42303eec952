"""Text embeddings: the bounded prompt cache, the disk cache for training, components left as given."""

from __future__ import annotations

import pytest
import torch

from flashmotion.configs import TINY
from flashmotion.text import (
    TextEncoder,
    build_text_model,
    build_tokenizer,
    embed_prompts,
    embedding_key,
)


def _encoder(seed: int = 0, **kw) -> TextEncoder:
    torch.manual_seed(seed)
    return TextEncoder(build_tokenizer(TINY), build_text_model(TINY), TINY.text.max_length, **kw)


@pytest.fixture(scope="module")
def encoder():
    return _encoder()


def test_prompt_cache_is_bounded_lru():
    enc = _encoder(cache_size=2)
    first = enc.encode(["a", "b"])
    enc.encode(["a"])  # "a" becomes the most recent
    enc.encode(["c"])  # evicts "b"
    assert list(enc.cache) == ["a", "c"]
    # A call with more distinct prompts than the cache holds still answers every prompt.
    many = enc.encode(["a", "b", "c", "d", "b"])
    assert list(enc.cache) == ["c", "d"]  # the two latest distinct prompts
    assert torch.equal(many[0], first[0]) and torch.equal(many[1], first[1]) and torch.equal(many[4], first[1])


def test_encoder_leaves_the_model_as_given():
    enc = _encoder()
    enc.model.train()
    enc.encode(["a red ball"])
    assert enc.model.training and all(m.training for m in enc.model.modules())
    assert all(p.requires_grad for p in enc.model.parameters())


def test_disk_cache_round_trip(tmp_path, encoder, monkeypatch):
    prompts = ["a red ball rolls left", "", "a red ball rolls left"]
    cold = embed_prompts(encoder, prompts, tmp_path)
    assert cold.dtype == torch.float32 and cold.device.type == "cpu"
    assert cold.shape == (3, TINY.text.max_length, encoder.model.config.d_model)
    assert torch.equal(cold, encoder.encode(prompts).float())
    files = sorted(tmp_path.rglob("*.safetensors"))
    assert len(files) == 2  # one file per distinct prompt

    def refuse(_prompt):
        raise AssertionError("a cached prompt was encoded again")

    monkeypatch.setattr(encoder, "encode_one", refuse)
    assert torch.equal(embed_prompts(encoder, prompts, tmp_path), cold)
    assert torch.equal(embed_prompts(encoder, prompts[:1], None), cold[:1])  # the memory cache answers too


def test_disk_cache_stores_only_the_prompt_rows(tmp_path, encoder):
    from safetensors.torch import load_file

    embed_prompts(encoder, ["ab"], tmp_path)
    (path,) = tmp_path.rglob("*.safetensors")
    n_tokens = int(encoder.tokenize(["ab"])[1].sum())
    assert load_file(str(path))["embedding"].shape[0] == n_tokens < TINY.text.max_length


def test_disk_cache_rewrites_an_unreadable_file(tmp_path, encoder):
    good = embed_prompts(encoder, ["a blue box"], tmp_path)
    (path,) = tmp_path.rglob("*.safetensors")
    path.write_bytes(b"not a safetensors file")
    assert torch.equal(embed_prompts(encoder, ["a blue box"], tmp_path), good)
    assert torch.equal(embed_prompts(_encoder(), ["a blue box"], tmp_path), good)


def test_cache_dir_that_is_a_file_is_named(tmp_path, encoder):
    from flashbench.errors import InputError

    (tmp_path / "emb").write_text("")
    with pytest.raises(InputError, match=r"emb is a file; pass a folder"):
        embed_prompts(encoder, ["a"], tmp_path / "emb")


def test_key_follows_what_determines_the_embedding(encoder):
    base = embedding_key(encoder, "a cat")
    assert embedding_key(_encoder(), "a cat") == base  # same weights, same key
    assert embedding_key(encoder, "a dog") != base
    assert embedding_key(_encoder(seed=1), "a cat") != base  # other weights
    short = TextEncoder(encoder.tokenizer, encoder.model, TINY.text.max_length - 1)
    assert embedding_key(short, "a cat") != base
    half = _encoder()
    half.model.to(torch.bfloat16)
    assert embedding_key(half, "a cat") != base
