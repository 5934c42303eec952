"""`flashbench train`: the FlashMotion stage runners and recipes."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import InputError

STAGE_HELP = {
    "stage0": "Tiny only: train the tiny Wan2.2 VAE, then the TI2V base generator (the stand-in SlowGenerator).",
    "stage1": "Train the SlowAdapter (ControlNet or ResNet) on the frozen SlowGenerator, masks then boxes.",
    "stage2": "Distil the SlowGenerator into the 4-step FastGenerator with DMD.",
    "stage3": "Fine-tune the SlowAdapter into the FastAdapter on the FastGenerator (diffusion + adversarial losses).",
}


def parse_overrides(pairs: list[str]) -> dict:
    import yaml

    from flashmotion.training.config import load_yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--set {pair!r}: expected KEY=VALUE (dotted keys for nested fields, e.g. optim.lr=1e-4)")
        try:
            out[key.strip()] = load_yaml(value)
        except yaml.YAMLError:
            raise InputError(f"--set {pair!r}: the value is not valid YAML") from None
    return out


def _dist():
    from ..distributed import init_from_env

    return init_from_env()


def register(app: typer.Typer) -> None:
    train_app = typer.Typer(help="Train FlashMotion models: the stage runners and recipes.", no_args_is_help=True)
    app.add_typer(train_app, name="train")

    def make_stage(stage: str):
        def command(
            config: str = typer.Option(..., "--config", "-c", help="YAML config file, or the name of a packaged one (`flashbench ls configs`)."),
            out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: $FLASHBENCH_HOME/training/<config name>)."),
            resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
            set_: List[str] = typer.Option([], "--set", help="Override a config field, KEY=VALUE (repeatable; dotted keys)."),
            no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bars."),
        ) -> None:
            from flashbench import paths
            from flashmotion.training.config import load_config
            from flashmotion.training.stages import RUNNERS

            cfg = load_config(config, parse_overrides(set_))
            if cfg.stage != stage:
                raise InputError(f"config {config} is a {cfg.stage} config; run it with `flashbench train {cfg.stage}`")
            run_dir = out or paths.home() / "training" / Path(config).stem
            ctx = _dist()
            final = RUNNERS[stage](cfg, run_dir, ctx, resume=resume, progress=not no_progress)
            if ctx.is_main:
                typer.echo(f"{stage} done: {final}")

        command.__doc__ = STAGE_HELP[stage]
        train_app.command(stage)(command)

    for stage in STAGE_HELP:
        make_stage(stage)

    @train_app.command("baseline")
    def baseline(
        method: str = typer.Argument(..., help="dmd, gan or lcm", metavar="METHOD"),
        adapter: Optional[str] = typer.Option(None, "--adapter", help="resnet or controlnet (default: the config's; resnet without --config)."),
        config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML config file or packaged config name (default: tiny-baseline-METHOD-ADAPTER)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: $FLASHBENCH_HOME/training/<config name>)."),
        resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
        set_: List[str] = typer.Option([], "--set", help="Override a config field, KEY=VALUE (repeatable; dotted keys); parent= and generator= name the stage 1 and stage 2 outputs."),
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bars."),
    ) -> None:
        """Distil the SlowAdapter onto the FastGenerator with a baseline method (DMD, GAN or LCM)."""
        from baselines import ADAPTERS, METHODS
        from baselines.train import train_baseline
        from flashbench import paths
        from flashmotion.training.config import load_config

        if method not in METHODS:
            raise InputError(f"baseline {method!r}: expected one of {', '.join(METHODS)}")
        if adapter is not None and adapter not in ADAPTERS:
            raise InputError(f"--adapter {adapter!r}: expected one of {', '.join(ADAPTERS)}")
        name = config or f"tiny-baseline-{method}-{adapter or 'resnet'}"
        cfg = load_config(name, {**({"adapter": adapter} if adapter else {}), **parse_overrides(set_)})
        if cfg.stage != "baseline" or cfg.baseline.method != method:
            raise InputError(f"config {name} is not a {method} baseline config (stage: {cfg.stage}, baseline.method: "
                             f"{cfg.baseline.method}); use tiny-baseline-{method}-{cfg.adapter} or set baseline.method")
        run_dir = out or paths.home() / "training" / Path(name).stem
        ctx = _dist()
        final = train_baseline(cfg, run_dir, ctx, resume=resume, progress=not no_progress)
        if ctx.is_main:
            typer.echo(f"baseline {method} ({cfg.adapter}) done: {final}")

    @train_app.command("check")
    def check(
        checkpoint: Path = typer.Argument(..., help="A base-generator checkpoint folder (a stage-0 output's final/; a stage-1 output's adds its adapter's effect)."),
        videos: int = typer.Option(4, "--videos", min=1, help="Scenes to measure on: this many training scenes and as many unseen ones."),
        json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the measurements to this JSON file."),
        trajectory: str = typer.Option("box", "--trajectory", help="The maps a stage-1 folder's adapter reads: box (the benchmark's) or mask."),
    ) -> None:
        """Check a stage-0 generator before training adapters on it: token width, clean-estimate error by noise level, VAE latent drift."""
        from rich.console import Console
        from rich.table import Table

        from flashmotion.training.checks import check_base_generator

        from ..utils.atomic import atomic_write_json

        if not (checkpoint / "flashmotion.json").is_file():
            raise InputError(f"{checkpoint} is not a FlashMotion checkpoint (no flashmotion.json); pass a stage-0 output's final/ folder")
        rep = check_base_generator(checkpoint, videos, trajectory=trajectory)
        table = Table(title=f"{checkpoint} on {rep.videos} scenes each (normalised latents, later frames)")
        held = rep.held_out_x0_mse is not None
        table.add_column("measure")
        table.add_column("training scenes", justify="right")
        if held:
            table.add_column("unseen scenes", justify="right")

        def row(label: str, train: float | str, unseen: float | None = None) -> None:
            cells = [train if isinstance(train, str) else f"{train:.3f}"]
            if held:
                cells.append("" if unseen is None else f"{unseen:.3f}")
            table.add_row(label, *cells)

        row("token width / values per patch", f"{rep.token_width} / {rep.patch_values}")
        row("error of the latent mean (zero)", rep.zero_mse, rep.held_out_zero_mse)
        row("error of repeating frame 0", rep.copy_mse, rep.held_out_copy_mse)
        for s, v in rep.x0_mse.items():
            row(f"clean-estimate error at sigma {s:g}", v, (rep.held_out_x0_mse or {}).get(s))
        for kind, signal in (rep.map_signal or {}).items():
            row(f"{kind} maps' latent signal in the boxes (/ video variance)", signal)
        row("inside the objects' boxes, sigma 1", rep.object_x0_mse, rep.held_out_object_x0_mse)
        if rep.adapter_x0_mse:
            reads = "the video's own latent" if rep.adapter_reads == "video" else f"{rep.adapter_reads} maps"
            row(f"with the {rep.adapter} adapter ({reads}), inside the boxes, sigma 1", rep.adapter_object_x0_mse,
                rep.held_out_adapter_object_x0_mse)
            for s, v in rep.adapter_x0_mse.items():
                row(f"with the {rep.adapter} adapter ({reads}), sigma {s:g}", v, (rep.held_out_adapter_x0_mse or {}).get(s))
        row("still video: latent change per frame", " ".join(f"{v:.3f}" for v in rep.static_drift))
        console = Console()
        console.print(table)
        for line in rep.findings() or ["no problem found"]:
            console.print(f"- {line}")
        if json_out is not None:
            atomic_write_json(json_out, rep.to_dict())

    @train_app.command("recipe")
    def recipe(
        name: str = typer.Argument(..., help="tiny-reference, tiny-baselines, tiny-ablations or tiny-quick"),
        out: Optional[Path] = typer.Option(None, "--out", help="Recipe folder (default: $FLASHBENCH_HOME/training/<recipe>)."),
        install: Optional[Path] = typer.Option(None, "--install", help="Write the registered generators' checkpoint folders here (default: the user checkpoint cache)."),
        install_dtype: str = typer.Option("float32", "--install-dtype", help="Store the installed weights as float32, float16 or bfloat16 (they load as float32)."),
        only: Optional[list[str]] = typer.Option(None, "--only", help="Train just this run of the recipe (repeatable); the runs it reads must be finished. A run another process is training is refused, not trained twice."),
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bars."),
    ) -> None:
        """Train a chain of stages; tiny-reference: stage 0-3 for both adapters (about 1 h 45 min on two cores); tiny-baselines: those, then every baseline and ablation; tiny-ablations: the ablations alone, from the installed reference set; tiny-quick: the small 30-minute chain (rerun to resume)."""
        from flashbench import paths
        from flashmotion.training.recipe import run_recipe

        ctx = _dist()
        root = out or paths.home() / "training" / name
        from flashmotion.training.recipe import STORAGE_DTYPES

        if install_dtype not in STORAGE_DTYPES:
            raise InputError(f"--install-dtype {install_dtype}: expected one of {', '.join(STORAGE_DTYPES)}")
        run_recipe(name, root, ctx, progress=not no_progress, install=install or paths.checkpoints_dir(),
                   install_dtype=install_dtype, only=set(only) if only else None)
        if ctx.is_main:
            typer.echo(f"recipe {name} done: {root}; generator checkpoints in {install or paths.checkpoints_dir()}")
