"""A whole small county for the school-server tests: TLS slapd (Samba schema, the printed access rules),
two schools, each with a "school server" (a private namespace with sshd, later sssd and smbd), accounts
synced, identities created and configs pushed. Session-scoped: it is built once (about 10 s).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ldap3
import pytest
from click.testing import CliRunner, Result

from schulit.cli import cli
from schulit.delivery import read_deliveries
from schulit.devservers.namespace import ServerNamespace
from schulit.devservers.slapd import Slapd, TlsFiles, free_port, samba_schema
from schulit.devservers.smbd import Smbd
from schulit.devservers.sshd import Sshd
from schulit.devservers.sssd import Sssd, restart_command
from schulit.devservers.tls import issue_server_cert, make_ca

BASE_DN = "dc=lk-test,dc=schule,dc=example"
REPO_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SCHOOLS = {"gs-a": ("fs-a", "127.0.30.1"), "gs-b": ("fs-b", "127.0.30.2")}
PUPILS = {
    "gs-a": [
        ("1001", "Müller", "Lea", "1a"),
        ("1002", "Weiß", "Jonas", "1a"),
        ("1003", "Klein", "Mia", "1b"),
    ],
    "gs-b": [("2001", "Roth", "Ben", "2a")],
}
TEACHERS = {
    "gs-a": [("T1", "Schröder", "Anja"), ("T2", "Bauer", "Tom")],
    "gs-b": [("T1", "Schröder", "Anja")],
}


@dataclass
class County:
    """The county on disk, its directory and its school servers."""

    root: Path
    slapd: Slapd
    ca_file: Path
    hosts: dict[str, Path] = field(default_factory=dict)  # school id -> host root
    namespaces: dict[str, ServerNamespace] = field(default_factory=dict)
    sshds: dict[str, Sshd] = field(default_factory=dict)
    sssds: dict[str, Sssd] = field(default_factory=dict)
    smbds: dict[str, Smbd] = field(default_factory=dict)

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--inventory", str(self.root), *args], catch_exceptions=False)

    def pupils(self, school: str, rows: list[tuple[str, str, str, str]]) -> None:
        lines = ["ID;Nachname;Vorname;Klasse"] + [";".join(row) for row in rows]
        (self.root / "rosters" / f"{school}-pupils.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def teachers(self, school: str, rows: list[tuple[str, str, str]]) -> None:
        lines = ["Personalnummer;Nachname;Vorname"] + [";".join(row) for row in rows]
        path = self.root / "rosters" / f"{school}-teachers.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def passwords(self) -> dict[str, str]:
        """login -> the newest password from the delivery files (what the letters print)."""
        return {r.login: r.password for r in read_deliveries(self.root / "passwords")}

    def connection(self, user: str | None = None, password: str | None = None) -> ldap3.Connection:
        """Over ldaps with the CA checked; the admin when no user is given, anonymous when user == ""."""
        tls = ldap3.Tls(validate=2, ca_certs_file=str(self.ca_file))
        server = ldap3.Server(f"ldaps://127.0.0.1:{self.slapd.ldaps_port}", use_ssl=True, tls=tls)
        if user is None:
            user, password = self.slapd.bind_dn, self.slapd.password()
        if user == "":
            return ldap3.Connection(server, auto_bind=True)
        return ldap3.Connection(server, user, password, auto_bind=True)

    def secret(self, server: str) -> str:
        return (self.root / "server-secrets" / f"{server}.secret").read_text().strip()

    def identity(self, school: str) -> str:
        server = SCHOOLS[school][0]
        return f"cn={server},ou={school},ou=servers,ou=schulit,{BASE_DN}"

    def smbd(self, school: str) -> Smbd:
        """The school server's smbd, started on first use (sssd is up: the push restarted it)."""
        if school not in self.smbds:
            self.smbds[school] = Smbd(self.namespaces[school]).start()
        return self.smbds[school]

    def sssd(self, school: str) -> Sssd:
        """The school server's sssd (the push's restart-sssd handler started it)."""
        if school not in self.sssds:
            self.sssds[school] = Sssd(self.namespaces[school])
        return self.sssds[school]


