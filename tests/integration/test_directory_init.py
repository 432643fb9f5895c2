"""``schulit directory init`` against a real, fresh slapd: first run creates, second changes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from schulit.cli import cli
from schulit.devservers.slapd import Slapd
from tests.helpers.inventory import write_inventory


def ldap_dns(server: Slapd) -> list[str]:
    """All DNs below the base, read with the stock ldapsearch client (an independent witness)."""
    result = subprocess.run(
        [
            "ldapsearch",
            "-LLL",
            "-x",
            "-o",
            "ldif-wrap=no",
            "-H",
            server.url,
            "-D",
            server.bind_dn,
            "-y",
            str(server.password_file),
            "-b",
            server.base_dn,
            "dn",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 32:  # noSuchObject: the base does not exist yet
        return []
    assert result.returncode == 0, result.stderr
    return sorted(line[4:] for line in result.stdout.splitlines() if line.startswith("dn: "))


def test_init_creates_layout_then_nothing_to_do(slapd: Slapd, tmp_path: Path) -> None:
    root = write_inventory(tmp_path, url=slapd.url, base_dn=slapd.base_dn, password_file=slapd.password_file)
    runner = CliRunner()
    assert ldap_dns(slapd) == []

    dry = runner.invoke(cli, ["--inventory", str(root), "directory", "init", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would create ou=gs-a,ou=schools," in dry.output
    assert ldap_dns(slapd) == []

    first = runner.invoke(cli, ["--inventory", str(root), "directory", "init"])
    assert first.exit_code == 0, first.output
    assert "created 15 entries" in first.output
    dns = ldap_dns(slapd)
    assert f"ou=pupils,ou=gs-a,ou=schools,{slapd.base_dn}" in dns
    assert f"ou=groups,ou=gs-b,ou=schools,{slapd.base_dn}" in dns
    assert f"ou=schulit,{slapd.base_dn}" in dns
    assert f"ou=gs-b,ou=servers,ou=schulit,{slapd.base_dn}" in dns
    # base, ou=schools, ou=groups, ou=schulit, 2 x (school + 3 containers), ou=servers + one OU per school
    assert len(dns) == 15

    second = runner.invoke(cli, ["--inventory", str(root), "directory", "init"])
    assert second.exit_code == 0, second.output
    assert "nothing to do" in second.output
    assert ldap_dns(slapd) == dns


def test_init_with_samba_creates_the_domain_entry_once(slapd: Slapd, tmp_path: Path) -> None:
    root = write_inventory(tmp_path, url=slapd.url, base_dn=slapd.base_dn, password_file=slapd.password_file)
    county = root / "county.toml"
    county.write_text(
        county.read_text()
        + '\n[samba]\nenabled = true\ndomain_name = "LKTEST"\ndomain_sid = "S-1-5-21-7-8-9"\n'
    )
    runner = CliRunner()
    first = runner.invoke(cli, ["--inventory", str(root), "directory", "init"])
    assert first.exit_code == 0, first.output
    assert f"sambaDomainName=LKTEST,{slapd.base_dn}" in ldap_dns(slapd)
    second = runner.invoke(cli, ["--inventory", str(root), "directory", "init"])
    assert "nothing to do" in second.output, second.output


def test_init_adds_only_a_new_school(slapd: Slapd, tmp_path: Path) -> None:
    root = write_inventory(tmp_path, url=slapd.url, base_dn=slapd.base_dn, password_file=slapd.password_file)
    runner = CliRunner()
    assert runner.invoke(cli, ["--inventory", str(root), "directory", "init"]).exit_code == 0
    before = ldap_dns(slapd)
    write_inventory(
        tmp_path,
        url=slapd.url,
        base_dn=slapd.base_dn,
        password_file=slapd.password_file,
        school_ids=("gs-a", "gs-b", "obs-c"),
    )
    result = runner.invoke(cli, ["--inventory", str(root), "directory", "init"])
    assert result.exit_code == 0, result.output
    assert "created 5 entries" in result.output
    assert set(ldap_dns(slapd)) - set(before) == {
        f"ou=obs-c,ou=schools,{slapd.base_dn}",
        *(f"ou={c},ou=obs-c,ou=schools,{slapd.base_dn}" for c in ("pupils", "teachers", "groups")),
        f"ou=obs-c,ou=servers,ou=schulit,{slapd.base_dn}",
    }


def test_wrong_bind_password_is_a_clear_error(slapd: Slapd, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password")
    wrong.chmod(0o600)
    root = write_inventory(tmp_path / "inv", url=slapd.url, base_dn=slapd.base_dn, password_file=wrong)
    result = CliRunner().invoke(cli, ["--inventory", str(root), "directory", "init"])
    assert result.exit_code == 1
    assert "bind as cn=admin" in result.output and "invalidCredentials" in result.output
    assert "not-the-password" not in result.output
