"""One writing run at a time: an exclusive ``flock`` on a lock file.

The kernel drops the lock when the process ends, however it ends (SIGKILL included), so a stale lock cannot
block the next night. The file holds the PID of the holder for the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from schulit.errors import SchulitError
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
