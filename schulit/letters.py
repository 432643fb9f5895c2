"""Password letters: an A4 PDF, one section per class (a cover sheet for the class teacher, then slips),
and one for the teachers (slips only). Pupils are addressed with "du", teachers with "Sie"; portal address,
helpdesk, sender and logo come from the inventory's ``[letters]`` table.

Built with reportlab (mature, pure Python, embeds TrueType subsets so umlauts and Polish, Turkish or
Vietnamese letters print correctly). Text is set in DejaVu Sans, passwords in DejaVu Sans Mono, which tells
0/O and 1/l apart. The PDF is written with mode 0600 next to its target and renamed into place.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from schulit.delivery import DeliveryRecord, delivery_files, latest_records, mark_printed
from schulit.errors import SchulitError
from schulit.inventory import Inventory, LetterSettings
from schulit.naming import transliterate
from schulit.rosters import RosterError, read_roster
from schulit.rosters.common import normalise_class

FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu")]
FONTS = {
    "Sans": "DejaVuSans.ttf",
    "Sans-Bold": "DejaVuSans-Bold.ttf",
    "Mono": "DejaVuSansMono.ttf",
    "Mono-Bold": "DejaVuSansMono-Bold.ttf",
}
SLIPS_PER_PAGE = 3
MARGIN = 15 * mm
TEACHERS_SECTION = "Lehrkräfte"
LOGO_HEIGHT = 9 * mm

# {portal_clause}: " oder im Schulportal <address>" when the inventory names a portal, else "".
PUPIL_TEXT = (
    "So meldest du dich an:",
    "1. Melde dich an einem Schulrechner{portal_clause} mit deinem Benutzernamen und Passwort an.",
    "{first_logon}",
    "2. Gib dein Passwort niemals weiter – auch nicht an Freundinnen und Freunde.",
    "Passwort vergessen oder Probleme? Frag deine Klassenleitung{helpdesk_clause}.",
)
TEACHER_TEXT = (
    "So melden Sie sich an:",
    "1. Melden Sie sich an einem Schulrechner{portal_clause} mit Ihrem Benutzernamen und Passwort an.",
    "{first_logon}",
    "2. Bitte geben Sie Ihr Passwort nicht weiter, auch nicht an Kolleginnen, Kollegen oder Lernende.",
    "Fragen oder Probleme? Bitte wenden Sie sich an {helpdesk_or_school}.",
)
FIRST_LOGON = {
    "pupil": "   Beim ersten Anmelden musst du ein eigenes, neues Passwort wählen.",
    "teacher": "   Bei der ersten Anmeldung werden Sie aufgefordert, ein eigenes Passwort zu wählen.",
}
PRIVACY = {
    "pupil": "Vertraulich: Hier stehen deine Zugangsdaten. Heb den Zettel gut auf und zeig ihn niemandem.",
    "teacher": (
        "Vertraulich: Dieses Schreiben enthält Ihre persönlichen Zugangsdaten. "
        "Bitte bewahren Sie es sicher auf."
    ),
}


def count_phrase(count: int) -> str:
    """ "1 Zugang", "2 Zugänge"."""
    return f"{count} Zugang" if count == 1 else f"{count} Zugänge"


def enforces_first_logon_change(inventory: Inventory) -> bool:
    """Whether the directory makes a new account choose its own password at the first logon.

    OpenLDAP (schulit's default flavour) has no such switch schulit sets; Samba AD does (pwdLastSet=0).
    """
    return getattr(inventory.directory, "flavour", "openldap") == "samba-ad"


@dataclass(frozen=True)
class LetterText:
    """Everything on a letter that is not a person's data: the county's settings, ready to print."""

    portal: str = ""
    helpdesk: str = ""
    sender: str = ""
    logo: Path | None = None
    pupil_text: tuple[str, ...] = ()
    teacher_text: tuple[str, ...] = ()
    first_logon_change: bool = False

    @classmethod
    def from_inventory(cls, inventory: Inventory) -> LetterText:
        settings: LetterSettings = inventory.letters
        return cls(
            portal=settings.portal,
            helpdesk=settings.helpdesk,
            sender=settings.sender or inventory.county_name,
            logo=settings.logo,
            pupil_text=settings.pupil_text,
            teacher_text=settings.teacher_text,
            first_logon_change=enforces_first_logon_change(inventory),
        )

    def lines(self, role: str) -> list[str]:
        """The instruction lines for a pupil ("du") or a teacher ("Sie")."""
        pupil = role == "pupil"
        own = self.pupil_text if pupil else self.teacher_text
        template = own or (PUPIL_TEXT if pupil else TEACHER_TEXT)
        portal_clause = ""
        if self.portal:
            portal_clause = f" oder im {'Schulportal' if pupil else 'Portal'} {self.portal}"
        words = {
            "{portal_clause}": portal_clause,
            "{helpdesk_clause}": f" oder {self.helpdesk}" if self.helpdesk else "",
            "{helpdesk_or_school}": self.helpdesk or "die IT-Betreuung Ihrer Schule",
            "{first_logon}": FIRST_LOGON["pupil" if pupil else "teacher"] if self.first_logon_change else "",
            "{portal}": self.portal,
            "{helpdesk}": self.helpdesk,
        }
        result = []
        for line in template:
            for key, value in words.items():
                line = line.replace(key, value)
            if line.strip():
                result.append(line)
        return result


@dataclass
class LettersResult:
    """What went into the PDF and which delivery files were shredded."""

    pdf: Path | None
    letters: int = 0
    sections: list[tuple[str, str, int]] = field(default_factory=list)  # school, class, count
    shredded: list[Path] = field(default_factory=list)
    marked: list[Path] = field(default_factory=list)  # rewritten with the printed records marked or removed


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


def _logo(canvas: Canvas, text: LetterText, right: float, top: float) -> None:
    """The county's logo, right-aligned, ``LOGO_HEIGHT`` high, its top at ``top``."""
    if text.logo is None:
        return
    image = ImageReader(str(text.logo))
    width, height = image.getSize()
    drawn_width = LOGO_HEIGHT * width / height
    canvas.drawImage(image, right - drawn_width, top - LOGO_HEIGHT, drawn_width, LOGO_HEIGHT, mask="auto")


def class_labels(inventory: Inventory, school_ids: Iterable[str]) -> dict[tuple[str, str], str]:
    """(school, class) → the class as the school's export writes it ("05a", "BFS IT1"; the commonest).

    Read from the rosters as they are now; a class no longer on a roster keeps schulit's name.
    """
    spellings: dict[tuple[str, str], Counter[str]] = {}
    for school_id in sorted(set(school_ids)):
        school = next((s for s in inventory.schools if s.id == school_id), None)
        for source in school.rosters if school else ():
            try:
                persons = read_roster(source, school_id, identity=school.identity).persons
            except RosterError:
                continue
            for person in persons:
                if person.class_name and person.class_label:
                    spellings.setdefault((school_id, person.class_name), Counter())[person.class_label] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in spellings.items()}


