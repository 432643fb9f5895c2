"""Faults on purpose, against the real servers: a directory that dies midway, SIGTERM/SIGINT/SIGKILL during a
sync, two syncs at once, SSH sessions killed between two files, hosts that never answer, read-only and full
target file systems. Every run must end with a clear message and exit code, leave no lock and no half-written
file behind, and the next run must converge to exactly what one clean run produces.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

import ldap3
import pytest
from click.testing import CliRunner
from ldap3.core.exceptions import LDAPException

from schulit.accounts.lock import run_lock
from schulit.cli import cli
from schulit.configs.push import push_configs
from schulit.delivery import DeliveryRecord, delivery_files, read_deliveries, read_delivery, write_delivery
from schulit.devservers.slapd import Slapd
from schulit.devservers.sshd import Sshd
from schulit.inventory import load_inventory
from schulit.passwords import crypt
from schulit.servers.secrets import PLACEHOLDER
from tests.integration.test_accounts_sync import County
from tests.integration.test_configs_push import (  # noqa: F401
    ALL_HANDLERS,
    Fleet,
    files_below,
    handlers,
    silent_listener,
)
from tests.plugins.slapd import TEST_BASE_DN

PUPILS = 1000  # enough that a sync takes a second or two: time to hit it midway
ROWS = [(str(5000 + i), f"Nachname{i:04d}", "Kind", f"{1 + i % 4}{'abc'[i % 3]}") for i in range(PUPILS)]


# --------------------------------------------------------------------------------------------- accounts


@pytest.fixture(scope="module")
def clean_dump(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The directory after one clean sync of ROWS on a fresh slapd: what each fault must converge to."""
    server = Slapd(tmp_path_factory.mktemp("clean-slapd"), base_dn=TEST_BASE_DN, durable=False).start()
    try:
        county = County(tmp_path_factory.mktemp("clean") / "inventory", server, schools=("gs-a",))
        county.pupils("gs-a", ROWS)
        result = county.sync()
        assert result.exit_code == 0, result.output
        return county.dump()
    finally:
        server.stop(kill=True)


@pytest.fixture
def big_county(slapd: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> County:
    """One school with ROWS; subprocess runs and in-process runs share one lock file."""
    monkeypatch.setenv("SCHULIT_LOCK_FILE", str(tmp_path / "schulit.lock"))
    county = County(tmp_path / "inventory", slapd, schools=("gs-a",))
    county.pupils("gs-a", ROWS)
    return county


_started: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_run_left_behind() -> Iterator[None]:
    """A failed test must not leave its ``schulit`` subprocess running (only the ones started here)."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


@dataclass
class Run:
    """A ``python -m schulit`` subprocess with its output in files (a pipe nobody reads could block it)."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def wait(self, timeout: float = 60) -> int:
        return self.process.wait(timeout=timeout)

    def out(self) -> str:
        return self.stdout.read_text()

    def err(self) -> str:
        return self.stderr.read_text()


def start(inventory: Path, name: str, *args: str) -> Run:
    """Start ``schulit --inventory ... ARGS`` as the console script would run (SIGINT not ignored)."""
    folder = inventory.parent / f"run-{name}"
    folder.mkdir()
    stdout, stderr = folder / "stdout", folder / "stderr"
    # a child inherits an ignored SIGINT (e.g. pytest started in the background); make sure it gets Ctrl-C
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "schulit", "--inventory", str(inventory), *args],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    _started.append(process)
    return Run(process, stdout, stderr)


def accounts(county: County) -> list[tuple[str, str, str, str]]:
    """(dn, uid, employeeNumber, userPassword) of every posixAccount, sorted."""
    with county.connection() as conn:
        entries = conn.extend.standard.paged_search(
            county.slapd.base_dn,
            "(objectClass=posixAccount)",
            attributes=["uid", "employeeNumber", "userPassword"],
            paged_size=500,
            generator=False,
        )
    found = []
    for entry in entries:
        if entry.get("type") == "searchResEntry":
            raw = entry["raw_attributes"]
            found.append(
                (entry["dn"], *(raw[name][0].decode() for name in ("uid", "employeeNumber", "userPassword")))
            )
    return sorted(found)


