"""Hashing in helper processes: same hashes as in-process, in order, no password on a command line,
no helper left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from schulit.hashworkers import CHUNK, HelperHashes
from schulit.passwords import generate_password, verify_password


def helper_processes() -> dict[int, bytes]:
    """Command lines of this process's children that run the hashing helper."""
    found: dict[int, bytes] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"schulit.hashworkers" in cmdline:
            found[int(entry.name)] = cmdline
    return found


def test_every_password_gets_its_own_hash_in_order() -> None:
    passwords = [generate_password() for _ in range(3 * CHUNK + 5)]  # several chunks, a short last one
    with HelperHashes(passwords, "crypt-sha512", helpers=2) as stream:
        hashes = list(stream)
    assert len(hashes) == len(passwords)
    assert all(verify_password(p, h) for p, h in zip(passwords, hashes, strict=True))
    assert not verify_password(passwords[1], hashes[0])
    assert len({h.split("$")[2] for h in hashes}) == len(hashes), "every hash has its own salt"
    assert helper_processes() == {}


def test_ssha_and_a_single_helper() -> None:
    passwords = [generate_password() for _ in range(10)]
    with HelperHashes(passwords, "ssha", helpers=1) as stream:
        hashes = list(stream)
    assert all(h.startswith("{SSHA}") for h in hashes)
    assert all(verify_password(p, h) for p, h in zip(passwords, hashes, strict=True))


def test_no_password_on_a_command_line_and_no_helper_left_when_the_reader_stops_early() -> None:
    passwords = [generate_password() for _ in range(20 * CHUNK)]
    stream = HelperHashes(passwords, "crypt-sha512", helpers=2)  # hashing starts at once
    assert verify_password(passwords[0], next(iter(stream)))
    running = helper_processes()
    assert len(running) == 2
    for cmdline in running.values():
        assert not any(p.encode() in cmdline for p in passwords)
    stream.close()
    assert helper_processes() == {}


def test_nothing_to_hash_starts_no_helper() -> None:
    with HelperHashes([], "crypt-sha512") as stream:
        assert helper_processes() == {}
        assert list(stream) == []
    assert helper_processes() == {}


def test_helpers_die_with_a_killed_parent() -> None:
    script = (
        "import os, sys\n"
        "from schulit.hashworkers import HelperHashes\n"
        "from schulit.passwords import generate_password\n"
        "from tests.unit.test_hashworkers import helper_processes\n"
        "stream = HelperHashes([generate_password() for _ in range(5000)], 'crypt-sha512', helpers=2)\n"
        "next(iter(stream))\n"
        "print(' '.join(str(pid) for pid in helper_processes()), flush=True)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    repository = Path(__file__).resolve().parents[2]
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=repository
    )
    assert run.returncode == -signal.SIGKILL, run.stderr
    helpers = [int(pid) for pid in run.stdout.split()]
    assert len(helpers) == 2
    deadline = time.monotonic() + 10
    while alive := [pid for pid in helpers if Path(f"/proc/{pid}").exists() and not zombie(pid)]:
        assert time.monotonic() < deadline, f"helpers {alive} outlived their parent"
        time.sleep(0.05)


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
