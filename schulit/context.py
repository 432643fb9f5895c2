"""What one CLI invocation carries: the inventory path, how loud to be, and the resolved inventory."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from schulit.inventory import Inventory, load_inventory


@dataclass
class AppContext:
    """Passed to every command as ``ctx.obj``."""

    inventory_path: Path
    verbose: bool = False
    quiet: bool = False
    _inventory: Inventory | None = field(default=None, repr=False)

    def inventory(self) -> Inventory:
        """Load (once) and return the validated inventory, with the environment's overrides applied."""
        if self._inventory is None:
            self._inventory = load_inventory(self.inventory_path, os.environ)
        return self._inventory

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
