"""Plain records of the accounts pipeline and the directory attributes they map to.

How schulit marks and stores things with the stock schemas only (core, cosine, inetorgperson, nis):

- ``employeeNumber: schulit:<scope>:<role>:<source id>`` on every account schulit created: the identity key
  *and* the "managed by schulit" marker. Entries without it are never changed, moved or deleted.
- ``employeeType``: pupil | teacher; ``departmentNumber``: the school ids; ``ou``: the pupil's class.
- ``description: schulit:deactivated=<date>`` (missing from the roster) and ``schulit:locked=<date>`` (by an
  admin). While either is present, ``shadowExpire: 1`` disables PAM logins and the ``userPassword`` hash
  carries a ``!`` after its ``{SCHEME}`` so that no LDAP bind can succeed; removing the ``!`` restores it.
- groups: posixGroup with ``memberUid``; ``description: schulit:managed`` marks schulit's groups.
- reserved logins of deleted accounts: ``cn=<login>,ou=schulit,<base>`` (organizationalRole) with
  ``description: schulit:reserved-until=<date>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

KEY_PREFIX = "schulit:"
GROUP_MARKER = "schulit:managed"
DEACTIVATED_PREFIX = "schulit:deactivated="
LOCKED_PREFIX = "schulit:locked="
RESERVED_PREFIX = "schulit:reserved-until="
ROLES = ("pupil", "teacher")
ROLE_CONTAINERS = {"pupil": "pupils", "teacher": "teachers"}
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


@dataclass(frozen=True)
class DesiredPerson:
    """One person as the rosters of the schools in this run describe them (merged across schools)."""

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


@dataclass
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


@dataclass
class SchoolReport:
    """Per-school outcome of reading rosters and planning."""

    school_id: str
    persons: int = 0
    rejected: list[str] = field(default_factory=list)
    error: str | None = None
    safety_stop: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "school": self.school_id,
            "persons": self.persons,
            "rejected": self.rejected,
            "error": self.error,
            "safety_stop": self.safety_stop,
        }


@dataclass
class Plan:
    """The complete, ordered list of changes for one run, plus per-school reports."""

    changes: list[Change]
    schools: list[SchoolReport]
    today: date
    managed: dict[str, int] = field(default_factory=dict)  # active managed accounts per home school, before

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
            "today": self.today.isoformat(),
            "schools": [
                {**report.to_json(), "counts": self.counts(report.school_id)} for report in self.schools
            ],
            "changes": [change.to_json() for change in self.changes],
        }
