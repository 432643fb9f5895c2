"""Secrets stay secret: initial passwords and the bind password never leave their 0600 files.

A full run (sync, reset, term-start with letters and push, nightly, list/show/plan as JSON, render) is
grepped: every stdout and stderr, the audit log, the term-start report, every file on the school servers
and every other file written, and the command lines of all processes while a run is going on.
"""

from __future__ import annotations

import csv
import json
import stat
import threading
import time
from pathlib import Path

import pytest

from tests.integration.test_configs_push import Fleet
from tests.integration.test_configs_push import fleet as fleet
from tests.integration.test_runs import PUPILS_A, PUPILS_B, District
from tests.integration.test_runs import district as district  # fixture


class CommandLineWatch:
    """Reads every process's command line every few milliseconds while a run is going on."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    try:
                        line = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                        self.seen.add(line.decode(errors="replace"))
                    except OSError:
                        continue
            time.sleep(0.005)

    def __enter__(self) -> CommandLineWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_no_password_in_any_output_file_or_command_line(district: District, tmp_path: Path) -> None:
    bind_password = district.slapd.password()
    outputs: list[str] = []

    def run(*args: str) -> None:
        result = district.cli(*args)
        assert result.returncode == 0, (args, result.stderr)
        outputs.extend([result.stdout, result.stderr])

    with CommandLineWatch() as watch:
        run("accounts", "sync", "--yes", "--json")
        run("accounts", "reset-password", "jonas.weiss")
        passwords = {login: row["password"] for login, row in district.deliveries().items()}
        issued = [
            row
            for path in sorted((district.root / "passwords").rglob("*.csv"))
            for row in csv.DictReader(path.open(encoding="utf-8"))
        ]
        run("term-start", "--yes", "--output", str(tmp_path / "term"))
        run("--verbose", "nightly", "--json")
        run("--verbose", "nightly")
        run("accounts", "list", "--json")
        run("accounts", "show", "jonas.weiss", "--json")
        run("accounts", "plan", "--json")
        run("configs", "render", "--output", str(tmp_path / "render"))
    assert len(passwords) == len(PUPILS_A) + len(PUPILS_B) + 2  # and two teachers
    assert len(issued) == len(passwords) + 1  # the reset issued a second password for jonas.weiss
    secrets = {row["password"] for row in issued} | {bind_password}
    assert all(len(secret) >= 8 for secret in secrets)

    for text in outputs:
        for secret in secrets:
            assert secret not in text
    for command_line in watch.seen:
        for secret in secrets:
            assert secret not in command_line, command_line

    written = [tmp_path / "term", tmp_path / "render", district.root, *district.host_roots.values()]
    checked = 0
    for folder in written:
        for path in folder.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            leaked = [s for s in secrets if s.encode() in data]
            if path == district.slapd.password_file:
                continue
            if leaked:
                # only the delivery files may hold passwords, and only their owner may read them
                assert path.parent.parent == district.root / "passwords", (path, "holds a password")
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
            checked += 1
    assert checked > 20
    audit = (district.root / "audit.jsonl").read_text()
    assert "userPassword" in audit  # the attribute name is logged, never its value
    assert stat.S_IMODE((district.root / "audit.jsonl").stat().st_mode) & 0o007 == 0


def test_wrong_bind_password_is_not_echoed(district: District) -> None:
    district.slapd.password_file.chmod(0o600)
    wrong = district.root / "wrong.password"
    wrong.write_text("Falsch-Geheim-4711\n")
    wrong.chmod(0o600)
    result = district.cli("accounts", "plan", env={"SCHULIT_LDAP_PASSWORD_FILE": str(wrong)})
    assert result.returncode == 1
    assert "bind" in result.stderr and "Falsch-Geheim-4711" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ directory.password }}", "has no attribute 'password'"),
        ("{% include '../../bind.password' %}", "bind.password"),
        ("{{ cycler.__init__.__globals__.os.environ }}", "unsafe"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
    ],
)
def test_templates_cannot_reach_secrets(fleet: Fleet, template: str, expected: str) -> None:
    host_root = fleet.school(0)
    (fleet.root / "bind.password").write_text("Geheim-0815\n")
    (fleet.templates / "fileserver" / "motd.j2").write_text(template + "\n")
    result = fleet.push("--json")
    assert result.exit_code == 4, result.output
    host = json.loads(result.output)["hosts"][0]
    assert host["status"] == "failed" and expected in host["error"], host
    assert "Geheim-0815" not in result.output
    assert not (host_root / "etc/motd").exists()
