"""Stage configs: YAML files validated into frozen dataclasses (a typo'd key names the key).

One :class:`StageConfig` class serves every stage; fields a stage does not use are ignored by
it and listed in its docs. Configs live in ``flashmotion/training/configs/`` (tiny ones and the
real ``wan2.2-ti2v-5b`` ones with the paper's hyper-parameters); ``--config`` takes a path or
the name of a packaged config. A config may start with ``base: NAME`` (a packaged config or a file beside it)
and override its keys, section by section (the ablation and baseline configs do).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashbench.errors import InputError

CONFIG_DIR = Path(__file__).parent / "configs"
STAGES = ("stage0", "stage1", "stage2", "stage3", "baseline")  # baseline: the baselines package's trainers


@dataclass(frozen=True)
class DataConfig:
    source: str = "synth"  # "synth" (FlashBench-Synth train split) or a built benchmark directory (e.g. MagicData)
    videos: int = 64  # synth: number of training scenes
    num_frames: int = 33
    size: tuple[int, int] = (128, 224)
    min_objects: int = 1
    max_objects: int = 8
    seed: int = 0  # which training scenes (synth)
    map_style: str = "magicmotion"
    sparse_box_frames: int = 8
    workers: int = 0  # DataLoader worker processes


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    warmup: int = 0  # linear warm-up steps
    decay: str = "constant"  # after warm-up: constant, or cosine to zero at the last step


@dataclass(frozen=True)
class Phase:
    """A span of steps with one trajectory type (dense-to-sparse: masks, then boxes)."""

    trajectory: str
    steps: int


@dataclass(frozen=True)
class VAETrainConfig:
    """Stage 0's VAE phase (tiny only): random crops of short clips."""

    steps: int = 300
    batch_size: int = 4
    clip_frames: int = 5
    crop: tuple[int, int] = (64, 64)
    lr: float = 1e-3
    kl_weight: float = 1e-6
    warmup: int = 0
    decay: str = "constant"  # constant or cosine (as in optim)
    foreground_weight: float = 0.0  # extra loss weight of object pixels (1 + w on objects, 1 elsewhere)
    still_weight: float = 0.0  # weight of the still-clip latent consistency term (see stages.train_vae)
    still_frames: int | None = None  # length of the still clips (default clip_frames; the video length covers every latent frame)
    # batches cut from the videos' rendered trajectory maps (box or mask, even odds) instead of
    # the videos: the adapters read maps through this VAE, as they read them through
    # Wan's, so it must encode them too; a VAE that never saw a map keeps little of a box outline
    map_share: float = 0.0  # share of the steps whose batch is maps
    map_frames: int | None = None  # length of the map clips (default clip_frames; the video length teaches long maps)
    checkpoint: str | None = None  # a stage-0 output whose VAE is reused: the VAE phase is skipped
    init: str | None = None  # a stage-0 output whose VAE the VAE phase starts from (training continues)


@dataclass(frozen=True)
class DMDConfig:
    guidance_scale: float = 6.0  # real score CFG, cond + g (cond - uncond)
    generator_every: int = 5  # generator updated every 5th step, fake score every step
    fake_lr: float = 1e-7
    t_min: float = 20.0  # DMD timesteps clamped to [t_min, t_max] of 1000
    t_max: float = 980.0


@dataclass(frozen=True)
class GANConfig:
    heads: tuple[str, ...] = ("ss", "tc", "vc")  # Semantic Self-Attn, Trajectory Cross-Attn, Video Cross-Attn
    blocks: tuple[int, ...] = (-1,)  # backbone blocks read by the heads (negative: from the end)
    disc_lr: float = 2e-6
    adapter_every: int = 5  # adapter updated every 5th step, discriminator every step
    # Steps at the start in which only the discriminator trains. With the adapter stepping from
    # the first step, fresh heads were measured to stay at chance for a whole tiny run
    # (docs/training.md, "Why stage 3's discriminator stayed at chance").
    disc_warmup: int = 0
    diffusion_loss: bool = True
    gan_loss: bool = True
    lambda_schedule: str = "linear"  # linear (eq. 7), decreasing, fixed
    lambda_rate: float = 0.25e-3
    lambda_fixed: float = 1.0
    lambda_min: float = 0.0
    lambda_max: float | None = None
    t_min: float = 20.0
    t_max: float = 980.0
    # The shift of the discriminator's noise levels; None takes the stage's timestep_shift. A
    # shift made for large latents puts most draws where noise hides the difference between
    # real and generated latents of a small one.
    timestep_shift: float | None = None


