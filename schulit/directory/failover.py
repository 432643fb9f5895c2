"""One write provider per run, and failover between OpenLDAP multi-provider replicas without double writes.

Writing to two providers at once breaks what the directory guarantees (replication bypasses uniqueness
checks and a read-then-write allocation on each side hands out the same number), so a run that writes:

- pins the first provider of ``directory.url`` that answers a bind within ``directory.timeout`` and is
  not behind another one (its contextCSN per serverID), and reads and writes only there (it reads its own
  writes);
- fails over only when that provider is *gone*: after a request failed, a fresh bind gets no answer within
  the timeout (refused connection, or a frozen server). A provider that answers is not left: the run fails;
- never replays a write whose answer was lost: the work is started again on the new provider from a fresh
  read of the directory there, taken once replication to it has settled (``StickyProvider.settle``), so
  every write that landed (and replicated) is seen, and only what is missing is written.

ldap3's ``ServerPool`` is not used: it chooses a server per connection by TCP connect (a frozen slapd is
still chosen) and its ``RESTARTABLE`` strategy resends a request whose answer was lost.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import ldap3
from ldap3.core.exceptions import LDAPException

from schulit.directory.connection import (
    BindRefused,
    connect,
    disconnect,
    pinned,
    provider_urls,
)
from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings

T = TypeVar("T")
SETTLE_QUIET = 1.0  # seconds without a new change on the new provider before its fresh read
CATCH_UP_SECONDS = 60.0


def context_csns(connection: ldap3.Connection, base_dn: str) -> dict[str, str]:
    """{serverID: newest CSN} a provider has seen (its contextCSN values); {} for a base not there yet."""
    ok, _result, response, _ = connection.search(
        base_dn, "(objectClass=*)", ldap3.BASE, attributes=["contextCSN"]
    )
    if not ok or not response:
        return {}
    found: dict[str, str] = {}
    for value in response[0]["attributes"].get("contextCSN") or []:
        parts = str(value).split("#")  # 20261201222940.451025Z#000000#001#000000: time, count, sid, mod
        if len(parts) == 4:
            found[parts[2]] = max(found.get(parts[2], ""), str(value))
    return found


@dataclass
class StickyProvider:
    """The provider one run reads from and writes to; changed only by ``fail_over``."""

    settings: DirectorySettings
    url: str = ""
    left: list[str] = field(default_factory=list)  # providers given up in this run, in order

    @property
    def urls(self) -> list[str]:
        return provider_urls(self.settings.url)

    def choose(self, catch_up: float = CATCH_UP_SECONDS) -> str:
        """Pin the first provider (not given up yet) that answers a bind within the timeout and is not
        behind another answering provider (a provider that just came back is still catching up: reading
        from it would plan writes that are already done). Waits up to ``catch_up`` seconds for one."""
        deadline = time.monotonic() + catch_up
        while True:
            states, failures = self._probe_all()
            if not states:
                gone = [f"{url}: given up earlier in this run" for url in self.left]
                raise DirectoryError("no directory provider answered: " + "; ".join(failures + gone))
            newest: dict[str, str] = {}
            for csns in states.values():
                for sid, csn in csns.items():
                    newest[sid] = max(newest.get(sid, ""), csn)
            for url, csns in states.items():
                if all(csns.get(sid, "") >= csn for sid, csn in newest.items()):
                    self.url = url
                    return url
            if time.monotonic() >= deadline:
                raise DirectoryError(
                    f"the directory providers {', '.join(states)} each hold changes the other lacks "
                    f"after {catch_up:g} s; replication is not converging (see 'directory check-replicas')"
                )
            time.sleep(0.5)

    def _probe_all(self) -> tuple[dict[str, dict[str, str]], list[str]]:
        """{url: {serverID: contextCSN}} of every answering provider, in list order; and the failures."""
        states: dict[str, dict[str, str]] = {}
        failures = []
        for url in self.urls:
            if url in self.left:
                continue
            try:
                probe = connect(pinned(self.settings, url), answer_timeout=self.settings.timeout)
            except BindRefused:
                raise
            except DirectoryError as exc:
                failures.append(str(exc))
                continue
            try:
                states[url] = context_csns(probe, self.settings.base_dn)
            except (OSError, LDAPException) as exc:
                failures.append(f"{url}: {exc}")
            finally:
                disconnect(probe)
        return states, failures

    def pinned(self) -> DirectorySettings:
        """Settings that reach the pinned provider only (chosen now if none is yet)."""
        if not self.url:
            self.choose()
        return pinned(self.settings, self.url)

    def gone(self) -> bool:
        """True if the pinned provider does not answer a fresh bind within the timeout."""
        try:
            probe = connect(pinned(self.settings, self.url), answer_timeout=self.settings.timeout)
        except BindRefused:
            return False
        except DirectoryError:
            return True
        disconnect(probe)
        return False

    def fail_over(self) -> str:
        """Give up the pinned provider and pin the next one that answers."""
        self.left.append(self.url)
        self.url = ""
        return self.choose()

    def settle(self, quiet: float = SETTLE_QUIET, poll: float = 0.1) -> None:
        """Wait until the pinned provider has applied what replication still brings it: its contextCSN
        unchanged for ``quiet`` seconds (at most 3 × the timeout, at least 5 s in all).

        After a failover the new provider may still be applying writes of the old one that it had received
        before that one died; a fresh read taken meanwhile misses them, and the plan would then add accounts
        that arrive a moment later (entryAlreadyExists). Best effort: a provider that does not answer here
        fails the next attempt instead.
        """
        deadline = time.monotonic() + max(5.0, 3 * self.settings.timeout)
        last: dict[str, str] | None = None
        unchanged_since = time.monotonic()
        while time.monotonic() < deadline:
            try:
                probe = connect(pinned(self.settings, self.url), answer_timeout=self.settings.timeout)
            except DirectoryError:
                return
            try:
                state = context_csns(probe, self.settings.base_dn)
            except (OSError, LDAPException):
                return
            finally:
                disconnect(probe)
            now = time.monotonic()
            if state != last:
                last, unchanged_since = state, now
            elif now - unchanged_since >= quiet:
                return
            time.sleep(poll)


def with_failover(
    provider: StickyProvider,
    attempt: Callable[[DirectorySettings], T],
    on_failover: Callable[[str, str, str], None] = lambda _old, _new, _why: None,
) -> T:
    """Run ``attempt`` on the pinned provider; if it fails and the provider is gone, run it again on the next.

    ``attempt`` must start from a fresh read of the directory (a plan, then its writes): that read is the
    look-up of every write whose answer was lost. A failure while the provider still answers is raised.
    """
    while True:
        settings = provider.pinned()
        try:
            return attempt(settings)
        except DirectoryError as exc:
            if len(provider.urls) < 2 or not provider.gone():
                raise
            old = provider.url
            with contextlib.suppress(DirectoryError):
                provider.fail_over()
            if not provider.url:
                raise DirectoryError(
                    f"{exc}; the provider {old} is gone and no other provider answered"
                ) from None
            on_failover(old, provider.url, str(exc))
            provider.settle()  # the fresh read must see the old provider's writes still replicating
