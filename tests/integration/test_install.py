"""The README's production install, step by step, into a throwaway root: user, folders, modes, venv, units."""

from __future__ import annotations

import configparser
import os
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "contrib" / "install.sh"

# path: (mode, owner, group), owner/group "schulit" or "root" -- the README's table
LAYOUT = {
    "opt/schulit": (0o755, "root", "root"),
    "etc/schulit": (0o750, "root", "schulit"),
    "etc/schulit/inventory": (0o750, "root", "schulit"),
    "etc/schulit/inventory/county.toml": (0o640, "root", "schulit"),
    "etc/schulit/templates": (0o750, "root", "schulit"),
    "etc/schulit/ldap-bind.password": (0o600, "schulit", "schulit"),
    "etc/schulit/ssh": (0o700, "schulit", "schulit"),
    "etc/schulit/ssh/id_ed25519": (0o600, "schulit", "schulit"),
    "var/lib/schulit": (0o700, "schulit", "schulit"),
    "var/lib/schulit/passwords": (0o700, "schulit", "schulit"),
    "var/log/schulit": (0o750, "schulit", "schulit"),
    "etc/systemd/system/schulit-nightly.service": (0o644, "root", "root"),
    "etc/systemd/system/schulit-nightly.timer": (0o644, "root", "root"),
}


def install(root: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(INSTALL), "--root", str(root), "--python", sys.executable],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def ids(root: Path) -> dict[str, int]:
    users = {}
    for line in (root / "etc" / "passwd").read_text().splitlines():
        name, _, uid, gid, _comment, home, shell = line.split(":")
        users[name] = int(uid)
        if name == "schulit":
            assert (home, shell) == ("/var/lib/schulit", "/usr/sbin/nologin")
            assert int(uid) < 1000, "a system user"
            users["schulit-group"] = int(gid)
    return users


def test_production_install_in_a_throwaway_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    first = install(root)
    assert "created system user schulit" in first.stdout
    users = ids(root)
    owners = {"root": 0, "schulit": users["schulit"]}
    groups = {"root": 0, "schulit": users["schulit-group"]}
    for relative, (mode, owner, group) in LAYOUT.items():
        info = (root / relative).lstat()
        assert stat.S_IMODE(info.st_mode) == mode, f"{relative}: {oct(stat.S_IMODE(info.st_mode))}"
        assert (info.st_uid, info.st_gid) == (owners[owner], groups[group]), relative
    venv_schulit = root / "opt/schulit/venv/bin/schulit"
    version = subprocess.run([str(venv_schulit), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("schulit")
    assert (root / "opt/schulit/venv").stat().st_uid == 0, "the service cannot change its own code"

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(root / "etc/systemd/system/schulit-nightly.service")
    service = unit["Service"]
    assert (service["User"], service["Group"]) == ("schulit", "schulit")
    executable = service["ExecStart"].split()[0]
    assert (root / executable.lstrip("/")).samefile(venv_schulit)
    assert service["Environment"] == "SCHULIT_INVENTORY=/etc/schulit/inventory"
    assert (root / "etc/schulit/inventory/county.toml").is_file()
    for path in service["ReadWritePaths"].split():
        assert path == "/run/lock" or (root / path.lstrip("/")).is_dir(), path
    assert service["UMask"] == "0077" and service["ProtectSystem"] == "strict"
    cron = (REPO / "contrib/cron/schulit").read_text()
    assert cron.count(executable) == 2

    # the admin's next steps: a bind password, a school, its export; then the check passes
    inventory = root / "etc/schulit/inventory"
    (root / "etc/schulit/ldap-bind.password").write_text("geheim\n")
    (inventory / "schools/gs-beispiel.toml").write_text(
        'id = "gs-beispiel"\nname = "Grundschule Beispiel"\ntype = "Grundschule"\n\n'
        '[[rosters]]\npath = "rosters/gs-beispiel.csv"\n'
    )
    (inventory / "rosters/gs-beispiel.csv").write_bytes(
        "ID;Nachname;Vorname;Klasse\r\n1;Müller;Lea;1a\r\n".encode("cp1252")
    )
    check = subprocess.run(
        [str(venv_schulit), "--inventory", str(inventory), "inventory", "check"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SCHULIT_INVENTORY": ""},
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "1 pupils in   1 classes" in check.stdout

    # a second run (an upgrade) keeps the admin's files and the key
    key = (root / "etc/schulit/ssh/id_ed25519").read_bytes()
    county = (inventory / "county.toml").read_text() + "# edited by the admin\n"
    (inventory / "county.toml").write_text(county)
    second = install(root)
    assert "created" not in second.stdout
    assert (root / "etc/schulit/ssh/id_ed25519").read_bytes() == key
    assert (inventory / "county.toml").read_text() == county
    assert (root / "etc/schulit/ldap-bind.password").read_text() == "geheim\n"
    assert [line for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("schulit:")][
        1:
    ] == []
