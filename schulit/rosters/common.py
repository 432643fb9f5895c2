"""Normalisation shared by the CSV and OneRoster readers: names, classes, dates, identity keys."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from schulit.naming import transliterate
from schulit.records import RejectedRow, RosterPerson

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


def normalise_class(value: str) -> str | None:
    """ "05a" → "5a", "5 A" → "5a", "BFS IT1" → "bfsit1"; None if the result is not a usable class name."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFC", value)).lower()
    text = transliterate(text).lower()
    text = re.sub(r"^0+(?=\d)", "", text)
    text = text.replace("/", "-").replace("_", "-").replace(".", "-")
    return text if CLASS_PATTERN.match(text) else None


def parse_date(value: str) -> date | None:
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(value.strip(), pattern).date()
        except ValueError:
            continue
    return None


def name_key(first: str, last: str, birth: date) -> str:
    """The derived id of a person in a school without stable ids (name+birthdate identity)."""
    return f"nbd:{transliterate(last).lower()}|{transliterate(first).lower()}|{birth.isoformat()}"


@dataclass
class RowCollector:
    """Builds RosterPersons from raw field values, rejecting bad rows with file:line: field: problem."""

    file: str
    school_id: str
    identity: str
    persons: list[RosterPerson] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    seen_ids: dict[str, int] = field(default_factory=dict)

    def reject(self, line: int, field_name: str, problem: str) -> None:
        self.rejected.append(RejectedRow(self.file, line, field_name, problem))

    def add(self, line: int, role: str, values: dict[str, str], classes: Iterable[str] = ()) -> None:
        """Validate one row (already mapped to field names) and keep or reject it.

        A teacher's classes come from ``values["teacher_classes"]`` (or ``class_name``), a list separated by
        commas, spaces or ``/``, and from ``classes`` (one label each, e.g. OneRoster enrollments).
        """
        for name, value in values.items():
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
            birth = parse_date(raw_birth)
            if birth is None:
                return self.reject(line, "birth_date", f"not a date: {raw_birth!r} (expected dd.mm.yyyy)")
        source_id = values.get("source_id", "").strip()
        if self.identity == "name+birthdate":
            if birth is None:
                return self.reject(
                    line, "birth_date", "missing (this school is matched by name and birth date)"
                )
            source_id = source_id or name_key(first, last, birth)
        elif not source_id:
            return self.reject(line, "source_id", "missing id")
        class_name = None
        if role == "pupil":
            raw_class = values.get("class_name", "").strip()
            if not raw_class:
                return self.reject(line, "class_name", "missing class")
            class_name = normalise_class(raw_class)
            if class_name is None:
                return self.reject(line, "class_name", f"unknown class format {raw_class!r}")
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
                teacher_classes=tuple(sorted(teacher_classes)),
            )
        )
        return None
