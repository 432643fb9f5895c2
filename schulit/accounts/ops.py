"""Day-to-day account operations: list, show, lock, unlock, reset-password, purge.

Each works on schulit-managed accounts only (the identity marker in ``employeeNumber``); a hand-made entry
with the same login is refused with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import ldap3
from ldap3.utils.conv import escape_filter_chars

from schulit.accounts import schema
from schulit.accounts.actual import read_reservations
from schulit.accounts.apply import read_state_attributes
from schulit.accounts.model import (
    ACCOUNT_ATTRIBUTES,
    DEACTIVATED_PREFIX,
    KEY_PREFIX,
    RESERVED_PREFIX,
    ActualAccount,
)
from schulit.accounts.rules import PasswordHolder, managed_counts, over_safety_limit
from schulit.audit import AuditLog
from schulit.directory.connection import check_outcome
from schulit.directory.layout import Layout
from schulit.directory.read import first, paged, values
from schulit.errors import SafetyLimitError, SchulitError
from schulit.inventory import Inventory, SambaSettings
from schulit.passwords import generate_password, hash_password


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
        schema.parse_account(dn, attrs, layout)
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
        raise SchulitError(
            f"no account with login {login!r} (search by name: schulit accounts find {login!r})"
        )
    dn, attributes = found[0]
    if not first(attributes, "employeeNumber").startswith(KEY_PREFIX):
        raise SchulitError(f"{dn} was not created by schulit; schulit leaves it alone")
    return schema.parse_account(dn, attributes, layout)


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


def lock(
    connection: ldap3.Connection,
    account: ActualAccount,
    audit: AuditLog,
    today: date,
    samba: SambaSettings | None = None,
) -> bool:
    """Lock by hand (kept across syncs). Returns False if it was locked already."""
    if account.locked_on is not None:
        return False
    password, _ = read_state_attributes(connection, account.dn)
    modification = schema.lock_modification(password, today, samba)
    check_outcome(connection.modify(account.dn, modification), f"locking {account.login}")
    audit.record("modify", account.dn, list(modification))
    return True


def unlock(
    connection: ldap3.Connection, account: ActualAccount, audit: AuditLog, samba: SambaSettings | None = None
) -> bool:
    """Remove a hand lock; a deactivated account stays disabled. Returns False if it was not locked."""
    if account.locked_on is None:
        return False
    password, descriptions = read_state_attributes(connection, account.dn)
    modification = schema.unlock_modification(password, descriptions, samba)
    check_outcome(connection.modify(account.dn, modification), f"unlocking {account.login}")
    audit.record("modify", account.dn, list(modification))
    return True


def new_password_modification(
    inventory: Inventory, password: str, *, active: bool = True
) -> schema.Modification:
    """The one modify that gives an account a new password, from the clear text: every hash it keeps.

    That is ``userPassword`` and, with ``[samba] enabled``, the NT hash (``sambaNTPassword``,
    ``sambaPwdLastSet``) in this same modify, so that no way of logging in keeps the old password. A
    disabled (deactivated or locked) account stays disabled.
    """
    hashed = hash_password(password, inventory.passwords.hash_scheme)
    return schema.password_modification(hashed, active=active, password=password, samba=inventory.samba)


def issue_passwords(inventory: Inventory, accounts: list[ActualAccount]) -> list[tuple[PasswordHolder, str]]:
    """New initial passwords for ``accounts``, in memory only (the caller delivers them)."""
    return [(PasswordHolder.of(a), generate_password(inventory.passwords.length)) for a in accounts]


def set_passwords(
    connection: ldap3.Connection,
    inventory: Inventory,
    accounts: list[ActualAccount],
    issued: list[tuple[PasswordHolder, str]],
    audit: AuditLog,
) -> None:
    """Write the ``issued`` passwords to their accounts, one modify each (audited)."""
    passwords = {holder.login: password for holder, password in issued}
    for account in accounts:
        active = account.state == "active"
        modification = new_password_modification(inventory, passwords[account.login], active=active)
        what = f"resetting the password of {account.login}"
        controls = [schema.same_state_control(active)]
        check_outcome(connection.modify(account.dn, modification, controls=controls), what)
        audit.record("modify", account.dn, list(modification))


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
    managed = {
        school_id: managed_counts(list_accounts(connection, layout, school=school_id)).get(school_id, 0)
        for school_id in per_school
    }
    over = over_safety_limit(inventory.safety, per_school, managed)
    for school_id, (count, limit) in sorted(over.items()):
        raise SafetyLimitError(
            f"{school_id}: purge would delete {count} accounts, {managed.get(school_id, 0)} are active "
            f"(limit {limit}); nothing deleted; run with --force if that is right"
        )


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
            reservation, schema.RESERVATION_CLASSES, schema.reservation_attributes(account.login, until)
        )
        if not outcome[0] and outcome[1].get("description") != "entryAlreadyExists":
            check_outcome(outcome, f"reserving {account.login}")
        audit.record("add", reservation, ["cn", "description"])
        check_outcome(connection.delete(account.dn), f"deleting {account.dn}")
        audit.record("delete", account.dn)
        deleted.append(account.dn)
    # one modify per group for all its deleted members (the county-wide group has every pupil as a value);
    # an interrupted purge leaves stale memberUid values, which the next sync removes
    for group_dn, logins in sorted(memberships.items()):
        connection.modify(
            group_dn, schema.membership_modification([], logins), controls=[schema.PERMISSIVE_MODIFY]
        )
        audit.record("modify", group_dn, ["memberUid"])
    for dn in plan.expired_reservations:
        check_outcome(connection.delete(dn), f"deleting the expired reservation {dn}")
        audit.record("delete", dn)
        deleted.append(dn)
    return deleted


__all__ = ["DEACTIVATED_PREFIX", "PurgePlan", "find_account", "list_accounts"]