def count_accounts(county: County) -> int:
    with county.connection() as conn:
        conn.search(county.slapd.base_dn, "(objectClass=posixAccount)", attributes=["1.1"], size_limit=0)
        return len(conn.entries)


def wait_for_accounts(county: County, at_least: int, run: Run, timeout: float = 60) -> int:
    """Poll the directory until the running sync has written ``at_least`` accounts; return the count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            count = count_accounts(county)
        except LDAPException:
            count = 0  # the base entry does not exist yet
        if count >= at_least:
            return count
        assert run.process.poll() is None, f"the sync ended early: {run.err()}"
        time.sleep(0.01)
    raise AssertionError(f"fewer than {at_least} accounts after {timeout} s")


def assert_lock_is_free(lock: Path) -> None:
    with run_lock(lock, timeout=0):  # timeout=0: raises at once if anyone still holds it
        pass


def password_matches(password: str, stored: str) -> bool:
    """The check slapd makes at bind time ({CRYPT} via libxcrypt), without 1000 binds' round trips."""
    assert stored.startswith("{CRYPT}$6$"), stored
    hashed = stored.removeprefix("{CRYPT}")
    return crypt(password, hashed) == hashed


def assert_converged(county: County, clean_dump: list[str]) -> None:
    """Exactly one clean run's directory; every account can log in with the password its letter will show."""
    assert county.run("accounts", "plan").exit_code == 0, "nothing may be left to do"
    assert county.dump() == clean_dump
    found = accounts(county)
    assert len(found) == PUPILS
    assert len({a[1] for a in found}) == len({a[2] for a in found}) == PUPILS
    # what `passwords letters` prints: the latest delivery record per login
    letters = {r.login: r.password for r in read_deliveries(county.root / "passwords")}
    missing = sorted(uid for _, uid, _, _ in found if uid not in letters)
    assert not missing, f"{len(missing)} accounts without a password letter, e.g. {missing[:3]}"
    with ThreadPoolExecutor(max_workers=4) as pool:  # crypt_rn runs without the GIL
        matches = list(pool.map(lambda a: password_matches(letters[a[1]], a[3]), found))
    wrong = [a[1] for a, ok in zip(found, matches, strict=True) if not ok]
    assert not wrong, f"{len(wrong)} accounts whose letter shows the wrong password, e.g. {wrong[:3]}"
    for dn, uid, _, _ in (found[0], found[-1]):  # and slapd agrees
        with ldap3.Connection(ldap3.Server(county.slapd.url), dn, letters[uid]) as conn:
            assert conn.bound


