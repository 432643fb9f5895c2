"""Identity keys of name+birthdate schools (no stable ids), without the birth date in clear.

The key (the source id part of ``employeeNumber``) is versioned:

- ``nbd2:<name mac>.<birth mac>`` (current): two HMAC-SHA256 values under the county's secret key file:
  one over school, names (NFC, casefolded, so every script stays distinct) and birth date, one over school
  and birth date only. Matching needs only equality, so the directory never holds a birth date, and without
  the secret no one can test guesses against it. The birth part lets a probable rename (same birth date,
  close names) be found without storing the date.
- ``nbd:<last>|<first>|<yyyy-mm-dd>`` (before): ASCII-folded names and the birth date in clear. Accounts
  still keyed this way are re-keyed in place on the next sync (see ``legacy_source_id``).

The secret must stay the same for the life of the directory: a new secret makes every key new.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PREFIX = "nbd2:"
LEGACY_PREFIX = "nbd:"
MIN_SECRET_BYTES = 16
NAME_MAC_HEX = 32  # 128 bits
BIRTH_MAC_HEX = 16  # 64 bits: only ever compared within one school
LEGACY_SPECIAL = {
    "ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ẞ": "SS",
    "æ": "ae", "Æ": "Ae", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ı": "i",
    "þ": "th", "Þ": "Th", "œ": "oe", "Œ": "Oe", "ð": "d", "Ð": "D", "ŧ": "t", "ħ": "h",
}  # fmt: skip


class NameKeyError(Exception):
    """The secret key file is missing, unreadable, too short or readable by others."""


def _fold(text: str) -> str:
    return unicodedata.normalize("NFC", " ".join(unicodedata.normalize("NFC", text).split())).casefold()


@dataclass(frozen=True)
class NameKeys:
    """The county's secret; computes keys and birth tokens of one school's persons."""

    secret: bytes

    def _mac(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def birth_token(self, school_id: str, birth: date) -> str:
        """Equal for equal birth dates in one school; reveals nothing about the date without the secret."""
        return self._mac("birth", school_id, birth.isoformat())[:BIRTH_MAC_HEX]

    def source_id(self, school_id: str, first: str, last: str, birth: date) -> str:
        """The current (``nbd2:``) key of a person."""
        name_mac = self._mac("person", school_id, _fold(last), _fold(first), birth.isoformat())
        return f"{PREFIX}{name_mac[:NAME_MAC_HEX]}.{self.birth_token(school_id, birth)}"

    def birth_token_of(self, school_id: str, source_id: str) -> str | None:
        """The birth token a stored key carries (computed for legacy keys), or None."""
        if source_id.startswith(PREFIX):
            token = source_id.rsplit(".", 1)[-1]
            return token if len(token) == BIRTH_MAC_HEX else None
        if source_id.startswith(LEGACY_PREFIX):
            try:
                birth = date.fromisoformat(source_id.rsplit("|", 1)[1])
            except (IndexError, ValueError):
                return None
            return self.birth_token(school_id, birth)
        return None


def legacy_fold(text: str) -> str:
    """The ASCII fold the ``nbd:`` keys were built with (kept byte for byte to recognise them)."""
    replaced = "".join(LEGACY_SPECIAL.get(char, char) for char in unicodedata.normalize("NFC", text))
    decomposed = unicodedata.normalize("NFKD", replaced)
    return "".join(char for char in decomposed if char.isascii() and not unicodedata.combining(char))


def legacy_source_id(first: str, last: str, birth: date) -> str:
    """The ``nbd:`` key an account of this person was given before keys were versioned."""
    return f"{LEGACY_PREFIX}{legacy_fold(last).lower()}|{legacy_fold(first).lower()}|{birth.isoformat()}"


def is_name_key(source_id: str) -> bool:
    return source_id.startswith((PREFIX, LEGACY_PREFIX))


def source_id_of_key(key: str) -> str:
    """``schulit:<scope>:<role>:<source id>`` → the source id."""
    parts = key.split(":", 3)
    return parts[3] if len(parts) == 4 else ""


def load_name_keys(path: Path | None) -> NameKeys:
    """Read the secret key file (at least 16 bytes; not readable by group or others)."""
    if path is None:
        raise NameKeyError(
            "this school is matched by name and birth date: set [identity] name_key_file in county.toml "
            "to a secret file (create it once: umask 077; head -c 32 /dev/urandom > FILE)"
        )
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise NameKeyError(
            f"{path}: cannot read the name key file: {exc.strerror or exc} "
            "(create it once: umask 077; head -c 32 /dev/urandom > FILE; never change it afterwards)"
        ) from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise NameKeyError(f"{path}: the name key file must not be readable by others (chmod 600)")
    secret = data.strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise NameKeyError(
            f"{path}: the name key file holds {len(secret)} bytes; it needs {MIN_SECRET_BYTES}"
        )
    return NameKeys(secret)


def create_name_key_file(path: Path) -> bool:
    """Create a new random key file (mode 0600) unless one exists; True if created. For set-up scripts."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return True
