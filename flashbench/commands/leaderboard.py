"""`flashbench leaderboard`: show, render, serve a leaderboard store; tokens; the paper's tables."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

LEADERBOARD_OPT = typer.Option(None, "--leaderboard", help="The store file (default: the store in the cache).")


def _store(path: Optional[Path]):
    from leaderboard.store import Store

    from .submit import default_store

    return Store(path or default_store())


def register(app: typer.Typer) -> None:
    lb = typer.Typer(help="Show, render and serve a leaderboard; manage API tokens; import the paper's tables.", no_args_is_help=True)
    app.add_typer(lb, name="leaderboard")

    @lb.command("show")
    def show(
        leaderboard: Optional[Path] = LEADERBOARD_OPT,
        groups: bool = typer.Option(True, "--groups/--no-groups", help="Also the tables per object count."),
    ) -> None:
        """Print the ranked tables (overall and per object count, with confidence intervals)."""
        from leaderboard.ranking import SCOPES
        from leaderboard.render import render_markdown

        store = _store(leaderboard)
        typer.echo(render_markdown(store.entries(), store.paper_results(), scopes=SCOPES if groups else ("overall",)), nl=False)

    @lb.command("render")
    def render(
        out: Path = typer.Option(..., "--out", help="Output directory for index.html, leaderboard.md and plots."),
        leaderboard: Optional[Path] = LEADERBOARD_OPT,
        plots: bool = typer.Option(True, "--plots/--no-plots", help="Per-object-count plots (SVG)."),
    ) -> None:
        """Write Markdown tables and a static HTML site (sortable tables, plots, provenance)."""
        from leaderboard.render import render_site

        store = _store(leaderboard)
        for p in render_site(store.entries(), store.paper_results(), out, plots=plots):
            typer.echo(str(p))

    @lb.command("serve")
    def serve(
        leaderboard: Optional[Path] = LEADERBOARD_OPT,
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8000, "--port", min=0, max=65535),
        max_mb: int = typer.Option(512, "--max-mb", min=1, help="Largest accepted archive, MiB."),
        rate_limit: int = typer.Option(30, "--rate-limit", min=1, help="Submissions per token per minute."),
    ) -> None:
        """Serve the HTTP API (POST /api/submissions, GET /api/leaderboard, GET /, /openapi.json)."""
        from leaderboard.archive import Limits
        from leaderboard.server import serve as run_server

        from .submit import default_store

        run_server(leaderboard or default_store(), host, port, Limits(max_archive_bytes=max_mb * 2**20), rate_limit)

    @lb.command("add-token")
    def add_token(name: str = typer.Argument(..., help="Who the token is for."), leaderboard: Optional[Path] = LEADERBOARD_OPT) -> None:
        """Create an API token for a submitter; it is printed once and stored hashed."""
        token = _store(leaderboard).add_token(name)
        typer.echo(token)

    @lb.command("import-paper")
    def import_paper(leaderboard: Optional[Path] = LEADERBOARD_OPT) -> None:
        """Load the paper's Tables 1/7/8 as a "reported in paper, not re-evaluated" section."""
        from leaderboard.paper import paper_rows

        n = _store(leaderboard).import_paper(paper_rows())
        typer.echo(f"imported {n} reported rows (Tables 1, 7, 8); shown apart from evaluated entries, never ranked with them")
