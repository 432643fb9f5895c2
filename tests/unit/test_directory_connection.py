"""Transport-security rules and secret-file handling (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schulit.directory.connection import check_transport, read_secret_file
from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings

BASE = DirectorySettings(url="ldap://127.0.0.1:389", base_dn="dc=x", bind_dn="cn=admin,dc=x")


@pytest.mark.parametrize("url", ["ldap://10.1.2.3", "ldap://ldap.lk-heide.example", "ldap://192.168.1.5:389"])
def test_plain_ldap_to_a_network_host_is_refused(url: str) -> None:
    with pytest.raises(DirectoryError, match="unencrypted"):
        check_transport(
            DirectorySettings(url=url, base_dn="dc=x", bind_dn="cn=a,dc=x", allow_plaintext_loopback=True)
        )


def test_plain_ldap_to_loopback_needs_explicit_permission() -> None:
    with pytest.raises(DirectoryError, match="allow_plaintext_loopback"):
        check_transport(BASE)
    check_transport(
        DirectorySettings(
            url="ldap://127.0.0.1", base_dn="dc=x", bind_dn="cn=a,dc=x", allow_plaintext_loopback=True
        )
    )


@pytest.mark.parametrize(
    "settings",
    [
        DirectorySettings(url="ldaps://ldap.example", base_dn="dc=x", bind_dn="cn=a,dc=x"),
        DirectorySettings(url="ldap://ldap.example", base_dn="dc=x", bind_dn="cn=a,dc=x", start_tls=True),
        DirectorySettings(url="ldapi://%2Frun%2Fslapd%2Fldapi", base_dn="dc=x", bind_dn="cn=a,dc=x"),
    ],
)
def test_tls_and_local_socket_are_accepted(settings: DirectorySettings) -> None:
    check_transport(settings)


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "bind.pw"
    secret.write_text("geheim-123\n")
    secret.chmod(0o644)
    with pytest.raises(DirectoryError, match="readable by group or others") as error:
        read_secret_file(secret, "directory bind")
    assert "geheim-123" not in str(error.value)
    secret.chmod(0o600)
    assert read_secret_file(secret, "directory bind") == "geheim-123"
