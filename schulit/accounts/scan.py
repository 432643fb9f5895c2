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
from collections import deque
from collections.abc import Iterator
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
WORKER_QUEUE = 2  # units sent to the worker ahead, so it never waits for the next one


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


class ScanWorker:
    """A second process that reads school subtrees from a queue shared with this process.

    Started before the rosters are read, so the directory read overlaps them; whichever process is free
    takes the next unit (the worker is sent one more whenever it returns one, this process takes them in
    ``read_here``), so neither waits for the other however the work is split. Records come back in unit
    order, whoever read them: the same directory gives the same state in the same order.
    """

    def __init__(self, settings: DirectorySettings, layout: Layout, units: list[Unit]):
        self.layout = layout
        self.units = units
        self.queue: deque[int] = deque(range(len(units)))  # indices of units nobody has taken yet
        self.results: dict[int, list[Record]] = {}
        self.failure: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", "schulit.accounts.scan"],  # -P: cwd not on sys.path
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.collector = threading.Thread(target=self._collect, daemon=True)
        try:
            self._send((settings, layout.base_dn))
            for _ in range(WORKER_QUEUE):
                self._send_next()
        except OSError:
            self.failure.append("the directory read in the worker process could not be started")
        self.collector.start()

    def _send(self, message: Any) -> None:
        assert self.process.stdin is not None
        pickle.dump(message, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.flush()

    def _send_next(self) -> None:
        """The next unit nobody has taken, or None: no more work."""
        try:
            index = self.queue.popleft()
        except IndexError:
            self._send(None)
            return
        self._send((index, self.units[index]))

    def _collect(self) -> None:
        assert self.process.stdout is not None
        try:
            while True:
                kind, payload = pickle.load(self.process.stdout)  # noqa: S301 - our own child's output
                if kind == "done":
                    return
                if kind == "error":
                    self.failure.append(payload)
                    return
                index, records = payload
                with contextlib.suppress(OSError):  # it may have stopped after an error; read that first
                    self._send_next()
                self.results[index] = [
                    (uids, number, ActualAccount(*fields) if fields else None)
                    for uids, number, fields in records
                ]
        except (EOFError, pickle.UnpicklingError, OSError):
            self.failure.append("the directory read in the worker process ended without a result")

    def records(self, connection: ldap3.Connection, others: list[Unit]) -> Iterator[Record]:
        """Read units here until none is left, then ``others``; yield every record in unit order."""
        while True:
            try:
                index = self.queue.popleft()
            except IndexError:
                break
            self.results[index] = list(read_units(connection, self.layout, [self.units[index]]))
        rest = list(read_units(connection, self.layout, others))
        self.collector.join()
        if self.failure:
            raise DirectoryError(self.failure[0])
        for index in range(len(self.units)):
            yield from self.results.pop(index)
        yield from rest

    def close(self) -> None:
        """Stop the worker if it still runs (an error here, or the caller gave up)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.collector.is_alive():
            self.collector.join(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _worker() -> None:
    """Read units as they are sent (index, unit), None ending; write ("records", (index, [...])) for each,
    then ("done", None), or ("error", message) and stop."""
    from schulit.directory.connection import connect
    from schulit.errors import SchulitError

    gc.disable()  # millions of small acyclic objects: see schulit.accounts.service._collector_paused
    source = sys.stdin.buffer
    settings, base_dn = pickle.load(source)  # noqa: S301 - from our parent
    layout = Layout(base_dn)
    out = sys.stdout.buffer
    try:
        connection = connect(settings, strategy=ldap3.SYNC, bulk_read=True)
        try:
            while (message := pickle.load(source)) is not None:  # noqa: S301 - from our parent
                index, unit = message
                records = [
                    (uids, number, tuple(vars(account).values()) if account is not None else None)
                    for uids, number, account in read_units(connection, layout, [unit])
                ]
                pickle.dump(("records", (index, records)), out, protocol=pickle.HIGHEST_PROTOCOL)
                out.flush()
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
