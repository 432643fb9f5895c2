"""``schulit passwords letters``."""

from __future__ import annotations

from pathlib import Path

import click

from schulit.commands.pending import not_implemented


@click.group("passwords")
def passwords_group() -> None:
    """Deliver initial passwords."""


@passwords_group.command("letters")
@click.option("--school", metavar="ID", help="Only this school.")
@click.option("--class", "class_name", metavar="C", help="Only this class.")
@click.option(
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="PDF file to write (mode 0600).",
)
def letters(school: str | None, class_name: str | None, output: Path) -> None:
    """Print password letters (one slip per pupil, one section per class) as a PDF."""
    raise not_implemented("passwords letters")
