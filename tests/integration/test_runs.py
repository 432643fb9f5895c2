"""term-start and nightly end to end: real slapd, real sshd school servers, real PDFs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from schulit.devservers.slapd import Slapd
from schulit.devservers.sshd import Sshd
from tests.integration.test_accounts_sync import County
from tests.integration.test_configs_push import files_below

REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


class District(County):
    """A County whose schools each have one file server (a session sshd host with its own root folder)."""

    def __init__(self, root: Path, slapd: Slapd, hosts: list[Sshd], key: Path, known_hosts: Path):
        super().__init__(root, slapd, schools=("gs-a", "gs-b"))
        with (root / "county.toml").open("a", encoding="utf-8") as handle:
            handle.write(
                f'\n[ssh]\nkey_file = "{key}"\nknown_hosts = "{known_hosts}"\n'
                f"connect_timeout = 3\ncommand_timeout = 20\n\n"
                f'[templates]\ndir = "{REPO_TEMPLATES}"\n\n'
                f'[servers]\nsecrets_dir = "{root / "server-secrets"}"\n\n'
                '[samba]\nenabled = true\ndomain_name = "LKTEST"\ndomain_sid = "S-1-5-21-1111-2222-3333"\n'
            )
        self.host_roots: dict[str, Path] = {}
        for number, school in enumerate(self.schools):
            host = hosts[number]
            host_root = root / "hosts" / school
            (host_root / "etc/sssd/conf.d").mkdir(parents=True)  # as Debian's sssd-common has it
            self.host_roots[school] = host_root
            with (root / "schools" / f"{school}.toml").open("a", encoding="utf-8") as handle:
                handle.write(f"""
[[servers]]
name = "fs-{school}"
address = "{host.address}"
port = {host.port}
roles = ["fileserver"]
root = "{host_root}"

[servers.handler_commands]
reload-smbd = "echo reload-smbd >> {host_root}/handlers.log"
restart-smbd = "echo restart-smbd >> {host_root}/handlers.log"
store-samba-ldap-secret = "echo store-samba-ldap-secret >> {host_root}/handlers.log"
restart-sssd = "echo restart-sssd >> {host_root}/handlers.log"

