"""`flashbench ls`: known benchmarks, protocols, generators and weights."""

from __future__ import annotations

import typer

WHAT = ("benchmarks", "protocols", "generators", "weights")
FORMATS = ("table", "json", "csv")


def register(app: typer.Typer) -> None:
    @app.command("ls")
    def ls(
        what: str = typer.Argument("all", help="benchmarks, protocols, generators, weights or all."),
        params: bool = typer.Option(False, "--params", help="With generators: parameter counts of the real configs (built on the meta device, no weights)."),
        format: str = typer.Option("table", "--format", help="table (for people), json or csv (for scripts; full values, one record per row)."),
    ) -> None:
        """List known benchmarks, protocols, generators and weight files."""
        from ..errors import InputError
        from ..ui import print_listings

        if what not in WHAT + ("all",):
            raise InputError(f"`flashbench ls {what}`: choose one of {', '.join(WHAT)} or all")
        if format not in FORMATS:
            raise InputError(f"--format {format!r}: choose one of {', '.join(FORMATS)}")
        if format == "csv" and what == "all":  # one header per file: the kinds have different columns
            raise InputError("--format csv lists one kind at a time, e.g. `flashbench ls generators --format csv`")
        listings = [globals()[f"_{kind}_listing"](params) if kind == "generators" else globals()[f"_{kind}_listing"]()
                    for kind in (WHAT if what == "all" else (what,))]
        print_listings(listings, format)


def _benchmarks_listing():
    import json

    from .. import embedded, paths
    from ..ui import Listing

    listing = Listing("benchmarks", "benchmarks (in the cache; any built directory can be passed with --bench)",
                      ("name", "videos", "frames", "size", "path"))
    root = paths.benchmarks_dir()
    dirs = sorted(p for p in root.iterdir() if (p / "manifest.json").is_file()) if root.is_dir() else []
    for d in dirs:
        m = json.loads((d / "manifest.json").read_text())
        items = m.get("items", [])
        size = f"{items[0]['height']}x{items[0]['width']}" if items else "–"
        frames = str(items[0]["num_frames"]) if items else "–"
        listing.add(m.get("name", d.name), str(len(items)), frames, size, str(d))
    if embedded.benchmark_dir() not in dirs:
        listing.add(embedded.NAME, str(6 * embedded.PER_GROUP), str(embedded.NUM_FRAMES), "x".join(map(str, embedded.SIZE)), "(built on first `flashbench eval`)")
    return listing


def _protocols_listing():
    from ..protocol import PROTOCOL_DESCRIPTIONS, PROTOCOLS, protocol_changes
    from ..ui import Listing

    listing = Listing("protocols", "protocols (`flashbench eval --protocol NAME`; docs/protocol.md)",
                      ("name", "hash", "differs from flashbench-v1", "use"))
    for name, proto in PROTOCOLS.items():
        changes = ", ".join(f"{k}={v}" for k, v in protocol_changes(proto).items()) or "–"
        listing.add(name, proto.hash(), changes, PROTOCOL_DESCRIPTIONS[name])
    return listing


def _generators_listing(params: bool):
    from ..generators.registry import available, resolve
    from ..ui import Listing

    cols = ("name", "origin", "target") + (("parameters", "NFE", "native size", "max frames") if params else ())
    listing = Listing("generators", "generators (`flashbench eval --model NAME`)", cols)
    for name, entry in sorted(available().items()):
        row = [name, entry.origin, entry.target]
        if params:
            row += _describe(resolve, entry.target)
        listing.add(*row)
    return listing


def _describe(resolve, target: str) -> list[str]:
    from ..utils.text import human_count

    try:
        factory = resolve(target)
    except Exception as exc:  # a broken third-party entry must not hide the others
        return [f"unavailable: {exc}", "", "", ""]
    describe = getattr(factory, "describe", None)
    if describe is None:
        return ["–", "–", "–", "–"]
    info = describe()
    size = "x".join(map(str, info.native_size)) if info.native_size else "any"
    return [human_count(info.parameters), str(info.nfe), size, str(info.max_frames or "any")]


def _weights_listing():
    from .. import weights
    from ..ui import Listing

    listing = Listing("weights", f"weights (cache: {weights.cache_root()}; `flashbench weights ls` for details)",
                      ("name", "file", "in cache", "sha256"))
    for spec in weights.all_specs():
        st = weights.status(spec.name)
        digest = f"{st['sha256']} ({st['hash_source']})" if st["sha256"] else "pinned at first import"
        listing.add(spec.name, spec.filename, "yes" if st["present"] else "no", digest)
    return listing
