"""`flashbench build`."""

from __future__ import annotations

import typer

from ..errors import NotYetAvailableError


def register(app: typer.Typer) -> None:
    @app.command("build", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def build(ctx: typer.Context) -> None:
        """Not yet available in this release."""
        raise NotYetAvailableError("`flashbench build` is not yet available in this release")