def _cover(
    canvas: Canvas,
    school_name: str,
    section: str,
    records: list[DeliveryRecord],
    today: date,
    text: LetterText,
) -> None:
    """The class teacher's sheet of one class: who gets a slip, no passwords."""
    width, height = A4
    _logo(canvas, text, width - MARGIN, height - MARGIN)
    y = height - MARGIN - 10 * mm
    canvas.setFont("Sans-Bold", 18)
    canvas.drawString(MARGIN, y, f"Zugangsdaten Klasse {section}")
    y -= 9 * mm
    canvas.setFont("Sans", 11)
    canvas.drawString(
        MARGIN, y, f"{school_name} · Stand {today.strftime('%d.%m.%Y')} · {count_phrase(len(records))}"
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


def _slip(
    canvas: Canvas, record: DeliveryRecord, school_name: str, top: float, text: LetterText, class_label: str
) -> None:
    width, _ = A4
    pupil = record.role == "pupil"
    x = MARGIN
    _logo(canvas, text, width - MARGIN, top - 4 * mm)
    y = top - 9 * mm
    canvas.setFont("Sans", 9)
    canvas.drawString(x, y, f"{text.sender} · {school_name}" if text.sender else school_name)
    y -= 4 * mm
    canvas.setFont("Sans-Bold", 8)
    canvas.drawString(x, y, "VERTRAULICH")
    y -= 8 * mm
    canvas.setFont("Sans-Bold", 14)
    greeting = f"{record.first_name} {record.last_name}"
    canvas.drawString(x, y, greeting[:70])
    canvas.setFont("Sans", 11)
    label = f"Klasse {class_label}" if pupil and record.class_name else "Lehrkraft"
    canvas.drawRightString(width - MARGIN, y, label)
    y -= 6 * mm
    canvas.setFont("Sans", 9.5)
    canvas.drawString(
        x,
        y,
        "Hier sind deine Zugangsdaten für die Schulrechner:"
        if pupil
        else "Ihre Zugangsdaten für die IT der Schule:",
    )
    y -= 8 * mm
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
    canvas.setFont("Sans", 9)
    for line in text.lines(record.role):
        hanging = 4 * mm if line[:1].isdigit() else 0  # numbered steps wrap under their text
        for index, part in enumerate(simpleSplit(line, "Sans", 9, width - 2 * MARGIN - hanging)):
            canvas.drawString(x + (hanging if index else 0), y, part)
            y -= 4.4 * mm
    canvas.setFont("Sans", 7.5)
    canvas.drawString(x, y - 1 * mm, PRIVACY["pupil" if pupil else "teacher"])


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
    canvas: Canvas,
    records: list[DeliveryRecord],
    school_names: dict[str, str],
    today: date,
    text: LetterText,
    covers: bool,
    labels: Mapping[tuple[str, str], str],
) -> list[tuple[str, str, int]]:
    """Cover sheets (pupil classes only) and slips onto ``canvas``; (school, class, count) per section."""
    canvas.setTitle("Zugangsdaten")
    canvas.setAuthor("schulit")
    _, height = A4
    slip_height = (height - 2 * 10 * mm) / SLIPS_PER_PAGE
    sections = []
    for school, section, items in group_sections(records):
        school_name = school_names.get(school, school)
        label = labels.get((school, section), section)
        if covers and section != TEACHERS_SECTION:
            _cover(canvas, school_name, label, items, today, text)
        for index, record in enumerate(items):
            position = index % SLIPS_PER_PAGE
            top = height - 10 * mm - position * slip_height
            if position:
                _cut_mark(canvas, top)
            _slip(canvas, record, school_name, top, text, labels.get((school, record.class_name), label))
            if position == SLIPS_PER_PAGE - 1 or index == len(items) - 1:
                canvas.showPage()
        sections.append((school, section, len(items)))
    canvas.save()
    return sections