def _county_toml(root: Path, slapd: Slapd, ca_file: Path) -> str:
    return f"""
[county]
name = "Testkreis"
short_name = "lk-test"

[directory]
url = "ldaps://127.0.0.1:{slapd.ldaps_port}"
base_dn = "{BASE_DN}"
bind_dn = "{slapd.bind_dn}"
password_file = "{slapd.password_file}"
ca_file = "{ca_file}"

[identity]
pupil_id_scope = "county"

[passwords]
delivery_dir = "{root / "passwords"}"

[servers]
secrets_dir = "{root / "server-secrets"}"

[samba]
enabled = true
domain_name = "LKTEST"
domain_sid = "S-1-5-21-1111-2222-3333"

[ssh]
key_file = "{root / "ssh" / "id_ed25519"}"
known_hosts = "{root / "ssh" / "known_hosts"}"
connect_timeout = 5
command_timeout = 30

[templates]
dir = "{root / "templates"}"
"""


def _school_toml(school: str, server: str, address: str, port: int, host_root: Path) -> str:
    log = host_root / "handlers.log"
    restart = restart_command()
    return f"""
id = "{school}"
name = "Grundschule {school}"
type = "Grundschule"

[[rosters]]
path = "rosters/{school}-pupils.csv"
role = "pupil"

[[rosters]]
path = "rosters/{school}-teachers.csv"
role = "teacher"

[[servers]]
name = "{server}"
address = "{address}"
port = {port}
roles = ["fileserver"]
root = "{host_root}"

[servers.handler_commands]
restart-sssd = '''echo restart-sssd >> {log}; {restart}'''
restart-smbd = "echo restart-smbd >> {log}"
reload-smbd = "echo reload-smbd >> {log}"
"""


@pytest.fixture(scope="session")
def school_county(tmp_path_factory: pytest.TempPathFactory, ssh_client_key: Path) -> Iterator[County]:
    """The county, built once: directory with ACLs, accounts, identities, configs pushed (sssd not yet up)."""
    base = tmp_path_factory.mktemp("county")
    root = base / "inventory"
    (root / "schools").mkdir(parents=True)
    (root / "rosters").mkdir()
    (root / "ssh").mkdir()
    shutil.copytree(REPO_TEMPLATES, root / "templates")
    shutil.copy(ssh_client_key, root / "ssh" / "id_ed25519")
    (root / "ssh" / "id_ed25519").chmod(0o600)
    ca = make_ca(base / "tls", "lk-test")
    cert, key = issue_server_cert(ca, base / "tls", "ldap")
    slapd = Slapd(
        base / "slapd",
        base_dn=BASE_DN,
        durable=False,
        tls=TlsFiles(cert, key, ca.cert_file),
        extra_schemas=(samba_schema(base / "schema"),),
    )
    slapd.port, slapd.ldaps_port = free_port(), free_port()
    county = County(root, slapd, ca.cert_file)
    (root / "county.toml").write_text(_county_toml(root, slapd, ca.cert_file), encoding="utf-8")
    known = []
    try:
        for school, (server, address) in SCHOOLS.items():
            host_root = base / "hosts" / server
            county.hosts[school] = host_root
            namespace = ServerNamespace(host_root, base / "ns" / server).start()
            county.namespaces[school] = namespace
            sshd = Sshd(base / "sshd" / server, address, prefix=tuple(namespace.command([]))).start()
            sshd.authorize(ssh_client_key.with_name(ssh_client_key.name + ".pub"))
            county.sshds[school] = sshd
            known.append(sshd.known_hosts_line())
            (root / "schools" / f"{school}.toml").write_text(
                _school_toml(school, server, address, sshd.port, host_root), encoding="utf-8"
            )
            county.pupils(school, PUPILS[school])
            county.teachers(school, TEACHERS[school])
        (root / "ssh" / "known_hosts").write_text("\n".join(known) + "\n")
        acl = county.run("directory", "acl")
        assert acl.exit_code == 0, acl.output
        slapd.access = (acl.output,)
        slapd.start()
        for command in (
            ("directory", "init"),
            ("accounts", "sync", "--yes"),
            ("servers", "sync"),
            ("configs", "push"),
        ):
            result = county.run(*command)
            assert result.exit_code == 0, (command, result.output)
        yield county
    finally:
        stops = [smbd.stop for smbd in county.smbds.values()]
        stops += [Sssd(namespace).stop for namespace in county.namespaces.values()]
        stops += [sshd.stop for sshd in county.sshds.values()]
        stops += [namespace.stop for namespace in county.namespaces.values()]
        stops.append(lambda: slapd.stop(kill=True))
        for stop in stops:  # each one, whatever the others do
            with contextlib.suppress(Exception):
                stop()