[servers.validate_commands]
"smb.conf" = "grep -qF '[global]' %s"
""")

    def smb_conf(self, school: str) -> str:
        path = self.host_roots[school] / "etc/samba/smb.conf"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real console entry point in a child process (separate stdout and stderr)."""
        return subprocess.run(
            [sys.executable, "-m", "schulit", "--inventory", str(self.root), *args],
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


PUPILS_A = [(str(100 + i), f"Schulz{i:02d}", "Mia", "1a" if i % 2 else "2b") for i in range(30)]
PUPILS_B = [
    ("200", "Özdemir", "Elif", "3a"),
    ("201", "Weiß", "Jonas", "3a"),
    ("202", "Wąsowski", "Łukasz", "4b"),
]


@pytest.fixture
def district(
    slapd: Slapd, tmp_path: Path, sshd_hosts: list[Sshd], ssh_client_key: Path, known_hosts_file: Path
) -> District:
    district = District(tmp_path / "inventory", slapd, sshd_hosts, ssh_client_key, known_hosts_file)
    district.pupils("gs-a", PUPILS_A)
    district.pupils("gs-b", PUPILS_B, encoding="utf-8")
    district.teachers("gs-a", [("T1", "Schröder", "Anja")])
    district.teachers("gs-b", [("T1", "Schröder", "Anja"), ("T7", "Nguyễn", "Thị Ánh")])
    return district


def pdf_text(path: Path) -> str:
    command = ["pdftotext", "-layout", str(path), "-"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def accounts(district: District) -> list[str]:
    return [block for block in district.dump() if "objectClass: posixAccount" in block]


def test_term_start_letters_push_and_a_second_run_changes_nothing(district: District, tmp_path: Path) -> None:
    output = tmp_path / "term"
    first = district.cli("term-start", "--yes", "--output", str(output))
    assert first.returncode == 0, first.stderr + first.stdout
    letters = sorted(output.glob("letters-*.pdf"))
    assert [p.name.split("-20")[0] for p in letters] == ["letters-gs-a", "letters-gs-b"]
    for pdf in letters:
        assert oct(pdf.stat().st_mode & 0o777) == "0o600"
    text_b = pdf_text(output / letters[1].name)
    for name in ("Özdemir", "Weiß", "Wąsowski", "elif.oezdemir", "jonas.weiss", "lukasz.wasowski"):
        assert name in text_b
    assert "mia.schulz00" not in text_b
    assert "[klasse-3a]" in district.smb_conf("gs-b") and "[klasse-4b]" in district.smb_conf("gs-b")
    assert "[klasse-1a]" in district.smb_conf("gs-a")
    assert len(accounts(district)) == 30 + 3 + 2
    assert "letters-gs-a" in first.stdout and "changed" in first.stdout
    report_file = next(output.glob("report-*.json"))
    assert oct(report_file.stat().st_mode & 0o777) == "0o600"  # it names pupils
    report = json.loads(report_file.read_text())
    assert report["exit_code"] == 0 and len(report["letters"]) == 2

    before = district.dump()
    hosts_before = {s: district.smb_conf(s) for s in district.schools}
    second = district.cli("term-start", "--yes", "--json", "--output", str(output))
    assert second.returncode == 0, second.stderr
    document = json.loads(second.stdout)
    assert document["letters"] == []
    assert document["accounts"]["plan"]["changes"] == []
    assert {h["status"] for h in document["configs"]["hosts"]} == {"ok"}
    assert sorted(output.glob("letters-*.pdf")) == letters
    assert district.dump() == before
    assert {s: district.smb_conf(s) for s in district.schools} == hosts_before


def test_term_start_asks_for_a_typed_yes(district: District, tmp_path: Path) -> None:
    output = tmp_path / "term"
    arguments = ["-m", "schulit", "--inventory", str(district.root), "term-start", "--output", str(output)]
    env = {**os.environ, "COLUMNS": "120"}
    refused = pexpect.spawn(sys.executable, arguments, env=env, encoding="utf-8", timeout=60)
    refused.expect('Type "yes"')
    refused.sendline("y")  # anything but the full word cancels
    refused.expect(pexpect.EOF)
    refused.close()
    assert refused.exitstatus == 0
    assert accounts(district) == []
    assert not list(output.glob("letters-*.pdf"))

    accepted = pexpect.spawn(sys.executable, arguments, env=env, encoding="utf-8", timeout=60)
    accepted.expect("accounts would be created|create")
    accepted.expect('Type "yes"')
    accepted.sendline("yes")
    accepted.expect(pexpect.EOF)
    accepted.close()
    assert accepted.exitstatus == 0, accepted.before
    assert len(accounts(district)) == 35
    assert len(list(output.glob("letters-*.pdf"))) == 2


def test_nightly_stops_a_truncated_school_and_syncs_and_pushes_the_others(district: District) -> None:
    first = district.cli("nightly")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "" and first.stderr == ""  # quiet on success (cron mails nothing)
    gs_a_before = [block for block in district.dump() if "ou=gs-a," in block]
    gs_a_host_before = files_below(district.host_roots["gs-a"])

    district.pupils("gs-a", PUPILS_A[:4])  # truncated export: 26 of 30 pupils missing
    district.pupils("gs-b", [*PUPILS_B, ("203", "Nowak", "Zofia", "4c")], encoding="utf-8")
    audit_lines_before = len((district.root / "audit.jsonl").read_text().splitlines())

    second = district.cli("nightly")
    assert second.returncode == 3, second.stderr
    assert second.stdout == ""
    problems = second.stderr.splitlines()
    assert any(line.startswith("schulit: nightly: gs-a: stopped by the safety limit") for line in problems)
    assert all(line.startswith("schulit: ") for line in problems)  # one prefixed line each (journald)
    assert [block for block in district.dump() if "ou=gs-a," in block] == gs_a_before
    zofia = district.entry("zofia.nowak")
    assert zofia is not None and zofia["ou"] == ["4c"]
    assert "[klasse-4c]" in district.smb_conf("gs-b")
    # the stopped school's server is pushed from the directory, which the stopped export did not change
    assert files_below(district.host_roots["gs-a"]) == gs_a_host_before

    audit = (district.root / "audit.jsonl").read_text().splitlines()[audit_lines_before:]
    records = [json.loads(line) for line in audit]
    group_dn = f"cn=gs-b-4c,ou=groups,ou=gs-b,ou=schools,{district.slapd.base_dn}"
    assert sorted(r["dn"] for r in records if r["action"] == "add") == sorted([zofia["dn"][0], group_dn])
    assert all("(nightly)" in r["actor"] for r in records)
    assert all("gs-a" not in r["dn"] for r in records)
    passwords = [row["password"] for row in district.deliveries().values()]
    text = "\n".join(audit) + second.stderr
    assert passwords and not any(p in text for p in passwords)
