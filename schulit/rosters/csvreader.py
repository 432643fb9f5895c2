"""CSV exports of school administration software: any of the usual encodings, delimiters and headers."""

from __future__ import annotations

import csv
import io
import itertools
import unicodedata
from collections.abc import Iterator

from schulit.naming import transliterate
from schulit.records import RosterResult, RosterSource
from schulit.rosters.common import MAX_COLUMNS, RosterError, RowCollector
from schulit.rosters.presets import Preset, check_preset

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


def utf16_variant(data: bytes) -> str | None:
    """ "utf-16" (BOM), "utf-16-le" or "utf-16-be" (NUL in every other byte of the first ones), else None."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    head = data[:200]
    if len(head) >= 4:
        head = head[: len(head) // 2 * 2]
        even, odd = head[0::2], head[1::2]
        if odd.count(0) >= len(odd) * 0.9 and even.count(0) < len(even) * 0.5:
            return "utf-16-le"
        if even.count(0) >= len(even) * 0.9 and odd.count(0) < len(odd) * 0.5:
            return "utf-16-be"
    return None


def decode(data: bytes, encoding: str, file: str) -> str:
    """Decode with the configured encoding, or detect: BOM (UTF-8, UTF-16) or UTF-16's NUL pattern; valid
    UTF-8; else Windows-1252. A NUL left after decoding is refused (not a text file)."""
    if encoding == "auto":
        encoding = utf16_variant(data) or "auto"
    if encoding != "auto":
        try:
            text = data.decode(encoding).removeprefix("\ufeff")
        except (LookupError, UnicodeDecodeError) as exc:
            raise RosterError(f"{file}: cannot decode as {encoding}: {exc}") from None
    elif data.startswith(b"\xef\xbb\xbf"):
        try:
            text = data[3:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RosterError(f"{file}: has a UTF-8 BOM but is not UTF-8: {exc}") from None
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise RosterError(
            f"{file}: contains NUL bytes (not a text file?); export as UTF-8, UTF-16 or Windows-1252 CSV"
        )
    return text


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


def map_columns(
    header: list[str], source: RosterSource, file: str, line: int = 1, preset: Preset | None = None
) -> dict[str, int]:
    """Field name → column index: the source's mapping, else the preset's headers, else the known German
    headers."""
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
    known = [preset.aliases] if preset is not None else []
    for field_name, aliases in itertools.chain(*(a.items() for a in known), HEADER_ALIASES.items()):
        if field_name in mapping:
            continue
        for alias in aliases:
            if alias in keys:
                mapping[field_name] = keys.index(alias)
                break
    return mapping


def read_lines(source: RosterSource, encoding: str) -> list[str]:
    """The file's physical lines, decoded; RosterError if it cannot be read."""
    file = str(source.path)
    try:
        size = source.path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise RosterError(f"{file}: {size} bytes is larger than a roster can be ({MAX_FILE_BYTES} bytes)")
        data = source.path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{file}: cannot read: {exc.strerror or exc}") from None
    text = decode(data, encoding, file)
    # Physical lines as an editor counts them (\n, \r\n or a lone \r), the same ones csv.reader counts;
    # str.splitlines would also split at \f, \x1c, U+2028, ... and shift every reported line number.
    return io.StringIO(text, newline=None).readlines()


def csv_rows(lines: list[str], start: int, delimiter: str, file: str) -> Iterator[tuple[int, list[str]]]:
    """(1-based first physical line, fields) of every row from ``lines[start]`` on; blank rows skipped."""
    csv.field_size_limit(1024 * 1024)
    reader = csv.reader(io.StringIO("".join(lines[start:])), delimiter=delimiter, strict=False)
    consumed = 0  # physical lines read so far
    try:
        for row in reader:
            line = start + consumed + 1
            consumed = reader.line_num
            if "".join(row).strip():
                yield line, row
    except csv.Error as exc:
        raise RosterError(f"{file}:{start + consumed + 1}: unreadable CSV: {exc}") from None


