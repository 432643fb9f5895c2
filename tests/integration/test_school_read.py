"""The no-change read goes school subtree by school subtree, each one unpaged search (schulit.accounts.scan):
a server size limit below a school's size is a clear error naming the fix, not a silently short read."""

from __future__ import annotations

import os
from pathlib import Path

import ldap3
import pytest

from schulit.accounts.scan import account_units, read_units
from schulit.devservers.slapd import Slapd
from schulit.directory.connection import connect, disconnect
from schulit.directory.layout import Layout
from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings

BASE = "dc=limits,dc=example"


def test_a_size_limit_below_one_school_is_a_clear_error(tmp_path: Path) -> None:
    server = Slapd(tmp_path / "slapd", base_dn=BASE, durable=False, access=("access to * by * read",))
    server.size_limit = "50"
    server.start()
    try:
        with ldap3.Connection(
            ldap3.Server(server.url), server.bind_dn, server.password(), auto_bind=True
        ) as c:
            for dn, classes, attributes in [
                (BASE, ["dcObject", "organization"], {"dc": "limits", "o": "limits"}),
                (f"ou=schools,{BASE}", ["organizationalUnit"], {"ou": "schools"}),
                (f"ou=small,ou=schools,{BASE}", ["organizationalUnit"], {"ou": "small"}),
                (f"ou=big,ou=schools,{BASE}", ["organizationalUnit"], {"ou": "big"}),
                (
                    f"cn=reader,{BASE}",
                    ["simpleSecurityObject", "organizationalRole"],
                    {"userPassword": "geheim"},
                ),
            ]:
                assert c.add(dn, classes, attributes), c.result
            for school, count in (("small", 10), ("big", 60)):
                for i in range(count):
                    assert c.add(
                        f"uid={school}{i},ou={school},ou=schools,{BASE}",
                        ["inetOrgPerson", "posixAccount"],
                        {"cn": "x", "sn": "x", "uidNumber": i, "gidNumber": 1, "homeDirectory": "/h"},
                    )
        password = tmp_path / "reader.password"
        fd = os.open(password, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"geheim")
        os.close(fd)
        settings = DirectorySettings(
            url=server.url,
            base_dn=BASE,
            bind_dn=f"cn=reader,{BASE}",
            password_file=password,
            allow_plaintext_loopback=True,
        )
        layout = Layout(BASE)
        connection = connect(settings, strategy=ldap3.SYNC, bulk_read=True)
        try:
            schools, others = account_units(connection, layout)
            assert sorted(dn for dn, _ in schools) == [
                f"ou=big,ou=schools,{BASE}",
                f"ou=small,ou=schools,{BASE}",
            ]
            small = [unit for unit in schools if unit[0].startswith("ou=small")]
            assert len(list(read_units(connection, layout, small))) == 10  # under the limit: read whole
            with pytest.raises(DirectoryError, match=r"sizeLimitExceeded.*limits dn\.exact"):
                list(read_units(connection, layout, schools + others))
        finally:
            disconnect(connection)
    finally:
        server.stop(kill=True)