def test_directory_killed_midway_fails_clearly_and_the_next_run_converges(
    big_county: County, tmp_path: Path, clean_dump: list[str]
) -> None:
    county, slapd = big_county, big_county.slapd
    run = start(county.root, "first", "accounts", "sync", "--yes")
    reached = wait_for_accounts(county, PUPILS * 3 // 10, run)
    slapd.stop(kill=True)  # a crash: no goodbye on the open connections
    code = run.wait()
    stderr = run.err()
    assert code == 1, (code, stderr)
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("schulit: error: ") and "directory" in lines[0], lines[0]
    assert_lock_is_free(tmp_path / "schulit.lock")

    slapd.start()  # same data folder and port
    partial = count_accounts(county)
    assert reached <= partial < PUPILS, partial
    rerun = county.sync("--lock-timeout", "0")
    assert rerun.exit_code == 0, rerun.output
    assert_converged(county, clean_dump)


def test_directory_hung_midway_times_out_clearly_and_the_next_run_converges(
    big_county: County, tmp_path: Path, clean_dump: list[str]
) -> None:
    """A slapd that stops answering (SIGSTOP: connections stay open, nothing comes back) must not hang
    the nightly run: the wait for an answer is bounded (6 × directory.timeout).

    With ``transactions = true`` this very test made slapd 2.5.13 segfault (the connection closed while a
    transaction's commit was pending): why transactions are off by default."""
    county, slapd = big_county, big_county.slapd
    config = county.root / "county.toml"
    flag = "allow_plaintext_loopback = true"
    config.write_text(config.read_text().replace(flag, f"{flag}\ntimeout = 1\ntransactions = false"))
    run = start(county.root, "first", "accounts", "sync", "--yes")
    wait_for_accounts(county, PUPILS * 3 // 10, run)
    server = slapd.pid()
    assert server is not None
    os.kill(server, signal.SIGSTOP)
    try:
        code = run.wait(timeout=60)
    finally:
        os.kill(server, signal.SIGCONT)
    stderr = run.err()
    assert code == 1, (code, stderr)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    assert lines[0].startswith("schulit: error: ") and "timed out" in lines[0], lines[0]
    assert_lock_is_free(tmp_path / "schulit.lock")

    rerun = county.sync("--lock-timeout", "0")
    assert rerun.exit_code == 0, rerun.output
    assert_converged(county, clean_dump)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_signal_midway_releases_the_lock_and_the_next_run_converges(
    big_county: County, tmp_path: Path, clean_dump: list[str], signum: signal.Signals
) -> None:
    county = big_county
    run = start(county.root, "first", "accounts", "sync", "--yes")
    wait_for_accounts(county, PUPILS // 5, run)
    run.process.send_signal(signum)
    code = run.wait(timeout=20)
    stderr = run.err()
    if signum == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 1, (code, stderr)  # SPEC §6: 1 = error
        assert "Traceback" not in stderr
        lines = [line for line in stderr.splitlines() if line.strip()]
        expected = "schulit: terminated (SIGTERM)" if signum == signal.SIGTERM else "schulit: interrupted"
        assert lines == [expected], stderr
    partial = count_accounts(county)
    assert 0 < partial < PUPILS, partial
    assert_lock_is_free(tmp_path / "schulit.lock")
    rerun = county.sync("--lock-timeout", "0")
    assert rerun.exit_code == 0, rerun.output
    assert_converged(county, clean_dump)


def test_two_syncs_at_once_write_once(big_county: County, clean_dump: list[str]) -> None:
    county = big_county
    runs = [start(county.root, name, "accounts", "sync", "--yes", "--json") for name in ("a", "b")]
    codes = [run.wait(timeout=90) for run in runs]
    writers, waiters = [], []
    for run, code in zip(runs, codes, strict=True):
        if code == 1 and "holds the lock" in run.err():
            waiters.append(run)  # gave up waiting: acceptable, with a clear message
            continue
        assert code == 0, (code, run.err())
        applied = json.loads(run.out())["applied"]
        (writers if applied else waiters).append(run)
    assert len(writers) == 1 and len(waiters) == 1, [run.err() for run in runs]
    assert "Traceback" not in runs[0].err() + runs[1].err()
    assert_converged(county, clean_dump)
    # each initial password was issued exactly once: no second delivery file, no overwritten hash
    files = delivery_files(county.root / "passwords")
    logins = [r.login for path in files for r in read_delivery(path)]
    assert len(logins) == len(set(logins)) == PUPILS, (len(files), len(logins))


def test_delivery_files_written_within_one_second_keep_their_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-run right after an interrupted run (or two resets in a row) writes a newer password for the same
    login within the same second: the letter must show the newest one, not a random one of them."""

    class SameSecond(datetime):
        ticks = 0

        @classmethod
        def now(cls, tz: tzinfo | None = None) -> SameSecond:
            cls.ticks += 1
            return cls(2026, 8, 3, 6, 0, 0, cls.ticks, tzinfo=UTC)

    monkeypatch.setattr("schulit.delivery.datetime", SameSecond)
    for number in range(10):
        record = DeliveryRecord(
            "gs-a", "GS A", "1a", "pupil", "lea.mueller", "Lea", "Müller", f"pw{number}", "new", "2026-08-03"
        )
        write_delivery(tmp_path, "gs-a", [record])
    in_order = [read_delivery(path)[0].password for path in delivery_files(tmp_path)]
    assert in_order == [f"pw{number}" for number in range(10)]
    assert [r.password for r in read_deliveries(tmp_path)] == ["pw9"]


# ------------------------------------------------------------------------------------------------ configs


@pytest.fixture
def fleet(
    tmp_path: Path, sshd_hosts: list[Sshd], ssh_client_key: Path, known_hosts_file: Path, slapd: Slapd
) -> Fleet:
    return Fleet(tmp_path / "inventory", sshd_hosts, ssh_client_key, known_hosts_file, slapd)


def rendered(fleet: Fleet, tmp_path: Path, name: str) -> dict[str, dict[str, bytes]]:
    """What each host should hold: ``configs render`` output per server name."""
    fleet.sync()
    out = tmp_path / f"rendered-{name}"
    result = CliRunner().invoke(
        cli, ["--inventory", str(fleet.root), "configs", "render", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    return {folder.name: files_below(folder) for folder in out.iterdir()}


def targets(host_root: Path) -> dict[str, bytes]:
    """The pushed files on a host (handler log, backups, temp files and schulit's own state left out), the
    server's secret shown as the placeholder (as in ``configs render`` output)."""
    secret_file = host_root.parents[1] / "server-secrets" / f"{host_root.name}.secret"
    secret = secret_file.read_bytes().strip() if secret_file.exists() else b"\0"
    return {
        path: data.replace(secret, PLACEHOLDER.encode())
        for path, data in files_below(host_root).items()
        if path.startswith("etc/") and ".schulit-" not in path
    }


def file_results(host: dict[str, Any]) -> list[dict[str, Any]]:
    """A host's results for files (folders, whose paths end in /, left out)."""
    return [f for f in host["files"] if not f["path"].endswith("/")]


def temp_files(host_root: Path) -> list[str]:
    return sorted(str(p.relative_to(host_root)) for p in host_root.rglob(".*.schulit-*"))


def push_json(fleet: Fleet, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    result = fleet.push("--json", *args)
    return result.exit_code, {h["name"]: h for h in json.loads(result.output)["hosts"]}


def test_session_killed_between_two_files_of_a_host(fleet: Fleet, tmp_path: Path) -> None:
    roots = [fleet.school(i) for i in range(3)]
    assert fleet.push().exit_code == 0
    old = [targets(root) for root in roots]
    assert len(old[0]) == 8
    for template in fleet.templates.rglob("*.j2"):  # every file of every host gets a new version
        template.write_text(template.read_text() + "\n# Wartungsfenster: dienstags 18 Uhr\n")
    new = rendered(fleet, tmp_path, "new")
    # fs0: the validate of its 6th file (dnsmasq) kills the SSH session that runs it: 5 files are in place,
    # the 6th is uploaded as a temp file, the 7th and 8th not yet touched
    school = fleet.root / "schools" / "gs-t0.toml"
    school.write_text(
        school.read_text().replace(
            '"dnsmasq.conf" = """grep -q \'^dhcp-range=\' %s"""',
            '"dnsmasq.conf" = "kill -9 $PPID; sleep 5; true %s"',
        )
    )
    code, hosts = push_json(fleet)
    assert code == 4
    assert hosts["fs0"]["status"] in ("failed", "unreachable"), hosts["fs0"]
    assert "connection lost" in hosts["fs0"]["error"], hosts["fs0"]
    statuses = {Path(f["path"]).name: f["status"] for f in hosts["fs0"]["files"]}
    assert statuses == dict.fromkeys(
        ["sssd.conf", "ldap.conf", "schulit-ldap.secret", "smb.conf", "motd"], "changed"
    )
    now = targets(roots[0])
    assert set(now) == set(old[0])
    for path, data in now.items():  # each file is the old or the new version, never a mix or a stub
        expected = new["fs0"][path] if Path(path).name in statuses else old[0][path]
        assert data == expected, path
    assert handlers(roots[0]).count("reload-smbd") == 1, "the dead session ran no handler"
    for name, root in (("fs1", roots[1]), ("fs2", roots[2])):  # the other hosts finished
        assert hosts[name]["status"] == "changed", hosts[name]
        assert targets(root) == new[name]
        assert sorted(hosts[name]["handlers"]) == ALL_HANDLERS

    fleet.school(0)  # a working validate again
    code, hosts = push_json(fleet)
    assert code == 0, hosts
    assert hosts["fs0"]["status"] == "changed"
    assert [Path(f["path"]).name for f in file_results(hosts["fs0"]) if f["status"] == "changed"] == [
        "schule.conf",
        "dhcp-hosts",
        "hosts",
    ]
    assert targets(roots[0]) == new["fs0"]
    # smbd and sssd were never told about the files the killed run installed: the re-run must do it
    assert sorted(hosts["fs0"]["handlers"]) == ALL_HANDLERS
    assert sorted(handlers(roots[0])) == sorted(ALL_HANDLERS * 2)
    assert temp_files(roots[0]) == [], "temp files of the dead session must be cleaned up"
    assert hosts["fs1"]["status"] == hosts["fs2"]["status"] == "ok"

    code, hosts = push_json(fleet)
    assert code == 0 and {h["status"] for h in hosts.values()} == {"ok"}
    assert len(handlers(roots[0])) == 2 * len(ALL_HANDLERS), "nothing pending any more"


def test_host_without_ssh_banner_is_unreachable_in_time_and_the_others_finish(
    fleet: Fleet, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    banner_less_port: int = request.getfixturevalue("silent_listener")  # accepts TCP, never says a word
    roots = [fleet.school(i) for i in range(3)]
    fleet.school(3, address="127.0.0.1", port=banner_less_port)
    expected = rendered(fleet, tmp_path, "expected")
    inventory = load_inventory(fleet.root)
    timeout = inventory.ssh.connect_timeout
    finished: dict[str, float] = {}
    started = time.monotonic()
    result = push_configs(
        inventory,
        progress=lambda host, _done, _total: finished.setdefault(host.name, time.monotonic() - started),
    )
    assert result.exit_code == 4
    hosts = {h.name: h for h in result.hosts}
    silent = hosts["fs3"]
    assert silent.status == "unreachable" and "no SSH handshake within 3 s" in silent.error, silent
    assert silent.files == []
    # paramiko's own banner wait is 15 s: well below it shows the configured timeout is the one in force
    assert timeout <= finished["fs3"] < 12, f"fs3 gave up after {finished['fs3']:.1f} s"
    for number, root in enumerate(roots):
        host = hosts[f"fs{number}"]
        assert host.status == "changed", host
        assert [f.status for f in host.files if not f.path.endswith("/")] == ["changed"] * 8
        assert targets(root) == expected[host.name]
        assert sorted(handlers(root)) == ALL_HANDLERS


def test_sigterm_during_a_push_starts_no_further_host_and_the_next_push_completes(
    fleet: Fleet, tmp_path: Path
) -> None:
    roots = [fleet.school(i) for i in range(4)]
    expected = rendered(fleet, tmp_path, "expected")
    validating = tmp_path / "validating"
    fleet.school(0, validate_smb=f"touch {validating}; sleep 1; grep -qF '[global]' %s")
    run = start(fleet.root, "push", "configs", "push", "--forks", "1")
    deadline = time.monotonic() + 20
    while not validating.exists():  # fs0 is installing its first file
        assert time.monotonic() < deadline and run.process.poll() is None, run.err()
        time.sleep(0.01)
    run.process.send_signal(signal.SIGTERM)
    code = run.wait(timeout=20)
    stderr = run.err()
    assert code == 1, (code, stderr)
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "schulit: terminated (SIGTERM)"
    # fs0 finished the file it was installing (whole), then stopped; no other host was started
    first_files = (
        "etc/sssd/sssd.conf",
        "etc/ldap/ldap.conf",
        "etc/samba/schulit-ldap.secret",
        "etc/samba/smb.conf",
    )
    assert targets(roots[0]) == {path: expected["fs0"][path] for path in first_files}
    assert handlers(roots[0]) == []
    for root in roots[1:]:
        assert files_below(root) == {}

    fleet.school(0)
    code, hosts = push_json(fleet)
    assert code == 0, hosts
    for number, root in enumerate(roots):
        assert targets(root) == expected[f"fs{number}"]
        assert sorted(handlers(root)) == ALL_HANDLERS
        assert temp_files(root) == []


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``chattr +i``: not even root may create, rename or delete in the folder (a mode bit would not stop the
    root sshd)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr not installed")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i not possible here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_target_folder_fails_that_file_and_host_only(fleet: Fleet) -> None:
    broken, other = fleet.school(0), fleet.school(1)
    samba = broken / "etc/samba"
    samba.mkdir(parents=True)
    (samba / "smb.conf").write_text("# old\n")
    with immutable(samba):
        code, hosts = push_json(fleet)
        assert code == 4
        host = hosts["fs0"]
        assert host["status"] == "failed"
        files = {Path(f["path"]).name: f for f in file_results(host)}
        assert files["smb.conf"]["status"] == "failed"
        assert "Permission denied" in files["smb.conf"]["error"], files["smb.conf"]
        assert "smb.conf" in host["error"]
        assert sorted(n for n, f in files.items() if f["status"] == "changed") == [
            "dhcp-hosts",
            "hosts",
            "ldap.conf",
            "motd",
            "schule.conf",
            "sssd.conf",
        ], "the host's other files are still pushed"
        assert files["schulit-ldap.secret"]["status"] == "failed", "it lives in the same folder"
        assert (samba / "smb.conf").read_text() == "# old\n"
        assert sorted(p.name for p in samba.iterdir()) == ["smb.conf"]
        assert hosts["fs1"]["status"] == "changed" and (other / "etc/samba/smb.conf").exists()
    code, hosts = push_json(fleet)
    assert code == 0, hosts
    assert hosts["fs0"]["status"] == "changed" and hosts["fs1"]["status"] == "ok"
    assert "[global]" in (samba / "smb.conf").read_text()
    assert (samba / "smb.conf.schulit-bak").read_text() == "# old\n"
    assert handlers(broken).count("reload-smbd") == 1, "only once smb.conf could be installed"


@contextmanager
def small_tmpfs(path: Path, size: str = "16k") -> Iterator[None]:
    """A tiny file system mounted on ``path``: fill it for a full disk."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "schulit-test", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(folder: Path) -> Path:
    """Write a filler file until the file system is full."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 1024)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def test_full_file_system_never_leaves_a_truncated_file(fleet: Fleet, tmp_path: Path) -> None:
    full, other = fleet.school(0), fleet.school(1)
    expected = rendered(fleet, tmp_path, "expected")
    dnsmasq = full / "etc/schulit/dnsmasq"
    with small_tmpfs(dnsmasq):
        (dnsmasq / "dhcp-hosts").write_text("# old\n52:54:00:00:00:00,drucker,10.0.0.20\n")
        (dnsmasq / "hosts").write_text("# old\n10.0.0.20 drucker\n")
        filler = fill(dnsmasq)
        code, hosts = push_json(fleet)
        assert code == 4
        host = hosts["fs0"]
        assert host["status"] == "failed"
        files = {Path(f["path"]).name: f for f in host["files"]}
        assert files["dhcp-hosts"]["status"] == "failed"
        assert "cannot write" in files["dhcp-hosts"]["error"], files["dhcp-hosts"]
        assert (dnsmasq / "dhcp-hosts").read_text() == "# old\n52:54:00:00:00:00,drucker,10.0.0.20\n"
        # no validate guards the hosts file: only a confirmed, complete upload may replace it
        assert files["hosts"]["status"] == "failed"
        assert (dnsmasq / "hosts").read_text() == "# old\n10.0.0.20 drucker\n"
        assert temp_files(full) == []
        assert files["smb.conf"]["status"] == "changed" and files["schule.conf"]["status"] == "changed"
        assert "reload-dnsmasq" not in host["handlers"] and "reload-smbd" in host["handlers"]
        assert hosts["fs1"]["status"] == "changed" and targets(other) == expected["fs1"]

        filler.unlink()  # the admin frees some space
        code, hosts = push_json(fleet)
        assert code == 0, hosts
        assert hosts["fs0"]["status"] == "changed"
        assert targets(full) == expected["fs0"]
        assert handlers(full).count("reload-dnsmasq") == 1
