"""``accounts adopt``: take over entries schulit did not create, instead of creating twins (migration).

A roster person of the school that has no account of schulit's yet is matched with an entry below the base
that carries no schulit identity key:

- same login: the entry's ``uid`` equals the login the roster gives (sophomorix, UCS@school), or
- same id: the entry's ``employeeNumber`` (where a peer kept its own id in the stock schema) equals the
  person's roster id.

An entry matched by two persons, a person matching two entries, and an entry without ``posixAccount`` are
left alone (reported). Nothing is written before the plan was shown and confirmed (an admin's entry that
happens to carry a pupil's id would be listed there). Adopting writes the identity key, role and school onto
the entry (adding the ``inetOrgPerson``/``shadowAccount`` classes it lacks) and moves it to the school's
container; login, ``uidNumber`` and password stay. The next ``accounts sync`` brings names, class and groups
in line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ldap3
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from schulit.accounts.actual import read_directory
from schulit.accounts.desired import build_desired
from schulit.accounts.lock import directory_lock
from schulit.accounts.model import KEY_PREFIX
from schulit.audit import AuditLog
from schulit.directory.connection import connected
from schulit.directory.init import apply_init, plan_init
from schulit.directory.read import first, paged, values
from schulit.errors import DirectoryError, SchulitError
from schulit.inventory import Inventory
from schulit.records import RosterSource
from schulit.rosters.namekey import source_id_of_key

FOREIGN_ATTRIBUTES = ["uid", "employeeNumber", "objectClass", "sn", "cn", "givenName"]


@dataclass
class Adoption:
    """One hand-made entry schulit takes over."""

    dn: str
    login: str
    key: str
    role: str
    schools: tuple[str, ...]
    new_dn: str
    reason: str  # "same login" | "same id"
    name: str
    add_classes: list[str] = field(default_factory=list)
    sn: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "dn": self.dn,
            "login": self.login,
            "name": self.name,
            "role": self.role,
            "new_dn": self.new_dn,
            "reason": self.reason,
        }


@dataclass
class AdoptPlan:
    """What ``adopt`` would take over, and what it leaves (with the reason)."""

    school_id: str
    adoptions: list[Adoption]
    left: list[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "school": self.school_id,
            "adopt": [a.to_json() for a in self.adoptions],
            "left": self.left,
        }


def _foreign_entries(connection: ldap3.Connection, base_dn: str) -> list[tuple[str, dict[str, Any]]]:
    """Person entries below the base without a schulit identity key."""
    search = f"(&(uid=*)(!(employeeNumber={escape_filter_chars(KEY_PREFIX)}*)))"
    return list(paged(connection, base_dn, search, FOREIGN_ATTRIBUTES))


def plan_adoption(
    inventory: Inventory,
    connection: ldap3.Connection,
    school_id: str,
    roster_overrides: Mapping[str, tuple[RosterSource, ...]] | None = None,
    skip_bad_rows: bool = False,
    today: date | None = None,
) -> AdoptPlan:
    """Match the school's roster persons without an account with hand-made entries (no writes)."""
    school = inventory.school(school_id)
    desired = build_desired(inventory, [school.id], roster_overrides, skip_bad_rows)
    report = desired.reports[0]
    if report.error:
        raise SchulitError(f"{school.id}: {report.error}")
    actual = read_directory(connection, inventory.layout, today or date.today())
    by_login: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    by_id: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for dn, attributes in _foreign_entries(connection, inventory.layout.base_dn):
        for login in values(attributes, "uid"):
            by_login.setdefault(login.lower(), []).append((dn, attributes))
        number = first(attributes, "employeeNumber")
        if number:
            by_id.setdefault(number, []).append((dn, attributes))
    candidates: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}  # key -> (reason, dn, attributes)
    for person in sorted(desired.persons.values(), key=lambda p: p.key):
        if person.key in actual.accounts or school.id not in person.schools:
            continue
        found: dict[str, tuple[str, str, dict[str, Any]]] = {}
        given = desired.logins.get(person.key)
        for dn, attributes in by_login.get(given or "", []) if given else []:
            found.setdefault(dn.lower(), ("same login", dn, attributes))
        source_id = source_id_of_key(person.key)
        for dn, attributes in by_id.get(source_id, []) if source_id else []:
            found.setdefault(dn.lower(), ("same id", dn, attributes))
        if found:
            candidates[person.key] = list(found.values())
    claimed: dict[str, int] = {}
    for entries in candidates.values():
        for _, dn, _ in entries:
            claimed[dn.lower()] = claimed.get(dn.lower(), 0) + 1
    adoptions: list[Adoption] = []
    left: list[str] = []
    for key, entries in sorted(candidates.items()):
        person = desired.persons[key]
        name = f"{person.first_name} {person.last_name}"
        if len(entries) > 1:
            left.append(f"{name} ({person.origin}): matches {len(entries)} entries; adopt by hand")
            continue
        reason, dn, attributes = entries[0]
        if claimed[dn.lower()] > 1:
            left.append(f"{dn}: matches more than one roster person; adopt by hand")
            continue
        classes = {c.lower() for c in values(attributes, "objectClass")}
        if "posixaccount" not in classes:
            left.append(f"{dn}: not a posixAccount (no uidNumber); adopt by hand")
            continue
        login = first(attributes, "uid")
        adoptions.append(
            Adoption(
                dn=dn,
                login=login,
                key=key,
                role=person.role,
                schools=person.schools,
                new_dn=inventory.layout.account_dn(school.id, person.role, login),
                reason=reason,
                name=name,
                add_classes=[c for c in ("inetOrgPerson", "shadowAccount") if c.lower() not in classes],
                sn=first(attributes, "sn") or person.last_name,
            )
        )
    return AdoptPlan(school.id, adoptions, left)


