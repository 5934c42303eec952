"""`flashbench ls`: known benchmarks, generators and weights."""

from __future__ import annotations

import typer

WHAT = ("benchmarks", "generators", "weights")


def register(app: typer.Typer) -> None:
    @app.command("ls")
    def ls(
        what: str = typer.Argument("all", help="benchmarks, generators, weights or all."),
        params: bool = typer.Option(False, "--params", help="With generators: parameter counts of the real configs (built on the meta device, no weights)."),
    ) -> None:
        """List known benchmarks, generators and weight files."""
        from rich.console import Console

        from ..errors import InputError

        if what not in WHAT + ("all",):
            raise InputError(f"`flashbench ls {what}`: choose one of {', '.join(WHAT)} or all")
        console = Console()
        for kind in WHAT if what == "all" else (what,):
            console.print(globals()[f"_{kind}_table"](params) if kind == "generators" else globals()[f"_{kind}_table"]())


def _benchmarks_table():
    import json

    from rich.table import Table

    from .. import embedded, paths

    table = Table(title="benchmarks (in the cache; any built directory can be passed with --bench)")
    for col in ("name", "videos", "frames", "size", "path"):
        table.add_column(col)
    root = paths.benchmarks_dir()
    dirs = sorted(p for p in root.iterdir() if (p / "manifest.json").is_file()) if root.is_dir() else []
    for d in dirs:
        m = json.loads((d / "manifest.json").read_text())
        items = m.get("items", [])
        size = f"{items[0]['height']}x{items[0]['width']}" if items else "–"
        frames = str(items[0]["num_frames"]) if items else "–"
        table.add_row(m.get("name", d.name), str(len(items)), frames, size, str(d))
    if embedded.benchmark_dir() not in dirs:
        table.add_row(embedded.NAME, str(6 * embedded.PER_GROUP), str(embedded.NUM_FRAMES), "x".join(map(str, embedded.SIZE)), "(built on first `flashbench eval`)")
    return table


def _generators_table(params: bool):
    from rich.table import Table

    from ..generators.registry import available, resolve

    table = Table(title="generators (`flashbench eval --model NAME`)")
    cols = ["name", "origin", "target"] + (["parameters", "NFE", "native size", "max frames"] if params else [])
    for col in cols:
        table.add_column(col)
    for name, entry in sorted(available().items()):
        row = [name, entry.origin, entry.target]
        if params:
            row += _describe(resolve, entry.target)
        table.add_row(*row)
    return table


def _describe(resolve, target: str) -> list[str]:
    try:
        factory = resolve(target)
    except Exception as exc:  # a broken third-party entry must not hide the others
        return [f"unavailable: {exc}", "", "", ""]
    describe = getattr(factory, "describe", None)
    if describe is None:
        return ["–", "–", "–", "–"]
    info = describe()
    size = "x".join(map(str, info.native_size)) if info.native_size else "any"
    return [f"{info.parameters / 1e9:.4f}B", str(info.nfe), size, str(info.max_frames or "any")]


def _weights_table():
    from rich.table import Table

    from .. import weights

    table = Table(title=f"weights (cache: {weights.cache_root()}; `flashbench weights ls` for details)")
    for col in ("name", "file", "in cache", "sha256"):
        table.add_column(col)
    for spec in weights.all_specs():
        st = weights.status(spec.name)
        digest = f"{st['sha256'][:16]}… ({st['hash_source']})" if st["sha256"] else "pinned at first import"
        table.add_row(spec.name, spec.filename, "yes" if st["present"] else "no", digest)
    return table
