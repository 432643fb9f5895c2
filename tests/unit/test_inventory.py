"""Inventory validation: every problem names file and key; the CLI exits 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from schulit.cli import cli
from schulit.errors import InventoryError
from schulit.inventory import load_inventory
from tests.helpers.inventory import write_inventory


def run_check(root: Path, *args: str):
    return CliRunner().invoke(cli, ["--inventory", str(root), "inventory", "check", *args])


def test_valid_inventory_loads(tmp_path: Path) -> None:
    inventory = load_inventory(write_inventory(tmp_path))
    assert [s.id for s in inventory.schools] == ["gs-a", "gs-b"]
    assert inventory.safety.max_percent == 10.0
    assert inventory.lifecycle.grace_days == 90
    result = run_check(tmp_path, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert [s["id"] for s in document["schools"]] == ["gs-a", "gs-b"]
    assert document["schools"][0]["servers"] == []


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("breakage", "file_name", "key"),
    [
        ("missing_id", "gs-a.toml", "id: missing"),
        ("duplicate_id", "gs-b.toml", "id: duplicate school id 'gs-a'"),
        ("unknown_key", "county.toml", "safety.max_deletes: unknown key"),
        ("bad_port", "gs-a.toml", "servers[0].port: expected an integer from 1 to 65535"),
    ],
)
def test_broken_inventory_names_file_and_key(tmp_path: Path, breakage: str, file_name: str, key: str) -> None:
    root = write_inventory(tmp_path)
    school_a = root / "schools" / "gs-a.toml"
    school_b = root / "schools" / "gs-b.toml"
    if breakage == "missing_id":
        _edit(school_a, 'id = "gs-a"\n', "")
    elif breakage == "duplicate_id":
        _edit(school_b, 'id = "gs-b"', 'id = "gs-a"')
    elif breakage == "unknown_key":
        (root / "county.toml").write_text(
            (root / "county.toml").read_text() + "\n[safety]\nmax_deletes = 3\n"
        )
    elif breakage == "bad_port":
        school_a.write_text(
            school_a.read_text() + '\n[[servers]]\nname = "fs1"\naddress = "127.0.0.1"\n'
            'port = 70000\nroles = ["fileserver"]\n'
        )

    with pytest.raises(InventoryError) as error:
        load_inventory(root)
    message = str(error.value)
    assert file_name in message and key in message, message

    result = run_check(root)
    assert result.exit_code == 1
    assert file_name in result.output and key in result.output


def test_every_problem_is_reported_not_just_the_first(tmp_path: Path) -> None:
    root = write_inventory(tmp_path)
    _edit(root / "county.toml", "[passwords]", '[passwords]\nlength = 3\nhash = "md5"')
    with pytest.raises(InventoryError) as error:
        load_inventory(root)
    assert len(error.value.problems) == 2
    assert any("passwords.length" in p for p in error.value.problems)
    assert any("passwords.hash: expected one of crypt-sha512, ssha" in p for p in error.value.problems)


def test_wrong_types_are_named(tmp_path: Path) -> None:
    root = write_inventory(tmp_path)
    _edit(root / "county.toml", "[passwords]", '[lifecycle]\ngrace_days = "90"\n\n[passwords]')
    with pytest.raises(
        InventoryError, match=r"county.toml: lifecycle.grace_days: expected an integer, got '90'"
    ):
        load_inventory(root)


def test_missing_inventory_directory(tmp_path: Path) -> None:
    result = run_check(tmp_path / "nowhere")
    assert result.exit_code == 1
    assert "inventory directory not found" in result.output


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("SCHULIT_LDAP_BASE_DN", "schule-example", "is not a distinguished name"),
        ("SCHULIT_LDAP_BIND_DN", "admin", "is not a distinguished name"),
        ("SCHULIT_LDAP_URL", "http://ldap.example", "expected an ldap://, ldaps:// or ldapi:// URL"),
    ],
)
def test_a_bad_value_from_the_environment_names_the_variable(
    tmp_path: Path, variable: str, value: str, problem: str
) -> None:
    root = write_inventory(tmp_path)
    with pytest.raises(InventoryError) as error:
        load_inventory(root, {variable: value})
    assert f"environment: {variable}: " in str(error.value) and problem in str(error.value), str(error.value)


def test_the_environment_overrides_every_connection_setting_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_inventory(tmp_path, url="ldap://127.0.0.1:389", base_dn="dc=inventar,dc=example")
    monkeypatch.chdir(tmp_path)
    environ = {
        "SCHULIT_LDAP_URL": "ldaps://127.0.0.2:1636",
        "SCHULIT_LDAP_BASE_DN": "ou=Schulen,o=Landkreis",
        "SCHULIT_LDAP_BIND_DN": "cn=schulit,ou=Dienste,o=Landkreis",
        "SCHULIT_LDAP_PASSWORD_FILE": "secrets/bind.pw",  # relative to where the variable was set
        "SCHULIT_LDAP_CA_FILE": "/etc/schulit/ca.pem",
    }
    inventory = load_inventory(root, environ)
    settings = inventory.directory
    assert (settings.url, settings.base_dn, settings.bind_dn) == (
        "ldaps://127.0.0.2:1636",
        "ou=Schulen,o=Landkreis",
        "cn=schulit,ou=Dienste,o=Landkreis",
    )
    assert settings.password_file == tmp_path / "secrets" / "bind.pw"
    assert settings.ca_file == Path("/etc/schulit/ca.pem")
    assert inventory.layout.schools_dn == "ou=schools,ou=Schulen,o=Landkreis"
    assert load_inventory(root, {}).directory.base_dn == "dc=inventar,dc=example"


def test_one_directory_spelled_two_ways_is_one_lock(tmp_path: Path) -> None:
    from schulit.accounts.lock import default_lock_path

    root = write_inventory(tmp_path, url="ldap://127.0.0.1:389/", base_dn="dc=lk-test,dc=example")
    plain = load_inventory(root, {}).directory
    spelled = load_inventory(
        root, {"SCHULIT_LDAP_URL": "ldap://127.0.0.1", "SCHULIT_LDAP_BASE_DN": "DC=LK-Test, dc=Example"}
    ).directory
    other = load_inventory(root, {"SCHULIT_LDAP_BASE_DN": "dc=other,dc=example"}).directory
    assert default_lock_path(plain) == default_lock_path(spelled)
    assert default_lock_path(plain) != default_lock_path(other)
