"""The bulk read of account entries: subtree by subtree (each school on its own), compact records only, and
split across two processes for big directories.

Where accounts can be (``account_units``): each school's subtree, every other subtree below the base, and
the base entry; together exactly the base's subtree, without overlap. Each entry becomes a compact
``Record`` (its uids, its uidNumber, and the parsed account if schulit manages it) as soon as it is decoded:
no raw attribute dicts are kept, however big the directory, and memory grows only with what the diff needs.

Decoding LDAP responses is pure Python (a few µs per value), so big directories are read by two processes
(``ScanWorker``): a worker is started before the rosters are read and takes school subtrees from a queue,
parsing their entries itself; this process reads the rosters meanwhile, then the groups, then takes from
the same queue whatever is left. The worker's records come back school by school over a pipe, read by a
thread here; the state is put together in unit order, whoever read which school.

The worker is ``python -m schulit.accounts.scan``: settings, then one unit at a time, in on stdin; records
out on stdout (``marshal``: builtin types only, ten times faster to write than pickle; both ends are the
same interpreter). A new interpreter, not a fork: it never holds the
run lock, and if this process dies the worker's write to the closed pipe fails and it exits. A worker that
fails (cannot bind, say) ends the whole read with its error: no school may go missing silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import gc
import marshal
import operator
import pickle
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from datetime import date
from typing import Any

import ldap3

from schulit.accounts.model import (
    ACCOUNT_ATTRIBUTES,
    GROUP_ATTRIBUTES,
    KEY_PREFIX,
    ActualAccount,
    ActualGroup,
)
from schulit.accounts.schema import parse_account, parse_group
from schulit.directory.fastsearch import paged_search
from schulit.directory.layout import Layout
from schulit.directory.read import first, paged, values
from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings

ACCOUNT_FILTER = "(|(objectClass=posixAccount)(uid=*))"
GROUP_FILTER = "(objectClass=posixGroup)"
Unit = tuple[str, str]  # (search base, scope)
Record = tuple[tuple[str, ...], int | None, ActualAccount | None]  # lower-case uids, uidNumber, account
WORKER_QUEUE = 2  # units sent to the worker ahead, so it never waits for the next one
PIPE_BYTES = 1 << 20  # the worker's output pipe: one school's records fit (Linux' default 64 KiB: not)
MEMBER_SEPARATOR = "\n"


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


_ACCOUNT_FIELDS = operator.attrgetter(*(f.name for f in dataclasses.fields(ActualAccount)))
_DATES = [
    i for i, f in enumerate(dataclasses.fields(ActualAccount)) if f.name in ("deactivated_on", "locked_on")
]


def _emit(out: Any, message: Any) -> None:
    """One message to the parent: its length (8 bytes), then ``marshal`` bytes (read whole, then loaded:
    ``marshal.load`` on a pipe would read it piece by piece)."""
    data = marshal.dumps(message)
    out.write(len(data).to_bytes(8, "big"))
    out.write(data)
    out.flush()


def _receive(source: Any) -> Any:
    """One message written by ``_emit``; EOFError if the worker ended without one."""
    head = source.read(8)
    if len(head) < 8:
        raise EOFError
    size = int.from_bytes(head, "big")
    data = source.read(size)
    if len(data) < size:
        raise EOFError
    return marshal.loads(data)  # noqa: S302 - our own child's output


def _account_to_wire(account: ActualAccount) -> tuple[Any, ...]:
    """An account as builtin values for ``marshal``: its dates as ordinals."""
    fields = _ACCOUNT_FIELDS(account)
    if all(fields[i] is None for i in _DATES):
        return fields
    return tuple(v.toordinal() if i in _DATES and v is not None else v for i, v in enumerate(fields))


def _account_from_wire(fields: tuple[Any, ...]) -> ActualAccount:
    """Undo ``_account_to_wire``."""
    deactivated, locked = _DATES
    if fields[deactivated] is None and fields[locked] is None:
        return ActualAccount(*fields)
    return ActualAccount(
        *(date.fromordinal(v) if i in _DATES and v is not None else v for i, v in enumerate(fields))
    )


def _group_to_wire(group: ActualGroup) -> tuple[Any, ...]:
    """A group for ``marshal``: its members as one string (300,000 small strings cost more to write, to
    send and to load than one), or as the set if a member holds the separator."""
    members: str | set[str] = MEMBER_SEPARATOR.join(group.members)
    if members.count(MEMBER_SEPARATOR) != len(group.members) - 1:
        members = group.members  # a member holds the separator, or there is none (split would give {""})
    return group.dn, group.name, group.gid_number, members, group.managed


def _group_from_wire(fields: tuple[Any, ...]) -> ActualGroup:
    """Undo ``_group_to_wire``."""
    dn, name, gid_number, members, managed = fields
    if type(members) is str:
        members = set(members.split(MEMBER_SEPARATOR))
    return ActualGroup(dn, name, gid_number, members, managed)


class ScanWorker:
    """A second process that reads school subtrees from a queue shared with this process.

    Started before the rosters are read, so the directory read overlaps them. The worker reads the groups
    first, then units: whichever process is free takes the next one (the worker is sent one more whenever
    it returns one, this process takes them in ``records``), so neither waits for the other however the
    work is split. Records come back in unit order, whoever read them: the same directory gives the same
    state in the same order.
    """

    def __init__(self, settings: DirectorySettings, layout: Layout, units: list[Unit]):
        self.layout = layout
        self.units = units
        self.queue: deque[int] = deque(range(len(units)))  # indices of units nobody has taken yet
        self.results: dict[int, list[Record]] = {}
        self.read_groups: list[ActualGroup] | None = None  # the worker reads them first
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
                kind, payload = _receive(self.process.stdout)
                if kind == "done":
                    return
                if kind == "error":
                    self.failure.append(payload)
                    return
                if kind == "groups":
                    self.read_groups = [_group_from_wire(fields) for fields in payload]
                    continue
                index, records = payload
                with contextlib.suppress(OSError):  # it may have stopped after an error; read that first
                    self._send_next()
                self.results[index] = [
                    (uids, number, _account_from_wire(fields) if fields else None)
                    for uids, number, fields in records
                ]
        except (EOFError, ValueError, TypeError, OSError):
            self.failure.append("the directory read in the worker process ended without a result")

    def groups(self) -> list[ActualGroup] | None:
        """The groups the worker read first; None if it has not sent them yet (read them here then)."""
        return self.read_groups

    def records(self, connection: ldap3.Connection, others: list[Unit]) -> Iterator[Record]:
        """Read units here until none is left, then ``others``; yield every record in unit order.

        The records of the first units are yielded as soon as they are all there, while later units are
        still read (the caller puts them into the state meanwhile, on this core, while the worker reads on
        the other). A failure of the worker is raised before the last record: no state is ever complete
        without all its units."""
        ready = 0  # units yielded so far
        while True:
            try:
                index = self.queue.popleft()
            except IndexError:
                break
            self.results[index] = list(read_units(connection, self.layout, [self.units[index]]))
            while ready in self.results:  # a unit's list is stored whole (by this thread or the collector)
                yield from self.results.pop(ready)
                ready += 1
        rest = list(read_units(connection, self.layout, others))
        self.collector.join()
        if self.failure:
            raise DirectoryError(self.failure[0])
        for index in range(ready, len(self.units)):
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
    """Write ("groups", [...]) first; then read units as they are sent (index, unit), None ending; write
    ("records", (index, [...])) for each, then ("done", None); or ("error", message) and stop."""
    from schulit.directory.connection import connect
    from schulit.errors import SchulitError

    gc.disable()  # millions of small acyclic objects: see schulit.accounts.service._collector_paused
    source = sys.stdin.buffer
    settings, base_dn = pickle.load(source)  # noqa: S301 - from our parent
    layout = Layout(base_dn)
    out = sys.stdout.buffer
    # The parent's main thread reads rosters in pure Python meanwhile, so the thread that empties this pipe
    # gets the GIL only every few ms: with 64 KiB per turn the worker sat blocked in its writes a third of
    # the time. A bigger pipe, where the kernel allows it.
    with contextlib.suppress(OSError):
        fcntl.fcntl(out.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    try:
        connection = connect(settings, strategy=ldap3.SYNC, bulk_read=True)
        try:
            groups = [
                _group_to_wire(parse_group(dn, attributes))
                for dn, attributes in paged(connection, base_dn, GROUP_FILTER, GROUP_ATTRIBUTES)
            ]
            _emit(out, ("groups", groups))
            while (message := pickle.load(source)) is not None:  # noqa: S301 - from our parent
                index, unit = message
                records = [
                    (uids, number, _account_to_wire(account) if account is not None else None)
                    for uids, number, account in read_units(connection, layout, [unit])
                ]
                _emit(out, ("records", (index, records)))
        finally:
            connection.unbind()
        result: tuple[str, Any] = ("done", None)
    except SchulitError as exc:
        result = ("error", str(exc))
    except Exception as exc:
        result = ("error", f"directory read failed in the worker process: {exc}")
    _emit(out, result)


if __name__ == "__main__":
    _worker()