def _alternates(header: list[str], columns: dict[str, int], preset: Preset) -> dict[str, list[int]]:
    """Field → further columns of the preset's header names for it, read where the first one is empty."""
    keys = [_header_key(h) for h in header]
    found: dict[str, list[int]] = {}
    for name, aliases in preset.aliases.items():
        others = [keys.index(a) for a in aliases if a in keys and keys.index(a) != columns.get(name)]
        if others and name in columns:
            found[name] = others
    return found


def read_csv_roster(source: RosterSource, collector: RowCollector) -> RosterResult:
    """Read a CSV export into persons and rejected rows."""
    file = str(source.path)
    identity = collector.identity
    preset = check_preset(source.preset) if source.preset else None
    if preset is not None:
        collector.date_formats = preset.date_formats
    encoding = source.encoding if source.encoding != "auto" or preset is None else preset.encoding
    lines = read_lines(source, encoding)
    header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_index is None:
        raise RosterError(f"{file}: empty file")
    delimiter = source.delimiter
    if delimiter == "auto" and preset is not None:
        delimiter = preset.delimiter
    if delimiter == "auto":
        delimiter = sniff_delimiter(lines[header_index])
    rows = csv_rows(lines, header_index, delimiter, file)
    header_line, header = next(rows, (header_index + 1, []))
    while header and not header[-1].strip():
        header.pop()
    if len(header) > MAX_COLUMNS:
        raise RosterError(f"{file}:{header_line}: {len(header)} columns; a roster has at most {MAX_COLUMNS}")
    columns = map_columns(header, source, file, header_line, preset)
    headerless = preset.headerless.get(source.role) if preset is not None else None
    headerless_used = bool(headerless) and not {"first_name", "last_name"} & set(columns)
    if headerless and headerless_used:
        # no header row (allowed by the preset): the columns are in the program's order
        columns = {name: index for index, name in enumerate(headerless)}
        rows = itertools.chain([(header_line, header)], rows)
        header = list(headerless)
    required = ["first_name", "last_name"]
    if identity != "name+birthdate":
        required.insert(0, "source_id")
    else:
        required.append("birth_date")
    if source.role in ("pupil",):
        required.append("class_name")
    if source.role == "mixed":
        required.append("role")
    missing = [f for f in required if f not in columns and not (f == "source_id" and "alt_id" in columns)]
    if missing:
        raise RosterError(
            f"{file}:{header_line}: {missing[0]}: no column for {', '.join(missing)} in the "
            f"header {header!r}; add a [rosters.columns] mapping (or a preset) to the school's inventory file"
        )
    alternates = _alternates(header, columns, preset) if preset is not None and not headerless_used else {}
    for line, row in rows:
        if len(row) > MAX_COLUMNS * 2:
            collector.reject(line, "row", f"{len(row)} fields")
            continue
        values = {name: (row[index] if index < len(row) else "") for name, index in columns.items()}
        for name, indices in alternates.items():  # e.g. ASV-BW: Vornamen where the Rufname is empty
            if not values.get(name, "").strip():
                values[name] = next((row[i] for i in indices if i < len(row) and row[i].strip()), "")
        role = source.role
        if role == "mixed":
            role = ROLE_WORDS.get(_header_key(values.get("role", "")).replace(" ", ""), "unknown")
        if preset is not None:
            if "alt_id" in values:
                values["source_id"] = values.get("source_id", "").strip() or values["alt_id"]
            if "source_id" in values:
                values["source_id"] = preset.clean_id(values["source_id"])
            if (
                role == "pupil"
                and preset.skip_class
                and preset.skip_class.match(values.get("class_name", ""))
            ):
                continue  # a class the program uses for leavers or pupils not yet placed
        collector.add(line, role, values)
    return RosterResult(collector.persons, collector.rejected)


__all__ = ["read_csv_roster"]
