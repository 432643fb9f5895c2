"""The samba-ad keys of the inventory: flavour, realm, workgroup, password switches, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from schulit.errors import InventoryError
from schulit.inventory import load_inventory
from tests.helpers.inventory import write_inventory

AD_BASE = "OU=county,DC=ad,DC=lk-test,DC=example"


def _ad_inventory(
    tmp_path: Path, directory: str = "", passwords: str = "", url: str = "ldaps://127.0.12.1"
) -> Path:
    root = write_inventory(tmp_path, url=url, base_dn=AD_BASE, bind_dn=f"CN=Administrator,CN=Users,{AD_BASE}")
    county = root / "county.toml"
    text = county.read_text(encoding="utf-8").replace("allow_plaintext_loopback = true\n", "")
    text = text.replace("[directory]\n", f'[directory]\nflavour = "samba-ad"\n{directory}\n', 1)
    text = text.replace("[passwords]\n", f"[passwords]\n{passwords}\n", 1)
    county.write_text(text, encoding="utf-8")
    return root


def test_openldap_is_the_default_flavour(tmp_path: Path) -> None:
    inventory = load_inventory(write_inventory(tmp_path))
    assert inventory.directory.flavour == "openldap"
    assert inventory.layout.account_dn("gs-a", "pupil", "lea.mueller").startswith("uid=lea.mueller,")


def test_samba_ad_defaults_realm_and_workgroup_from_the_base_dn(tmp_path: Path) -> None:
    inventory = load_inventory(_ad_inventory(tmp_path))
    assert inventory.directory.flavour == "samba-ad"
    assert inventory.directory.realm == "AD.LK-TEST.EXAMPLE"
    assert inventory.directory.workgroup == "AD"
    assert inventory.directory.password_on_add is None  # "auto": decided from the DC's root DSE
    assert inventory.layout.account_dn("gs-a", "pupil", "lea.mueller") == (
        f"CN=lea.mueller,ou=pupils,ou=gs-a,ou=schools,{AD_BASE}"
    )
    assert inventory.passwords.change_at_first_logon == ("pupil", "teacher")
    assert inventory.passwords.never_expire == ()


def test_samba_ad_explicit_settings(tmp_path: Path) -> None:
    root = _ad_inventory(
        tmp_path,
        'realm = "schulen.example"\nworkgroup = "LKTEST"\npassword_on_add = true',
        "change_at_first_logon = {pupil = false, teacher = true}\nnever_expire = {pupil = true}",
    )
    inventory = load_inventory(root)
    assert inventory.directory.realm == "SCHULEN.EXAMPLE" and inventory.directory.workgroup == "LKTEST"
    assert inventory.directory.password_on_add
    assert inventory.passwords.change_at_first_logon == ("teacher",)
    assert inventory.passwords.never_expire == ("pupil",)


@pytest.mark.parametrize(
    ("directory", "passwords", "url", "message"),
    [
        ("", "", "ldap://127.0.12.1", "directory.url: samba-ad writes passwords (unicodePwd)"),
        ('flavour2 = "x"', "", "ldaps://127.0.12.1", "directory.flavour2: unknown key"),
        ('realm = "AD EXAMPLE"', "", "ldaps://127.0.12.1", "directory.realm:"),
        ('workgroup = "MUCH-TOO-LONG-NAME"', "", "ldaps://127.0.12.1", "directory.workgroup:"),
        ("", "never_expire = true", "ldaps://127.0.12.1", "passwords.never_expire: pupil: AD ignores"),
        (
            "",
            'change_at_first_logon = "yes"',
            "ldaps://127.0.12.1",
            "passwords.change_at_first_logon: expected",
        ),
        ("", "never_expire = {parent = true}", "ldaps://127.0.12.1", "passwords.never_expire: expected"),
        (
            'password_on_add = "yes"',
            "",
            "ldaps://127.0.12.1",
            'directory.password_on_add: expected true, false or "auto"',
        ),
    ],
)
def test_samba_ad_bad_settings_name_file_and_key(
    tmp_path: Path, directory: str, passwords: str, url: str, message: str
) -> None:
    with pytest.raises(InventoryError) as raised:
        load_inventory(_ad_inventory(tmp_path, directory, passwords, url))
    assert any(message in problem and "county.toml" in problem for problem in raised.value.problems), (
        raised.value.problems
    )


def test_unknown_flavour_is_refused(tmp_path: Path) -> None:
    root = write_inventory(tmp_path)
    county = root / "county.toml"
    county.write_text(county.read_text().replace("[directory]\n", '[directory]\nflavour = "novell"\n', 1))
    with pytest.raises(InventoryError) as raised:
        load_inventory(root)
    assert any("directory.flavour" in p for p in raised.value.problems)


def test_web_page_refuses_a_samba_ad_directory_before_anything_is_read(tmp_path: Path) -> None:
    """The page finds posixAccount entries and writes userPassword: on AD it must not start at all (no
    userPassword is ever written there)."""
    from click.testing import CliRunner

    from schulit.cli import cli

    result = CliRunner().invoke(cli, ["--inventory", str(_ad_inventory(tmp_path)), "web"])
    assert result.exit_code != 0
    assert "openldap directory flavour only" in result.output, result.output
