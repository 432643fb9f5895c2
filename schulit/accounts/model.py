"""Plain records of the accounts pipeline: desired persons, directory state, changes, plans.

The markers below are the words schulit writes into the directory; ``schulit.accounts.schema`` maps the
records to entries and back.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import date
from operator import attrgetter
from typing import Any

KEY_PREFIX = "schulit:"
GROUP_MARKER = "schulit:managed"
DEACTIVATED_PREFIX = "schulit:deactivated="
LOCKED_PREFIX = "schulit:locked="
RESERVED_PREFIX = "schulit:reserved-until="
PLAN_FORMAT = 1  # of ``plan --json`` documents that ``sync --plan`` accepts
ROLES = ("pupil", "teacher")
COUNTY_GROUPS = {"pupil": "all-pupils", "teacher": "all-teachers"}

ACCOUNT_ATTRIBUTES = [
    "uid",
    "uidNumber",
    "gidNumber",
    "employeeNumber",
    "employeeType",
    "givenName",
    "sn",
    "ou",
    "departmentNumber",
    "description",
    "mail",
]
GROUP_ATTRIBUTES = ["cn", "gidNumber", "memberUid", "description"]


def identity_key(scope: str, role: str, source_id: str) -> str:
    """The value stored in ``employeeNumber``: scope is ``county`` or a school id."""
    return f"{KEY_PREFIX}{scope}:{role}:{source_id}"


@dataclass(slots=True)  # not frozen: a frozen dataclass takes 2.7 times as long to make (100,000 per run)
class DesiredPerson:
    """One person as the rosters of the schools in this run describe them (merged across schools).

    Treated as immutable: changed copies are made with ``dataclasses.replace``."""

    key: str
    role: str
    first_name: str
    last_name: str
    schools: tuple[str, ...]
    class_name: str | None
    email: str | None
    origin: str
    birth_date: date | None = None  # only for name+birthdate matching; never stored
    teacher_classes: tuple[tuple[str, str], ...] = ()  # (school id, class) a teacher teaches, sorted


@dataclass(slots=True)  # a million of them at Land scale: no __dict__ each
class ActualAccount:
    """A schulit-managed account as read from the directory."""

    dn: str
    login: str
    key: str
    role: str
    first_name: str
    last_name: str
    home_school: str
    schools: tuple[str, ...]
    class_name: str | None
    email: str | None
    uid_number: int
    gid_number: int
    deactivated_on: date | None
    locked_on: date | None

    @property
    def state(self) -> str:
        if self.deactivated_on is not None:
            return "deactivated"
        return "locked" if self.locked_on is not None else "active"


@dataclass
class ActualGroup:
    """A posixGroup below the base (managed or not)."""

    dn: str
    name: str
    gid_number: int
    members: set[str]
    managed: bool


@dataclass
class DirectoryState:
    """Everything one sync needs to know about the directory, read once."""

    accounts: dict[str, ActualAccount]  # by identity key (managed only)
    groups: dict[str, ActualGroup]  # by lower-case DN
    taken_logins: set[str]  # every uid in the directory, managed or not, plus reserved logins
    used_uid_numbers: set[int]
    used_gid_numbers: set[int]
    existing_dns: set[str]  # lower-case DNs of containers that exist

    def fingerprint(self) -> str:
        """A digest of everything a plan is computed from: equal digests, equal plans for equal rosters.

        Built from tuples of the records' fields (``asdict`` took seconds for 100,000 accounts)."""
        digest = hashlib.sha256()
        account_fields = attrgetter(*(f.name for f in fields(ActualAccount)))
        for key in sorted(self.accounts):
            digest.update(repr(account_fields(self.accounts[key])).encode())
        digest.update(b"\0groups")
        for key in sorted(self.groups):
            group = self.groups[key]
            digest.update(repr((group.dn, group.gid_number, group.managed, sorted(group.members))).encode())
        for name, values in (
            ("logins", self.taken_logins),
            ("uids", self.used_uid_numbers),
            ("gids", self.used_gid_numbers),
            ("containers", self.existing_dns),
        ):
            digest.update(f"\0{name}".encode() + repr(sorted(values)).encode())
        return "sha256:" + digest.hexdigest()


