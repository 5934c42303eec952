"""`flashbench tables`."""

from __future__ import annotations

import typer

from ..errors import NotYetAvailableError


def register(app: typer.Typer) -> None:
    @app.command("tables", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def tables(ctx: typer.Context) -> None:
        """Not yet available in this release."""
        raise NotYetAvailableError("`flashbench tables` is not yet available in this release")
