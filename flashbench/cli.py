"""The ``flashbench`` command."""

from __future__ import annotations

import importlib
import sys
from typing import Any

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


def _tidy_param(param: Any) -> Any:
    if param.param_type_name == "option":
        if param.is_flag:
            param.metavar = ""
        elif param.metavar is None:
            param.metavar = max(param.opts, key=len).lstrip("-").replace("-", "_").upper()
    else:  # an argument: named in capitals, as in the usage line, with no type column
        param.metavar = param.metavar or param.name.upper()
        param.display_type_rich = lambda ctx: None
    return param


def _tidy_help(command: Any) -> Any:
    """Help that names values, not Python types: ``--limit LIMIT``, never ``<int range>``; flags show nothing."""
    for param in command.params:
        _tidy_param(param)
    help_option = command.get_help_option
    command.get_help_option = lambda ctx: (lambda opt: opt and _tidy_param(opt))(help_option(ctx))
    for sub in getattr(command, "commands", {}).values():
        _tidy_help(sub)
    return command


def command() -> Any:
    """The click command behind ``flashbench`` (help tidied)."""
    return _tidy_help(typer.main.get_command(app))


def main() -> None:
    try:
        from typer._click import exceptions as click_errors
    except ImportError:  # typer releases built on click
        from click import exceptions as click_errors
    ClickException, NoArgsIsHelpError = click_errors.ClickException, getattr(click_errors, "NoArgsIsHelpError", ())
    try:
        sys.exit(command().main(prog_name="flashbench", standalone_mode=False) or 0)
    except NoArgsIsHelpError as exc:
        print(exc.ctx.get_help())
        sys.exit(0)
    except ClickException as exc:  # a bad option or argument: one line, and where the help is
        where = f"; see `{exc.ctx.command_path} --help`" if getattr(exc, "ctx", None) is not None else ""
        _error(f"{exc.format_message().rstrip('.')}{where}", exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except KeyboardInterrupt:
        # every long command writes atomically and resumes: nothing to clean up here
        print("\ninterrupted: finished work is kept; rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
    except FlashBenchError as exc:
        _error(str(exc), 2)


def _error(message: str, status: int) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True, markup=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