def _check(connection: ldap3.Connection, ok: bool, what: str) -> None:
    if not ok:
        raise DirectoryError(
            f"{what}: {connection.result.get('description')}: {connection.result.get('message')}"
        )


def apply_adoption(
    inventory: Inventory, connection: ldap3.Connection, plan: AdoptPlan, audit: AuditLog
) -> list[str]:
    """Write the adoptions; return the new DNs. The school's containers are created where missing."""
    init = plan_init(connection, inventory.layout, [plan.school_id])
    apply_init(connection, inventory.layout, init, inventory.county_name)
    done = []
    for adoption in plan.adoptions:
        changes: dict[str, list[tuple[str, list[str]]]] = {
            "employeeNumber": [(ldap3.MODIFY_REPLACE, [adoption.key])],
            "employeeType": [(ldap3.MODIFY_REPLACE, [adoption.role])],
            "departmentNumber": [(ldap3.MODIFY_REPLACE, list(adoption.schools))],
        }
        if adoption.add_classes:
            changes["objectClass"] = [(ldap3.MODIFY_ADD, adoption.add_classes)]
            if "inetOrgPerson" in adoption.add_classes:
                changes["sn"] = [(ldap3.MODIFY_REPLACE, [adoption.sn])]
        _check(connection, connection.modify(adoption.dn, changes), f"adopting {adoption.dn}")
        audit.record("modify", adoption.dn, sorted(changes))
        dn = adoption.dn
        if dn.lower() != adoption.new_dn.lower():
            rdn, parent = adoption.new_dn.split(",", 1)
            # a cn=... entry keeps its cn value (a required attribute); a uid=... one loses nothing
            keep_old = parse_dn(dn, escape=False)[0][0].lower() != "uid"
            moved = connection.modify_dn(dn, rdn, delete_old_dn=not keep_old, new_superior=parent)
            _check(connection, moved, f"moving {dn} to {adoption.new_dn}")
            audit.record("moddn", dn, ["dn"])
        done.append(adoption.new_dn)
    return done


def adopt(
    inventory: Inventory,
    school_id: str,
    *,
    confirm: Callable[[AdoptPlan], bool] | None = None,
    dry_run: bool = False,
    roster_overrides: Mapping[str, tuple[RosterSource, ...]] | None = None,
    skip_bad_rows: bool = False,
) -> tuple[AdoptPlan, list[str]]:
    """The use case: plan under the run lock, show (``confirm``), write, audit."""
    with directory_lock(inventory.directory), connected(inventory.directory) as connection:
        plan = plan_adoption(inventory, connection, school_id, roster_overrides, skip_bad_rows)
        if dry_run or not plan.adoptions or (confirm is not None and not confirm(plan)):
            return plan, []
        with AuditLog(inventory.audit_log, "accounts adopt") as audit:
            return plan, apply_adoption(inventory, connection, plan, audit)