@dataclass
class Change:
    """One planned directory change. ``to_json`` is what ``plan --json`` prints and ``sync`` applies."""

    action: str  # container-create, create, update, move, deactivate, reactivate, group-create, group-update,
    # group-delete, probable-rename
    school: str
    dn: str
    login: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "school": self.school,
            "dn": self.dn,
            "login": self.login,
            **self.details,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Change:
        details = {k: v for k, v in document.items() if k not in ("action", "school", "dn", "login")}
        return cls(document["action"], document["school"], document["dn"], document["login"], details)


@dataclass
class SchoolReport:
    """Per-school outcome of reading rosters and planning."""

    school_id: str
    persons: int = 0
    rejected: list[str] = field(default_factory=list)
    error: str | None = None
    safety_stop: str | None = None
    held: list[dict[str, str]] = field(default_factory=list)  # what a stopped school would have deactivated

    def to_json(self) -> dict[str, Any]:
        return {
            "school": self.school_id,
            "persons": self.persons,
            "rejected": self.rejected,
            "error": self.error,
            "safety_stop": self.safety_stop,
            "held": self.held,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> SchoolReport:
        return cls(
            school_id=document["school"],
            persons=document["persons"],
            rejected=list(document["rejected"]),
            error=document["error"],
            safety_stop=document["safety_stop"],
            held=list(document.get("held", [])),
        )


@dataclass
class Plan:
    """The complete, ordered list of changes for one run, plus per-school reports."""

    changes: list[Change]
    schools: list[SchoolReport]
    today: date
    managed: dict[str, int] = field(default_factory=dict)  # active managed accounts per home school, before
    directory_fingerprint: str = ""  # DirectoryState.fingerprint() of the state the plan was computed from
    computed_from: DirectoryState | None = field(default=None, repr=False, compare=False)

    def fingerprint(self) -> str:
        """The directory fingerprint, computed when first asked for (only saved plans need it)."""
        if not self.directory_fingerprint and self.computed_from is not None:
            self.directory_fingerprint = self.computed_from.fingerprint()
        return self.directory_fingerprint

    def counts(self, school_id: str | None = None) -> dict[str, int]:
        """Changes per action (class changes and renames split out of updates)."""
        counts: dict[str, int] = {}
        for change in self.changes:
            if school_id is not None and change.school != school_id:
                continue
            names = [change.action]
            if change.action == "update":
                names = []
                if "class" in change.details.get("changes", {}):
                    names.append("class-change")
                if set(change.details.get("changes", {})) - {"class"}:
                    names.append("update")
            for name in names:
                counts[name] = counts.get(name, 0) + 1
        return counts

    @property
    def pending(self) -> list[Change]:
        """Changes that apply would carry out (probable renames wait for confirmation)."""
        return [c for c in self.changes if c.action != "probable-rename"]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "today": self.today.isoformat(),
            "directory_fingerprint": self.fingerprint(),
            "managed": self.managed,
            "schools": [
                {**report.to_json(), "counts": self.counts(report.school_id)} for report in self.schools
            ],
            "changes": [change.to_json() for change in self.changes],
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Plan:
        """A plan saved with ``accounts plan --json``; KeyError/ValueError/TypeError if it is not one."""
        if document.get("format") != PLAN_FORMAT:
            raise ValueError(f"not a schulit plan of format {PLAN_FORMAT}")
        return cls(
            changes=[Change.from_json(c) for c in document["changes"]],
            schools=[SchoolReport.from_json(s) for s in document["schools"]],
            today=date.fromisoformat(document["today"]),
            managed={str(k): int(v) for k, v in document["managed"].items()},
            directory_fingerprint=str(document["directory_fingerprint"]),
        )
