"""`flashbench weights`: list, download, import and verify weight files (nothing downloads implicitly)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="The weights cache: ls, download NAME, import NAME PATH, verify [NAME].", no_args_is_help=True)

    @sub.command("ls")
    def ls(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """List known weights, whether each is in the cache, and its SHA-256 (published or pinned)."""
        import json

        from .. import weights

        rows = [weights.status(s.name) for s in weights.all_specs()]
        if json_out:
            typer.echo(json.dumps({"cache": str(weights.cache_root()), "weights": rows}, indent=2))
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"weights (cache: {weights.cache_root()})")
        table.add_column("name", no_wrap=True)
        table.add_column("in cache")
        table.add_column("sha256", no_wrap=True)
        table.add_column("hash")
        for r in rows:
            source = {"published": "published", "pinned": "pinned", "none": "pinned at first import"}[r["hash_source"]]
            table.add_row(r["name"], "yes" if r["present"] else "no", (r["sha256"] or "-")[:16], source)
        Console().print(table)

    @sub.command("download")
    def download(name: str = typer.Argument(..., help="Weight name (`flashbench weights ls`)."),
                 progress: bool = typer.Option(True, "--progress/--no-progress")) -> None:
        """Download NAME into the cache (resumes a partial download; checks or pins its SHA-256)."""
        from .. import weights

        path = weights.download(name, progress=progress)
        typer.echo(f"{name}: {path} sha256 {weights.verified_sha256(name)}")

    @sub.command("import")
    def import_(name: str = typer.Argument(..., help="Weight name (`flashbench weights ls`)."),
                path: Path = typer.Argument(..., help="Local copy of the file (or folder)."),
                force: bool = typer.Option(False, "--force", help="Replace a different file pinned earlier.")) -> None:
        """Copy a local file into the cache after checking (or pinning) its SHA-256."""
        from .. import weights

        dest = weights.import_file(name, path, force=force)
        typer.echo(f"{name}: {dest} sha256 {weights.verified_sha256(name)}")

    @sub.command("verify")
    def verify(name: Optional[str] = typer.Argument(None, help="Weight name; default: every cached weight.")) -> None:
        """Re-hash cached files against their published or pinned SHA-256 (exit 2 on a mismatch)."""
        from .. import weights

        names = [name] if name else [s.name for s in weights.all_specs() if weights.cache_path(s.name).exists()]
        if not names:
            typer.echo("no weights in the cache")
            return
        bad = 0
        for n in names:
            ok, msg = weights.verify(n)
            bad += not ok
            typer.echo(("ok   " if ok else "FAIL ") + msg)
        if bad:  # the project's exit status for a bad input
            raise typer.Exit(2)

    app.add_typer(sub, name="weights")
