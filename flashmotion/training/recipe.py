"""Recipes: chains of stage runs. ``tiny-reference`` trains stage 0-3 for both adapters and
assembles the registered generators' checkpoint folders from the stage outputs;
``tiny-baselines`` continues from those runs (skipped when finished) with every baseline of
the ``baselines`` package and every stage-3 ablation, and adds the baseline aliases;
``tiny-ablations`` trains the stage-3 ablations alone, from the installed reference set (the
package ships the baselines but not the ablations, to stay inside its size budget);
``tiny-quick`` is the chain of the set shipped today (width 64, 48 scenes, short stages), about
half an hour on two cores; its adapters barely steer (docs/training.md).

Each run's config is a packaged YAML file; the recipe fills in the keys that name other runs
(``parent``, ``generator``, ``adapter_init``, ``vae.init``, ``vae.checkpoint``) with those runs'
outputs under the recipe folder. Every stage resumes, so rerunning the recipe after an
interruption continues where it stopped, and finished runs are skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import NamedTuple

import torch

from flashbench.distributed import DistContext
from flashbench.errors import InputError

from .config import load_config
from .stages import RUNNERS


class RecipeRun(NamedTuple):
    name: str
    config: str  # a packaged config
    links: tuple[tuple[str, str], ...] = ()  # (config key, earlier run whose final/ it names)

    def link(self, key: str) -> str | None:
        return dict(self.links).get(key)


def _run(name: str, config: str, **links: str) -> RecipeRun:
    return RecipeRun(name, config, tuple((k.replace("__", "."), v) for k, v in links.items()))


# The width-192 reference set, the one shipped (docs/training.md). The VAE is trained,
# then fine-tuned twice on still clips (9, then 33 frames) so that its latents do not drift over a
# video; the width-192 generator learns 512 scenes on it. The ControlNet's stage 1 ran as five
# runs (4000 mask steps; then 2000, 3000, 4000 and 4000 box steps), each measured before the next
# was chosen; the ResNet ran 4000 mask + 5000 box steps in one.
TINY_REFERENCE = (
    _run("stage0-vae", "tiny-stage0-vae"),
    _run("stage0-vae-still9", "tiny-stage0-vae-still9", vae__init="stage0-vae"),
    _run("stage0-vae-still33", "tiny-stage0-vae-still33", vae__init="stage0-vae-still9"),
    _run("stage0", "tiny-stage0", vae__checkpoint="stage0-vae-still33"),
    _run("stage1-controlnet-masks", "tiny-stage1-controlnet-masks", parent="stage0"),
    _run("stage1-controlnet-boxes", "tiny-stage1-controlnet-boxes", parent="stage0", adapter_init="stage1-controlnet-masks"),
    _run("stage1-controlnet-boxes-5000", "tiny-stage1-controlnet-boxes-3000", parent="stage0",
         adapter_init="stage1-controlnet-boxes"),
    _run("stage1-controlnet-boxes-9000", "tiny-stage1-controlnet", parent="stage0", adapter_init="stage1-controlnet-boxes-5000"),
    _run("stage1-controlnet", "tiny-stage1-controlnet", parent="stage0", adapter_init="stage1-controlnet-boxes-9000"),
    _run("stage1-resnet", "tiny-stage1-resnet", parent="stage0"),
    _run("stage2", "tiny-stage2", parent="stage0"),
    _run("stage3-controlnet", "tiny-stage3-controlnet", parent="stage1-controlnet", generator="stage2"),
    _run("stage3-resnet", "tiny-stage3-resnet", parent="stage1-resnet", generator="stage2"),
)

# The chain of the first set (width 64, 48 scenes, short stages; shipped before the width-192 one), about
# 34 minutes on two cores; its adapters barely steer.
TINY_QUICK = (
    _run("stage0", "tiny-quick-stage0"),
    _run("stage1-controlnet", "tiny-quick-stage1-controlnet", parent="stage0"),
    _run("stage1-resnet", "tiny-quick-stage1-resnet", parent="stage0"),
    _run("stage2", "tiny-quick-stage2", parent="stage0"),
    _run("stage3-controlnet", "tiny-quick-stage3-controlnet", parent="stage1-controlnet", generator="stage2"),
    _run("stage3-resnet", "tiny-quick-stage3-resnet", parent="stage1-resnet", generator="stage2"),
)

# registered alias -> (run whose output it is, run whose transformer replaces the output's)
TINY_ALIASES = {
    "flashmotion-controlnet": ("stage3-controlnet", None),
    "flashmotion-resnet": ("stage3-resnet", None),
    "wan-controlnet-50step": ("stage1-controlnet", None),
    "wan-resnet-50step": ("stage1-resnet", None),
    "flashmotion-controlnet-slowadapter": ("stage1-controlnet", "stage2"),
    "flashmotion-resnet-slowadapter": ("stage1-resnet", "stage2"),
}

# every baseline (stage: baseline, the baselines package) and ablation (stage 3 switches), from
# the reference runs: teacher = stage 1 output, FastGenerator = stage 2 output
TINY_BASELINE_RUNS = tuple(
    _run(f"baseline-{m}-{a}", f"tiny-baseline-{m}-{a}", parent=f"stage1-{a}", generator="stage2")
    for m in ("dmd", "gan", "lcm") for a in ("resnet", "controlnet")
) + tuple(
    _run(f"ablation-{a}-{x}", f"tiny-ablation-{a}-{x}", parent=f"stage1-{a}", generator="stage2")
    for a in ("resnet", "controlnet")
    for x in ("no-diffusion", "no-gan", "fixed-scale", "heads-vc", "heads-ss-vc", "heads-tc-vc")
)
TINY_BASELINES = TINY_REFERENCE + TINY_BASELINE_RUNS
TINY_ABLATIONS = tuple(r for r in TINY_BASELINE_RUNS if r.name.startswith("ablation-"))
BASELINE_ALIASES = {f"{m}-{a}": (f"baseline-{m}-{a}", None) for m in ("dmd", "gan", "lcm") for a in ("resnet", "controlnet")}
# ablations are not registered generators: `flashbench reproduce tiny` loads each folder through
# --model-arg checkpoint=... (flashmotion.generators.reference_checkpoint finds it)
ABLATION_ALIASES = {r.name: (r.name, None) for r in TINY_BASELINE_RUNS if r.name.startswith("ablation-")}

RECIPES = {"tiny-reference": TINY_REFERENCE, "tiny-baselines": TINY_BASELINES, "tiny-ablations": TINY_ABLATIONS,
           "tiny-quick": TINY_QUICK}
RECIPE_ALIASES = {"tiny-reference": TINY_ALIASES, "tiny-baselines": {**TINY_ALIASES, **BASELINE_ALIASES, **ABLATION_ALIASES},
                  "tiny-ablations": ABLATION_ALIASES, "tiny-quick": TINY_ALIASES}
# runs a recipe takes from the installed reference set instead of training them: run -> alias
# whose folder holds that run's output (the stage-1 aliases are stage 1's output as written; the
# slow-adapter alias carries stage 2's transformer, all a stage-3 run reads from its generator)
STAGE1_ALIAS = "wan-{adapter}-50step"  # stage 1's output as written
STAGE2_ALIAS = "flashmotion-controlnet-slowadapter"  # holds stage 2's transformer (and a stage-1 adapter)
INSTALLED_SOURCES = {"tiny-ablations": {"stage1-resnet": STAGE1_ALIAS.format(adapter="resnet"),
                                        "stage1-controlnet": STAGE1_ALIAS.format(adapter="controlnet"),
                                        "stage2": STAGE2_ALIAS}}


def installed_sources(name: str) -> dict[str, Path]:
    """The installed folders a recipe starts from (the user's checkpoint cache, else the package)."""
    from ..generators import reference_checkpoint

    out = {}
    for run, alias in INSTALLED_SOURCES.get(name, {}).items():
        folder = reference_checkpoint(alias)
        if folder is None:
            raise InputError(f"recipe {name}: no installed {alias} checkpoint to start from; "
                             f"`flashbench train recipe tiny-reference` writes it")
        out[run] = folder
    return out


def _runner(stage: str):
    if stage == "baseline":  # the baselines package builds on the stage runners: imported late
        from baselines.train import train_baseline

        return train_baseline
    return RUNNERS[stage]


def run_recipe(name: str, out: Path, ctx: DistContext, progress: bool = True, overrides: dict | None = None,
               install: Path | None = None, install_dtype: str = "float32", only: set[str] | None = None) -> dict[str, Path]:
    """Train the recipe's runs in order (finished ones skipped, interrupted ones resumed), then
    assemble its aliases into ``install``. ``only``: just these runs (their links must be
    finished runs or installed sources) and the aliases made from them."""
    if name not in RECIPES:
        raise InputError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    out = Path(out)
    done: dict[str, Path] = installed_sources(name)
    runs = RECIPES[name]
    if only is not None:
        unknown = sorted(set(only) - {r.name for r in runs})
        if unknown:
            raise InputError(f"recipe {name}: no run {unknown[0]!r}; its runs: {', '.join(r.name for r in runs)}")
        runs = tuple(r for r in runs if r.name in only)
        for run in runs:
            for key, source in run.links:
                if source not in done and not (out / source / "final" / "flashmotion.json").is_file() and source not in only:
                    raise InputError(f"recipe {name}: run {run.name} needs {source} ({key}), which is neither selected nor finished")
        for source in {s for r in runs for _, s in r.links} - set(done) - set(only):
            done[source] = out / source / "final"
    for run in runs:
        final = out / run.name / "final"
        if (final / "flashmotion.json").is_file():
            stale = stale_links(run, final, done)
            if stale:
                raise InputError(f"{final}: finished from another {' and '.join(stale)} than this recipe's; "
                                 f"move it away to retrain it, or pass another --out")
            done[run.name] = final
            continue
        ov = dict(overrides or {})
        ov.update({key: str(done[source]) for key, source in run.links})
        cfg = load_config(run.config, ov)
        resume = (out / run.name).exists()
        _runner(cfg.stage)(cfg, out / run.name, ctx, resume=resume, progress=progress)
        done[run.name] = final
    if install is not None and ctx.is_main:
        aliases = {a: v for a, v in RECIPE_ALIASES[name].items() if v[0] in done and (v[1] is None or v[1] in done)}
        assemble_aliases(done, install, aliases, storage_dtype=install_dtype)
    return done


# link key -> (the provenance's parents key, what it records of the linked folder: the hash of
# the whole checkpoint, or one component's SHA-256)
_RECORDED = {"parent": ("parent", None), "generator": ("generator", None), "adapter_init": ("adapter_init", "adapter"),
             "vae.checkpoint": ("vae", "vae"), "vae.init": ("vae_init", "vae")}


def stale_links(run: RecipeRun, final: Path, done: dict[str, Path]) -> list[str]:
    """The links of a finished run whose recorded parent is not the folder the recipe would give
    it now: a recipe folder reused after an upstream run or the installed reference set changed."""
    from .. import loading
    from .components import checkpoint_hash

    if not run.links:
        return []
    recorded = loading.read_checkpoint_meta(final).get("provenance", {}).get("parents", {})
    stale = []
    for key, source in run.links:
        field, component = _RECORDED.get(key, (None, None))
        if field not in recorded:
            continue
        meta = loading.read_checkpoint_meta(done[source])
        now = checkpoint_hash(meta) if component is None else meta["components"][component]["sha256"]
        if recorded[field] != now:
            stale.append(key)
    return stale


BLOBS = "_blobs"  # component files shared by the assembled checkpoint folders, named by SHA-256
STORAGE_DTYPES = ("float32", "float16", "bfloat16")


def _stored_copy(src: Path, dst: Path, dtype: str) -> None:
    """``src`` written to ``dst`` (atomically) with its floating-point tensors in ``dtype``."""
    from safetensors.torch import save_file

    from flashbench.utils.atomic import atomic_path

    from .. import loading

    if dtype == "float32":
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
        return
    target = getattr(torch, dtype)
    state = {k: v.to(target) if v.is_floating_point() else v for k, v in loading.read_state_dict(src).items()}
    with atomic_path(dst) as tmp:
        save_file(state, str(tmp))


def assemble_aliases(done: dict[str, Path], dest: Path, aliases: dict | None = None, storage_dtype: str = "float32") -> None:
    """One checkpoint folder per registered alias (the generators load ``dest/<alias>``).

    Aliases share most components (one VAE and text encoder for all; one FastGenerator for
    every few-step model), so each folder holds only its ``flashmotion.json``, whose component
    entries point into ``dest/_blobs/<sha256>.safetensors``: every distinct file is stored once.
    Blobs no folder refers to any more are removed. ``storage_dtype`` other than float32 stores
    the floating-point weights in that dtype (they load back into float32 models as float32);
    each entry then records it and the SHA-256 of the file as trained (``trained_sha256``).
    """
    from flashbench.utils.atomic import atomic_write_json, sha256_file

    from .. import loading

    if storage_dtype not in STORAGE_DTYPES:
        raise InputError(f"install dtype {storage_dtype!r}: expected one of {', '.join(STORAGE_DTYPES)}")
    dest = Path(dest)
    blobs = dest / BLOBS
    blobs.mkdir(parents=True, exist_ok=True)
    converted: dict[str, str] = {}  # trained SHA-256 -> stored SHA-256
    for alias, (run, transformer_from) in (TINY_ALIASES if aliases is None else aliases).items():
        meta = loading.read_checkpoint_meta(done[run])
        sources = {name: done[run] for name in meta["components"]}
        if transformer_from is not None:
            sources["transformer"] = done[transformer_from]
            meta["components"]["transformer"] = loading.read_checkpoint_meta(done[transformer_from])["components"]["transformer"]
            meta["notes"] = f"tiny reference SlowAdapter on the FastGenerator (adapter from {run}, generator from {transformer_from})"
            meta["provenance"]["parents"]["generator"] = str(transformer_from)
        for name, entry in meta["components"].items():
            if storage_dtype == "float32":
                blob = blobs / f"{entry['sha256']}.safetensors"
                if not blob.is_file():
                    _stored_copy(loading.component_path(sources[name], entry), blob, storage_dtype)
                meta["components"][name] = {**entry, "file": f"../{BLOBS}/{blob.name}"}
                continue
            digest = converted.get(entry["sha256"])
            if digest is None:  # each distinct file converted once
                staged = blobs / f".{entry['sha256']}.{storage_dtype}.staged"
                _stored_copy(loading.component_path(sources[name], entry), staged, storage_dtype)
                digest = converted[entry["sha256"]] = sha256_file(staged)
                staged.replace(blobs / f"{digest}.safetensors")
            blob = blobs / f"{digest}.safetensors"
            trained = entry.get("trained_sha256", entry["sha256"])
            meta["components"][name] = {**entry, "file": f"../{BLOBS}/{blob.name}", "sha256": digest,
                                        "stored_as": storage_dtype, "trained_sha256": trained}
        target = dest / alias
        target.mkdir(parents=True, exist_ok=True)
        for stale in target.glob("*.safetensors"):  # a folder assembled by an older layout
            stale.unlink()
        atomic_write_json(target / loading.META_FILE, meta)
    _collect_blobs(dest)


def _collect_blobs(dest: Path) -> None:
    from .. import loading

    used = set()
    for meta_path in dest.glob(f"*/{loading.META_FILE}"):
        for entry in loading.read_checkpoint_meta(meta_path.parent)["components"].values():
            used.add(Path(entry["file"]).name)
    for blob in (dest / BLOBS).glob("*.safetensors"):
        if blob.name not in used:
            blob.unlink()
