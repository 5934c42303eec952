"""`flashbench submit` (not yet available)."""

from __future__ import annotations

import typer

from ..errors import NotYetAvailableError


def register(app: typer.Typer) -> None:
    @app.command("submit", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def submit(ctx: typer.Context) -> None:
        """Not yet available in this release."""
        raise NotYetAvailableError("`flashbench submit` is not yet available in this release")
