"""Read the directory once per run: the accounts school subtree by school subtree (``schulit.accounts.scan``),
then the groups and the reservations."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import ldap3

from schulit.accounts.model import GROUP_ATTRIBUTES, RESERVED_PREFIX, ActualGroup, DirectoryState
from schulit.accounts.scan import GROUP_FILTER, Record, ScanWorker, account_units, read_units
from schulit.accounts.schema import marker_date, parse_group
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

    ``parallel_with``: the connection settings for a second process that reads part of the accounts at the
    same time (worth it from some thousand accounts on; see ``schulit.accounts.scan``).
    """
    with reading_directory(connection, layout, today, parallel_with=parallel_with) as finish:
        return finish()


@contextmanager
def reading_directory(
    connection: ldap3.Connection,
    layout: Layout,
    today: date,
    *,
    parallel_with: DirectorySettings | None = None,
) -> Iterator[Callable[[], DirectoryState]]:
    """Start the read now and give the function that completes it: with ``parallel_with`` a worker process
    reads school subtrees meanwhile (while this process reads the rosters, say)."""
    schools, others = account_units(connection, layout)
    if parallel_with is None or len(schools) < 2:
        yield lambda: _state(connection, layout, today, read_units(connection, layout, schools + others))
        return
    worker = ScanWorker(parallel_with, layout, schools)
    try:
        yield lambda: _state(connection, layout, today, worker.records(connection, others), worker.groups)
    finally:
        worker.close()


def _state(
    connection: ldap3.Connection,
    layout: Layout,
    today: date,
    records: Iterable[Record],
    groups_read: Callable[[], list[ActualGroup] | None] = lambda: None,
) -> DirectoryState:
    """The directory state from the account records; groups as ``groups_read`` has them (a worker's read),
    or read here."""
    state = DirectoryState(
        accounts={},
        groups={},
        taken_logins=set(),
        used_uid_numbers=set(),
        used_gid_numbers=set(),
        existing_dns=existing_dns(connection, layout.base_dn),
    )
    # groups and reservations first: a worker process reads accounts meanwhile
    groups = groups_read()
    if groups is None:
        groups = [
            parse_group(dn, attributes)
            for dn, attributes in paged(connection, layout.base_dn, GROUP_FILTER, GROUP_ATTRIBUTES)
        ]
    for group in groups:
        if group.gid_number:
            state.used_gid_numbers.add(group.gid_number)
        state.groups[group.dn.lower()] = group
    for _dn, attributes in read_reservations(connection, layout):
        until = marker_date(values(attributes, "description"), RESERVED_PREFIX)
        if until is not None and until >= today:
            state.taken_logins.add(first(attributes, "cn").lower())
    for uids, uid_number, account in records:
        state.taken_logins.update(uids)
        if uid_number is not None:
            state.used_uid_numbers.add(uid_number)
        if account is not None:
            if account.key in state.accounts:
                raise DirectoryError(
                    f"two entries carry the identity {account.key}: "
                    f"{state.accounts[account.key].dn} and {account.dn}; remove one by hand"
                )
            state.accounts[account.key] = account
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
