"""A lazy registry of generators by alias.

An alias maps to a ``"module:attr"`` factory string; nothing is imported until a generator
is loaded, so listing is cheap and a model package's heavy imports stay out of the way.
Third-party packages register through the entry-point group ``flashbench.generators``
(``name = "package.module:factory"``). A factory takes keyword options and returns a
:class:`~flashbench.generators.base.Generator`. A factory that declares a ``benchmark``
parameter receives the benchmark directory being evaluated.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from ..errors import InputError
from .base import Generator

ENTRY_POINT_GROUP = "flashbench.generators"

BUILTIN: dict[str, str] = {
    "ground-truth": "flashbench.generators.builtin:GroundTruthGenerator",
    "static": "flashbench.generators.builtin:StaticGenerator",
    "copy-paste": "flashbench.generators.builtin:CopyPasteGenerator",
    "video-folder": "flashbench.generators.builtin:VideoFolderGenerator",
    "flashmotion-controlnet": "flashmotion.generators:flashmotion_controlnet",
    "flashmotion-resnet": "flashmotion.generators:flashmotion_resnet",
    "wan-controlnet-50step": "flashmotion.generators:wan_controlnet_50step",
    "wan-resnet-50step": "flashmotion.generators:wan_resnet_50step",
    "flashmotion-controlnet-slowadapter": "flashmotion.generators:flashmotion_controlnet_slowadapter",
    "flashmotion-resnet-slowadapter": "flashmotion.generators:flashmotion_resnet_slowadapter",
    "vae-roundtrip": "flashmotion.roundtrip:VAERoundTripGenerator",
    "dmd-resnet": "baselines.generators:dmd_resnet",
    "dmd-controlnet": "baselines.generators:dmd_controlnet",
    "gan-resnet": "baselines.generators:gan_resnet",
    "gan-controlnet": "baselines.generators:gan_controlnet",
    "lcm-resnet": "baselines.generators:lcm_resnet",
    "lcm-controlnet": "baselines.generators:lcm_controlnet",
}


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "module:attr"
    origin: str  # "builtin" or the distribution that declared the entry point


def available() -> dict[str, Entry]:
    """All known aliases: built-ins, then entry points (an entry point cannot shadow a built-in)."""
    entries = {name: Entry(name, target, "builtin") for name, target in BUILTIN.items()}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in entries:
            continue
        dist = getattr(ep, "dist", None)
        entries[ep.name] = Entry(ep.name, ep.value, dist.name if dist else "entry point")
    return entries


def resolve(target: str) -> Callable[..., Generator]:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise InputError(f"generator target {target!r} must look like 'package.module:factory'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InputError(f"cannot import generator module {module_name!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InputError(f"module {module_name!r} has no attribute {attr!r}") from None


def load_generator(name: str, /, *, benchmark: str | None = None, **options: Any) -> Generator:
    """Instantiate the generator registered as ``name`` (or given as ``module:attr``)."""
    target, factory, params = check_generator(name, options)
    if "benchmark" in params:
        options["benchmark"] = benchmark
    generator = factory(**options)
    if not isinstance(generator, Generator):
        raise InputError(f"{target} did not return a generator (needs an `info` attribute and a `generate` method)")
    return generator


def check_generator(name: str, options: dict[str, Any]) -> tuple[str, Callable[..., Generator], Any]:
    """The target, factory and factory parameters of ``name``; refuses unknown names and options
    before any work starts (nothing is built or loaded)."""
    entries = available()
    if name in entries:
        target = entries[name].target
    elif ":" in name:
        target = name
    else:
        known = ", ".join(sorted(entries))
        raise InputError(f"unknown generator {name!r}; known: {known} (or pass 'package.module:factory')")
    factory = resolve(target)
    params = inspect.signature(factory).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            takes = ", ".join(p for p in params if p != "benchmark") or "none"
            raise InputError(f"generator {name!r} has no option(s) {unknown} (--model-arg); its options: {takes}")
    return target, factory, params
