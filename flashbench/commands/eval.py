"""`flashbench eval`."""

from __future__ import annotations

import typer

from ..errors import NotYetAvailableError


def register(app: typer.Typer) -> None:
    @app.command("eval", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def eval_(ctx: typer.Context) -> None:
        """Not yet available in this release."""
        raise NotYetAvailableError("`flashbench eval` is not yet available in this release")
