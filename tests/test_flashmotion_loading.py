"""Weight loading: official Wan2.2 layouts, generator.pt, diffusers folders, our checkpoints, errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from flashbench.errors import InputError
from flashmotion import keymaps, loading
from flashmotion.adapters import build_adapter
from flashmotion.assemble import checkpoint_components, load_wan
from flashmotion.configs import TINY
from flashmotion.model import build_transformer
from flashmotion.samplers import token_timesteps
from flashmotion.text import build_text_model
from flashmotion.vae import build_vae

# The official names of one DiT block (Wan2.2 reference layout), written out by hand.
OFFICIAL_BLOCK0 = {
    "blocks.0.modulation",
    *(f"blocks.0.{a}.{p}.{t}" for a in ("self_attn", "cross_attn") for p in "qkvo" for t in ("weight", "bias")),
    *(f"blocks.0.{a}.norm_{p}.weight" for a in ("self_attn", "cross_attn") for p in "qk"),
    "blocks.0.norm3.weight", "blocks.0.norm3.bias",
    "blocks.0.ffn.0.weight", "blocks.0.ffn.0.bias", "blocks.0.ffn.2.weight", "blocks.0.ffn.2.bias",
}
OFFICIAL_TOP = {
    "patch_embedding.weight", "patch_embedding.bias", "head.head.weight", "head.head.bias", "head.modulation",
    *(f"{m}.{i}.{t}" for m in ("text_embedding", "time_embedding") for i in (0, 2) for t in ("weight", "bias")),
    "time_projection.1.weight", "time_projection.1.bias",
}


# The root config.json of the official Wan2.2-TI2V-5B folder, as published (it carries
# ``_diffusers_version`` although the folder is in the official layout).
OFFICIAL_ROOT_CONFIG = {
    "_class_name": "WanModel", "_diffusers_version": "0.33.0", "dim": 3072, "eps": 1e-06, "ffn_dim": 14336,
    "freq_dim": 256, "in_dim": 48, "model_type": "ti2v", "num_heads": 24, "num_layers": 30, "out_dim": 48,
    "text_len": 512,
}


def _official_root_config(cfg) -> dict:
    """The official root config.json for ``cfg`` (the published one for the real config)."""
    t = cfg.transformer
    return {**OFFICIAL_ROOT_CONFIG, "dim": t.num_attention_heads * t.attention_head_dim, "ffn_dim": t.ffn_dim,
            "freq_dim": t.freq_dim, "num_heads": t.num_attention_heads, "num_layers": t.num_layers,
            "in_dim": t.in_channels, "out_dim": t.out_channels}


def _official_dit(model) -> dict[str, torch.Tensor]:
    return {keymaps.dit_ours_to_official(k): v.clone() for k, v in model.state_dict().items()}


def _dit_out(model):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 48, 3, 4, 4, generator=g)
    text = torch.randn(1, 8, TINY.transformer.text_dim, generator=g)
    with torch.no_grad():
        return model(x, token_timesteps(300.0, (3, 2, 2), "cpu"), text)


@pytest.fixture(scope="module")
def tiny_dit():
    torch.manual_seed(11)
    return build_transformer(TINY).eval()


def test_official_dit_names(tiny_dit):
    keys = set(_official_dit(tiny_dit))
    assert {k for k in keys if k.startswith("blocks.0.")} == OFFICIAL_BLOCK0
    assert {k for k in keys if not k.startswith("blocks.")} == OFFICIAL_TOP


def test_official_sharded_transformer_loads_identically(tmp_path, tiny_dit):
    state = _official_dit(tiny_dit)
    keys = sorted(state)
    save_file({k: state[k] for k in keys[: len(keys) // 2]}, str(tmp_path / "diffusion_pytorch_model-00001-of-00002.safetensors"))
    save_file({k: state[k] for k in keys[len(keys) // 2 :]}, str(tmp_path / "diffusion_pytorch_model-00002-of-00002.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(_official_root_config(TINY)))
    fresh = loading.load_transformer_weights(build_transformer(TINY).eval(), tmp_path)
    assert torch.equal(_dit_out(fresh), _dit_out(tiny_dit))
    # A head count differs in no shape: the official config.json names it.
    (tmp_path / "config.json").write_text(json.dumps({**_official_root_config(TINY), "num_heads": 4}))
    with pytest.raises(InputError, match="num_heads: folder 4 vs config 2"):
        loading.load_transformer_weights(build_transformer(TINY), tmp_path)


def test_published_official_config_matches_the_real_model(tmp_path):
    from flashmotion.configs import WAN22_TI2V_5B

    assert _official_root_config(WAN22_TI2V_5B) == OFFICIAL_ROOT_CONFIG
    with torch.device("meta"):
        model = build_transformer(WAN22_TI2V_5B)
    (tmp_path / "config.json").write_text(json.dumps(OFFICIAL_ROOT_CONFIG))
    loading.check_official_config(model, tmp_path / "config.json")  # raises on any disagreement


def test_missing_and_misshaped_keys_are_listed(tmp_path, tiny_dit):
    state = _official_dit(tiny_dit)
    del state["blocks.1.self_attn.q.weight"]
    state["blocks.0.ffn.0.bias"] = torch.zeros(5)
    state["blocks.0.extra.weight"] = torch.zeros(2, 2)
    save_file(state, str(tmp_path / "dit.safetensors"))
    with pytest.raises(InputError) as err:
        loading.load_transformer_weights(build_transformer(TINY), tmp_path / "dit.safetensors")
    msg = str(err.value)
    assert "missing keys (1): blocks.1.attn1.to_q.weight (24, 24)" in msg
    assert "blocks.0.ffn.net.0.proj.bias: file (5,) vs model (32,)" in msg
    assert "unexpected keys (1): blocks.0.extra.weight (2, 2)" in msg


def test_fewstep_generator_checkpoint(tmp_path, tiny_dit):
    state = {f"model.{k}": v for k, v in _official_dit(tiny_dit).items()}
    torch.save({"generator_ema": state, "generator": {k: torch.zeros_like(v) for k, v in state.items()}}, tmp_path / "generator.pt")
    model = loading.load_fewstep_generator(build_transformer(TINY).eval(), tmp_path / "generator.pt")
    assert torch.equal(_dit_out(model), _dit_out(tiny_dit))
    torch.save({"blocks.0.modulation": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(InputError, match="start with 'model.'"):
        loading.load_fewstep_generator(build_transformer(TINY), tmp_path / "bad.pt")


def test_official_vae_and_umt5_load_identically(tmp_path):
    torch.manual_seed(3)
    vae = build_vae(TINY).eval()
    n = TINY.vae.num_res_blocks
    official_vae = {keymaps.vae_ours_to_official(k, n): v for k, v in vae.state_dict().items()}
    assert "encoder.downsamples.1.downsamples.0.residual.2.weight" in official_vae
    assert "encoder.downsamples.1.downsamples.1.time_conv.weight" in official_vae  # resample after n blocks
    assert "decoder.upsamples.1.upsamples.2.time_conv.weight" in official_vae  # decoder: after n + 1 blocks
    assert "encoder.middle.1.to_qkv.weight" in official_vae and "conv1.weight" in official_vae
    torch.save(official_vae, tmp_path / "Wan2.2_VAE.pth")
    loaded = loading.load_vae_weights(build_vae(TINY).eval(), tmp_path / "Wan2.2_VAE.pth")
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.encode(x).latent_dist.mode(), vae.encode(x).latent_dist.mode())

    text = build_text_model(TINY).eval()
    official_t5 = {keymaps.umt5_ours_to_official(k): v for k, v in text.state_dict().items() if k != "encoder.embed_tokens.weight"}
    assert {"token_embedding.weight", "norm.weight", "blocks.1.ffn.gate.0.weight", "blocks.0.pos_embedding.embedding.weight"} <= set(official_t5)
    torch.save(official_t5, tmp_path / "umt5.pth")
    t5 = loading.load_umt5_weights(build_text_model(TINY).eval(), tmp_path / "umt5.pth")
    ids = torch.tensor([[5, 9, 30, 1, 0]])
    with torch.no_grad():
        assert torch.equal(t5(input_ids=ids).last_hidden_state, text(input_ids=ids).last_hidden_state)


def test_load_wan_folder_official_and_diffusers_layouts(tmp_path, tiny_dit):
    torch.manual_seed(4)
    vae, text = build_vae(TINY).eval(), build_text_model(TINY).eval()
    official = tmp_path / "official"
    official.mkdir()
    save_file(_official_dit(tiny_dit), str(official / "diffusion_pytorch_model-00001-of-00001.safetensors"))
    torch.save({keymaps.vae_ours_to_official(k, 1): v for k, v in vae.state_dict().items()}, official / "Wan2.2_VAE.pth")
    torch.save({keymaps.umt5_ours_to_official(k): v for k, v in text.state_dict().items() if "embed_tokens" not in k},
               official / "models_t5_umt5-xxl-enc-bf16.pth")
    (official / "google" / "umt5-xxl").mkdir(parents=True)
    (official / "config.json").write_text(json.dumps(_official_root_config(TINY)))  # as the real folder has
    dit, _, _, _ = load_wan(TINY, official)
    assert torch.equal(_dit_out(dit), _dit_out(tiny_dit))

    diff = tmp_path / "diffusers"
    tiny_dit.save_pretrained(diff / "transformer")
    vae.save_pretrained(diff / "vae")
    text.save_pretrained(diff / "text_encoder")
    from transformers import ByT5Tokenizer

    ByT5Tokenizer().save_pretrained(diff / "tokenizer")
    (diff / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    dit2, vae2, _, tok = load_wan(TINY, diff)
    assert torch.equal(_dit_out(dit2), _dit_out(tiny_dit))
    assert tok("ab").input_ids[:2] == [100, 101]


def test_own_checkpoint_roundtrip(tmp_path, tiny_dit):
    torch.manual_seed(5)
    adapter = build_adapter("resnet", TINY)
    torch.nn.init.normal_(adapter.proj[0].weight)
    vae, text = build_vae(TINY), build_text_model(TINY)
    loading.save_checkpoint(tmp_path / "ck", {"transformer": tiny_dit, "adapter": adapter, "vae": vae, "text_encoder": text},
                            {"config": "tiny", "adapter": "resnet", "reference": True, "notes": "test"})
    doc = json.loads((tmp_path / "ck" / "flashmotion.json").read_text())
    assert set(doc["components"]) == {"transformer", "adapter", "vae", "text_encoder"}
    comps = checkpoint_components(tmp_path / "ck", "resnet")
    assert torch.equal(comps.adapter.proj[0].weight, adapter.proj[0].weight)
    assert torch.equal(_dit_out(comps.transformer), _dit_out(tiny_dit))
    assert comps.reference and comps.sha256
    with pytest.raises(InputError, match="not a controlnet adapter"):
        checkpoint_components(tmp_path / "ck", "controlnet")
    # A corrupted component: a missing adapter key is named.
    from safetensors.torch import load_file

    st = load_file(str(tmp_path / "ck" / "adapter.safetensors"))
    del st["proj.1.bias"]
    save_file(st, str(tmp_path / "ck" / "adapter.safetensors"))
    with pytest.raises(InputError, match=r"missing keys \(1\): proj.1.bias \(24,\)"):
        checkpoint_components(tmp_path / "ck", "resnet")


def test_dit_mapping_agrees_with_diffusers_converter_key_by_key():
    """Our official -> diffusers DiT renames equal diffusers' own Wan converter, for every key of
    the real and the tiny config (Wan2.2 head modulation, norms and time projection included)."""
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    from flashmotion.configs import WAN22_TI2V_5B

    for cfg in (TINY, WAN22_TI2V_5B):
        with torch.device("meta"):
            ours = list(build_transformer(cfg).state_dict())
        official = [keymaps.dit_ours_to_official(k) for k in ours]
        assert len(set(official)) == len(ours)
        theirs = list(convert_wan_transformer_to_diffusers({k: i for i, k in enumerate(official)}).items())
        # Same keys, each official key renamed to the same name (values carry the official index).
        assert {k: official[i] for k, i in theirs} == {keymaps.dit_official_to_ours(o): o for o in official}
        assert {k for k, _ in theirs} == set(ours)
    for name in ("head.modulation", "blocks.29.modulation", "blocks.0.norm3.weight", "time_projection.1.weight"):
        assert name in official


def test_real_vae_and_umt5_official_names():
    """The real Wan2.2 VAE / UMT5 key sets map one-to-one, with the official layout's resamplers:
    after the 2 residual blocks of encoder stages 0-2 (temporal in stages 1, 2) and after the 3
    residual blocks of decoder stages 0-2 (temporal in stages 0, 1)."""
    from flashmotion.configs import WAN22_TI2V_5B

    with torch.device("meta"):
        vae, t5 = build_vae(WAN22_TI2V_5B), build_text_model(WAN22_TI2V_5B)
    ours = set(vae.state_dict())
    official = {keymaps.vae_ours_to_official(k, 2) for k in ours}
    assert len(official) == len(ours) and {keymaps.vae_official_to_ours(k, 2) for k in official} == ours
    resamplers = {k.rsplit(".", 1)[0] for k in official if ".resample." in k or ".time_conv." in k}
    assert resamplers == {
        *(f"encoder.downsamples.{i}.downsamples.2.resample.1" for i in (0, 1, 2)),
        *(f"encoder.downsamples.{i}.downsamples.2.time_conv" for i in (1, 2)),
        *(f"decoder.upsamples.{i}.upsamples.3.resample.1" for i in (0, 1, 2)),
        *(f"decoder.upsamples.{i}.upsamples.3.time_conv" for i in (0, 1)),
    }
    assert {"encoder.head.2.weight", "decoder.middle.2.residual.6.weight", "conv2.weight",
            "encoder.downsamples.1.downsamples.0.shortcut.weight"} <= official
    t5_ours = {k for k in t5.state_dict() if k != "encoder.embed_tokens.weight"}
    t5_official = {keymaps.umt5_ours_to_official(k) for k in t5_ours}
    assert len(t5_official) == len(t5_ours) and {keymaps.umt5_official_to_ours(k) for k in t5_official} == t5_ours
    assert all(not k.startswith(("encoder.", "shared.")) for k in t5_official)
    assert "blocks.23.pos_embedding.embedding.weight" in t5_official


def test_component_files_stay_inside_the_checkpoint_or_its_blob_store(tmp_path, tiny_dit):
    """Assembled folders point into ``../_blobs``; any other path out of the folder is refused."""
    loading.save_checkpoint(tmp_path / "ck", {"transformer": tiny_dit}, {"config": "tiny", "adapter": None})
    meta = json.loads((tmp_path / "ck" / "flashmotion.json").read_text())
    (tmp_path / "_blobs").mkdir()
    (tmp_path / "ck" / "transformer.safetensors").rename(tmp_path / "_blobs" / "t.safetensors")
    for bad in ("../../etc/passwd", "/etc/passwd", "../other/t.safetensors"):
        meta["components"]["transformer"]["file"] = bad
        (tmp_path / "ck" / "flashmotion.json").write_text(json.dumps(meta))
        with pytest.raises(InputError, match="outside the checkpoint"):
            loading.load_checkpoint_component(tmp_path / "ck", "transformer", tiny_dit)
    meta["components"]["transformer"]["file"] = "../_blobs/t.safetensors"
    (tmp_path / "ck" / "flashmotion.json").write_text(json.dumps(meta))
    loading.load_checkpoint_component(tmp_path / "ck", "transformer", tiny_dit)
    (tmp_path / "_blobs" / "t.safetensors").unlink()
    with pytest.raises(InputError, match="is missing"):
        loading.load_checkpoint_component(tmp_path / "ck", "transformer", tiny_dit)


def test_a_base_generator_checkpoint_loads_without_an_adapter(tmp_path, tiny_dit):
    """A stage-0 output (no adapter) is the generator alone: no adapter, no trajectory control."""
    from flashmotion.generators import load

    vae, text = build_vae(TINY), build_text_model(TINY)
    loading.save_checkpoint(tmp_path / "base", {"transformer": tiny_dit, "vae": vae, "text_encoder": text},
                            {"config": "tiny", "adapter": None, "reference": True, "notes": "base"})
    comps = checkpoint_components(tmp_path / "base", "controlnet", "slow")
    assert comps.adapter is None
    assert torch.equal(_dit_out(comps.transformer), _dit_out(tiny_dit))
    gen = load("wan-controlnet-50step", checkpoint=str(tmp_path / "base"), steps=2)
    assert gen.info.extra["adapter"] == "none" and gen.info.extra["adapter_stage"] == "none"
    assert gen.info.parameters == sum(p.numel() for p in tiny_dit.parameters())
    # A folder with neither an adapter nor a whole generator is refused in one line.
    loading.save_checkpoint(tmp_path / "bare", {"transformer": tiny_dit}, {"config": "tiny", "adapter": None})
    with pytest.raises(InputError, match="no adapter component and is not a whole base generator"):
        checkpoint_components(tmp_path / "bare", "controlnet")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_an_install_stored_in_half_precision_loads_as_float32(tmp_path, tiny_dit, dtype):
    """``--install-dtype``: blobs hold the weights in half precision, each entry names the dtype and
    the trained file's hash, and the generator loads them into float32 modules, equal to the
    trained weights rounded to that dtype (so half the bytes on disk, same arithmetic)."""
    from safetensors.torch import load_file

    from flashmotion.generators import load
    from flashmotion.training.recipe import assemble_aliases

    vae, text = build_vae(TINY), build_text_model(TINY)
    loading.save_checkpoint(tmp_path / "run" / "final", {"transformer": tiny_dit, "vae": vae, "text_encoder": text},
                            {"config": "tiny", "adapter": None, "reference": True, "notes": "base"})
    trained = loading.read_checkpoint_meta(tmp_path / "run" / "final")["components"]
    assemble_aliases({"run": tmp_path / "run" / "final"}, tmp_path / "install", {"base": ("run", None)}, storage_dtype=dtype)
    meta = loading.read_checkpoint_meta(tmp_path / "install" / "base")
    for name, entry in meta["components"].items():
        assert entry["stored_as"] == dtype and entry["trained_sha256"] == trained[name]["sha256"] != entry["sha256"]
        stored = load_file(str(loading.component_path(tmp_path / "install" / "base", entry)))
        assert {v.dtype for v in stored.values() if v.is_floating_point()} == {getattr(torch, dtype)}
    assert len(list((tmp_path / "install" / "_blobs").glob("*.safetensors"))) == 3

    comps = checkpoint_components(tmp_path / "install" / "base", "controlnet", "slow")
    loaded = dict(comps.transformer.named_parameters())
    for k, p in tiny_dit.named_parameters():
        assert loaded[k].dtype == torch.float32
        assert torch.equal(loaded[k], p.detach().to(getattr(torch, dtype)).float()), k
    gen = load("wan-controlnet-50step", checkpoint=str(tmp_path / "install" / "base"), steps=2)
    assert all(p.dtype == torch.float32 for p in gen.pipeline.model.parameters())
    with pytest.raises(InputError, match="install dtype 'int8'"):
        assemble_aliases({"run": tmp_path / "run" / "final"}, tmp_path / "x", {"base": ("run", None)}, storage_dtype="int8")
