"""The bulk read of account entries, split across processes for big directories.

Decoding LDAP responses is pure Python in ldap3 (about 10 µs per attribute value), so reading 100,000
accounts with one process takes most of the no-change target. The account entries are split by a filter
on the identity key (the parts together match exactly the whole filter); one part is read in a worker
process, the other in this one, at the same time.

The worker is ``python -m schulit.accounts.scan``: settings in on stdin, entries out on stdout (pickles
between parent and child only). A new interpreter, not a fork: it never holds the run lock, and if this
process dies the worker's write to the closed pipe fails and it exits after its one read.
"""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import ldap3

from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings

ACCOUNT_FILTER = "(|(objectClass=posixAccount)(uid=*))"
EVEN_DIGITS = "02468"
Entry = tuple[str, dict[str, Any]]


def partition_filters() -> tuple[str, str]:
    """Two filters that together match exactly ``ACCOUNT_FILTER``, without overlap.

    Split by the last digit of the identity key (``employeeNumber``, ending in the roster's id, which is
    a number in most school software): about half and half. Entries without a key, or with a key ending
    in a letter, all fall into the second part.
    """
    even = "(|" + "".join(f"(employeeNumber=*{digit})" for digit in EVEN_DIGITS) + ")"
    return f"(&{ACCOUNT_FILTER}{even})", f"(&{ACCOUNT_FILTER}(!{even}))"


def scan_in_parallel(
    settings: DirectorySettings,
    base_dn: str,
    attributes: list[str],
    read_here: Callable[[str], Iterator[Entry]],
) -> Iterator[Entry]:
    """Yield every account entry: one partition read by a worker process, the other by ``read_here``."""
    theirs, ours = partition_filters()
    worker = subprocess.Popen(
        [sys.executable, "-P", "-m", "schulit.accounts.scan"],  # -P: cwd not on sys.path
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert worker.stdin is not None and worker.stdout is not None
        pickle.dump((settings, base_dn, theirs, attributes), worker.stdin)
        worker.stdin.close()
        yield from read_here(ours)
        try:
            outcome, payload = pickle.load(worker.stdout)  # noqa: S301 - our own child's output
        except (EOFError, pickle.UnpicklingError):
            raise DirectoryError("the directory read in the worker process ended without a result") from None
        if outcome != "ok":
            raise DirectoryError(payload)
        yield from payload
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()


def _worker() -> None:
    """Read one partition and write ("ok", entries) or ("error", message) as a pickle to stdout."""
    from schulit.directory.connection import connect
    from schulit.directory.read import paged
    from schulit.errors import SchulitError

    gc.disable()  # millions of small acyclic objects: see schulit.accounts.service._collector_paused
    settings, base_dn, search_filter, attributes = pickle.load(sys.stdin.buffer)  # noqa: S301 - from our parent
    try:
        connection = connect(settings, strategy=ldap3.SYNC, bulk_read=True)
        try:
            result: tuple[str, Any] = (
                "ok",
                [(dn, dict(attrs)) for dn, attrs in paged(connection, base_dn, search_filter, attributes)],
            )
        finally:
            connection.unbind()
    except SchulitError as exc:
        result = ("error", str(exc))
    except Exception as exc:
        result = ("error", f"directory read failed in the worker process: {exc}")
    pickle.dump(result, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    _worker()
