"""The bulk read of account entries: subtree by subtree (each school on its own), compact records only, and
split across two processes for big directories.

Where accounts can be (``account_units``): each school's subtree, every other subtree below the base, and
the base entry; together exactly the base's subtree, without overlap. Each entry becomes a compact
``Record`` (its uids, its uidNumber, and the parsed account if schulit manages it) as soon as it is decoded:
no raw attribute dicts are kept, however big the directory, and memory grows only with what the diff needs.

Decoding LDAP responses is pure Python (a few µs per value), so big directories are read by two processes:
a worker reads every second school and parses its entries itself; its records come back school by school
over a pipe, read by a thread here while this process reads the rest, so neither waits for the other.

The worker is ``python -m schulit.accounts.scan``: settings in on stdin, records out on stdout (pickles
between parent and child only). A new interpreter, not a fork: it never holds the run lock, and if this
process dies the worker's write to the closed pipe fails and it exits.
"""

from __future__ import annotations

import contextlib
import gc
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import ldap3

from schulit.accounts.model import ACCOUNT_ATTRIBUTES, KEY_PREFIX, ActualAccount
from schulit.accounts.schema import parse_account
from schulit.directory.fastsearch import paged_search
from schulit.directory.layout import Layout
from schulit.directory.read import first, paged, values
from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings

ACCOUNT_FILTER = "(|(objectClass=posixAccount)(uid=*))"
Unit = tuple[str, str]  # (search base, scope)
Record = tuple[tuple[str, ...], int | None, ActualAccount | None]  # lower-case uids, uidNumber, account


def account_units(connection: ldap3.Connection, layout: Layout) -> tuple[list[Unit], list[Unit]]:
    """(school subtrees, everything else): the searches that together cover the base's subtree once."""
    schools = [
        (dn, ldap3.SUBTREE)
        for dn, _ in paged(connection, layout.schools_dn, "(objectClass=*)", ["1.1"], ldap3.LEVEL)
    ]
    schools_dn = layout.schools_dn.lower()
    others = [(layout.base_dn, ldap3.BASE)] + [
        (dn, ldap3.SUBTREE)
        for dn, _ in paged(connection, layout.base_dn, "(objectClass=*)", ["1.1"], ldap3.LEVEL)
        if dn.lower() != schools_dn
    ]
    return schools, others


def to_record(dn: str, attributes: dict[str, Any], layout: Layout) -> Record:
    """What the plan needs of one entry found by ACCOUNT_FILTER."""
    uids = tuple(v.lower() for v in values(attributes, "uid"))
    number = first(attributes, "uidNumber")
    key = first(attributes, "employeeNumber")
    account = parse_account(dn, attributes, layout) if key.startswith(KEY_PREFIX) else None
    return uids, int(number) if number.isdigit() else None, account


def read_units(connection: ldap3.Connection, layout: Layout, units: list[Unit]) -> Iterator[Record]:
    """The records of every account entry in ``units``, one unit after the other.

    On the bulk (SYNC) connection each unit is one search *without* the paged-results control: slapd's
    back-mdb answers a paged search below a sub-base by walking the filter's candidates in the whole
    database, so 100 school subtrees of 1,000 accounts took 10.7 s paged and 2.7 s unpaged (one paged
    search of the whole base: 3.6 s). A server size limit below a school's size is then an error that
    says so (a paged whole-base read needs the same limit raised: ``size.prtotal`` defaults to it).
    """
    for base, scope in units:
        if connection.strategy_type != ldap3.SYNC:
            found: Iterator[tuple[str, dict[str, Any]]] = paged(
                connection, base, ACCOUNT_FILTER, ACCOUNT_ATTRIBUTES, scope
            )
        else:
            found = paged_search(connection, base, ACCOUNT_FILTER, ACCOUNT_ATTRIBUTES, scope, page_size=0)
        try:
            for dn, attributes in found:
                yield to_record(dn, attributes, layout)
        except DirectoryError as exc:
            if "sizeLimitExceeded" not in str(exc):
                raise
            raise DirectoryError(
                f"{exc}: the directory's size limit for the bind DN is smaller than one school; raise it "
                '(OpenLDAP: limits dn.exact="<bind DN>" size=unlimited)'
            ) from None


def scan_in_parallel(
    settings: DirectorySettings,
    layout: Layout,
    theirs: list[Unit],
    read_here: Callable[[], Iterator[Record]],
) -> Iterator[Record]:
    """Yield every record: ``theirs`` read by a worker process, the rest by ``read_here`` meanwhile."""
    worker = subprocess.Popen(
        [sys.executable, "-P", "-m", "schulit.accounts.scan"],  # -P: cwd not on sys.path
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    received: list[Record] = []
    failure: list[str] = []

    def collect() -> None:
        assert worker.stdout is not None
        try:
            while True:
                kind, payload = pickle.load(worker.stdout)  # noqa: S301 - our own child's output
                if kind == "done":
                    return
                if kind == "error":
                    failure.append(payload)
                    return
                received.extend(
                    (uids, number, ActualAccount(*fields) if fields else None)
                    for uids, number, fields in payload
                )
        except (EOFError, pickle.UnpicklingError):
            failure.append("the directory read in the worker process ended without a result")

    collector = threading.Thread(target=collect, daemon=True)
    try:
        assert worker.stdin is not None
        pickle.dump((settings, layout.base_dn, theirs), worker.stdin)
        worker.stdin.close()
        collector.start()
        yield from read_here()
        collector.join()
        if failure:
            raise DirectoryError(failure[0])
        yield from received
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait()
        if collector.is_alive():
            collector.join(timeout=5)
        if worker.stdout is not None:
            with contextlib.suppress(OSError):
                worker.stdout.close()


def _worker() -> None:
    """Read the given units; write ("records", [...]) per unit, then ("done", None) or ("error", message)."""
    from schulit.directory.connection import connect
    from schulit.errors import SchulitError

    gc.disable()  # millions of small acyclic objects: see schulit.accounts.service._collector_paused
    settings, base_dn, units = pickle.load(sys.stdin.buffer)  # noqa: S301 - from our parent
    layout = Layout(base_dn)
    out = sys.stdout.buffer
    try:
        connection = connect(settings, strategy=ldap3.SYNC, bulk_read=True)
        try:
            for unit in units:
                records = [
                    (uids, number, tuple(vars(account).values()) if account is not None else None)
                    for uids, number, account in read_units(connection, layout, [unit])
                ]
                pickle.dump(("records", records), out, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            connection.unbind()
        result: tuple[str, Any] = ("done", None)
    except SchulitError as exc:
        result = ("error", str(exc))
    except Exception as exc:
        result = ("error", f"directory read failed in the worker process: {exc}")
    pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


if __name__ == "__main__":
    _worker()
