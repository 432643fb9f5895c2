"""``schulit passwords letters``."""

from __future__ import annotations

from pathlib import Path

import click

from schulit.context import AppContext
from schulit.errors import SchulitError
from schulit.letters import write_letters


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
@click.option(
    "--shred", is_flag=True, help="Overwrite and delete the delivery files whose letters are printed."
)
@click.option("--force", is_flag=True, help="Overwrite an existing PDF.")
@click.pass_obj
def letters(
    app: AppContext, school: str | None, class_name: str | None, output: Path, shred: bool, force: bool
) -> None:
    """Print password letters (cover sheet per class, one slip per person) as an A4 PDF.

    Reads the 0600 delivery files that 'accounts sync' and 'accounts reset-password' write. Without new
    passwords there is nothing to print: exit 0 and no PDF.
    """
    if output.exists() and not force:
        raise SchulitError(f"{output} exists; choose another name or add --force")
    result = write_letters(app.inventory(), output, school=school, class_name=class_name, shred=shred)
    if result.pdf is None:
        app.info("letters: no new passwords to print")
        return
    classes = len(result.sections)
    app.info(f"wrote {result.letters} letters in {classes} sections to {result.pdf} (mode 0600)")
    for path in result.shredded:
        app.info(f"shredded {path}")
