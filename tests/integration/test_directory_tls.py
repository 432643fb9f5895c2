"""TLS to the directory: the server certificate is verified against the configured CA, always."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schulit.devservers.slapd import Slapd, TlsFiles
from schulit.devservers.tls import issue_server_cert, make_ca
from schulit.directory.connection import connect
from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings


@pytest.fixture(scope="module")
def tls_slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Slapd, Path, Path]]:
    """A slapd with a certificate from CA "county", plus the file of an unrelated CA "other"."""
    folder = tmp_path_factory.mktemp("tls")
    county_ca = make_ca(folder, "county")
    other_ca = make_ca(folder, "other")
    cert, key = issue_server_cert(county_ca, folder, "ldap")
    server = Slapd(
        folder / "slapd",
        base_dn="dc=tls,dc=example",
        durable=False,
        tls=TlsFiles(cert_file=cert, key_file=key, ca_file=county_ca.cert_file),
    ).start()
    yield server, county_ca.cert_file, other_ca.cert_file
    server.stop(kill=True)


def settings(server: Slapd, url: str, ca_file: Path, start_tls: bool = False) -> DirectorySettings:
    return DirectorySettings(
        url=url,
        base_dn=server.base_dn,
        bind_dn=server.bind_dn,
        password_file=server.password_file,
        ca_file=ca_file,
        start_tls=start_tls,
        timeout=5,
    )


def test_ldaps_with_the_right_ca_binds(tls_slapd: tuple[Slapd, Path, Path]) -> None:
    server, county_ca, _ = tls_slapd
    connection = connect(settings(server, f"ldaps://127.0.0.1:{server.ldaps_port}", county_ca))
    assert connection.bound
    assert connection.server.ssl
    connection.unbind()


def test_start_tls_with_the_right_ca_binds(tls_slapd: tuple[Slapd, Path, Path]) -> None:
    server, county_ca, _ = tls_slapd
    connection = connect(settings(server, server.url, county_ca, start_tls=True))
    assert connection.bound
    assert connection.tls_started
    connection.unbind()


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_certificate_from_another_ca_is_refused(tls_slapd: tuple[Slapd, Path, Path], mode: str) -> None:
    server, _, other_ca = tls_slapd
    url = f"ldaps://127.0.0.1:{server.ldaps_port}" if mode == "ldaps" else server.url
    with pytest.raises(DirectoryError) as error:
        connect(settings(server, url, other_ca, start_tls=mode == "starttls"))
    message = str(error.value)
    assert "certificate" in message.lower(), message
    assert server.password() not in message


def test_plain_ldap_is_refused_without_permission(
    tls_slapd: tuple[Slapd, Path, Path],
) -> None:
    server, county_ca, _ = tls_slapd
    with pytest.raises(DirectoryError, match="allow_plaintext_loopback"):
        connect(settings(server, server.url, county_ca))
