"""The ``schulit`` command line (SPEC §6). Thin: parse options, call the modules, render results."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import click

from schulit import __version__
from schulit.commands.accounts import accounts_group
from schulit.commands.configs import configs_group
from schulit.commands.directory import directory_group
from schulit.commands.inventory import inventory_group
from schulit.commands.passwords import passwords_group
from schulit.commands.runs import nightly, term_start
from schulit.commands.servers import servers_group
from schulit.commands.web import web_command
from schulit.context import AppContext
from schulit.errors import EXIT_ERROR, SchulitError


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``systemctl stop``, a cron or CI timeout), raised in the main thread.

    A KeyboardInterrupt so that it unwinds exactly like Ctrl-C: ``finally`` blocks and context managers run,
    the run lock is released, connections are closed, temp files removed. Python's default SIGTERM action
    ends the process on the spot, with none of that.
    """


def _on_sigterm(signum: int, _frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated(signum)


def install_signal_handlers() -> None:
    """SIGTERM → ``Terminated`` (SIGINT already raises KeyboardInterrupt)."""
    signal.signal(signal.SIGTERM, _on_sigterm)


class SchulitGroup(click.Group):
    """Turns SchulitError into one clear stderr message and its exit code; likewise SIGINT and SIGTERM."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SchulitError as exc:
            click.echo(f"schulit: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:
            click.echo(
                "schulit: terminated (SIGTERM)" if isinstance(exc, Terminated) else "schulit: interrupted",
                err=True,
            )
            ctx.exit(EXIT_ERROR)


@click.group(cls=SchulitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--inventory",
    "inventory_path",
    envvar="SCHULIT_INVENTORY",
    default="inventories/demo",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Inventory directory (env SCHULIT_INVENTORY).",
)
@click.option("--verbose", "-v", is_flag=True, help="Show details (every change, not just counts).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing on success (for cron).")
@click.version_option(__version__, prog_name="schulit")
@click.pass_context
def cli(ctx: click.Context, inventory_path: Path, verbose: bool, quiet: bool) -> None:
    """schulit: pupil and teacher accounts and school-server configs for a county's schools."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="schulit: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    ctx.obj = AppContext(inventory_path=inventory_path, verbose=verbose, quiet=quiet)


for command in (
    inventory_group,
    directory_group,
    accounts_group,
    passwords_group,
    configs_group,
    servers_group,
    term_start,
    nightly,
    web_command,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point (also ``python -m schulit``)."""
    install_signal_handlers()
    cli(prog_name="schulit")