@dataclass(frozen=True)
class BaselineConfig:
    """``stage: baseline`` only (the ``baselines`` package): which distillation method, and the
    knobs of the methods that the stage configs do not have. DMD reads ``dmd``, GAN ``gan``."""

    method: str | None = None  # dmd | gan | lcm
    r1_weight: float = 0.0  # gan: weight of APT's approximate R1 on real samples
    r1_sigma: float = 0.01  # gan: std of the perturbation of the approximate R1
    huber_c: float = 0.001  # lcm: pseudo-Huber constant c
    guidance_scale: float = 3.0  # lcm: the teacher's CFG in the ODE step
    target_ema: float = 0.0  # lcm: EMA decay of the target adapter (0: stop-grad of the current adapter)


@dataclass(frozen=True)
class StageConfig:
    stage: str
    model: str = "tiny"  # a flashmotion model config name (stage 0 builds it; later stages take their parent's)
    adapter: str | None = None  # controlnet | resnet (stages 1 and 3)
    parent: str | None = None  # checkpoint folder (or recipe-relative name) of the previous stage
    generator: str | None = None  # stage 3: the FastGenerator checkpoint (stage 2 output)
    seed: int = 0
    steps: int = 100
    batch_size: int = 4
    timestep_shift: float = 5.0  # flow-matching training timesteps: shift(u), u ~ U(0, 1)
    text_dropout: float = 0.1  # stage 0: share of prompts replaced by the negative prompt (for CFG)
    ema: float | None = None  # EMA decay of the trained weights (None: no EMA)
    ema_start: int = 0
    log_every: int = 10
    checkpoint_every: int = 50
    fsdp: bool = False  # FSDP2 (fully_shard) over transformer blocks (real configs)
    mixed_precision: str = "no"  # no | bf16
    gradient_checkpointing: bool = False
    # stage 1: what the adapter reads. "maps": the VAE latents of the trajectory maps (always, for a
    # real adapter); "video": the clip's own latent, a diagnostic upper bound of steering that tells
    # a map encoding too weak to read from an adapter that cannot learn (not a trajectory model)
    adapter_input: str = "maps"
    adapter_init: str | None = None  # stage 1: start the adapter from this stage-1 output's (same generator), e.g. a box phase after a mask run
    # stage 1, resnet: the adapter's width (channels of its conv stack); None keeps the model
    # config's. Recorded in the output's model config, so later stages and the generators build it so.
    resnet_channels: int | None = None
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    phases: tuple[Phase, ...] = ()
    vae: VAETrainConfig = field(default_factory=VAETrainConfig)
    dmd: DMDConfig = field(default_factory=DMDConfig)
    gan: GANConfig = field(default_factory=GANConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise InputError(f"config: stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        if self.stage == "baseline" and self.baseline.method not in ("dmd", "gan", "lcm"):
            raise InputError(f"config: a baseline needs baseline.method: dmd, gan or lcm (got {self.baseline.method!r})")
        if self.stage in ("stage1", "stage3", "baseline") and self.adapter not in ("controlnet", "resnet"):
            raise InputError(f"config: {self.stage} needs adapter: controlnet or resnet (got {self.adapter!r})")
        if self.resnet_channels is not None and (self.stage != "stage1" or self.adapter != "resnet" or self.resnet_channels < 1):
            raise InputError("config: resnet_channels (a positive width) is for stage1 with adapter: resnet only")
        if self.steps < 0 or self.batch_size < 1:
            raise InputError("config: steps must be >= 0 and batch_size >= 1")
        for key, n in (("vae.clip_frames", self.vae.clip_frames), ("vae.still_frames", self.vae.still_frames),
                       ("vae.map_frames", self.vae.map_frames)):
            if n is not None and (n < 1 or (n - 1) % 4):
                raise InputError(f"config: {key} must be 1 more than a multiple of 4 (the VAE's frame count), got {n}")
        if not 0.0 <= self.vae.map_share <= 1.0:
            raise InputError(f"config: vae.map_share is a share of the steps, between 0 and 1, got {self.vae.map_share}")
        if self.adapter_input not in ("maps", "video"):
            raise InputError(f"config: adapter_input must be maps or video, got {self.adapter_input!r}")
        for p in self.phases:
            if p.trajectory not in ("mask", "box", "sparse_box"):
                raise InputError(f"config: phase trajectory must be mask, box or sparse_box, got {p.trajectory!r}")
        if self.phases and sum(p.steps for p in self.phases) != self.steps:
            raise InputError(f"config: the phases' steps add up to {sum(p.steps for p in self.phases)}, not steps={self.steps}")
        for where, decay in (("optim.decay", self.optim.decay), ("vae.decay", self.vae.decay)):
            if decay not in ("constant", "cosine"):
                raise InputError(f"config: {where} must be constant or cosine, got {decay!r}")
        for key, shift in (("timestep_shift", self.timestep_shift), ("gan.timestep_shift", self.gan.timestep_shift)):
            if shift is not None and not shift > 0:
                raise InputError(f"config: {key} must be > 0 (1: no shift), got {shift}")
        if self.gan.disc_warmup < 0 or self.gan.adapter_every < 1:
            raise InputError(f"config: gan.disc_warmup must be >= 0 and gan.adapter_every >= 1 "
                             f"(got {self.gan.disc_warmup} and {self.gan.adapter_every})")
        if self.gan.lambda_schedule not in ("linear", "decreasing", "fixed"):
            raise InputError(f"config: gan.lambda_schedule must be linear, decreasing or fixed, got {self.gan.lambda_schedule!r}")
        unknown = set(self.gan.heads) - {"ss", "tc", "vc"}
        if unknown or "vc" not in self.gan.heads:
            raise InputError(f"config: gan.heads must include vc and be drawn from ss, tc, vc; got {list(self.gan.heads)}")

    def trajectory_at(self, step: int) -> str:
        """The trajectory type of ``step`` (0-based): by phase, else boxes."""
        for p in self.phases:
            if step < p.steps:
                return p.trajectory
            step -= p.steps
        return self.phases[-1].trajectory if self.phases else "box"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if self.stage != "baseline":  # a stage run's saved config (checked on resume) has no baseline section
            d.pop("baseline")
        return d


def _build(cls, obj: Any, where: str):
    """Instantiate dataclass ``cls`` from a mapping, recursively; unknown keys are errors."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a mapping, got {type(obj).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(obj) - names)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r}" + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                         + f"; known keys: {', '.join(sorted(names))}")
    kwargs = {k: _value(hints[k], v, f"{where}.{k}") for k, v in obj.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise InputError(f"{where}: {exc}") from None


def _value(tp: Any, v: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if v is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _value(inner[0], v, where)
    if dataclasses.is_dataclass(tp):
        return _build(tp, v, where)
    if origin is tuple:
        if not isinstance(v, (list, tuple)):
            raise InputError(f"{where}: expected a list, got {v!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], x, f"{where}[{i}]") for i, x in enumerate(v))
        if len(v) != len(args):
            raise InputError(f"{where}: expected {len(args)} values, got {len(v)}")
        return tuple(_value(a, x, f"{where}[{i}]") for i, (a, x) in enumerate(zip(args, v)))
    if tp is float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"{where}: expected a number, got {v!r}")
        return float(v)
    if tp is int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError(f"{where}: expected an integer, got {v!r}")
        return v
    if tp is bool:
        if not isinstance(v, bool):
            raise InputError(f"{where}: expected true or false, got {v!r}")
        return v
    if tp is str:
        if not isinstance(v, str):
            raise InputError(f"{where}: expected a string, got {v!r}")
        return v
    return v


@functools.lru_cache(maxsize=1)
def _yaml_loader():
    """PyYAML's safe loader with YAML 1.2's float syntax: YAML 1.1 reads ``1e-4`` (no dot) as a
    string, and learning rates are written that way."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:float"]
                                      for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
        list("-+0123456789."))
    return Loader


