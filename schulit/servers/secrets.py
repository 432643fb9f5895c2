"""The servers' directory secrets on the admin machine: one 0600 file per server in a 0700 folder.

A secret is made once and then kept (a second push changes nothing) until ``rotate`` replaces it. It never
enters a template: rendered files carry :data:`PLACEHOLDER`, and only the push puts the secret into the
bytes it uploads (files marked ``secret = true``, mode 0600).
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from schulit.errors import SchulitError

PLACEHOLDER = "@@schulit-server-secret@@"
SECRET_BYTES = 32


@dataclass(frozen=True)
class SecretStore:
    """``folder/<server name>.secret``."""

    folder: Path

    def path(self, server_name: str) -> Path:
        if "/" in server_name or server_name.startswith("."):
            raise SchulitError(f"server name {server_name!r} cannot name a secret file")
        return self.folder / f"{server_name}.secret"

    def read(self, server_name: str) -> str | None:
        """The server's secret, or None if it has none yet; a file others may read is refused."""
        path = self.path(server_name)
        try:
            info = path.stat()
        except FileNotFoundError:
            return None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SchulitError(
                f"{path} is readable by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"run: chmod 600 {path}"
            )
        value = path.read_text(encoding="utf-8").strip()
        return value or None

    def create(self, server_name: str) -> str:
        """A new secret, written atomically (0600), replacing any old one."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        value = secrets.token_urlsafe(SECRET_BYTES)
        path = self.path(server_name)
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(value + "\n")
            os.replace(temp, path)
        finally:
            if temp.exists():
                temp.unlink()
        return value

    def get_or_create(self, server_name: str) -> str:
        return self.read(server_name) or self.create(server_name)
