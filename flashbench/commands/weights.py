"""`flashbench weights`."""

from __future__ import annotations

import typer

from ..errors import NotYetAvailableError


def register(app: typer.Typer) -> None:
    @app.command("weights", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def weights(ctx: typer.Context) -> None:
        """Not yet available in this release."""
        raise NotYetAvailableError("`flashbench weights` is not yet available in this release")
