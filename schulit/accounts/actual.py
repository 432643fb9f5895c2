"""Read the directory once per run: one paged search for accounts, one for groups, one for reservations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPNoSuchObjectResult
from ldap3.utils.dn import parse_dn

from schulit.accounts.model import (
    ACCOUNT_ATTRIBUTES,
    DEACTIVATED_PREFIX,
    GROUP_ATTRIBUTES,
    GROUP_MARKER,
    KEY_PREFIX,
    LOCKED_PREFIX,
    RESERVED_PREFIX,
    ActualAccount,
    ActualGroup,
    DirectoryState,
)
from schulit.directory.init import existing_dns
from schulit.directory.layout import Layout
from schulit.errors import DirectoryError

PAGE_SIZE = 1000


def paged(
    connection: ldap3.Connection,
    base: str,
    search_filter: str,
    attributes: list[str],
    scope: str = ldap3.SUBTREE,
) -> Iterator[tuple[str, dict[str, list[str]]]]:
    """Yield (dn, attributes) of every entry found; a missing base yields nothing."""
    try:
        for entry in connection.extend.standard.paged_search(
            base,
            search_filter,
            search_scope=scope,
            attributes=attributes,
            paged_size=PAGE_SIZE,
            generator=True,
        ):
            if entry.get("type") == "searchResEntry":
                yield entry["dn"], entry["attributes"]
    except LDAPNoSuchObjectResult:
        return
    except ldap3.core.exceptions.LDAPException as exc:
        raise DirectoryError(f"reading {base} failed: {exc}") from None


def first(attributes: dict[str, Any], name: str, default: str = "") -> str:
    """The first value of an attribute, or ``default``."""
    values = attributes.get(name) or []
    if isinstance(values, list):
        return str(values[0]) if values else default
    return str(values)


def values(attributes: dict[str, Any], name: str) -> list[str]:
    """All values of an attribute as strings."""
    found = attributes.get(name) or []
    return [str(v) for v in found] if isinstance(found, list) else [str(found)]


def marker_date(descriptions: list[str], prefix: str) -> date | None:
    """The date in a ``schulit:<what>=<date>`` description value, if present."""
    for value in descriptions:
        if value.startswith(prefix):
            try:
                return date.fromisoformat(value[len(prefix) :])
            except ValueError:
                return date.min
    return None


def home_school_of(dn: str, layout: Layout) -> str:
    """The school id whose OU holds ``dn`` (``uid=..,ou=pupils,ou=<school>,ou=schools,<base>``), or ''."""
    parts = parse_dn(dn, escape=False)
    schools_depth = len(parse_dn(layout.schools_dn, escape=False))
    if len(parts) >= schools_depth + 2 and parts[-(schools_depth + 1)][0].lower() == "ou":
        return parts[-(schools_depth + 1)][1]
    return ""


def parse_account(dn: str, attributes: dict[str, Any], layout: Layout) -> ActualAccount:
    """Turn one search entry of a managed account into an ActualAccount."""
    descriptions = values(attributes, "description")
    schools = tuple(sorted(values(attributes, "departmentNumber")))
    return ActualAccount(
        dn=dn,
        login=first(attributes, "uid"),
        key=first(attributes, "employeeNumber"),
        role=first(attributes, "employeeType"),
        first_name=first(attributes, "givenName"),
        last_name=first(attributes, "sn"),
        home_school=home_school_of(dn, layout),
        schools=schools,
        class_name=first(attributes, "ou") or None,
        email=first(attributes, "mail") or None,
        uid_number=int(first(attributes, "uidNumber", "0") or 0),
        gid_number=int(first(attributes, "gidNumber", "0") or 0),
        deactivated_on=marker_date(descriptions, DEACTIVATED_PREFIX),
        locked_on=marker_date(descriptions, LOCKED_PREFIX),
    )


def read_directory(connection: ldap3.Connection, layout: Layout, today: date) -> DirectoryState:
    """Read accounts, groups, reservations and containers below the base DN."""
    state = DirectoryState(
        accounts={},
        groups={},
        taken_logins=set(),
        used_uid_numbers=set(),
        used_gid_numbers=set(),
        existing_dns=existing_dns(connection, layout.base_dn),
    )
    for dn, attributes in paged(
        connection, layout.base_dn, "(|(objectClass=posixAccount)(uid=*))", ACCOUNT_ATTRIBUTES
    ):
        state.taken_logins.update(v.lower() for v in values(attributes, "uid"))
        uid_number = first(attributes, "uidNumber")
        if uid_number.isdigit():
            state.used_uid_numbers.add(int(uid_number))
        key = first(attributes, "employeeNumber")
        if key.startswith(KEY_PREFIX):
            account = parse_account(dn, attributes, layout)
            if account.key in state.accounts:
                raise DirectoryError(
                    f"two entries carry the identity {account.key}: "
                    f"{state.accounts[account.key].dn} and {dn}; remove one by hand"
                )
            state.accounts[account.key] = account
    for dn, attributes in paged(connection, layout.base_dn, "(objectClass=posixGroup)", GROUP_ATTRIBUTES):
        gid_number = first(attributes, "gidNumber")
        if gid_number.isdigit():
            state.used_gid_numbers.add(int(gid_number))
        state.groups[dn.lower()] = ActualGroup(
            dn=dn,
            name=first(attributes, "cn"),
            gid_number=int(gid_number or 0),
            members=set(values(attributes, "memberUid")),
            managed=GROUP_MARKER in values(attributes, "description"),
        )
    for _dn, attributes in read_reservations(connection, layout):
        until = marker_date(values(attributes, "description"), RESERVED_PREFIX)
        if until is not None and until >= today:
            state.taken_logins.add(first(attributes, "cn").lower())
    return state


def read_reservations(connection: ldap3.Connection, layout: Layout) -> Iterator[tuple[str, dict[str, Any]]]:
    """Reservation entries of deleted logins (one level below ou=schulit)."""
    yield from paged(
        connection,
        layout.system_dn,
        "(objectClass=organizationalRole)",
        ["cn", "description"],
        scope=ldap3.LEVEL,
    )
