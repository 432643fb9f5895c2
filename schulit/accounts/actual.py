"""Read the directory once per run: one paged search for accounts, one for groups, one for reservations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import ldap3

from schulit.accounts.model import (
    ACCOUNT_ATTRIBUTES,
    GROUP_ATTRIBUTES,
    KEY_PREFIX,
    RESERVED_PREFIX,
    DirectoryState,
)
from schulit.accounts.scan import ACCOUNT_FILTER, scan_in_parallel
from schulit.accounts.schema import marker_date, parse_account, parse_group
from schulit.directory.init import existing_dns
from schulit.directory.layout import Layout
from schulit.directory.read import first, paged, values
from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings


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
        group = parse_group(dn, attributes)
        if group.gid_number:
            state.used_gid_numbers.add(group.gid_number)
        state.groups[dn.lower()] = group
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
