"""`flashbench train` (not yet available)."""

from __future__ import annotations

import typer

from ..errors import NotYetAvailableError


def register(app: typer.Typer) -> None:
    @app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def train(ctx: typer.Context) -> None:
        """Not yet available in this release."""
        raise NotYetAvailableError("`flashbench train` is not yet available in this release")
