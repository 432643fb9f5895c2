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
    "--shred",
    is_flag=True,
    help="Remove the printed passwords from the delivery files (a file left empty is zeroed and deleted).",
)
@click.option(
    "--reprint",
    multiple=True,
    metavar="LOGIN",
    help="Print the letter of LOGIN again although it was printed (repeatable; not after --shred).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing PDF.")
@click.pass_obj
def letters(
    app: AppContext,
    school: str | None,
    class_name: str | None,
    output: Path,
    shred: bool,
    reprint: tuple[str, ...],
    force: bool,
) -> None:
    """Print password letters as an A4 PDF: per class a cover sheet and one slip per pupil; teachers' slips.

    Reads the 0600 delivery files that 'accounts sync' and 'accounts reset-password' write and prints only
    what was not printed yet (or --reprint LOGIN). Every printed record is then marked printed, or with
    --shred removed, so no letter is printed twice. Nothing to print: exit 0 and no PDF.
    """
    if output.exists() and not force:
        raise SchulitError(f"{output} exists; choose another name or add --force")
    result = write_letters(
        app.inventory(), output, school=school, class_name=class_name, shred=shred, reprint=reprint
    )
    if result.pdf is None:
        app.info("letters: no new passwords to print")
        return
    sections = len(result.sections)
    app.info(
        f"wrote {result.letters} letters in {sections} section{'s' if sections != 1 else ''} "
        f"to {result.pdf} (mode 0600)"
    )
    for path in result.shredded:
        app.info(f"shredded {path}")
    for path in result.marked:
        app.detail(f"marked printed{' and removed' if shred else ''} in {path}")
