"""TLS to the directory: the server certificate is verified against the configured CA, always."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest

from schulit.devservers.slapd import Slapd, TlsFiles
from schulit.devservers.tls import issue_server_cert, make_ca
from schulit.directory.connection import connect
from schulit.directory.fastsearch import paged_search
from schulit.directory.writer import PipelinedWriter, offers_transactions
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


def write_one_round(wire: PipelinedWriter, reader: ldap3.Connection, folder: str) -> None:
    """An OU, 100 adds in a transaction, 64 pipelined adds, 8 modifies, a delete and a refused add."""
    person = ["person"]
    assert wire.answer(wire.add(folder, ["organizationalUnit"], {"ou": folder.split(",")[0][3:]})).ok
    transaction = wire.start_transaction()
    assert transaction is not None
    queued = [
        wire.add(f"cn=t{n},{folder}", person, {"cn": f"t{n}", "sn": "Ölçer"}, transaction) for n in range(100)
    ]
    assert all([wire.answer(m).ok for m in queued])
    assert reader.search(folder, "(cn=t*)", attributes=["1.1"])[2] == [], "nothing before the commit"
    assert wire.end_transaction(transaction, commit=True)[0]
    single = [wire.add(f"cn=s{n},{folder}", person, {"cn": f"s{n}", "sn": "x"}) for n in range(64)]
    assert all([wire.answer(m).ok for m in single])  # slapd may run one connection's requests in any order
    replace = {"sn": [(ldap3.MODIFY_REPLACE, ["y"])]}
    changed = [wire.modify(f"cn=s{n},{folder}", replace) for n in range(8)]
    assert all([wire.answer(m).ok for m in changed])
    assert wire.answer(wire.delete(f"cn=s0,{folder}")).ok
    refused = wire.answer(wire.add(f"cn=s1,{folder}", person, {"cn": "s1", "sn": "x"}))
    assert not refused.ok and refused.description == "entryAlreadyExists"


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_pipelined_writes_transactions_and_own_decoding_over_tls(
    tls_slapd: tuple[Slapd, Path, Path], mode: str
) -> None:
    """schulit's own encoding, pipelining and decoding on ldap3's TLS socket, in one thread (20 rounds:
    ldap3's ASYNC strategy, reading and writing one TLS socket from two threads, failed within a few)."""
    server, county_ca, _ = tls_slapd
    url = f"ldaps://127.0.0.1:{server.ldaps_port}" if mode == "ldaps" else server.url
    direct = settings(server, url, county_ca, start_tls=mode == "starttls")
    reader = connect(direct)
    base = server.base_dn
    try:
        assert offers_transactions(reader)
        for round_number in range(20):
            connection = connect(direct, strategy=ldap3.SYNC)
            try:
                wire = PipelinedWriter(connection)
                if not reader.search(base, "(objectClass=*)", ldap3.BASE)[0]:
                    top = {"dc": "tls", "o": "TLS"}
                    wire.answer(wire.add(base, ["top", "dcObject", "organization"], top))
                write_one_round(wire, reader, f"ou={mode}{round_number},{base}")
            finally:
                connection.unbind()
        bulk = connect(direct, strategy=ldap3.SYNC, bulk_read=True)  # answers decoded by schulit itself
        try:
            read = [
                (dn, attributes)
                for dn, attributes in paged_search(bulk, base, "(objectClass=person)", ["sn"], page_size=500)
                if f",ou={mode}" in dn
            ]
        finally:
            bulk.unbind()
        ok, _result, found, _ = reader.search(base, "(objectClass=person)", attributes=["sn"], size_limit=0)
        mine = [e for e in found if f",ou={mode}" in e["dn"]]
        assert ok and len(mine) == 20 * (100 + 64 - 1)
        assert sorted(dn for dn, _ in read) == sorted(e["dn"] for e in mine)
        assert {a["sn"][0] for _, a in read} == {"Ölçer", "x", "y"}
    finally:
        reader.unbind()
