"""OneRoster CSV bundles, 1.1 and 1.2 (a folder or a .zip), bulk or delta.

Persons come from users.csv; the role from users.csv (1.1) or roles.csv (1.2); membership in this school from
orgSourcedIds (1.1) or roles.csv (1.2); a pupil's class from the homeroom class (else the first scheduled
class) of their student enrollment (none: a pupil without a class); a teacher's classes from their teacher
enrollments; birth dates from demographics.csv when present. A class's name is its ``classCode`` where that
is a usable class name, else its ``title`` without a leading "Klasse".

Bulk files: rows ``tobedeleted`` are dropped, everyone not listed is gone. A bundle whose manifest says
``file.users,delta`` is a delta: the listed active users are new or changed, ``tobedeleted`` users leave,
everyone else stays as the directory has them (``RosterResult.delta``/``deleted``).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from schulit.records import RosterResult, RosterSource
from schulit.rosters.common import MAX_COLUMNS, RosterError, RowCollector, normalise_class

ROLE_MAP = {"student": "pupil", "teacher": "teacher"}
# What zipfile raises for damaged, encrypted or exotic archives and members (plus unreadable files).
ZIP_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
)


class Bundle:
    """Read access to the CSV files of a bundle, folder or zip alike."""

    def __init__(self, path: Path):
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        if path.is_file():
            try:
                self.zip = zipfile.ZipFile(path)
            except ZIP_READ_ERRORS as exc:
                raise RosterError(f"{path}: not a OneRoster zip bundle: {exc}") from None
            self.names = {Path(n).name: n for n in self.zip.namelist() if n.endswith(".csv")}
        elif path.is_dir():
            self.names = {p.name: str(p) for p in path.glob("*.csv")}
        else:
            raise RosterError(f"{path}: OneRoster bundle not found")

    def has(self, name: str) -> bool:
        return name in self.names

    def label(self, name: str) -> str:
        return f"{self.path}/{name}" if self.zip is None else f"{self.path}!{name}"

    def rows(
        self, name: str, required: bool = True, columns: tuple[str, ...] = ()
    ) -> Iterator[tuple[int, dict[str, str]]]:
        """(line number, row) of one file; header names are case-sensitive as the spec says.

        ``columns``: header names the reader relies on; a file without one of them is a RosterError.
        """
        if name not in self.names:
            if required:
                raise RosterError(f"{self.label(name)}: missing from the bundle")
            return
        try:
            if self.zip is not None:
                if self.zip.getinfo(self.names[name]).file_size > 200 * 1024 * 1024:
                    raise RosterError(f"{self.label(name)}: too large")
                data = self.zip.read(self.names[name])
            else:
                data = Path(self.names[name]).read_bytes()
        except ZIP_READ_ERRORS as exc:
            # A damaged, encrypted or exotic zip member, or an unreadable file in a folder bundle.
            raise RosterError(f"{self.label(name)}: cannot read: {exc}") from None
        if b"\x00" in data:
            raise RosterError(f"{self.label(name)}: contains NUL bytes")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RosterError(f"{self.label(name)}: not UTF-8 (OneRoster CSV must be UTF-8): {exc}") from None
        csv.field_size_limit(1024 * 1024)
        # csv.reader rather than DictReader: DictReader skips blank lines silently, which shifted the line
        # numbers of every later row.
        reader = csv.reader(io.StringIO(text))
        try:
            fieldnames = next(reader, [])
            if len(fieldnames) > MAX_COLUMNS:
                raise RosterError(f"{self.label(name)}:1: {len(fieldnames)} columns")
            missing = [column for column in columns if column not in fieldnames]
            if missing:
                raise RosterError(f"{self.label(name)}:1: {missing[0]}: column missing from the header")
            start = reader.line_num  # physical lines consumed so far
            for values in reader:
                line, start = start + 1, reader.line_num
                if not values:
                    continue
                padded = values + [""] * (len(fieldnames) - len(values))
                row = {key: padded[i].strip() for i, key in enumerate(fieldnames)}
                yield line, row
        except csv.Error as exc:
            raise RosterError(f"{self.label(name)}:{reader.line_num}: unreadable CSV: {exc}") from None


def _active(row: dict[str, str]) -> bool:
    return row.get("status", "") in ("", "active")


def _school_org(bundle: Bundle, school_id: str) -> str:
    orgs = [row for _, row in bundle.rows("orgs.csv", columns=("sourcedId",)) if _active(row)]
    schools = [row for row in orgs if row.get("type") == "school"] or orgs
    if len(schools) == 1:
        return schools[0]["sourcedId"]
    for row in schools:
        if school_id in (row.get("identifier"), row.get("sourcedId")):
            return row["sourcedId"]
    raise RosterError(
        f"{bundle.label('orgs.csv')}: {len(schools)} schools in the bundle and none has "
        f"identifier or sourcedId {school_id!r}"
    )


def _manifest(bundle: Bundle) -> dict[str, str]:
    return {
        row.get("propertyName", ""): row.get("value", "").strip().lower()
        for _, row in bundle.rows("manifest.csv", required=False)
    }


def read_oneroster(source: RosterSource, collector: RowCollector) -> RosterResult:
    """Read a OneRoster 1.1 or 1.2 bundle into persons of the collector's school."""
    school_id = collector.school_id
    bundle = Bundle(source.path)
    manifest = _manifest(bundle)
    delta = manifest.get("file.users") == "delta"
    deleted: list[str] = []
    org = _school_org(bundle, school_id)
    version_12 = bundle.has("roles.csv") or manifest.get("oneroster.version", "").startswith("1.2")
    roles: dict[str, str] = {}
    members: set[str] = set()
    if version_12:
        for _, row in bundle.rows("roles.csv", not delta, ("userSourcedId",)):
            if _active(row) and row.get("orgSourcedId") == org and row.get("role") in ROLE_MAP:
                roles.setdefault(row["userSourcedId"], ROLE_MAP[row["role"]])
                members.add(row["userSourcedId"])
    classes = {
        row["sourcedId"]: row
        for _, row in bundle.rows("classes.csv", not delta, ("sourcedId",))
        if _active(row)
    }
    homeroom: dict[str, str] = {}
    scheduled: dict[str, str] = {}
    taught: dict[str, list[str]] = {}  # teacher -> labels of the classes they are enrolled in
    for _, row in bundle.rows("enrollments.csv", not delta, ("userSourcedId",)):
        if not _active(row) or row.get("role") not in ("student", "teacher"):
            continue
        klass = classes.get(row.get("classSourcedId", ""))
        if klass is None or klass.get("schoolSourcedId", org) != org:
            continue
        if row["role"] == "teacher":
            label = _class_label(klass)
            if normalise_class(label):  # course sections with odd titles teach no class group
                taught.setdefault(row["userSourcedId"], []).append(label)
            continue
        target = homeroom if klass.get("classType") == "homeroom" else scheduled
        target.setdefault(row["userSourcedId"], _class_label(klass))
    births = {
        row.get("sourcedId", ""): row.get("birthDate", "")
        for _, row in bundle.rows("demographics.csv", required=False)
    }
    collector.file = bundle.label("users.csv")
    for line, row in bundle.rows("users.csv"):
        user_id = row.get("sourcedId", "")
        if delta and (row.get("status") == "tobedeleted" or row.get("enabledUser", "").lower() == "false"):
            if user_id:
                deleted.append(user_id)
            continue
        if not _active(row) or row.get("enabledUser", "true").lower() == "false":
            continue
        if version_12:
            if user_id not in members:
                continue
            role = roles[user_id]
        else:
            if org not in [o.strip() for o in row.get("orgSourcedIds", "").split(",")]:
                continue
            role = ROLE_MAP.get(row.get("role", ""), "")
            if not role:
                continue
        if source.role in ROLE_MAP.values() and role != source.role:
            continue  # the bundle gives only this role (the other comes from a --roster file)
        values = {
            "source_id": user_id,
            "first_name": row.get("preferredGivenName") or row.get("givenName", ""),
            "last_name": row.get("preferredFamilyName") or row.get("familyName", ""),
            "email": row.get("email", ""),
            "birth_date": births.get(user_id, ""),
            "class_name": homeroom.get(user_id) or scheduled.get(user_id, ""),
        }
        collector.add(line, role, values, classes=taught.get(user_id, ()) if role == "teacher" else ())
    return RosterResult(collector.persons, collector.rejected, delta=delta, deleted=deleted)


KLASSE_PREFIX = re.compile(r"^\s*klasse\s*", re.IGNORECASE)


def _class_label(klass: dict[str, str]) -> str:
    """``classCode`` when it is a class name ("5a"), else the title minus a leading "Klasse"."""
    code = klass.get("classCode", "").strip()
    if code and normalise_class(code):
        return code
    title = KLASSE_PREFIX.sub("", klass.get("title", "")).strip()
    return title or code
