"""TLS to the directory: the server certificate is verified against the configured CA, always."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from schulit.devservers.slapd import Slapd, TlsFiles
from schulit.devservers.tls import issue_server_cert, make_ca
from schulit.directory.connection import connect
from schulit.directory.fastadd import end_transaction, offers_transactions, send_add, start_transaction
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


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_hand_encoded_adds_and_transactions_over_tls(tls_slapd: tuple[Slapd, Path, Path], mode: str) -> None:
    """schulit's own AddRequest encoding goes over ldap3's TLS socket, in a transaction and without one."""
    server, county_ca, _ = tls_slapd
    url = f"ldaps://127.0.0.1:{server.ldaps_port}" if mode == "ldaps" else server.url
    direct = settings(server, url, county_ca, start_tls=mode == "starttls")
    reader = connect(direct)
    writer = connect(direct, strategy=ldap3.ASYNC)
    try:
        assert offers_transactions(reader)
        base = server.base_dn
        if not reader.search(base, "(objectClass=*)", ldap3.BASE)[0]:
            _response, result = writer.get_response(
                send_add(writer, base, ["top", "dcObject", "organization"], {"dc": "tls", "o": "TLS"})
            )
            assert result["result"] == 0, result
        folder = f"ou={mode},{base}"
        message_id = send_add(writer, folder, ["organizationalUnit"], {"ou": mode})
        assert writer.get_response(message_id)[1]["result"] == 0
        transaction = start_transaction(writer)
        assert transaction is not None
        queued = [
            send_add(writer, f"cn=t{n},{folder}", ["person"], {"cn": f"t{n}", "sn": "Ölçer"}, transaction)
            for n in range(300)
        ]
        assert all(writer.get_response(m)[1]["result"] == 0 for m in queued)
        assert reader.search(folder, "(cn=t*)", attributes=["1.1"])[2] == [], "nothing before the commit"
        assert end_transaction(writer, transaction, commit=True)[0]
        single = [
            send_add(writer, f"cn=s{n},{folder}", ["person"], {"cn": f"s{n}", "sn": "x"}) for n in range(50)
        ]
        assert all(writer.get_response(m)[1]["result"] == 0 for m in single)
        ok, _result, found, _ = reader.search(folder, "(objectClass=person)", attributes=["sn"], size_limit=0)
        assert ok and len(found) == 350
        assert {str(e["attributes"]["sn"][0]) for e in found} == {"Ölçer", "x"}
    finally:
        writer.unbind()
        reader.unbind()
