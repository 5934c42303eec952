"""Weight loading: state-dict readers, strict loading with clear errors, format conversion.

All functions take explicit paths (the weights cache glue lives in :mod:`flashmotion.weights`).
Supported inputs:

* diffusers-format directories (``config.json`` + ``*.safetensors``), loaded with
  ``from_pretrained(..., local_files_only=True)``;
* the official Wan2.2 layout: a transformer directory of (sharded) safetensors with keys like
  ``blocks.0.self_attn.q.weight``, the VAE ``Wan2.2_VAE.pth`` and the UMT5 ``.pth``, mapped
  by :mod:`flashmotion.keymaps`;
* a few-step generator checkpoint ``generator.pt`` (keys prefixed ``model.``, official layout,
  optionally nested under ``generator_ema`` / ``generator``);
* plain state dicts (``.safetensors``, ``.pt``/``.pth``) in our own key names.

A missing, unexpected or mis-shaped key is an :class:`~flashbench.errors.InputError` listing
every offending name with its shape.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Mapping

import torch
from torch import Tensor, nn

from flashbench.errors import InputError

from . import keymaps

_LIST_LIMIT = 20


def _fmt(items: list[str]) -> str:
    more = f" ... and {len(items) - _LIST_LIMIT} more" if len(items) > _LIST_LIMIT else ""
    return ", ".join(items[:_LIST_LIMIT]) + more


def check_state_dict(module: nn.Module, state: Mapping[str, Tensor], what: str) -> None:
    """Raise :class:`InputError` naming missing, unexpected and mis-shaped keys."""
    expected = module.state_dict()
    missing = [f"{k} {tuple(v.shape)}" for k, v in expected.items() if k not in state]
    unexpected = [f"{k} {tuple(v.shape)}" for k, v in state.items() if k not in expected]
    shapes = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_fmt(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_fmt(unexpected)}")
        if shapes:
            parts.append(f"mis-shaped keys ({len(shapes)}): {_fmt(shapes)}")
        raise InputError(
            f"{what} does not match the model: " + "; ".join(parts)
            + ". Check that the file is the right component and the config (e.g. config=tiny|wan2.2-ti2v-5b) matches it."
        )


def load_strict(module: nn.Module, state: Mapping[str, Tensor], what: str) -> nn.Module:
    """Load ``state`` into ``module`` (all keys, right shapes). Values take the module's dtypes,
    whatever the file stores (a checkpoint kept in float16 loads into a float32 model as float32)."""
    check_state_dict(module, state, what)
    if _is_meta(module):  # assign would keep the file's dtype: convert to the module's first
        own = module.state_dict()
        state = {k: v.to(own[k].dtype) if v.is_floating_point() and own[k].is_floating_point() else v
                 for k, v in state.items()}
    module.load_state_dict(dict(state), strict=True, assign=_is_meta(module))
    return module


def _is_meta(module: nn.Module) -> bool:
    return any(p.is_meta for p in module.parameters())


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """A flat state dict from a ``.safetensors``/``.pt``/``.pth`` file or a folder of safetensors shards."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"weights not found: {path}")
    if path.is_dir():
        shards = sorted(path.glob("*.safetensors"))
        if not shards:
            raise InputError(f"no .safetensors files in {path}")
        out: dict[str, Tensor] = {}
        for shard in shards:
            out.update(read_state_dict(shard))
        return out
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    if path.suffix in (".pt", ".pth", ".bin"):
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) files cannot be memory-mapped
            try:
                obj = torch.load(str(path), map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 - name the file
                raise InputError(f"cannot read {path}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - name the file
            raise InputError(f"cannot read {path}: {exc}") from exc
        if not isinstance(obj, dict):
            raise InputError(f"{path} does not hold a state dict (got {type(obj).__name__})")
        return obj
    raise InputError(f"unknown weight file type {path.suffix!r}: {path} (expected .safetensors, .pt, .pth or a folder)")


def convert_keys(state: Mapping[str, Tensor], fn: Callable[[str], str]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for k, v in state.items():
        new = fn(k)
        if new in out:
            raise InputError(f"two keys map to {new!r} (second: {k!r}); the file is not in the expected layout")
        out[new] = v
    return out


# ---------------------------------------------------------------- transformer

def load_diffusers_model(model: nn.Module, folder: str | Path) -> nn.Module:
    """A diffusers component folder (``config.json`` + safetensors) into ``model``, built from our config.

    The folder's ``config.json`` must agree with the model's config on every field both have
    (a mismatch is named); the weights are loaded strictly. This needs no ``accelerate``.
    """
    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise InputError(f"{folder} is not a diffusers model folder (no config.json)")
    check_diffusers_config(model, folder / "config.json")
    return load_strict(model, read_state_dict(folder), f"diffusers weights {folder}")


def check_diffusers_config(model: nn.Module, cfg_path: Path) -> None:
    """Raise :class:`InputError` naming every field of ``cfg_path`` that disagrees with ``model.config``."""
    theirs = json.loads(cfg_path.read_text())
    ours = dict(model.config)
    diff = [f"{k}: folder {theirs[k]!r} vs config {ours[k]!r}" for k in ours
            if k in theirs and not k.startswith("_") and _norm(theirs[k]) != _norm(ours[k])]
    if diff:
        raise InputError(f"{cfg_path} does not match the model config: {_fmt(diff)}")


def _norm(v):
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, float):
        return round(v, 6)
    return v


def official_transformer_state(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Official Wan DiT keys -> our (diffusers) keys."""
    return convert_keys(state, keymaps.dit_official_to_ours)


# official Wan ``config.json`` field -> the same quantity in our (diffusers) config
_OFFICIAL_FIELDS: dict[str, Callable[[Mapping], object]] = {
    "dim": lambda c: c["num_attention_heads"] * c["attention_head_dim"],
    "num_heads": lambda c: c["num_attention_heads"],
    "ffn_dim": lambda c: c["ffn_dim"], "freq_dim": lambda c: c["freq_dim"], "num_layers": lambda c: c["num_layers"],
    "in_dim": lambda c: c["in_channels"], "out_dim": lambda c: c["out_channels"], "text_dim": lambda c: c["text_dim"],
    "eps": lambda c: c["eps"],
}


def check_official_config(model: nn.Module, cfg_path: Path) -> None:
    """The official folder's ``config.json`` against the model: a head count is invisible in the shapes."""
    theirs = json.loads(cfg_path.read_text())
    ours = dict(model.config)
    diff = [f"{k}: folder {theirs[k]!r} vs config {get(ours)!r}" for k, get in _OFFICIAL_FIELDS.items()
            if k in theirs and _norm(theirs[k]) != _norm(get(ours))]
    if diff:
        raise InputError(f"{cfg_path} does not match the model config: {_fmt(diff)}")


def load_transformer_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """A backbone from a diffusers folder, an official folder of shards, or one state-dict file.

    The layout is read from the key names: both folders carry a ``config.json`` with a
    ``_diffusers_version`` (the official one names ``_class_name: WanModel``), so only the keys
    tell them apart. A diffusers ``config.json`` is checked against the model's config.
    """
    path = Path(path)
    if path.is_dir() and (path / "transformer").is_dir():
        path = path / "transformer"
    state = read_state_dict(path)
    if keymaps.is_official_dit(state):
        if path.is_dir() and (path / "config.json").exists():
            check_official_config(model, path / "config.json")
        return load_strict(model, official_transformer_state(state), f"official transformer weights {path}")
    if path.is_dir() and (path / "config.json").exists():
        check_diffusers_config(model, path / "config.json")
    return load_strict(model, state, f"transformer weights {path}")


def load_fewstep_generator(model: nn.Module, path: str | Path, ema: bool = True) -> nn.Module:
    """A few-step generator checkpoint (``generator.pt``): keys ``model.<official key>``.

    The checkpoint may be a flat state dict or hold it under ``generator_ema`` (preferred when
    ``ema``) or ``generator``.
    """
    path = Path(path)
    obj = read_state_dict(path)
    for name in (("generator_ema", "generator") if ema else ("generator", "generator_ema")):
        if isinstance(obj.get(name), dict):
            obj = obj[name]
            break
    bad = [k for k in obj if not k.startswith("model.")]
    if bad:
        raise InputError(f"{path}: expected every key to start with 'model.'; found {_fmt(bad)}")
    state = {k[len("model."):]: v for k, v in obj.items()}
    if keymaps.is_official_dit(state):
        state = official_transformer_state(state)
    return load_strict(model, state, f"few-step generator {path}")


# ---------------------------------------------------------------- VAE and text encoder

def load_vae_weights(vae: nn.Module, path: str | Path) -> nn.Module:
    """``Wan2.2_VAE.pth`` (official) or a diffusers VAE folder / state dict."""
    path = Path(path)
    state = read_state_dict(path / "vae" if (path / "vae").is_dir() else path)
    if keymaps.is_official_vae(state):
        n = vae.config.num_res_blocks
        state = convert_keys(state, lambda k: keymaps.vae_official_to_ours(k, n))
    return load_strict(vae, state, f"VAE weights {path}")


def load_umt5_weights(model: nn.Module, path: str | Path) -> nn.Module:
    """The official UMT5 ``.pth`` (``blocks.i.attn.q.weight`` ...) or a transformers state dict."""
    path = Path(path)
    state = read_state_dict(path / "text_encoder" if (path / "text_encoder").is_dir() else path)
    if keymaps.is_official_umt5(state):
        state = convert_keys(state, keymaps.umt5_official_to_ours)
    if "shared.weight" in state and "encoder.embed_tokens.weight" not in state:
        state["encoder.embed_tokens.weight"] = state["shared.weight"]  # tied in UMT5
    return load_strict(model, state, f"text encoder weights {path}")


# ---------------------------------------------------------------- our checkpoints

CHECKPOINT_FORMAT = "flashmotion-checkpoint"
CHECKPOINT_VERSION = 1
META_FILE = "flashmotion.json"


def save_checkpoint(directory: str | Path, components: Mapping[str, nn.Module | Mapping[str, Tensor]], meta: Mapping) -> Path:
    """Write ``<component>.safetensors`` for each module and ``flashmotion.json`` (atomically).

    ``meta`` must be JSON-serialisable; it should name the config (``"config"``) and adapter
    kind (``"adapter"``). The JSON lists the component files with their SHA-256.
    """
    from safetensors.torch import save_file

    from flashbench.utils.atomic import atomic_path, atomic_write_json, sha256_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, module in components.items():
        target = directory / f"{name}.safetensors"
        items = module.items() if isinstance(module, Mapping) else module.state_dict().items()
        state = {k: v.detach().contiguous().cpu() for k, v in items}
        state = _untie(state)
        with atomic_path(target) as tmp:
            save_file(state, str(tmp))
        files[name] = {"file": target.name, "sha256": sha256_file(target)}
    doc = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **dict(meta), "components": files}
    atomic_write_json(directory / META_FILE, doc)
    return directory


def _untie(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """safetensors refuses shared storage: clone tensors that share memory with an earlier one."""
    seen: set[int] = set()
    out = {}
    for k, v in state.items():
        ptr = v.untyped_storage().data_ptr() if v.numel() else -1
        out[k] = v.clone() if ptr in seen else v
        seen.add(ptr)
    return out


def read_checkpoint_meta(directory: str | Path) -> dict:
    directory = Path(directory)
    meta_path = directory / META_FILE
    if not meta_path.exists():
        raise InputError(f"{directory} is not a FlashMotion checkpoint (no {META_FILE})")
    doc = json.loads(meta_path.read_text())
    if doc.get("format") != CHECKPOINT_FORMAT:
        raise InputError(f"{meta_path}: format {doc.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
    if int(doc.get("version", 0)) > CHECKPOINT_VERSION:
        raise InputError(f"{meta_path}: version {doc['version']} is newer than this code supports ({CHECKPOINT_VERSION})")
    return doc


def component_path(directory: str | Path, entry: Mapping) -> Path:
    """The file of one component entry: in the folder, or in the ``_blobs`` store beside it
    (assembled folders share their component files)."""
    directory = Path(directory)
    rel = Path(entry["file"])
    inside = rel.parts == (rel.name,) or (len(rel.parts) == 3 and rel.parts[:2] == ("..", "_blobs"))
    if rel.is_absolute() or not inside:
        raise InputError(f"{directory / META_FILE}: component file {entry['file']!r} is outside the checkpoint "
                         "(allowed: a file in the folder or ../_blobs/<name>)")
    path = directory / rel
    if not path.is_file():
        raise InputError(f"checkpoint {directory}: component file {path} is missing; re-copy the checkpoint folder "
                         f"(with its ../_blobs store when it has one)")
    return path


def load_checkpoint_component(directory: str | Path, name: str, module: nn.Module) -> nn.Module:
    directory = Path(directory)
    doc = read_checkpoint_meta(directory)
    entry = doc["components"].get(name)
    if entry is None:
        raise InputError(f"checkpoint {directory} has no component {name!r} (has: {', '.join(doc['components'])})")
    state = read_state_dict(component_path(directory, entry))
    if name == "text_encoder" and "shared.weight" in state and "encoder.embed_tokens.weight" not in state:
        state["encoder.embed_tokens.weight"] = state["shared.weight"]
    return load_strict(module, state, f"{name} of checkpoint {directory}")