def load_yaml(text: str) -> Any:
    """Parse YAML text (a config file or a ``--set`` value) with YAML 1.2 floats."""
    import yaml

    return yaml.load(text, Loader=_yaml_loader())


def parse_config(obj: Any, where: str = "config") -> StageConfig:
    return _build(StageConfig, obj, where)


def config_path(name_or_path: str | Path) -> Path:
    """A config file: a path, or the name of a packaged config (``tiny-stage1-controlnet``)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    packaged = CONFIG_DIR / f"{name_or_path}.yaml"
    if packaged.is_file():
        return packaged
    known = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")))
    raise InputError(f"config {name_or_path}: no such file and no packaged config of that name; packaged: {known}")


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _read_yaml(name_or_path: str | Path, chain: tuple[Path, ...] = ()) -> tuple[Path, Any]:
    """A config file's mapping; a ``base: NAME`` key (a packaged config, or a file beside this
    one) is read first and this file's keys merged over it, sections key by key (the ablation
    configs are their stage 3 config plus one switch)."""
    import yaml

    path = config_path(name_or_path)
    if path.resolve() in chain:
        raise InputError(f"{path}: its base configs form a cycle")
    try:
        obj = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if isinstance(obj, dict) and "base" in obj:
        base = str(obj.pop("base"))
        beside = path.parent / f"{base}.yaml"
        _, parent = _read_yaml(beside if beside.is_file() else base, chain + (path.resolve(),))
        if not isinstance(parent, dict):
            raise InputError(f"{path}: base {base}: expected a mapping")
        obj = _merge(parent, obj)
    return path, obj


def load_config(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> StageConfig:
    """Read and validate a YAML config; ``overrides`` are merged first (dotted keys allowed)."""
    path, obj = _read_yaml(name_or_path)
    for key, value in (overrides or {}).items():
        node = obj
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    try:
        return _build(StageConfig, obj, str(path))
    except InputError as exc:  # a bad override is named as the user typed it, not as a key of the file
        for key, value in (overrides or {}).items():
            prefix = f"{path}.{key}:"
            if str(exc).startswith(prefix):
                raise InputError(f"--set {key}={value!r}:{str(exc)[len(prefix):]}") from None
        raise
