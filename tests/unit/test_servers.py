"""Units of the school-server work: NT hash, access rules, secret store, manifest rules for secrets."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from schulit.accounts.samba import DISABLED_FLAGS, group_sid, nt_hash, user_sid
from schulit.configs.manifest import load_manifest
from schulit.directory.acl import access_rules, format_ldif, format_slapd_conf
from schulit.directory.layout import Layout
from schulit.errors import SchulitError
from schulit.inventory import SambaSettings, load_inventory
from schulit.servers.secrets import SecretStore
from tests.helpers.inventory import write_inventory


def test_nt_hash_is_md4_of_utf16le() -> None:
    # published test values: "password" and the empty password
    assert nt_hash("password") == "8846F7EAEE8FB117AD06BDD830B7586C"
    assert nt_hash("") == "31D6CFE0D16AE931B73C59D7E0C089C0"
    assert nt_hash("Müller") != nt_hash("Muller")


def test_algorithmic_sids_and_flags() -> None:
    samba = SambaSettings(True, "LKTEST", "S-1-5-21-1-2-3")
    assert user_sid(samba, 100000) == "S-1-5-21-1-2-3-201000"
    assert group_sid(samba, 100000) == "S-1-5-21-1-2-3-201001"
    assert "D" in DISABLED_FLAGS and len(DISABLED_FLAGS) == 13


def test_access_rules_in_both_formats() -> None:
    layout = Layout("dc=lk,dc=example")
    rules = access_rules(layout, "cn=admin,dc=lk,dc=example", ["gs-a", "gs-b"], samba=True)
    conf = format_slapd_conf(rules, layout.base_dn)
    assert conf.count("access to ") == len(rules)
    assert 'attrs=userPassword,sambaLMPassword\n    by dn.exact="cn=admin,dc=lk,dc=example" write' in conf
    assert conf.rstrip().endswith("by * none")
    ldif = format_ldif(rules, layout.base_dn, "olcDatabase={2}mdb,cn=config")
    lines = ldif.splitlines()
    assert "dn: olcDatabase={2}mdb,cn=config" in lines and "replace: olcAccess" in lines
    assert [line.split("}", 1)[0] for line in lines if line.startswith("olcAccess:")] == [
        f"olcAccess: {{{i}" for i in range(len(rules))
    ]
    without = access_rules(layout, "cn=admin,dc=lk,dc=example", ["gs-a"], samba=False)
    assert "samba" not in format_slapd_conf(without, layout.base_dn).lower()


def test_secret_store_keeps_a_secret_until_rotated(tmp_path: Path) -> None:
    store = SecretStore(tmp_path / "secrets")
    assert store.read("fs1") is None
    first = store.get_or_create("fs1")
    assert store.get_or_create("fs1") == first
    assert stat.S_IMODE(store.path("fs1").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert store.create("fs1") != first
    store.path("fs1").chmod(0o644)
    with pytest.raises(SchulitError, match="readable by group or others"):
        store.read("fs1")


def test_a_secret_file_must_be_private(tmp_path: Path) -> None:
    role = tmp_path / "role"
    role.mkdir()
    (role / "x.j2").write_text("{{ server.identity.secret }}\n")
    (role / "files.toml").write_text(
        '[[files]]\nname = "x"\ntemplate = "x.j2"\ndest = "/x"\nmode = "0644"\nsecret = true\n'
    )
    with pytest.raises(SchulitError, match="must not be readable"):
        load_manifest(tmp_path, "role")


def test_inventory_samba_and_client_keys(tmp_path: Path) -> None:
    root = write_inventory(tmp_path / "inv")
    county = root / "county.toml"
    county.write_text(county.read_text() + '\n[samba]\nenabled = true\ndomain_name = "lk test"\n')
    with pytest.raises(Exception, match=r"samba.domain_name.*does not match|samba.domain_sid: missing"):
        load_inventory(root, {})
    county.write_text(
        county.read_text().replace(
            'domain_name = "lk test"', 'domain_name = "LKTEST"\ndomain_sid = "S-1-5-21-1-2-3"'
        )
    )
    inventory = load_inventory(root, {})
    assert inventory.samba.enabled and inventory.samba.domain_sid == "S-1-5-21-1-2-3"
    assert inventory.directory.client_url == inventory.directory.url
    assert inventory.directory.client_ca_file == "/etc/ssl/certs/lk-test-ca.pem"
