"""Records shared by the roster readers and the accounts pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROSTER_FIELDS = (
    "source_id",
    "first_name",
    "last_name",
    "class_name",
    "role",
    "birth_date",
    "email",
    "teacher_classes",
)
"""The field names a ``[rosters.columns]`` mapping may use (README: Rosters)."""


@dataclass(frozen=True)
class RosterSource:
    """One roster export of one school, as configured in the inventory."""

    path: Path
    format: str  # "csv" | "oneroster" | "sophomorix" | "ucs-school"
    role: str  # "pupil" | "teacher" | "mixed"
    encoding: str = "auto"
    delimiter: str = "auto"
    columns: Mapping[str, str] = field(default_factory=dict)  # field name -> header in the file
    preset: str | None = None
    origin: str = ""


@dataclass(slots=True)  # not frozen: a frozen dataclass takes 2.7 times as long to make (one per row)
class RosterPerson:
    """One person of one school's roster, normalised; treated as immutable."""

    source_id: str
    first_name: str
    last_name: str
    role: str  # "pupil" | "teacher"
    school_id: str
    class_name: str | None
    birth_date: date | None = None
    email: str | None = None
    origin: str = ""  # "file:line"
    class_label: str | None = None  # as the school writes it ("BFS-IT1"); class_name is for matching
    login: str | None = None  # a login the source already gave (sophomorix, UCS@school): kept
    teacher_classes: tuple[str, ...] = ()  # a teacher's classes in this school (normalised, sorted)


@dataclass(frozen=True)
class RejectedRow:
    """A row the reader refused, with the reason."""

    file: str
    line: int
    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.problem}"


@dataclass
class RosterResult:
    """Accepted persons and rejected rows of one roster source."""

    persons: list[RosterPerson]
    rejected: list[RejectedRow]
    delta: bool = False  # only changes: persons not listed stay as they are
    deleted: list[str] = field(default_factory=list)  # delta: source ids that leave
