"""One writing run at a time: an exclusive ``flock`` on a lock file, and a lease entry in the directory.

The kernel drops the file lock when the process ends, however it ends (SIGKILL included), so a stale lock
cannot block the next night. The file holds the PID of the holder for the error message. It only keeps out
runs on the same machine.

The lease (``cn=run-lock,ou=schulit,<base>``, written on the run's write provider) keeps out runs on every
other admin machine that reaches a provider the lease has replicated to. It is taken and handed over by
compare-and-swap (one modify that deletes the exact value read and adds the new one: of two runs racing on
one provider, one modify fails). It expires: a run that died keeps others out until ``until`` (a dead run
on the same machine is seen at once: its PID is gone and the file lock is free). What it cannot do: during
a network partition, two admin machines each reaching only another provider each take "the" lease on their
side (README "Replication").
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ldap3
from ldap3.operation.search import compile_filter, parse_filter
from ldap3.utils.conv import escape_filter_chars
from pyasn1.codec.ber import encoder as ber_encoder

from schulit.errors import DirectoryError, SchulitError
from schulit.inventory import DirectorySettings

LOCK_DIR = Path("/run/lock")


def default_lock_path(settings: DirectorySettings) -> Path:
    """One lock per directory and base DN, however they are spelled (``DirectorySettings.identity``), and
    whether they came from the inventory or the environment; ``SCHULIT_LOCK_FILE`` overrides."""
    override = os.environ.get("SCHULIT_LOCK_FILE")
    if override:
        return Path(override)
    digest = hashlib.sha256(settings.identity.encode()).hexdigest()[:16]
    folder = LOCK_DIR if os.access(LOCK_DIR, os.W_OK) else Path.home() / ".cache" / "schulit"
    return folder / f"schulit-{digest}.lock"


def directory_lock(
    settings: DirectorySettings, timeout: float = 60.0
) -> contextlib.AbstractContextManager[None]:
    """The run lock of the directory these settings address."""
    return run_lock(default_lock_path(settings), timeout)


@contextmanager
def run_lock(path: Path, timeout: float = 60.0, poll: float = 0.2) -> Iterator[None]:
    """Hold the lock for the duration of the block; wait at most ``timeout`` seconds for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    raise SchulitError(
                        f"another schulit run (pid {holder}) holds the lock {path}; waited {timeout:g} s"
                    ) from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


LEASE_RDN = "cn=run-lock"
LEASE_PREFIX = "schulit:lease="
FREE = f"{LEASE_PREFIX}free"
ASSERTION_CONTROL = "1.3.6.1.1.12"
LEASE_SECONDS = 3600.0
TIME_FORMAT = "%Y%m%d%H%M%SZ"


@dataclass(frozen=True)
class Holder:
    """Who holds a lease, and until when (UTC)."""

    token: str
    host: str
    pid: int
    until: datetime

    def value(self) -> str:
        return f"{LEASE_PREFIX}{self.token} host={self.host} pid={self.pid} until={self.until:{TIME_FORMAT}}"

    @classmethod
    def parse(cls, value: str) -> Holder | None:
        """The holder in a lease value; None for ``free`` or a value schulit did not write."""
        if not value.startswith(LEASE_PREFIX) or value == FREE:
            return None
        token, *pairs = value[len(LEASE_PREFIX) :].split()
        fields = dict(pair.partition("=")[::2] for pair in pairs)
        try:
            until = datetime.strptime(fields["until"], TIME_FORMAT).replace(tzinfo=UTC)
            return cls(token, fields["host"], int(fields["pid"]), until)
        except (KeyError, ValueError):
            return cls(token, fields.get("host", "?"), 0, datetime.min.replace(tzinfo=UTC))


def new_token() -> str:
    """One run's lease identity (kept across a failover: the run may take over its own lease)."""
    return secrets.token_hex(8)


LEASE_CLASSES = ("top", "applicationProcess")
AD_LEASE_CLASSES = ("top", "container")  # AD: applicationProcess is system-only


