"""Password delivery files: the only place an initial password exists in clear text.

``accounts sync`` and ``accounts reset-password`` write one CSV per school and run into
``<delivery_dir>/<school id>/passwords-<UTC time>-<random>.csv`` (folder 0700, file 0600, created with those
modes, never widened). The time has microseconds, so file names sort in the order the files were written even
within one second (the latest record of a login is the one that counts); file and folder are fsynced before
the caller writes the password hash to the directory. ``passwords letters`` reads them, prints the PDF, and
can shred them afterwards.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
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
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELD_NAMES, lineterminator="\n")
    writer.writeheader()
    for record in rows:
        writer.writerow(asdict(record))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(buffer.getvalue())
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
            DeliveryRecord(**{name: row.get(name, "") for name in FIELD_NAMES})
            for row in csv.DictReader(handle)
        ]


def read_deliveries(
    delivery_dir: Path, school_id: str | None = None, class_name: str | None = None
) -> list[DeliveryRecord]:
    """All pending deliveries (a later record for the same login replaces an earlier one)."""
    latest: dict[str, DeliveryRecord] = {}
    for path in delivery_files(delivery_dir, school_id):
        for record in read_delivery(path):
            latest[record.login] = record
    return [r for r in latest.values() if class_name is None or r.class_name == class_name]


def shred_file(path: Path) -> None:
    """Overwrite a delivery file with zeros, then remove it."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
