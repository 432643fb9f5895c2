"""Password delivery files: the only place an initial password exists in clear text.

``accounts sync`` and ``accounts reset-password`` write one CSV per school and run into
``<delivery_dir>/<school id>/passwords-<UTC time>-<random>.csv`` (folder 0700, file 0600, created with those
modes, never widened). The time has microseconds, so file names sort in the order the files were written even
within one second (the latest record of a login is the one that counts); file and folder are fsynced before
the caller writes the password hash to the directory. ``passwords letters`` reads them and prints the PDF;
then every printed record is marked printed (``printed_at``), or with ``--shred`` removed, in whichever file
holds it, whatever else that file holds; a file with nothing left is shredded. A file is rewritten by writing
the new version beside it, renaming it into place and overwriting the old version's bytes with zeros.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class DeliveryRecord:
    """One new or reset initial password for one account."""

    school_id: str
    school_name: str
    class_name: str
    role: str
    login: str
    first_name: str
    last_name: str
    password: str
    reason: str  # "new" | "reset" | "reactivated"
    issued_at: str  # ISO 8601, UTC
    printed_at: str = ""  # ISO 8601, UTC, once a letter was printed from this record

    def __repr__(self) -> str:  # never show the password in tracebacks or logs
        return f"DeliveryRecord(school_id={self.school_id!r}, login={self.login!r}, reason={self.reason!r})"


FIELD_NAMES = [f.name for f in fields(DeliveryRecord)]


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def write_delivery(
    delivery_dir: Path, school_id: str, records: Iterable[DeliveryRecord], now: datetime | None = None
) -> Path | None:
    """Write ``records`` of one school to a new 0600 CSV file; return its path (None if no records)."""
    rows = list(records)
    if not rows:
        return None
    folder = delivery_dir / school_id
    _private_dir(delivery_dir)
    _private_dir(folder)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / f"passwords-{stamp}-{secrets.token_hex(3)}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(_csv_text(rows))
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(folder)  # the file's name must survive a crash too, not just its data
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def delivery_files(delivery_dir: Path, school_id: str | None = None) -> list[Path]:
    """Delivery files, oldest first, of one school or all schools."""
    pattern = f"{school_id}/passwords-*.csv" if school_id else "*/passwords-*.csv"
    return sorted(delivery_dir.glob(pattern), key=lambda p: p.name)


def read_delivery(path: Path) -> list[DeliveryRecord]:
    """Read one delivery file."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            DeliveryRecord(**{name: row.get(name) or "" for name in FIELD_NAMES})
            for row in csv.DictReader(handle)
        ]


def latest_records(files: Iterable[Path]) -> dict[str, DeliveryRecord]:
    """The newest record of every login in ``files`` (oldest file first)."""
    latest: dict[str, DeliveryRecord] = {}
    for path in files:
        for record in read_delivery(path):
            latest[record.login] = record
    return latest


def mark_printed(path: Path, logins: set[str], *, remove: bool, now: datetime | None = None) -> str:
    """Mark the records of ``logins`` in ``path`` printed (``remove``: drop them, password and all).

    Returns "unchanged", "rewritten" or "shredded" (nothing left in the file).
    """
    records = read_delivery(path)
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    kept: list[DeliveryRecord] = []
    changed = False
    for record in records:
        if record.login not in logins:
            kept.append(record)
        elif remove:
            changed = True
        elif not record.printed_at:
            kept.append(replace(record, printed_at=stamp))
            changed = True
        else:
            kept.append(record)
    if not changed:
        return "unchanged"
    if not kept:
        shred_file(path)
        return "shredded"
    _rewrite(path, kept)
    return "rewritten"


def rename_login(delivery_dir: Path, old: str, new: str) -> list[Path]:
    """After ``accounts rename``: the delivery rows of ``old`` name ``new``, so letters show the new login."""
    changed = []
    for path in delivery_files(delivery_dir):
        records = read_delivery(path)
        if any(r.login == old for r in records):
            _rewrite(path, [replace(r, login=new) if r.login == old else r for r in records])
            changed.append(path)
    return changed


def _rewrite(path: Path, records: list[DeliveryRecord]) -> None:
    """Replace ``path`` atomically by a file of ``records``; zero the bytes of the old version."""
    old = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
    try:
        temp = path.with_name(f".{path.name}.{secrets.token_hex(3)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_csv_text(records))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _fsync_dir(path.parent)
        size = os.fstat(old).st_size
        os.pwrite(old, b"\0" * size, 0)
        os.fsync(old)
    finally:
        os.close(old)


def _csv_text(records: Iterable[DeliveryRecord]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELD_NAMES, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow(asdict(record))
    return buffer.getvalue()


def read_deliveries(
    delivery_dir: Path, school_id: str | None = None, class_name: str | None = None
) -> list[DeliveryRecord]:
    """The newest delivery of every login, printed or not (a later record replaces an earlier one)."""
    latest = latest_records(delivery_files(delivery_dir, school_id))
    return [r for r in latest.values() if class_name is None or r.class_name == class_name]


def shred_file(path: Path) -> None:
    """Overwrite a delivery file with zeros, then remove it."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
