"""The roster files of the systems a county migrates from, so that ids and logins stay as they are.

- ``format = "sophomorix"`` (linuxmuster.net 7): ``students.csv`` (no header: ``class;last;first;birthdate;
  unid;login;``), ``extrastudents.csv`` (``class;last;first;birthdate;login;``) and ``teachers.csv``
  (``x;last;first;birthdate;login;unid``, the first field ignored); ``#`` starts a comment line; encoding
  guessed (UTF-8, UTF-16, else Windows-1252); dates ``d.m.yyyy`` or ``d.m.yy``. The unid, where given, is
  the id (else the login); a given login is kept.
- ``format = "ucs-school"``: UCS@school's import CSV with a header (``Schule``, ``Benutzertyp``, ``Vorname``,
  ``Nachname``, ``Klassen`` comma-separated with an optional ``<school>-`` prefix, ``EMail``, ``record_uid``,
  ``Benutzername``); tab- or comma-separated, often UTF-16-LE. ``record_uid`` is the id; an existing
  ``Benutzername`` is kept as the login. Rows of other schools in a multi-school file are left out.
"""

from __future__ import annotations

from schulit.records import RosterResult, RosterSource
from schulit.rosters.common import RosterError, RowCollector
from schulit.rosters.csvreader import _header_key, csv_rows, read_lines, sniff_delimiter

SOPHOMORIX_DATES = ("%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d")
# file name -> role, then the field of each column (None: ignored)
SOPHOMORIX_LAYOUTS: dict[str, tuple[str, tuple[str | None, ...]]] = {
    "students": ("pupil", ("class_name", "last_name", "first_name", "birth_date", "source_id", "login")),
    "extrastudents": ("pupil", ("class_name", "last_name", "first_name", "birth_date", "login")),
    "teachers": ("teacher", (None, "last_name", "first_name", "birth_date", "login", "source_id")),
}
UCS_COLUMNS = {
    "school": ("schule", "school", "schools"),
    "role": ("benutzertyp", "role", "roles"),
    "first_name": ("vorname", "firstname"),
    "last_name": ("nachname", "lastname"),
    "class_name": ("klassen", "klasse", "school classes"),
    "email": ("email", "e-mail", "mailprimaryaddress"),
    "source_id": ("record uid", "recorduid"),  # folded: "_" → " "
    "login": ("benutzername", "username", "name"),
}
UCS_ROLES = {
    "schueler": "pupil",
    "student": "pupil",
    "pupil": "pupil",
    "lehrer": "teacher",
    "teacher": "teacher",
    "teacher_and_staff": "teacher",
    "lehrer und mitarbeiter": "teacher",
}
UCS_SKIPPED_ROLES = {"staff", "mitarbeiter", "schooladmin", "legal_guardian", "erziehungsberechtigter"}


def _sophomorix_layout(source: RosterSource) -> tuple[str, tuple[str | None, ...]]:
    stem = source.path.name.lower().split(".")[0]
    if stem in SOPHOMORIX_LAYOUTS:
        return SOPHOMORIX_LAYOUTS[stem]
    fallback = "teachers" if source.role == "teacher" else "students"
    return SOPHOMORIX_LAYOUTS[fallback]


def read_sophomorix(source: RosterSource, collector: RowCollector) -> RosterResult:
    """A sophomorix ``students.csv``, ``extrastudents.csv`` or ``teachers.csv``."""
    file = str(source.path)
    collector.date_formats = SOPHOMORIX_DATES
    role, layout = _sophomorix_layout(source)
    if source.role in ("pupil", "teacher"):
        role = source.role
    lines = read_lines(source, source.encoding)
    delimiter = source.delimiter if source.delimiter != "auto" else ";"
    for line, row in csv_rows(lines, 0, delimiter, file):
        if row and row[0].lstrip().startswith("#"):
            continue
        values = {name: row[i].strip() if i < len(row) else "" for i, name in enumerate(layout) if name}
        _add(collector, line, role, values)
    return RosterResult(collector.persons, collector.rejected)


def read_ucs_school(source: RosterSource, collector: RowCollector) -> RosterResult:
    """A UCS@school import CSV (header row; tab or comma; UTF-16 detected)."""
    file = str(source.path)
    lines = read_lines(source, source.encoding)
    start = next((i for i, line in enumerate(lines) if line.strip()), None)
    if start is None:
        raise RosterError(f"{file}: empty file")
    delimiter = source.delimiter if source.delimiter != "auto" else sniff_delimiter(lines[start])
    rows = list(csv_rows(lines, start, delimiter, file))
    header_line, header = rows[0]
    keys = [_header_key(h).strip() for h in header]
    columns = {}
    for name, aliases in UCS_COLUMNS.items():
        found = next((keys.index(a) for a in aliases if a in keys), None)
        if found is not None:
            columns[name] = found
    missing = [n for n in ("first_name", "last_name", "role") if n not in columns]
    if collector.identity != "name+birthdate" and "source_id" not in columns and "login" not in columns:
        missing.append("source_id")
    if missing:
        raise RosterError(f"{file}:{header_line}: {missing[0]}: no column for it in the header {header!r}")
    records = [
        (line, {name: (row[i].strip() if i < len(row) else "") for name, i in columns.items()})
        for line, row in rows[1:]
    ]
    schools = {r["school"].casefold() for _, r in records if r.get("school")}
    school = collector.school_id.casefold()
    for line, values in records:
        row_school = values.pop("school", "").casefold()
        if len(schools) > 1 and row_school and row_school != school:
            continue  # another school's row in a county-wide file
        word = values.pop("role", "").strip().casefold()
        if word in UCS_SKIPPED_ROLES:
            continue
        role = UCS_ROLES.get(word.replace("ü", "ue"), "unknown")
        prefixes = tuple(f"{s}-" for s in (row_school, school) if s)
        classes = [
            _unprefixed(c.strip(), prefixes) for c in values.get("class_name", "").split(",") if c.strip()
        ]
        values["class_name"] = classes[0] if role == "pupil" and classes else ""
        if role == "teacher":
            values["teacher_classes"] = ",".join(classes)  # the classes a teacher is in (issue 13)
        if source.role in ("pupil", "teacher") and role != source.role:
            continue
        _add(collector, line, role, values)
    return RosterResult(collector.persons, collector.rejected)


def _unprefixed(name: str, prefixes: tuple[str, ...]) -> str:
    """``gym-a-5a`` → ``5a`` (UCS@school names a class with its school)."""
    for prefix in prefixes:
        if name.casefold().startswith(prefix):
            return name[len(prefix) :]
    return name


def _add(collector: RowCollector, line: int, role: str, values: dict[str, str]) -> None:
    """Keep a given login as it is (it must be one a directory can hold: a-z 0-9 . - _, up to 64); the
    login is the id where the file gives none."""
    login = values.pop("login", "").strip()
    if login and (len(login) > 64 or not all(c.isascii() and (c.isalnum() or c in ".-_") for c in login)):
        collector.reject(line, "login", f"not a usable login: {login!r}")
        return
    if not values.get("source_id"):
        values["source_id"] = login
    collector.add(line, role, values, login=login.lower() or None)
