"""Registered baseline generators: ``dmd-*``, ``gan-*`` and ``lcm-*`` for both adapters.

Each is the few-step FlashMotion sampler (FastGenerator, 4 steps, no CFG: NFE 4) with the
adapter a baseline trainer distilled from the SlowAdapter; its teacher is the SlowAdapter on
the SlowGenerator (``wan-<adapter>-50step``). Options are those of
:func:`flashmotion.generators.load`. Without ``checkpoint`` or ``init=random`` the factory
loads the tiny baseline checkpoint ``<checkpoint cache>/<alias>/`` (written by ``flashbench train
recipe tiny-baselines``) or the one shipped in the package; there are no official weights.
"""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import Any

from flashbench.errors import InputError, MissingWeightsError
from flashbench.generators.base import GeneratorInfo

from . import ADAPTERS, METHODS

METHOD_NAMES = {"dmd": "DMD (distribution matching)", "gan": "GAN (APT-style adversarial)",
                "lcm": "LCM (latent consistency)"}


def teacher_of(kind: str) -> str:
    return f"wan-{kind}-50step"


def _declare(info: GeneratorInfo, alias: str, method: str, kind: str) -> GeneratorInfo:
    extra = {**info.extra, "baseline": method, "teacher": teacher_of(kind), "adapter_stage": f"{method}-distilled"}
    return replace(info, name=alias, extra=extra)


def load_baseline(method: str, kind: str, **options: Any):
    from flashmotion.generators import load, reference_checkpoint

    alias = f"{method}-{kind}"
    if options.get("checkpoint") is None and options.get("init") in (None, "checkpoint"):
        if options.get("config") not in (None, "tiny", "tiny-reference"):
            raise MissingWeightsError(f"{alias}: there are no official {options['config']} weights of this baseline; "
                                      "train one with `flashbench train baseline` and pass --model-arg checkpoint=DIR")
        ref = reference_checkpoint(alias)
        if ref is None:
            raise MissingWeightsError(f"no weights for {alias}: no tiny baseline checkpoint in the checkpoint cache or the "
                                      "package; `flashbench train recipe tiny-baselines` writes it (or pass --model-arg "
                                      "checkpoint=DIR, or init=random for a plumbing run)")
        options = {**options, "checkpoint": str(ref), "config": None}
    gen = load(f"flashmotion-{kind}", **options)  # FastGenerator + adapter, 4-step sampler
    gen.info = _declare(gen.info, alias, method, kind)
    return gen


def _factory(method: str, kind: str):
    alias = f"{method}-{kind}"

    def factory(**options: Any):
        from flashmotion.generators import load

        known = [p for p in inspect.signature(load).parameters if p != "alias"]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise InputError(f"{alias}: unknown option(s) {', '.join(unknown)}; known: {', '.join(known)}")
        return load_baseline(method, kind, **options)

    def describe(config: str = "wan2.2-ti2v-5b") -> GeneratorInfo:
        from flashmotion.generators import describe_variant

        return _declare(describe_variant(f"flashmotion-{kind}", config), alias, method, kind)

    factory.__name__ = alias.replace("-", "_")
    factory.__doc__ = f"The {METHOD_NAMES[method]} baseline with the {kind} adapter (teacher: {teacher_of(kind)})."
    factory.describe = describe  # type: ignore[attr-defined]
    return factory


ALIASES = tuple(f"{m}-{k}" for m in METHODS for k in ADAPTERS)

dmd_resnet = _factory("dmd", "resnet")
dmd_controlnet = _factory("dmd", "controlnet")
gan_resnet = _factory("gan", "resnet")
gan_controlnet = _factory("gan", "controlnet")
lcm_resnet = _factory("lcm", "resnet")
lcm_controlnet = _factory("lcm", "controlnet")
