"""CSV exports of school administration software: any of the usual encodings, delimiters and headers."""

from __future__ import annotations

import csv
import io
import unicodedata

from schulit.naming import transliterate
from schulit.records import RosterResult, RosterSource
from schulit.rosters.common import MAX_COLUMNS, RosterError, RowCollector

MAX_FILE_BYTES = 50 * 1024 * 1024
DELIMITERS = (";", ",", "\t", "|")
HEADER_ALIASES = {
    "source_id": [
        "interne id-nummer",
        "interne id",
        "schueler-id",
        "schuelerid",
        "schueler id",
        "lehrer-id",
        "id",
        "schuelernummer",
        "kennung",
        "personalnummer",
        "sourcedid",
        "lehrerkuerzel-id",
    ],
    "last_name": ["nachname", "name", "familienname", "lastname", "familyname"],
    "first_name": ["rufname", "vorname", "vornamen", "firstname", "givenname"],
    "class_name": ["klasse", "klasse/kurs", "klassenbezeichnung", "lerngruppe", "klassenname", "class"],
    "teacher_classes": ["klassen", "klassenleitung"],  # a teacher's classes; `Klasse` works too
    "birth_date": ["geburtsdatum", "geb.-datum", "geb.datum", "geburtstag", "birthdate"],
    "email": ["e-mail", "email", "mail", "e-mail-adresse"],
    "role": ["rolle", "typ", "role"],
}
ROLE_WORDS = {
    "schueler": "pupil",
    "schuelerin": "pupil",
    "pupil": "pupil",
    "student": "pupil",
    "lehrer": "teacher",
    "lehrerin": "teacher",
    "lehrkraft": "teacher",
    "teacher": "teacher",
}


def _header_key(text: str) -> str:
    return transliterate(unicodedata.normalize("NFC", text)).strip().lower().replace("_", " ")


def decode(data: bytes, encoding: str, file: str) -> str:
    """Decode with the configured encoding, or detect: BOM → UTF-8; valid UTF-8; else Windows-1252."""
    if b"\x00" in data:
        raise RosterError(
            f"{file}: contains NUL bytes (UTF-16 export or not a text file?); "
            "export as UTF-8 or Windows-1252 CSV"
        )
    if encoding != "auto":
        try:
            return data.decode(encoding).removeprefix("\ufeff")
        except (LookupError, UnicodeDecodeError) as exc:
            raise RosterError(f"{file}: cannot decode as {encoding}: {exc}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RosterError(f"{file}: has a UTF-8 BOM but is not UTF-8: {exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter occurring most often outside quotes in the header line."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ";"


def map_columns(header: list[str], source: RosterSource, file: str, line: int = 1) -> dict[str, int]:
    """Field name → column index, from the source's mapping or the known German headers."""
    keys = [_header_key(h) for h in header]
    mapping: dict[str, int] = {}
    for field_name, header_name in source.columns.items():
        wanted = _header_key(header_name)
        if wanted not in keys:
            raise RosterError(
                f"{file}:{line}: {field_name}: column {header_name!r} (from the inventory mapping) "
                f"not in the header {header!r}"
            )
        mapping[field_name] = keys.index(wanted)
    for field_name, aliases in HEADER_ALIASES.items():
        if field_name in mapping:
            continue
        for alias in aliases:
            if alias in keys:
                mapping[field_name] = keys.index(alias)
                break
    return mapping


def read_csv_roster(source: RosterSource, school_id: str, *, identity: str = "source-id") -> RosterResult:
    """Read a CSV export into persons and rejected rows."""
    file = str(source.path)
    try:
        size = source.path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RosterError(f"{file}: {size} bytes is larger than a roster can be ({MAX_FILE_BYTES} bytes)")
        data = source.path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{file}: cannot read: {exc.strerror or exc}") from None
    text = decode(data, source.encoding, file)
    # Physical lines as an editor counts them (\n, \r\n or a lone \r), the same ones csv.reader counts;
    # str.splitlines would also split at \f, \x1c, U+2028, ... and shift every reported line number.
    lines = io.StringIO(text, newline=None).readlines()
    header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_index is None:
        raise RosterError(f"{file}: empty file")
    delimiter = source.delimiter if source.delimiter != "auto" else sniff_delimiter(lines[header_index])
    csv.field_size_limit(1024 * 1024)
    reader = csv.reader(io.StringIO("".join(lines[header_index:])), delimiter=delimiter, strict=False)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise RosterError(f"{file}:{header_index + 1}: unreadable header: {exc}") from None
    while header and not header[-1].strip():
        header.pop()
    if len(header) > MAX_COLUMNS:
        raise RosterError(
            f"{file}:{header_index + 1}: {len(header)} columns; a roster has at most {MAX_COLUMNS}"
        )
    columns = map_columns(header, source, file, header_index + 1)
    required = ["first_name", "last_name"]
    if identity != "name+birthdate":
        required.insert(0, "source_id")
    else:
        required.append("birth_date")
    if source.role in ("pupil",):
        required.append("class_name")
    if source.role == "mixed":
        required.append("role")
    missing = [f for f in required if f not in columns]
    if missing:
        raise RosterError(
            f"{file}:{header_index + 1}: {missing[0]}: no column for {', '.join(missing)} in the "
            f"header {header!r}; add a [rosters.columns] mapping to the school's inventory file"
        )
    collector = RowCollector(file, school_id, identity)
    consumed = reader.line_num  # physical lines read so far, counted from the header line
    try:
        for row in reader:
            line = header_index + consumed + 1  # the row's first physical line, 1-based
            consumed = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > MAX_COLUMNS * 2:
                collector.reject(line, "row", f"{len(row)} fields")
                continue
            values = {name: (row[index] if index < len(row) else "") for name, index in columns.items()}
            role = source.role
            if role == "mixed":
                role = ROLE_WORDS.get(_header_key(values.get("role", "")).replace(" ", ""), "unknown")
            collector.add(line, role, values)
    except csv.Error as exc:
        raise RosterError(f"{file}:{header_index + consumed + 1}: unreadable CSV: {exc}") from None
    return RosterResult(collector.persons, collector.rejected)


__all__ = ["read_csv_roster"]
