"""JSON-lines audit log of directory changes: one line per change, never a password.

Each line: ``{"time": ISO-8601 UTC, "actor": "<user>@<host> (<command>)" (from the web page:
"<login> from <address> (web)"), "action": "add|modify|move|delete",
"dn": ..., "attributes": [names of the attributes changed]}``. Values are not logged (they may be personal
data or hashes); the attribute names and the DN say what happened.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO


@dataclass
class AuditLog:
    """Appends audit lines to a file (created 0640) or does nothing when no path is configured."""

    path: Path | None
    command: str
    actor: str = ""  # who acted, when not the local user (the web page: the teacher's login and address)
    _handle: TextIO | None = None
    _actor: str = ""

    def __enter__(self) -> AuditLog:
        who = self.actor or f"{_user()}@{socket.gethostname()}"
        self._actor = f"{who} ({self.command})"
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            self._handle = os.fdopen(fd, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def record(self, action: str, dn: str, attributes: list[str] | tuple[str, ...] = ()) -> None:
        """Write one line for one directory change."""
        if self._handle is None:
            return
        line = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "actor": self._actor,
            "action": action,
            "dn": dn,
            "attributes": sorted(attributes),
        }
        self._handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._handle.flush()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
