"""One truth at each step (issue 10), against a real slapd and real sshd school servers.

- a stale export stops its school with no write of any kind, in every command that syncs;
- settings from the environment that differ from the inventory's are used by every command;
- configs come from the directory: a refused export keeps its class shares, a missing roster still renders;
- a saved plan is applied exactly, and refused once the directory has changed.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from schulit.devservers.slapd import Slapd
from schulit.devservers.sshd import Sshd
from tests.integration.test_runs import PUPILS_A, PUPILS_B, District


def full_dump(slapd: Slapd) -> str:
    """Every entry below the base with all user *and* operational attributes (entryCSN, modifyTimestamp):
    any write at all, even one that rewrites a value unchanged, shows up here."""
    result = subprocess.run(
        [
            "ldapsearch", "-LLL", "-x", "-o", "ldif-wrap=no", "-H", slapd.url, "-D", slapd.bind_dn,
            "-y", str(slapd.password_file), "-b", slapd.base_dn, "*", "+",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def blocks_of(dump: str, school: str) -> list[str]:
    return sorted(block for block in dump.split("\n\n") if f"ou={school}," in block)


def stale_export_of_gs_a() -> list[tuple[str, str, str, str]]:
    """gs-a's export from before the class moves, with new pupils missing: 60 % of the pupils gone, every
    other one a class up, a few names changed."""
    kept = PUPILS_A[:12]
    rows = []
    for number, (pupil_id, last, first, klasse) in enumerate(kept):
        klasse = {"1a": "2a", "2b": "3b"}[klasse] if number % 2 == 0 else klasse
        last = f"{last}-Neu" if number in (1, 5) else last
        rows.append((pupil_id, last, first, klasse))
    return rows


@pytest.fixture
def district(
    slapd: Slapd, tmp_path: Path, sshd_hosts: list[Sshd], ssh_client_key: Path, known_hosts_file: Path
) -> District:
    district = District(tmp_path / "inventory", slapd, sshd_hosts, ssh_client_key, known_hosts_file)
    district.pupils("gs-a", PUPILS_A)
    district.pupils("gs-b", PUPILS_B, encoding="utf-8")
    district.teachers("gs-a", [("T1", "Schröder", "Anja")])
    district.teachers("gs-b", [("T1", "Schröder", "Anja"), ("T7", "Nguyễn", "Thị Ánh")])
    first = district.cli("nightly")
    assert first.returncode == 0, first.stderr
    return district


@pytest.mark.parametrize("command", ["accounts sync", "nightly", "term-start"])
def test_a_stale_export_stops_its_school_with_no_write_of_any_kind(
    district: District, command: str, tmp_path: Path
) -> None:
    before = full_dump(district.slapd)
    gs_a_before = blocks_of(before, "gs-a")
    smb_before = district.smb_conf("gs-a")
    district.pupils("gs-a", stale_export_of_gs_a())
    district.pupils("gs-b", [*PUPILS_B, ("203", "Nowak", "Zofia", "4c")], encoding="utf-8")

    plan = district.cli("accounts", "plan", "--json")
    assert plan.returncode == 3, plan.stderr
    report = {s["school"]: s for s in json.loads(plan.stdout)["schools"]}
    held = sorted(h["login"] for h in report["gs-a"]["held"])
    assert len(held) == 18 and all(h["action"] == "deactivate" for h in report["gs-a"]["held"])
    assert held == sorted(f"mia.schulz{i:02d}" for i in range(12, 30))
    verbose = district.cli("--verbose", "accounts", "plan")
    assert "held back: deactivate mia.schulz29" in verbose.stdout, verbose.stdout

    arguments = {
        "accounts sync": ["accounts", "sync", "--yes"],
        "nightly": ["nightly"],
        "term-start": ["term-start", "--yes", "--output", str(tmp_path / "term")],
    }[command]
    run = district.cli(*arguments)
    assert run.returncode == 3, run.stdout + run.stderr
    assert "STOPPED BY THE SAFETY LIMIT" in run.stderr or "stopped by the safety limit" in run.stderr
    after = full_dump(district.slapd)
    assert blocks_of(after, "gs-a") == gs_a_before, "not one write for the stopped school"
    zofia = district.entry("zofia.nowak")
    assert zofia is not None and zofia["ou"] == ["4c"], "the other school in the same run is synced"
    assert district.smb_conf("gs-a") == smb_before and "[klasse-1a]" in smb_before
    if command != "accounts sync":
        assert "[klasse-4c]" in district.smb_conf("gs-b")
    # the county groups only gained the other school's new pupil
    county_groups_dn = "ou=groups," + district.slapd.base_dn
    county_groups = [b for b in after.split("\n\n") if county_groups_dn in b.split("\n")[0]]
    assert any("memberUid: zofia.nowak" in block for block in county_groups)


ENV_BASE = "dc=lk-test,dc=schule,dc=example"  # the test slapd's suffix (tests.plugins.slapd.TEST_BASE_DN)


def point_inventory_elsewhere(district: District) -> dict[str, str]:
    """The inventory names another directory entirely; the environment names the real one."""
    config = district.root / "county.toml"
    text = config.read_text(encoding="utf-8")
    for old, new in (
        (f'url = "{district.slapd.url}"', 'url = "ldap://127.0.0.1:9"'),
        (f'base_dn = "{district.slapd.base_dn}"', 'base_dn = "o=Inventar,c=DE"'),
        (f'bind_dn = "{district.slapd.bind_dn}"', 'bind_dn = "cn=niemand,o=Inventar,c=DE"'),
        (f'password_file = "{district.slapd.password_file}"', 'password_file = "/nonexistent/bind.pw"'),
    ):
        assert old in text
        text = text.replace(old, new)
    config.write_text(text, encoding="utf-8")
    return {
        "SCHULIT_LDAP_URL": district.slapd.url,
        "SCHULIT_LDAP_BASE_DN": district.slapd.base_dn,
        "SCHULIT_LDAP_BIND_DN": district.slapd.bind_dn,
        "SCHULIT_LDAP_PASSWORD_FILE": str(district.slapd.password_file),
    }


def test_every_command_uses_the_directory_the_environment_names(
    slapd: Slapd, tmp_path: Path, sshd_hosts: list[Sshd], ssh_client_key: Path, known_hosts_file: Path
) -> None:
    district = District(tmp_path / "inventory", slapd, sshd_hosts, ssh_client_key, known_hosts_file)
    district.pupils("gs-a", PUPILS_A[:6])
    district.pupils("gs-b", PUPILS_B, encoding="utf-8")
    district.teachers("gs-b", [("T7", "Nguyễn", "Thị Ánh")])
    env = point_inventory_elsewhere(district)
    assert district.slapd.base_dn == ENV_BASE

    def ok(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = district.cli(*args, env=env)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        return result

    assert "below " + ENV_BASE in ok("directory", "init").stdout
    ok("accounts", "sync", "--yes")
    ok("accounts", "plan")
    listed = json.loads(ok("accounts", "list", "--json").stdout)
    assert len(listed) == 6 + 3 + 1 and all(a["dn"].endswith("," + ENV_BASE) for a in listed)
    assert json.loads(ok("accounts", "show", "mia.schulz00", "--json").stdout)["school"] == "gs-a"
    assert "locked" in ok("accounts", "lock", "mia.schulz01").stdout
    assert "unlocked" in ok("accounts", "unlock", "mia.schulz01").stdout
    ok("accounts", "reset-password", "mia.schulz00")
    district.pupils("gs-a", PUPILS_A[:5])  # one leaver
    ok("accounts", "sync", "--yes")
    assert json.loads(ok("accounts", "show", "mia.schulz05", "--json").stdout)["state"] == "deactivated"
    purged = json.loads(ok("accounts", "purge", "--yes", "--json", "--today", "2099-01-01").stdout)
    assert [dn.split(",")[0] for dn in purged["deleted"]] == ["uid=mia.schulz05"]
    rendered = tmp_path / "rendered"
    ok("configs", "render", "--output", str(rendered))
    smb = (rendered / "fs-gs-b" / "etc/samba/smb.conf").read_text()
    assert f"ldap suffix = {ENV_BASE}" in smb and "[klasse-3a]" in smb
    ok("configs", "push")
    assert f"ldap suffix = {ENV_BASE}" in district.smb_conf("gs-a")
    district.pupils("gs-b", [*PUPILS_B, ("203", "Nowak", "Zofia", "4c")], encoding="utf-8")
    ok("term-start", "--yes", "--output", str(tmp_path / "term"))
    assert district.entry("zofia.nowak") is not None
    ok("nightly")
    assert "o=Inventar" not in full_dump(district.slapd)
    audit = (district.root / "audit.jsonl").read_text()
    assert ENV_BASE in audit and "o=Inventar" not in audit

    # a run without the environment, from an inventory that names the same directory in other words,
    # waits for the lock of the run with the environment
    other = tmp_path / "same-directory"
    other.mkdir()
    subprocess.run(["cp", "-r", f"{district.root}/.", str(other)], check=True)
    config = other / "county.toml"
    config.write_text(
        config.read_text()
        .replace('url = "ldap://127.0.0.1:9"', f'url = "{district.slapd.url}/"')
        .replace('base_dn = "o=Inventar,c=DE"', f'base_dn = "{ENV_BASE.upper().replace(",", ", ")}"')
    )
    from schulit.accounts.lock import default_lock_path
    from schulit.inventory import load_inventory

    assert default_lock_path(load_inventory(other, {}).directory) == default_lock_path(
        load_inventory(district.root, env).directory
    )


def test_a_refused_export_keeps_its_class_shares_and_a_missing_roster_still_renders(
    district: District, tmp_path: Path
) -> None:
    shares = district.smb_conf("gs-a")
    assert "[klasse-1a]" in shares and "[klasse-2b]" in shares
    district.pupils("gs-a", PUPILS_A[:3])  # truncated: refused by the safety limit
    assert district.cli("accounts", "sync", "--yes").returncode == 3
    pushed = district.cli("configs", "push")
    assert pushed.returncode == 0, pushed.stderr
    assert district.smb_conf("gs-a") == shares
    term = district.cli("term-start", "--yes", "--output", str(tmp_path / "term"))
    assert term.returncode == 3, term.stderr
    assert district.smb_conf("gs-a") == shares

    (district.root / "rosters" / "gs-a-pupils.csv").unlink()
    out = tmp_path / "rendered"
    render = district.cli("configs", "render", "--output", str(out))
    assert render.returncode == 0, render.stderr
    assert (out / "fs-gs-a" / "etc/samba/smb.conf").read_text() == shares
    sync = district.cli("accounts", "sync", "--yes")  # that school fails, the other goes on
    assert sync.returncode == 1 and "gs-a-pupils.csv" in sync.stderr, sync.stderr

    # a class the last successful sync removed loses its share on the next push
    district.pupils("gs-a", [(i, last, first, "1a") for i, last, first, _ in PUPILS_A])
    assert district.cli("accounts", "sync", "--yes", "--force").returncode == 0
    assert district.cli("configs", "push").returncode == 0
    assert "[klasse-1a]" in district.smb_conf("gs-a") and "[klasse-2b]" not in district.smb_conf("gs-a")


def test_a_saved_plan_is_applied_exactly_and_refused_once_stale(district: District, tmp_path: Path) -> None:
    district.pupils("gs-b", [*PUPILS_B[:2], ("204", "Kaya", "Deniz", "3a")], encoding="utf-8")
    planned = district.cli("accounts", "plan", "--json")
    assert planned.returncode == 2, planned.stderr
    saved = tmp_path / "plan.json"
    saved.write_text(planned.stdout)
    pending = [c for c in json.loads(planned.stdout)["changes"] if c["action"] != "probable-rename"]
    assert {c["action"] for c in pending} >= {"create", "deactivate", "group-update"}

    # the roster changes again after the plan was saved: --plan applies the saved plan, not the roster
    district.pupils("gs-b", PUPILS_B, encoding="utf-8")
    applied = district.cli("accounts", "sync", "--yes", "--json", "--plan", str(saved))
    assert applied.returncode == 0, applied.stderr
    done = json.loads(applied.stdout)["applied"]
    assert [(c["action"], c["dn"]) for c in done] == [(c["action"], c["dn"]) for c in pending]
    assert district.entry("deniz.kaya") is not None
    assert "schulit:deactivated=" in " ".join(district.entry("lukasz.wasowski")["description"])

    again = district.cli("accounts", "sync", "--yes", "--plan", str(saved))
    assert again.returncode == 1 and "stale" in again.stderr, again.stderr
    before = full_dump(district.slapd)
    planned = district.cli("accounts", "plan", "--json")
    saved.write_text(planned.stdout)
    assert district.cli("accounts", "lock", "elif.oezdemir").returncode == 0  # someone changes the directory
    locked = full_dump(district.slapd)
    assert locked != before
    refused = district.cli("accounts", "sync", "--yes", "--plan", str(saved))
    assert refused.returncode == 1 and "stale" in refused.stderr and "nothing was written" in refused.stderr
    assert full_dump(district.slapd) == locked
    saved.write_text('{"changes": []}')
    bad = district.cli("accounts", "sync", "--yes", "--plan", str(saved))
    assert bad.returncode == 1 and "not a plan" in bad.stderr
