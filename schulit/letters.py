"""Password letters: an A4 PDF, one section per class: a cover sheet for the class teacher, then slips.

Built with reportlab (mature, pure Python, embeds TrueType subsets so umlauts and Polish, Turkish or
Vietnamese letters print correctly). Text is set in DejaVu Sans, passwords in DejaVu Sans Mono, which tells
0/O and 1/l apart. The PDF is written with mode 0600 next to its target and renamed into place.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from schulit.delivery import DeliveryRecord, delivery_files, read_delivery, shred_file
from schulit.errors import SchulitError
from schulit.inventory import Inventory
from schulit.naming import transliterate

FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]
FONTS = {
    "Sans": "DejaVuSans.ttf",
    "Sans-Bold": "DejaVuSans-Bold.ttf",
    "Mono": "DejaVuSansMono.ttf",
    "Mono-Bold": "DejaVuSansMono-Bold.ttf",
}
SLIPS_PER_PAGE = 4
MARGIN = 15 * mm
TEACHERS_SECTION = "Lehrkräfte"

INSTRUCTIONS = [
    "So meldest du dich zum ersten Mal an:",
    "1. Melde dich an einem Schulrechner oder im Schulportal mit Benutzername und Passwort an.",
    "2. Ändere das Passwort gleich nach der ersten Anmeldung, wenn das System dich dazu auffordert.",
    "3. Gib dein Passwort niemals weiter – auch nicht an Freundinnen und Freunde.",
    "Probleme? Frag deine Klassenleitung oder die IT-Betreuung der Schule.",
]
PRIVACY = (
    "Vertraulich: Dieser Abschnitt enthält Zugangsdaten. Bitte nach dem Ändern des Passworts vernichten."
)


@dataclass
class LettersResult:
    """What went into the PDF and which delivery files were shredded."""

    pdf: Path | None
    letters: int = 0
    sections: list[tuple[str, str, int]] = field(default_factory=list)  # school, class, count
    shredded: list[Path] = field(default_factory=list)


def _register_fonts() -> None:
    if "Sans" in pdfmetrics.getRegisteredFontNames():
        return
    for name, file in FONTS.items():
        for folder in FONT_DIRS:
            if (folder / file).is_file():
                pdfmetrics.registerFont(TTFont(name, str(folder / file)))
                break
        else:
            raise SchulitError(f"font {file} not found (install the Debian package fonts-dejavu-core)")


def _section_key(record: DeliveryRecord) -> tuple[str, str]:
    return (
        record.school_id,
        record.class_name if record.role == "pupil" and record.class_name else TEACHERS_SECTION,
    )


def group_sections(records: Iterable[DeliveryRecord]) -> list[tuple[str, str, list[DeliveryRecord]]]:
    """(school id, section name, records sorted by name), sections sorted by school, then class."""
    sections: dict[tuple[str, str], list[DeliveryRecord]] = {}
    for record in records:
        sections.setdefault(_section_key(record), []).append(record)
    ordered = []
    for (school, section), items in sorted(
        sections.items(), key=lambda kv: (kv[0][0], kv[0][1] == TEACHERS_SECTION, kv[0][1])
    ):
        items.sort(
            key=lambda r: (transliterate(r.last_name).lower(), transliterate(r.first_name).lower(), r.login)
        )
        ordered.append((school, section, items))
    return ordered


def _cover(
    canvas: Canvas, school_name: str, section: str, records: list[DeliveryRecord], today: date
) -> None:
    width, height = A4
    y = height - MARGIN - 10 * mm
    canvas.setFont("Sans-Bold", 18)
    canvas.drawString(
        MARGIN,
        y,
        f"Zugangsdaten {section}" if section == TEACHERS_SECTION else f"Zugangsdaten Klasse {section}",
    )
    y -= 9 * mm
    canvas.setFont("Sans", 11)
    canvas.drawString(
        MARGIN, y, f"{school_name} · Stand {today.strftime('%d.%m.%Y')} · {len(records)} Zugänge"
    )
    y -= 7 * mm
    canvas.setFont("Sans", 9)
    canvas.drawString(
        MARGIN,
        y,
        "Deckblatt für die Klassenleitung. Die Passwörter stehen nur auf den Abschnitten "
        "der folgenden Seiten.",
    )
    y -= 10 * mm
    canvas.setFont("Sans-Bold", 10)
    canvas.drawString(MARGIN, y, "Name")
    canvas.drawString(MARGIN + 95 * mm, y, "Benutzername")
    canvas.drawString(MARGIN + 150 * mm, y, "ausgegeben")
    y -= 2 * mm
    canvas.line(MARGIN, y, width - MARGIN, y)
    for record in records:
        y -= 6 * mm
        if y < MARGIN + 25 * mm:
            canvas.showPage()
            y = height - MARGIN - 10 * mm
        canvas.setFont("Sans", 10)
        canvas.drawString(MARGIN, y, f"{record.last_name}, {record.first_name}"[:60])
        canvas.setFont("Mono", 10)
        canvas.drawString(MARGIN + 95 * mm, y, record.login)
        canvas.rect(MARGIN + 155 * mm, y - 1 * mm, 4 * mm, 4 * mm)
    canvas.setFont("Sans", 10)
    canvas.drawString(
        MARGIN,
        MARGIN + 8 * mm,
        "Abschnitte ausgegeben am: ______________   Unterschrift Klassenleitung: __________________________",
    )
    canvas.showPage()


def _slip(canvas: Canvas, record: DeliveryRecord, school_name: str, top: float) -> None:
    width, _ = A4
    x = MARGIN
    y = top - 10 * mm
    canvas.setFont("Sans", 9)
    canvas.drawString(x, y, school_name)
    canvas.drawRightString(width - MARGIN, y, "VERTRAULICH")
    y -= 8 * mm
    canvas.setFont("Sans-Bold", 14)
    canvas.drawString(x, y, f"{record.first_name} {record.last_name}"[:70])
    canvas.setFont("Sans", 11)
    label = f"Klasse {record.class_name}" if record.role == "pupil" and record.class_name else "Lehrkraft"
    canvas.drawRightString(width - MARGIN, y, label)
    y -= 10 * mm
    canvas.setFont("Sans", 11)
    canvas.drawString(x, y, "Benutzername:")
    canvas.setFont("Mono-Bold", 14)
    canvas.drawString(x + 35 * mm, y, record.login)
    y -= 8 * mm
    canvas.setFont("Sans", 11)
    canvas.drawString(x, y, "Passwort:")
    canvas.setFont("Mono-Bold", 14)
    canvas.drawString(
        x + 35 * mm, y, " ".join(record.password[i : i + 4] for i in range(0, len(record.password), 4))
    )
    canvas.setFont("Sans", 8)
    canvas.drawString(x + 35 * mm, y - 4 * mm, "(ohne Leerzeichen eingeben)")
    y -= 10 * mm
    canvas.setFont("Sans", 8.5)
    for line in INSTRUCTIONS:
        canvas.drawString(x, y, line)
        y -= 4.2 * mm
    canvas.setFont("Sans", 7)
    canvas.drawString(x, y - 1 * mm, PRIVACY)


def _cut_mark(canvas: Canvas, y: float) -> None:
    width, _ = A4
    canvas.saveState()
    canvas.setDash(3, 3)
    canvas.setLineWidth(0.5)
    canvas.line(5 * mm, y, width - 5 * mm, y)
    canvas.setFont("Sans", 7)
    canvas.drawString(6 * mm, y + 1 * mm, "✂")
    canvas.restoreState()


def _draw(
    canvas: Canvas, records: list[DeliveryRecord], school_names: dict[str, str], today: date
) -> list[tuple[str, str, int]]:
    """Cover sheet and slips per class onto ``canvas``; returns the sections (school, class, count)."""
    canvas.setTitle("Zugangsdaten")
    canvas.setAuthor("schulit")
    _, height = A4
    slip_height = (height - 2 * 10 * mm) / SLIPS_PER_PAGE
    sections = []
    for school, section, items in group_sections(records):
        school_name = school_names.get(school, school)
        _cover(canvas, school_name, section, items, today)
        for index, record in enumerate(items):
            position = index % SLIPS_PER_PAGE
            top = height - 10 * mm - position * slip_height
            if position:
                _cut_mark(canvas, top)
            _slip(canvas, record, school_name, top)
            if position == SLIPS_PER_PAGE - 1 or index == len(items) - 1:
                canvas.showPage()
        sections.append((school, section, len(items)))
    canvas.save()
    return sections


def render_pdf(records: list[DeliveryRecord], school_names: dict[str, str], today: date) -> bytes:
    """The letters for ``records`` as PDF bytes, built in memory (the web page's response)."""
    _register_fonts()
    buffer = io.BytesIO()
    _draw(Canvas(buffer, pagesize=A4, invariant=True), records, school_names, today)
    return buffer.getvalue()


def build_pdf(
    records: list[DeliveryRecord], school_names: dict[str, str], target: Path, today: date
) -> LettersResult:
    """Write the letters for ``records`` to ``target`` (mode 0600, atomic)."""
    _register_fonts()
    result = LettersResult(pdf=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(temp_name)
    try:
        result.sections = _draw(Canvas(str(temp), pagesize=A4, invariant=True), records, school_names, today)
        result.letters = sum(count for _, _, count in result.sections)
        temp.chmod(0o600)
        temp.replace(target)
    finally:
        temp.unlink(missing_ok=True)
    return result


def write_letters(
    inventory: Inventory,
    output_pdf: Path,
    school: str | None = None,
    class_name: str | None = None,
    shred: bool = False,
    today: date | None = None,
) -> LettersResult:
    """Letters for the pending deliveries (optionally one school or class); shred fully printed files."""
    if school is not None:
        inventory.school(school)
    delivery_dir = inventory.passwords.delivery_dir
    files = delivery_files(delivery_dir, school)
    latest: dict[str, tuple[DeliveryRecord, Path]] = {}
    for path in files:
        for record in read_delivery(path):
            latest[record.login] = (record, path)
    chosen = [
        record for record, _ in latest.values() if class_name is None or record.class_name == class_name
    ]
    if not chosen:
        return LettersResult(pdf=None)
    names = {s.id: s.name for s in inventory.schools}
    result = build_pdf(chosen, names, output_pdf, today or date.today())
    if shred:
        printed = {r.login for r in chosen}
        for path in files:
            still_needed = [
                r
                for r in read_delivery(path)
                if r.login not in printed and latest.get(r.login, (None, None))[1] == path
            ]
            if not still_needed:
                shred_file(path)
                result.shredded.append(path)
    return result
