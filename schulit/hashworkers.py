"""Hash many initial passwords in helper processes while the main process writes to the directory.

SHA-512-crypt costs ~1.3 ms of CPU per password. Hashed in threads of the writing process, every result
has to win the GIL back from the thread that encodes and sends the LDAP requests, and the writes slow
down by half. Helper processes share no GIL; they run at the lowest priority so that slapd and the writer
get the CPU first and the hashing fills the time they spend waiting for the disk. On 2 cores one helper
measured best (two helpers, at nice 10 or SCHED_IDLE, slowed slapd's writes by more than they gained).

Passwords reach the helpers through a pipe (never argv, environment or files); a helper dies with its
parent (``PR_SET_PDEATHSIG``) and holds no file descriptor of it (no lock, no delivery file).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

from schulit.passwords import hash_password

CHUNK = 64  # passwords a helper hashes before it flushes its answers
NICENESS = 19
PR_SET_PDEATHSIG = 1


def default_helpers() -> int:
    """One helper per core, less the one core the writer and a local slapd need."""
    return max(1, (os.cpu_count() or 2) - 1)


class HelperHashes:
    """``hash_password(p, scheme)`` for each password, in order, computed by helper processes.

    The helpers start hashing at once (so the work overlaps whatever the caller writes first); iterate to
    collect the hashes, and ``close()`` (or leave the ``with`` block) to stop the helpers early. Chunk
    ``i`` goes to helper ``i % helpers``; answers are read back in the same round-robin order.
    """

    def __init__(self, passwords: list[str], scheme: str, helpers: int | None = None):
        self.chunks = [passwords[i : i + CHUNK] for i in range(0, len(passwords), CHUNK)]
        count = max(1, min(helpers or default_helpers(), len(self.chunks))) if self.chunks else 0
        self.processes = [
            subprocess.Popen(
                # -P: the current folder is not searched for modules
                [sys.executable, "-P", "-m", "schulit.hashworkers", scheme],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for _ in range(count)
        ]
        self.feeders = [
            threading.Thread(target=_feed, args=(process, self.chunks[number::count]), daemon=True)
            for number, process in enumerate(self.processes)
        ]
        for feeder in self.feeders:
            feeder.start()

    def __iter__(self) -> Iterator[str]:
        for index, chunk in enumerate(self.chunks):
            stream = self.processes[index % len(self.processes)].stdout
            assert stream is not None
            for _ in chunk:
                line = stream.readline()
                if not line:
                    raise RuntimeError("a password-hashing helper process ended early")
                yield line.decode("ascii").rstrip("\n")

    def close(self) -> None:
        """Stop the helpers (killed if still hashing) and release their pipes."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        for feeder in self.feeders:
            feeder.join(timeout=5)
        self.processes, self.feeders = [], []

    def __enter__(self) -> HelperHashes:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _feed(process: subprocess.Popen[bytes], chunks: list[list[str]]) -> None:
    stream = process.stdin
    assert stream is not None
    with contextlib.suppress(OSError):  # the helper was killed: the reader reports it
        for chunk in chunks:
            stream.write("".join(password + "\n" for password in chunk).encode())
        stream.close()


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _serve(scheme: str) -> int:
    """Helper side: one password per line in, one hash per line out, flushed every ``CHUNK`` lines."""
    _die_with_parent()
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    output = sys.stdout.buffer
    for done, line in enumerate(sys.stdin.buffer, start=1):
        output.write(hash_password(line.decode().rstrip("\n"), scheme).encode() + b"\n")
        if done % CHUNK == 0:
            output.flush()
    output.flush()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(_serve(sys.argv[1]))
    except (BrokenPipeError, KeyboardInterrupt):  # the parent is gone or stopping: nothing left to say
        os._exit(1)
