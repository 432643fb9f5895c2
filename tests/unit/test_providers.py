"""Provider lists, lease values and the replica comparison (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from schulit.accounts.lock import FREE, Holder
from schulit.directory.connection import check_transport, provider_urls
from schulit.directory.replicas import Version, compare, fingerprint
from schulit.errors import DirectoryError, InventoryError
from schulit.inventory import DirectorySettings, load_inventory
from tests.helpers.inventory import write_inventory


@pytest.mark.parametrize(
    "url",
    [
        "ldap://127.0.0.1:3891,ldap://127.0.0.1:3892",
        "ldap://127.0.0.1:3891, ldap://127.0.0.1:3892",
        "ldap://127.0.0.1:3891 ldap://127.0.0.1:3892",
    ],
)
def test_provider_urls_split_like_openldap_and_sssd(url: str) -> None:
    assert provider_urls(url) == ["ldap://127.0.0.1:3891", "ldap://127.0.0.1:3892"]


def test_one_unsafe_provider_refuses_the_whole_list() -> None:
    settings = DirectorySettings(
        url="ldaps://ldap1.example,ldap://ldap2.example",
        base_dn="dc=x",
        bind_dn="cn=a,dc=x",
        allow_plaintext_loopback=True,
    )
    with pytest.raises(DirectoryError, match=r"ldap2\.example.*unencrypted"):
        check_transport(settings)


def _county_with_url(tmp_path: Path, url_line: str) -> Path:
    root = write_inventory(tmp_path)
    config = root / "county.toml"
    config.write_text(config.read_text().replace('url = "ldap://127.0.0.1:1"', url_line))
    return root


def test_inventory_takes_a_list_of_providers(tmp_path: Path) -> None:
    root = _county_with_url(tmp_path, 'url = ["ldaps://ldap1.example", "ldaps://ldap2.example:636"]')
    inventory = load_inventory(root)
    assert inventory.directory.url == "ldaps://ldap1.example,ldaps://ldap2.example:636"
    assert provider_urls(inventory.directory.url) == ["ldaps://ldap1.example", "ldaps://ldap2.example:636"]


@pytest.mark.parametrize(
    ("url_line", "message"),
    [
        ('url = ["ldaps://a.example", "http://b.example"]', "http://b.example"),
        ('url = ["ldaps://a.example", "ldaps://a.example"]', "listed twice"),
        ("url = []", "at least one"),
        ('url = ["ldaps://a.example", 3]', "list of strings"),
    ],
)
def test_bad_provider_lists_are_named(tmp_path: Path, url_line: str, message: str) -> None:
    root = _county_with_url(tmp_path, url_line)
    with pytest.raises(InventoryError) as caught:
        load_inventory(root)
    assert "county.toml" in str(caught.value) and "directory.url" in str(caught.value)
    assert message in str(caught.value)


def test_lease_values_round_trip() -> None:
    until = datetime(2026, 12, 2, 3, 4, 5, tzinfo=UTC)
    holder = Holder("ab12", "admin-pc", 4242, until)
    assert Holder.parse(holder.value()) == holder
    assert Holder.parse(FREE) is None
    assert Holder.parse("something else") is None


def _v(csn: str, **attributes: list[str]) -> Version:
    return fingerprint({"entryCSN": [csn], **attributes})


def test_fingerprint_ignores_order_and_name_case() -> None:
    assert _v("1", cn=["a", "b"], sn=["x"]) == fingerprint({"SN": ["x"], "cn": ["b", "a"], "entryCSN": ["1"]})
    assert _v("1", cn=["a"]) != _v("1", cn=["b"])


def test_compare_names_missing_and_different_entries_and_the_winner() -> None:
    urls = ["ldap://a", "ldap://b"]
    a = {
        "uid=x": ("uid=x", _v("2", cn=["x"])),
        "uid=y": ("uid=y", _v("5", cn=["new"])),
        "uid=z": ("uid=z", _v("1", cn=["z"])),
    }
    b = {
        "uid=y": ("uid=y", _v("3", cn=["old"])),
        "uid=z": ("uid=z", _v("1", cn=["z"])),
        "uid=w": ("uid=w", _v("4", cn=["w"])),
    }
    found = {d.dn: (d.kind, d.winner, d.behind) for d in compare(urls, [a, b])}
    assert found == {
        "uid=x": ("missing", "ldap://a", ["ldap://b"]),
        "uid=y": ("different", "ldap://a", ["ldap://b"]),
        "uid=w": ("missing", "ldap://b", ["ldap://a"]),
    }


def test_the_run_lock_key_covers_every_provider_in_any_order() -> None:
    def identity(url: str) -> str:
        return DirectorySettings(url=url, base_dn="dc=x,dc=y", bind_dn="cn=a,dc=x,dc=y").identity

    assert identity("ldap://A:389,ldap://b") == identity("ldap://b:389, ldap://a")
    assert identity("ldap://a,ldap://b") != identity("ldap://a")
