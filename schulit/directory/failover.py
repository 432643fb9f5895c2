"""One write provider per run, and failover between OpenLDAP multi-provider replicas without double writes.

Writing to two providers at once breaks what the directory guarantees (replication bypasses uniqueness
checks and a read-then-write allocation on each side hands out the same number), so a run that writes:

- pins the first provider of ``directory.url`` that answers a bind within ``directory.timeout`` and reads
  and writes only there (it reads its own writes);
- fails over only when that provider is *gone*: after a request failed, a fresh bind gets no answer within
  the timeout (refused connection, or a frozen server). A provider that answers is not left: the run fails;
- never replays a write whose answer was lost: the work is started again on the new provider from a fresh
  read of the directory there, so every write that landed (and replicated) is seen, and only what is
  missing is written.

ldap3's ``ServerPool`` is not used: it chooses a server per connection by TCP connect (a frozen slapd is
still chosen) and its ``RESTARTABLE`` strategy resends a request whose answer was lost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

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


@dataclass
class StickyProvider:
    """The provider one run reads from and writes to; changed only by ``fail_over``."""

    settings: DirectorySettings
    url: str = ""
    left: list[str] = field(default_factory=list)  # providers given up in this run, in order

    @property
    def urls(self) -> list[str]:
        return provider_urls(self.settings.url)

    def choose(self) -> str:
        """Pin the first provider (not given up yet) that answers a bind within the timeout."""
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
            disconnect(probe)
            self.url = url
            return url
        gone = [f"{url}: given up earlier in this run" for url in self.left]
        raise DirectoryError("no directory provider answered: " + "; ".join(failures + gone))

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
