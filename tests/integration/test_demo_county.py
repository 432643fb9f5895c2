"""term-start on the whole demo county (8 schools, 13 servers, ~3,300 people), as an admin would run it.

A copy of ``inventories/demo`` is pointed at its own slapd and sshd hosts (started with the same
``python -m schulit.devservers`` the demo uses, on other loopback addresses and a free port, so a running
demo is not disturbed). ``term-start`` runs twice: first answered at its prompt in a pseudo-terminal, then
with ``--yes --json``, which must find nothing to do and print no letters.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from schulit.devservers.slapd import free_port

REPO = Path(__file__).resolve().parents[2]
DEMO_STATE = "/var/tmp/schulit-demo"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(inventory copy, state folder) with its local servers running; stopped afterwards."""
    inventory = tmp_path / "demo"
    state = tmp_path / "state"
    shutil.copytree(REPO / "inventories" / "demo", inventory)
    county = inventory / "county.toml"
    text = county.read_text(encoding="utf-8")
    text = text.replace(DEMO_STATE, str(state)).replace("127.0.0.1:38389", f"127.0.0.1:{free_port()}")
    county.write_text(
        text.replace('dir = "../../templates"', f'dir = "{REPO / "templates"}"'), encoding="utf-8"
    )
    for school in (inventory / "schools").glob("*.toml"):
        text = (
            school.read_text(encoding="utf-8")
            .replace(DEMO_STATE, str(state))
            .replace("127.0.10.", "127.0.110.")
        )
        school.write_text(text, encoding="utf-8")
    servers = [sys.executable, "-m", "schulit.devservers"]
    subprocess.run([*servers, "up", "--inventory", str(inventory), "--state", str(state)], check=True)
    try:
        yield inventory, state
    finally:
        subprocess.run([*servers, "down", "--inventory", str(inventory), "--state", str(state)], check=False)


def schulit(inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "schulit", "--inventory", str(inventory), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "SCHULIT_LOCK_FILE": str(inventory / "schulit.lock")},
        timeout=300,
        check=False,
    )


def test_term_start_on_the_demo_county_then_nothing_twice(demo: tuple[Path, Path], tmp_path: Path) -> None:
    inventory, state = demo
    assert schulit(inventory, "directory", "init").returncode == 0
    output = tmp_path / "schuljahr"
    # the admin's way: the plan, then a typed "yes" at the prompt (a real pseudo-terminal)
    session = pexpect.spawn(
        sys.executable,
        ["-m", "schulit", "--inventory", str(inventory), "term-start", "--output", str(output)],
        env={**os.environ, "SCHULIT_LOCK_FILE": str(inventory / "schulit.lock")},
        encoding="utf-8",
        timeout=240,
    )
    session.expect("gym-bispingen")
    session.expect('Type "yes"')
    session.sendline("yes")
    session.expect("REPORT")
    session.expect("RECAP")
    session.expect(pexpect.EOF)
    session.close()
    assert session.exitstatus == 0, session.before
    letters = sorted(output.glob("letters-*.pdf"))
    assert len(letters) == 8  # one PDF per school
    text = subprocess.run(
        ["pdftotext", str(next(p for p in letters if "gs-hanstedt" in p.name)), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = json.loads(schulit(inventory, "accounts", "list", "--school", "gs-hanstedt", "--json").stdout)
    pupils = [a for a in listed if a["role"] == "pupil"]
    assert pupils and all(a["login"] in text for a in pupils)
    hosts = sorted((state / "hosts").iterdir())
    assert len(hosts) == 13 and all((h / "etc").is_dir() for h in hosts)

    second = schulit(inventory, "term-start", "--yes", "--json", "--output", str(output))
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["accounts"]["plan"]["changes"] == []
    assert report["letters"] == []
    assert {h["status"] for h in report["configs"]["hosts"]} == {"ok"}
    assert sorted(output.glob("letters-*.pdf")) == letters
