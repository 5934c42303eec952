"""The ``flashbench`` command."""

from __future__ import annotations

import importlib
import sys

import typer

from . import __version__
from .commands import COMMAND_MODULES
from .errors import FlashBenchError

app = typer.Typer(
    name="flashbench",
    help="FlashBench: build the benchmark, evaluate trajectory-controllable video generators, rank results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"flashbench {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    pass


for _name in COMMAND_MODULES:
    importlib.import_module(f"flashbench.commands.{_name}").register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        # every long command writes atomically and resumes: nothing to clean up here
        print("\ninterrupted: finished work is kept; rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
    except FlashBenchError as exc:
        from rich.console import Console

        Console(stderr=True).print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