class DirectoryLease:
    """The run lease in the directory, held through one connection to the write provider."""

    def __init__(
        self,
        connection: ldap3.Connection,
        system_dn: str,
        token: str,
        seconds: float = LEASE_SECONDS,
        object_classes: tuple[str, ...] = LEASE_CLASSES,
    ):
        self.connection = connection
        self.object_classes = list(object_classes)
        self.dn = f"{LEASE_RDN},{system_dn}"
        self.system_dn = system_dn
        self.token = token
        self.seconds = seconds
        self.held: str | None = None  # the value written, while held
        self.renewed = 0.0
        self.absent = False  # no ou=schulit when taken: to be taken once the run has created it

    def _mine(self) -> str:
        until = datetime.now(UTC) + timedelta(seconds=self.seconds)
        return Holder(self.token, socket.gethostname(), os.getpid(), until).value()

    def _current(self) -> list[str] | None:
        ok, result, response, _ = self.connection.search(
            self.dn, "(objectClass=*)", ldap3.BASE, attributes=["description"]
        )
        if not ok:
            if result.get("result") == 32:  # noSuchObject
                return None
            raise DirectoryError(f"reading the run lease {self.dn} failed: {result.get('description')}")
        found = response[0]["attributes"].get("description") or []
        return [str(v) for v in found]

    def _swap(self, old: str | None, new: str) -> bool:
        """Replace exactly ``old`` by ``new`` (one atomic modify); False if someone else changed it."""
        changes: dict[str, list[tuple[str, list[str]]]] = {"description": []}
        if old is not None:
            changes["description"].append((ldap3.MODIFY_DELETE, [old]))
        changes["description"].append((ldap3.MODIFY_ADD, [new]))
        ok, result, _, _ = self.connection.modify(self.dn, changes)
        if ok:
            return True
        if result.get("result") in (16, 20):  # noSuchAttribute / attributeOrValueExists: lost the race
            return False
        raise DirectoryError(f"writing the run lease {self.dn} failed: {result.get('description')}")

    def try_take(self) -> Holder | None:
        """Take the lease if it is free, expired, ours, or held by a dead run on this host.

        Returns None when taken, else the holder that keeps us out. A directory without ``ou=schulit``
        yet (before the first sync or ``directory init``) has no lease to take yet: ``renew_if_due``
        takes it once the run has created the containers.
        """
        current = self._current()
        mine = self._mine()
        if current is None:
            ok, result, _, _ = self.connection.add(
                self.dn, self.object_classes, {"cn": LEASE_RDN[3:], "description": mine}
            )
            if ok:
                self._held(mine)
                return None
            if result.get("result") == 32:  # no ou=schulit yet: a directory schulit has not written to
                self.absent = True
                return None
            if result.get("result") == 68:  # someone added it just now
                return self.try_take()
            raise DirectoryError(f"creating the run lease {self.dn} failed: {result.get('description')}")
        leases = [v for v in current if v.startswith(LEASE_PREFIX)]
        old = leases[0] if leases else None
        holder = Holder.parse(old) if old else None
        if holder is not None and not self._may_take_over(holder):
            return holder
        if self._swap(old, mine):
            self._held(mine)
            return None
        return self.try_take()

    def _may_take_over(self, holder: Holder) -> bool:
        if holder.token == self.token or holder.until <= datetime.now(UTC):
            return True
        return holder.host == socket.gethostname() and not _pid_alive(holder.pid)

    def _held(self, value: str) -> None:
        self.held = value
        self.renewed = time.monotonic()

    def renew_if_due(self) -> None:
        """Extend the lease once a third of its time has passed (called between writes); take it now if
        ``ou=schulit`` did not exist when the run began (a first sync creates it first)."""
        if self.absent:
            self.absent = False
            holder = self.try_take()
            if holder is not None:
                raise SchulitError(
                    f"another schulit run (host {holder.host}, pid {holder.pid}) took the run lease "
                    f"{self.dn} while this run was creating the directory's containers; stopped"
                )
            return
        if self.held is None or time.monotonic() - self.renewed < self.seconds / 3:
            return
        mine = self._mine()
        if not self._swap(self.held, mine):
            raise DirectoryError(f"the run lease {self.dn} was taken over by another run")
        self._held(mine)

    def release(self) -> None:
        """Delete the lease entry if it is still ours (an RFC 4528 assertion makes the check and the delete
        one operation); a connection that is gone leaves the lease to expire."""
        if self.held is None:
            return
        assertion = _filter_bytes(f"(description={escape_filter_chars(self.held)})")
        with contextlib.suppress(OSError, ldap3.core.exceptions.LDAPException):
            ok, result, _, _ = self.connection.delete(
                self.dn, controls=[(ASSERTION_CONTROL, True, assertion)]
            )
            # unavailableCriticalExtension: Samba AD has no assertion control; check, then delete
            # (another run could only slip in between if our lease expired in that instant)
            if not ok and result.get("result") == 12 and self.held in (self._current() or []):
                self.connection.delete(self.dn)
        self.held = None


def _filter_bytes(search_filter: str) -> bytes:
    """A search filter as BER, the value of an assertion control."""
    parsed = parse_filter(search_filter, None, False, False, None, False)
    return ber_encoder.encode(compile_filter(parsed.elements[0]))


def _pid_alive(pid: int) -> bool:
    """True if a process ``pid`` exists on this host (someone else's counts: it may be a schulit run)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


@contextmanager
def directory_lease(
    connection: ldap3.Connection,
    system_dn: str,
    token: str,
    timeout: float = 60.0,
    poll: float = 0.5,
    seconds: float = LEASE_SECONDS,
    object_classes: tuple[str, ...] = LEASE_CLASSES,
) -> Iterator[DirectoryLease]:
    """Hold the directory lease for the block; wait at most ``timeout`` seconds for it."""
    lease = DirectoryLease(connection, system_dn, token, seconds, object_classes)
    deadline = time.monotonic() + timeout
    while True:
        holder = lease.try_take()
        if holder is None:
            break
        if time.monotonic() >= deadline:
            raise SchulitError(
                f"another schulit run (host {holder.host}, pid {holder.pid}) holds the run lease "
                f"{lease.dn} until {holder.until:%Y-%m-%d %H:%M} UTC; waited {timeout:g} s"
            )
        time.sleep(poll)
    try:
        yield lease
    finally:
        lease.release()
