"""What one CLI invocation carries: the inventory path, how loud to be, how to reach the directory."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from schulit.inventory import DirectorySettings, Inventory, load_inventory

if TYPE_CHECKING:
    from collections.abc import Iterator

    import ldap3


@dataclass
class AppContext:
    """Passed to every command as ``ctx.obj``."""

    inventory_path: Path
    verbose: bool = False
    quiet: bool = False
    _inventory: Inventory | None = field(default=None, repr=False)

    def inventory(self) -> Inventory:
        """Load (once) and return the validated inventory."""
        if self._inventory is None:
            self._inventory = load_inventory(self.inventory_path)
        return self._inventory

    def directory_settings(self) -> DirectorySettings:
        """The inventory's directory settings with ``SCHULIT_LDAP_*`` overrides applied."""
        from schulit.directory.connection import apply_env_overrides

        return apply_env_overrides(self.inventory().directory, os.environ)

    @contextmanager
    def directory(self, **kwargs: str) -> Iterator[ldap3.Connection]:
        """A bound directory connection, unbound on exit."""
        from schulit.directory.connection import connect

        connection = connect(self.directory_settings(), **kwargs)
        try:
            yield connection
        finally:
            connection.unbind()

    def info(self, message: str) -> None:
        """Human progress/result line on stdout, unless --quiet."""
        if not self.quiet:
            print(message, flush=True)

    def detail(self, message: str) -> None:
        """Only with --verbose."""
        if self.verbose and not self.quiet:
            print(message, flush=True)

    def warn(self, message: str) -> None:
        """Always on stderr."""
        print(f"schulit: {message}", file=sys.stderr, flush=True)
