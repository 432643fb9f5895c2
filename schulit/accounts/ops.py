"""Day-to-day account operations: list, show, lock, unlock, reset-password, purge.

Each works on schulit-managed accounts only (the identity marker in ``employeeNumber``); a hand-made entry
with the same login is refused with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import ldap3
from ldap3.utils.conv import escape_filter_chars

from schulit.accounts.actual import first, paged, parse_account, read_reservations, values
from schulit.accounts.apply import PERMISSIVE_MODIFY, disabled_hash, enabled_hash
from schulit.accounts.diff import safety_limit
from schulit.accounts.model import (
    ACCOUNT_ATTRIBUTES,
    DEACTIVATED_PREFIX,
    KEY_PREFIX,
    LOCKED_PREFIX,
    RESERVED_PREFIX,
    ActualAccount,
)
from schulit.audit import AuditLog
from schulit.delivery import DeliveryRecord, write_delivery
from schulit.directory.layout import Layout
from schulit.errors import DirectoryError, SafetyLimitError, SchulitError
from schulit.inventory import Inventory
from schulit.passwords import generate_password, hash_password


def _check(outcome: tuple[Any, ...], what: str) -> None:
    ok, result, _response, _request = outcome
    if not ok:
        raise DirectoryError(f"{what}: {result.get('description')} {result.get('message', '')}".strip())


def list_accounts(
    connection: ldap3.Connection,
    layout: Layout,
    *,
    school: str | None = None,
    class_name: str | None = None,
    state: str | None = None,
) -> list[ActualAccount]:
    """Managed accounts matching the filters, sorted by school, class, login."""
    parts = [f"(employeeNumber={escape_filter_chars(KEY_PREFIX)}*)"]
    if school:
        parts.append(f"(departmentNumber={escape_filter_chars(school)})")
    if class_name:
        parts.append(f"(ou={escape_filter_chars(class_name)})")
    if state == "deactivated":  # let the server pick them out of a county's accounts
        parts.append(f"(description={escape_filter_chars(DEACTIVATED_PREFIX)}*)")
    search_filter = f"(&(objectClass=posixAccount){''.join(parts)})"
    accounts = [
        parse_account(dn, attrs, layout)
        for dn, attrs in paged(connection, layout.base_dn, search_filter, ACCOUNT_ATTRIBUTES)
    ]
    if state:
        accounts = [a for a in accounts if a.state == state or (state == "locked" and a.locked_on)]
    return sorted(accounts, key=lambda a: (a.home_school, a.class_name or "", a.login))


def known_class(connection: ldap3.Connection, layout: Layout, school: str | None, class_name: str) -> str:
    """``--class`` normalised like the rosters ("05a" → "5a", "5 A" → "5a"); an error if no pupil has it."""
    from schulit.rosters.common import normalise_class

    normalised = normalise_class(class_name)
    if normalised is not None:
        parts = [
            f"(employeeNumber={escape_filter_chars(KEY_PREFIX)}*)",
            f"(ou={escape_filter_chars(normalised)})",
        ]
        if school:
            parts.append(f"(departmentNumber={escape_filter_chars(school)})")
        _ok, _result, response, _ = connection.search(
            layout.base_dn, f"(&(objectClass=posixAccount){''.join(parts)})", attributes=["1.1"], size_limit=1
        )
        if response:
            return normalised
    where = f"school {school}" if school else "the directory"
    raise SchulitError(f"--class {class_name!r}: no such class in {where}")


def find_account(connection: ldap3.Connection, layout: Layout, login: str) -> ActualAccount:
    """The managed account with this login, or a clear error."""
    search_filter = f"(uid={escape_filter_chars(login)})"
    found = list(paged(connection, layout.base_dn, search_filter, ACCOUNT_ATTRIBUTES))
    if not found:
        raise SchulitError(f"no account with login {login!r}")
    dn, attributes = found[0]
    if not first(attributes, "employeeNumber").startswith(KEY_PREFIX):
        raise SchulitError(f"{dn} was not created by schulit; schulit leaves it alone")
    return parse_account(dn, attributes, layout)


def account_groups(connection: ldap3.Connection, layout: Layout, login: str) -> list[str]:
    """Names of the posixGroups listing ``login`` as a member."""
    search_filter = f"(&(objectClass=posixGroup)(memberUid={escape_filter_chars(login)}))"
    return sorted(
        first(attrs, "cn") for _dn, attrs in paged(connection, layout.base_dn, search_filter, ["cn"])
    )


def account_json(
    account: ActualAccount, inventory: Inventory, groups: list[str] | None = None
) -> dict[str, Any]:
    """A JSON view of an account (no password, no hash)."""
    document: dict[str, Any] = {
        "login": account.login,
        "dn": account.dn,
        "role": account.role,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "school": account.home_school,
        "schools": list(account.schools),
        "class": account.class_name,
        "state": account.state,
        "uid_number": account.uid_number,
        "locked": account.locked_on is not None,
    }
    if account.deactivated_on is not None:
        document["deactivated_on"] = account.deactivated_on.isoformat()
        document["delete_after"] = (
            account.deactivated_on + timedelta(days=inventory.lifecycle.grace_days)
        ).isoformat()
        document["reason"] = "no longer on the roster of any of its schools"
    if account.locked_on is not None:
        document["locked_on"] = account.locked_on.isoformat()
    if groups is not None:
        document["groups"] = groups
    return document


def _password_and_descriptions(connection: ldap3.Connection, dn: str) -> tuple[str, list[str]]:
    ok, _result, response, _ = connection.search(
        dn, "(objectClass=*)", ldap3.BASE, attributes=["userPassword", "description"]
    )
    if not ok or not response:
        raise DirectoryError(f"cannot read {dn}")
    attributes = response[0]["attributes"]
    raw = (attributes.get("userPassword") or [b""])[0]
    return (raw.decode() if isinstance(raw, bytes) else str(raw)), values(attributes, "description")


def lock(connection: ldap3.Connection, account: ActualAccount, audit: AuditLog, today: date) -> bool:
    """Lock by hand (kept across syncs). Returns False if it was locked already."""
    if account.locked_on is not None:
        return False
    password, _ = _password_and_descriptions(connection, account.dn)
    modification = {
        "description": [(ldap3.MODIFY_ADD, [f"{LOCKED_PREFIX}{today.isoformat()}"])],
        "shadowExpire": [(ldap3.MODIFY_REPLACE, ["1"])],
        "userPassword": [(ldap3.MODIFY_REPLACE, [disabled_hash(password)])],
    }
    _check(connection.modify(account.dn, modification), f"locking {account.login}")
    audit.record("modify", account.dn, list(modification))
    return True


def unlock(connection: ldap3.Connection, account: ActualAccount, audit: AuditLog) -> bool:
    """Remove a hand lock; a deactivated account stays disabled. Returns False if it was not locked."""
    if account.locked_on is None:
        return False
    password, descriptions = _password_and_descriptions(connection, account.dn)
    modification: dict[str, list[tuple[str, list[str]]]] = {
        "description": [(ldap3.MODIFY_DELETE, [d for d in descriptions if d.startswith(LOCKED_PREFIX)])],
    }
    if account.deactivated_on is None:
        modification["shadowExpire"] = [(ldap3.MODIFY_REPLACE, [])]
        modification["userPassword"] = [(ldap3.MODIFY_REPLACE, [enabled_hash(password)])]
    _check(connection.modify(account.dn, modification), f"unlocking {account.login}")
    audit.record("modify", account.dn, list(modification))
    return True


def reset_passwords(
    connection: ldap3.Connection, inventory: Inventory, accounts: list[ActualAccount], audit: AuditLog
) -> list[Path]:
    """New initial passwords: delivery file (0600) first, then the hashes; disabled accounts stay disabled."""
    passwords = {a.login: generate_password(inventory.passwords.length) for a in accounts}
    issued_at = datetime.now(UTC).isoformat(timespec="seconds")
    files = []
    by_school: dict[str, list[DeliveryRecord]] = {}
    for account in accounts:
        school = inventory.school(account.home_school)
        by_school.setdefault(school.id, []).append(
            DeliveryRecord(
                school_id=school.id,
                school_name=school.name,
                class_name=account.class_name or "",
                role=account.role,
                login=account.login,
                first_name=account.first_name,
                last_name=account.last_name,
                password=passwords[account.login],
                reason="reset",
                issued_at=issued_at,
            )
        )
    for school_id, records in sorted(by_school.items()):
        path = write_delivery(inventory.passwords.delivery_dir, school_id, records)
        if path is not None:
            files.append(path)
    for account in accounts:
        hashed = hash_password(passwords[account.login], inventory.passwords.hash_scheme)
        if account.state != "active":
            hashed = disabled_hash(hashed)
        _check(
            connection.modify(account.dn, {"userPassword": [(ldap3.MODIFY_REPLACE, [hashed])]}),
            f"resetting the password of {account.login}",
        )
        audit.record("modify", account.dn, ["userPassword"])
    return files


@dataclass
class PurgePlan:
    """Accounts past their grace period, and reservations that have expired."""

    accounts: list[ActualAccount]
    expired_reservations: list[str]
    today: date


def plan_purge(connection: ldap3.Connection, inventory: Inventory, layout: Layout, today: date) -> PurgePlan:
    """What ``accounts purge`` would delete."""
    grace = timedelta(days=inventory.lifecycle.grace_days)
    due = [
        a
        for a in list_accounts(connection, layout, state="deactivated")
        if a.deactivated_on is not None and a.deactivated_on + grace <= today
    ]
    expired = []
    for dn, attributes in read_reservations(connection, layout):
        for value in values(attributes, "description"):
            if value.startswith(RESERVED_PREFIX) and value[len(RESERVED_PREFIX) :] < today.isoformat():
                expired.append(dn)
    return PurgePlan(due, sorted(expired), today)


def check_purge_limit(
    plan: PurgePlan, inventory: Inventory, connection: ldap3.Connection, layout: Layout
) -> None:
    """Refuse to delete more per school than the safety limit allows (``--force`` skips this check)."""
    per_school: dict[str, int] = {}
    for account in plan.accounts:
        per_school[account.home_school] = per_school.get(account.home_school, 0) + 1
    for school_id, count in sorted(per_school.items()):
        total = count_accounts(connection, layout, school_id)
        limit = safety_limit(inventory.safety, total)
        if count > limit:
            raise SafetyLimitError(
                f"{school_id}: purge would delete {count} of {total} accounts (limit {limit}); "
                "nothing deleted; run with --force if that is right"
            )


def count_accounts(connection: ldap3.Connection, layout: Layout, school: str) -> int:
    """How many managed accounts list ``school`` (no attributes transferred)."""
    search_filter = (
        f"(&(objectClass=posixAccount)(employeeNumber={escape_filter_chars(KEY_PREFIX)}*)"
        f"(departmentNumber={escape_filter_chars(school)}))"
    )
    return sum(1 for _ in paged(connection, layout.base_dn, search_filter, ["1.1"]))


def apply_purge(
    connection: ldap3.Connection, inventory: Inventory, layout: Layout, plan: PurgePlan, audit: AuditLog
) -> list[str]:
    """Delete the accounts (reserving their logins) and the expired reservations; return deleted DNs."""
    until = plan.today + timedelta(days=inventory.lifecycle.login_retention_days)
    deleted = []
    leaving = {account.login for account in plan.accounts}
    memberships: dict[str, list[str]] = {}  # group DN -> logins of deleted accounts in it
    for group_dn, attributes in paged(connection, layout.base_dn, "(objectClass=posixGroup)", ["memberUid"]):
        gone = sorted(leaving.intersection(values(attributes, "memberUid")))
        if gone:
            memberships[group_dn] = gone
    for account in plan.accounts:
        reservation = f"cn={ldap3.utils.dn.escape_rdn(account.login)},{layout.system_dn}"
        outcome = connection.add(
            reservation,
            ["top", "organizationalRole"],
            {"cn": account.login, "description": f"{RESERVED_PREFIX}{until.isoformat()}"},
        )
        if not outcome[0] and outcome[1].get("description") != "entryAlreadyExists":
            _check(outcome, f"reserving {account.login}")
        audit.record("add", reservation, ["cn", "description"])
        _check(connection.delete(account.dn), f"deleting {account.dn}")
        audit.record("delete", account.dn)
        deleted.append(account.dn)
    # one modify per group for all its deleted members (the county-wide group has every pupil as a value);
    # an interrupted purge leaves stale memberUid values, which the next sync removes
    for group_dn, logins in sorted(memberships.items()):
        connection.modify(
            group_dn, {"memberUid": [(ldap3.MODIFY_DELETE, logins)]}, controls=[PERMISSIVE_MODIFY]
        )
        audit.record("modify", group_dn, ["memberUid"])
    for dn in plan.expired_reservations:
        _check(connection.delete(dn), f"deleting the expired reservation {dn}")
        audit.record("delete", dn)
        deleted.append(dn)
    return deleted


__all__ = ["DEACTIVATED_PREFIX", "PurgePlan", "find_account", "list_accounts"]
