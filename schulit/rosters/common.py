"""Normalisation shared by the CSV and OneRoster readers: names, classes, dates, identity keys."""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache

from schulit.naming import transliterate
from schulit.records import RejectedRow, RosterPerson
from schulit.rosters.namekey import NameKeys

MAX_FIELD = 200
MAX_COLUMNS = 200
CLASS_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,14}$")
CLASS_LIST_SEPARATORS = re.compile(r"[,\s/]+")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
DATE_FORMATS = ("%d.%m.%Y", "%Y-%m-%d", "%d.%m.%y")


class RosterError(Exception):
    """A roster that cannot be read at all; the message names file (and line/field where it applies)."""


def clean_name(value: str) -> str:
    """NFC, trimmed, inner whitespace collapsed; otherwise faithful."""
    return " ".join(unicodedata.normalize("NFC", value).split())


@lru_cache(maxsize=4096)  # a pure function of few distinct values, called once per roster row
def normalise_class(value: str) -> str | None:
    """ "05a" → "5a", "5 A" → "5a", "BFS IT1" → "bfsit1"; None if the result is not a usable class name."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFC", value)).lower()
    text = transliterate(text).lower()
    text = re.sub(r"^0+(?=\d)", "", text)
    text = text.replace("/", "-").replace("_", "-").replace(".", "-")
    return sys.intern(text) if CLASS_PATTERN.match(text) else None  # the directory's read interns it too


def parse_date(value: str, formats: tuple[str, ...] = DATE_FORMATS) -> date | None:
    """The first of ``formats`` that reads ``value`` as a plausible birth date (year 1900 on; a two-digit
    year is never in the future: "65" is 1965)."""
    for pattern in formats:
        try:
            parsed = datetime.strptime(value.strip(), pattern).date()
        except ValueError:
            continue
        if "%y" in pattern and parsed > date.today():
            parsed = parsed.replace(year=parsed.year - 100)
        if parsed.year >= 1900:
            return parsed
    return None


def ephemeral_name_keys() -> NameKeys:
    """Keys valid for one read only: for reading a name+birthdate roster without syncing it."""
    import secrets

    return NameKeys(secrets.token_bytes(32))


@dataclass
class RowCollector:
    """Builds RosterPersons from raw field values, rejecting bad rows with file:line: field: problem."""

    file: str
    school_id: str
    identity: str
    name_keys: NameKeys | None = None  # name+birthdate schools: the county's secret (else one for this read)
    require_class: bool = False  # reject pupils without a class (school setting ``require_class``)
    date_formats: tuple[str, ...] = DATE_FORMATS
    persons: list[RosterPerson] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    seen_ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.identity == "name+birthdate" and self.name_keys is None:
            self.name_keys = ephemeral_name_keys()

    def reject(self, line: int, field_name: str, problem: str) -> None:
        self.rejected.append(RejectedRow(self.file, line, field_name, problem))

    def add(
        self,
        line: int,
        role: str,
        values: dict[str, str],
        classes: Iterable[str] = (),
        *,
        login: str | None = None,
    ) -> None:
        """Validate one row (already mapped to field names) and keep or reject it.

        A teacher's classes come from ``values["teacher_classes"]`` (or ``class_name``), a list separated by
        commas, spaces or ``/``, and from ``classes`` (one label each, e.g. OneRoster enrollments).
        ``login``: a login the source system already gave the person (migration); kept as it is.
        """
        fields = values.values()
        if CONTROL.search("".join(fields)) or max(map(len, fields), default=0) > MAX_FIELD:
            for name, value in values.items():  # which field (rare: one search over the row first)
                if CONTROL.search(value):
                    return self.reject(line, name, "contains control characters (newline, NUL, ...)")
                if len(value) > MAX_FIELD:
                    return self.reject(line, name, f"longer than {MAX_FIELD} characters")
        first = clean_name(values.get("first_name", ""))
        last = clean_name(values.get("last_name", ""))
        if not first:
            return self.reject(line, "first_name", "empty name")
        if not last:
            return self.reject(line, "last_name", "empty name")
        if role not in ("pupil", "teacher"):
            return self.reject(line, "role", f"unknown role {values.get('role', '')!r}")
        birth = None
        raw_birth = values.get("birth_date", "").strip()
        if raw_birth:
            birth = parse_date(raw_birth, self.date_formats)
            if birth is None:
                return self.reject(line, "birth_date", f"not a date: {raw_birth!r} (expected dd.mm.yyyy)")
        source_id = values.get("source_id", "").strip()
        if self.identity == "name+birthdate":
            if birth is None:
                return self.reject(
                    line, "birth_date", "missing (this school is matched by name and birth date)"
                )
            assert self.name_keys is not None
            source_id = source_id or self.name_keys.source_id(self.school_id, first, last, birth)
        elif not source_id:
            return self.reject(line, "source_id", "missing id")
        class_name = None
        class_label = None
        if role == "pupil":
            raw_class = clean_name(values.get("class_name", ""))
            if not raw_class and self.require_class:
                return self.reject(line, "class_name", "missing class (this school requires one)")
            if raw_class:
                class_name = normalise_class(raw_class)
                if class_name is None:
                    return self.reject(line, "class_name", f"unknown class format {raw_class!r}")
                class_label = raw_class
        teacher_classes: set[str] = set()
        if role == "teacher":
            raw_list = values.get("teacher_classes", "") or values.get("class_name", "")
            for raw in [*CLASS_LIST_SEPARATORS.split(raw_list.strip()), *classes]:
                if raw.strip():
                    taught = normalise_class(raw)
                    if taught is None:
                        return self.reject(line, "teacher_classes", f"unknown class format {raw!r}")
                    teacher_classes.add(taught)
        if source_id in self.seen_ids:
            return self.reject(
                line, "source_id", f"duplicate id {source_id!r} (also line {self.seen_ids[source_id]})"
            )
        self.seen_ids[source_id] = line
        email = values.get("email", "").strip() or None
        self.persons.append(
            RosterPerson(
                source_id=source_id,
                first_name=first,
                last_name=last,
                role=role,
                school_id=self.school_id,
                class_name=class_name,
                birth_date=birth,
                email=email,
                origin=f"{self.file}:{line}",
                class_label=class_label,
                login=login,
                teacher_classes=tuple(sorted(teacher_classes)),
            )
        )
        return None