def render_pdf(
    records: list[DeliveryRecord],
    school_names: dict[str, str],
    today: date,
    text: LetterText | None = None,
    *,
    covers: bool = True,
    labels: Mapping[tuple[str, str], str] | None = None,
) -> bytes:
    """The letters for ``records`` as PDF bytes, built in memory (the web page's response)."""
    _register_fonts()
    buffer = io.BytesIO()
    _draw(
        Canvas(buffer, pagesize=A4, invariant=True),
        records,
        school_names,
        today,
        text or LetterText(),
        covers,
        labels or {},
    )
    return buffer.getvalue()


def build_pdf(
    records: list[DeliveryRecord],
    school_names: dict[str, str],
    target: Path,
    today: date,
    text: LetterText | None = None,
    *,
    covers: bool = True,
    labels: Mapping[tuple[str, str], str] | None = None,
) -> LettersResult:
    """Write the letters for ``records`` to ``target`` (mode 0600, atomic).

    Pupils' sections start with a cover sheet for the class teacher (unless ``covers`` is false, as for a
    helpdesk reset); teachers get their slips without one. ``labels``: class names as the schools write
    them (see ``class_labels``); without one, schulit's own class name is printed.
    """
    labels = labels or {}
    _register_fonts()
    text = text or LetterText()
    result = LettersResult(pdf=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    temp = Path(temp_name)
    try:
        result.sections = _draw(
            Canvas(str(temp), pagesize=A4, invariant=True), records, school_names, today, text, covers, labels
        )
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
    *,
    reprint: Sequence[str] = (),
    files: Sequence[Path] | None = None,
) -> LettersResult:
    """Letters for the unprinted deliveries (optionally of one school or class, or only ``files``).

    ``reprint``: print these logins again although their letters were printed (their newest password).
    Afterwards every printed record is marked printed (``shred``: removed) in whichever file holds it, and
    files left empty are shredded, so the next run prints nothing twice.
    """
    if school is not None:
        inventory.school(school)
    delivery_dir = inventory.passwords.delivery_dir
    every_file = delivery_files(delivery_dir, school)
    chosen_files = every_file if files is None else [f for f in every_file if f in set(files)]
    latest = latest_records(chosen_files)
    if class_name is not None:
        class_name = _known_class(inventory, school, class_name, latest_records(every_file).values())
    missing = sorted(set(reprint) - set(latest))
    if missing:
        raise SchulitError(
            f"no password on file for {', '.join(missing)} (never issued, or shredded after printing); "
            "give a new one with: schulit accounts reset-password LOGIN --letter FILE.pdf"
        )
    chosen = [
        record
        for record in latest.values()
        if (not record.printed_at or record.login in reprint)
        and (class_name is None or record.class_name == class_name)
    ]
    if not chosen:
        return LettersResult(pdf=None)
    names = {s.id: s.name for s in inventory.schools}
    labels = class_labels(inventory, {r.school_id for r in chosen})
    result = build_pdf(
        chosen, names, output_pdf, today or date.today(), LetterText.from_inventory(inventory), labels=labels
    )
    printed = {r.login for r in chosen}
    for path in every_file:
        outcome = mark_printed(path, printed, remove=shred)
        if outcome == "shredded":
            result.shredded.append(path)
        elif outcome == "rewritten":
            result.marked.append(path)
    return result


def _known_class(
    inventory: Inventory, school: str | None, class_name: str, records: Iterable[DeliveryRecord]
) -> str:
    """``--class`` normalised like the rosters ("05a" → "5a"); an error if no such class is known."""
    normalised = normalise_class(class_name)
    known = {r.class_name for r in records if r.class_name}
    if normalised is not None and normalised in known:
        return normalised
    for item in inventory.schools:
        if school is not None and item.id != school:
            continue
        for source in item.rosters:
            try:
                persons = read_roster(source, item.id, identity=item.identity).persons
            except RosterError:
                continue
            known.update(p.class_name for p in persons if p.class_name)
    if normalised is None or normalised not in known:
        where = f"school {school}" if school else "any school"
        raise SchulitError(
            f"--class {class_name!r}: no such class in {where} (known: {', '.join(sorted(known)) or 'none'})"
        )
    return normalised
