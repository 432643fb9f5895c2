"""``schulit term-start`` and ``schulit nightly``: the two runs the tool exists for."""

from __future__ import annotations

from pathlib import Path

import click

from schulit.commands.pending import not_implemented


@click.command("term-start")
@click.option("--school", "schools", multiple=True, metavar="ID", help="Only this school (repeatable).")
@click.option(
    "--output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the password letters and the report.",
)
@click.option("--yes", is_flag=True, help="Confirm without the typed 'yes' (scripted use).")
def term_start(schools: tuple[str, ...], output: Path, yes: bool) -> None:
    """Guided term start: plan, confirm, sync, password letters, configs push, report."""
    raise not_implemented("term-start")


@click.command("nightly")
def nightly() -> None:
    """Unattended: sync all schools (safety limits kept), then push configs. Quiet on success."""
    raise not_implemented("nightly")
