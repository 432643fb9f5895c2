"""Read the directory once per run: one paged search for accounts, one for groups, one for reservations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPNoSuchObjectResult

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
from schulit.accounts.scan import ACCOUNT_FILTER, scan_in_parallel
from schulit.directory.fastsearch import paged_search
from schulit.directory.init import existing_dns
from schulit.directory.layout import Layout
from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings

PAGE_SIZE = 1000


def paged(
    connection: ldap3.Connection,
    base: str,
    search_filter: str,
    attributes: list[str],
    scope: str = ldap3.SUBTREE,
) -> Iterator[tuple[str, dict[str, list[str]]]]:
    """Yield (dn, attributes) of every entry found; a missing base yields nothing.

    On a SYNC connection (the bulk reads) the answers are decoded by ``schulit.directory.fastsearch``.
    """
    if connection.strategy_type == ldap3.SYNC:
        yield from paged_search(connection, base, search_filter, attributes, scope, PAGE_SIZE)
        return
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
    suffix = "," + layout.schools_dn.lower()
    if not dn.lower().endswith(suffix):
        return ""
    # Split from the right: the school and container RDNs are schulit's own ([a-z0-9-]); only the leftmost
    # RDN (the login, or a hand-made entry's name) could hold an escaped comma, and it stays in one piece.
    above = dn[: -len(suffix)].rsplit(",", 2)
    if len(above) < 2:
        return ""
    attribute, _, value = above[-1].partition("=")
    return value if attribute.strip().lower() == "ou" else ""


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


def read_directory(
    connection: ldap3.Connection,
    layout: Layout,
    today: date,
    *,
    parallel_with: DirectorySettings | None = None,
) -> DirectoryState:
    """Read accounts, groups, reservations and containers below the base DN.

    ``parallel_with``: the connection settings for a second process that reads half of the accounts at the
    same time (worth it from some thousand accounts on; see ``schulit.accounts.scan``).
    """
    state = DirectoryState(
        accounts={},
        groups={},
        taken_logins=set(),
        used_uid_numbers=set(),
        used_gid_numbers=set(),
        existing_dns=existing_dns(connection, layout.base_dn),
    )

    def read_here(search_filter: str) -> Iterator[tuple[str, dict[str, Any]]]:
        return paged(connection, layout.base_dn, search_filter, ACCOUNT_ATTRIBUTES)

    if parallel_with is not None:
        entries = scan_in_parallel(parallel_with, layout.base_dn, ACCOUNT_ATTRIBUTES, read_here)
    else:
        entries = read_here(ACCOUNT_FILTER)
    for dn, attributes in entries:
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
