"""A county for the web page's tests and benchmark: a slapd with the web identity's ACLs, synced rosters
with teachers' classes, the web identity, and ``schulit web`` as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import ldap3
from click.testing import CliRunner

from schulit.cli import cli
from schulit.delivery import read_deliveries
from schulit.devservers.slapd import Slapd, free_port, ssha
from schulit.directory.layout import Layout
from schulit.web.acl import web_access_rules

REPO = Path(__file__).resolve().parents[2]
BASE_DN = "dc=lk-test,dc=schule,dc=example"
WEB_DN = f"cn=schulit-web,ou=schulit,{BASE_DN}"
# what a county puts after the web identity's rules: binds work, nobody else reads anything
COUNTY_RULES = (
    "access to attrs=userPassword by anonymous auth by * none",
    "access to * by anonymous auth by * none",
)
PUPIL_HEADER = "Interne ID-Nummer;Nachname;Vorname;Klasse"
TEACHER_HEADER = "Personalnummer;Nachname;Vorname;Klassen"


def web_slapd(state_dir: Path, *, durable: bool = False) -> Slapd:
    """A slapd whose ACLs are the web identity's rules plus COUNTY_RULES, accepting unauthenticated binds."""
    rules = (*web_access_rules(Layout(BASE_DN), WEB_DN), *COUNTY_RULES)
    return Slapd(state_dir, base_dn=BASE_DN, durable=durable, allow=("bind_anon_dn",), access=rules).start()


class WebCounty:
    """Inventory in ``root`` pointing at ``slapd``; rosters per school as (id, last, first, classes) rows."""

    def __init__(
        self,
        root: Path,
        slapd: Slapd,
        pupils: dict[str, list[tuple[str, str, str, str]]],
        teachers: dict[str, list[tuple[str, str, str, str]]],
        web_extra: str = "",
    ):
        self.root = root
        self.slapd = slapd
        self.web_password_file = root / "web.password"
        (root / "schools").mkdir(parents=True, exist_ok=True)
        (root / "rosters").mkdir(exist_ok=True)
        if not self.web_password_file.exists():
            fd = os.open(self.web_password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(os.urandom(12).hex())
        (root / "county.toml").write_text(
            f"""
[county]
name = "Landkreis Heide"
short_name = "lk-test"

[directory]
url = "{slapd.url}"
base_dn = "{slapd.base_dn}"
bind_dn = "{slapd.bind_dn}"
password_file = "{slapd.password_file}"
allow_plaintext_loopback = true

[passwords]
hash = "crypt-sha512"
delivery_dir = "{root / "passwords"}"

[audit]
file = "{root / "audit.jsonl"}"

[web]
bind_dn = "{WEB_DN}"
password_file = "{self.web_password_file}"
{web_extra}
""",
            encoding="utf-8",
        )
        for school in sorted(set(pupils) | set(teachers)):
            (root / "schools" / f"{school}.toml").write_text(
                f"""
id = "{school}"
name = "Grundschule {school.upper()}"
type = "Grundschule"

[[rosters]]
path = "rosters/{school}-pupils.csv"
role = "pupil"

[[rosters]]
path = "rosters/{school}-teachers.csv"
role = "teacher"
""",
                encoding="utf-8",
            )
            lines = [PUPIL_HEADER] + [";".join(row) for row in pupils.get(school, [])]
            (root / "rosters" / f"{school}-pupils.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
            lines = [TEACHER_HEADER] + [";".join(row) for row in teachers.get(school, [])]
            (root / "rosters" / f"{school}-teachers.csv").write_text(
                "\n".join(lines) + "\n", encoding="utf-8"
            )

    def run(self, *args: str) -> str:
        result = CliRunner().invoke(cli, ["--inventory", str(self.root), *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def sync(self) -> None:
        self.run("accounts", "sync", "--yes")

    def admin(self) -> ldap3.Connection:
        return ldap3.Connection(
            ldap3.Server(self.slapd.url), self.slapd.bind_dn, self.slapd.password(), auto_bind=True
        )

    def create_web_identity(self) -> None:
        with self.admin() as connection:
            connection.add(
                WEB_DN,
                ["organizationalRole", "simpleSecurityObject"],
                {"cn": "schulit-web", "userPassword": ssha(self.web_password_file.read_text())},
            )
            assert connection.result["description"] in ("success", "entryAlreadyExists"), connection.result

    def passwords(self) -> dict[str, str]:
        """login -> initial password, from the delivery files the sync wrote."""
        return {r.login: r.password for r in read_deliveries(self.root / "passwords")}

    def dn(self, login: str) -> str:
        with self.admin() as connection:
            connection.search(BASE_DN, f"(uid={ldap3.utils.conv.escape_filter_chars(login)})")
            assert len(connection.entries) == 1, login
            return connection.entries[0].entry_dn

    def dump(self) -> list[tuple[str, dict[str, list[str]]]]:
        """Every entry with every attribute (hashes included), sorted: to compare before and after."""
        with self.admin() as connection:
            connection.search(BASE_DN, "(objectClass=*)", attributes=["*", "+"])
            return sorted(
                (
                    entry.entry_dn,
                    {
                        name: sorted(str(v) for v in values)
                        for name, values in entry.entry_attributes_as_dict.items()
                        if name not in ("modifyTimestamp", "entryCSN", "contextCSN")
                    },
                )
                for entry in connection.entries
            )

    def start_web(self, *args: str) -> WebServer:
        return WebServer.start(self.root, *args)


def binds(slapd: Slapd, dn: str, password: str, tmp: Path) -> bool:
    """Does a simple bind as ``dn`` with ``password`` succeed? (Debian's ldapwhoami, password from a file)."""
    secret = tmp / f"bind-{os.getpid()}-{time.monotonic_ns()}"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password)
    try:
        result = subprocess.run(
            ["ldapwhoami", "-x", "-H", slapd.url, "-D", dn, "-y", str(secret)],
            capture_output=True,
            text=True,
            timeout=20,
        )
    finally:
        secret.unlink()
    return result.returncode == 0 and result.stdout.strip().lower() == f"dn:{dn}".lower()


class PortTaken(RuntimeError):
    """The port chosen for the web server was taken before it bound it."""


class WebServer:
    """``schulit web`` in a subprocess; stopped by its PID."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path):
        self.process = process
        self.url = url
        self.log = log

    @classmethod
    def start(cls, inventory: Path, *args: str, timeout: float = 30.0) -> WebServer:
        for _attempt in range(3):  # a port found free can be taken by someone else before the bind
            try:
                return cls._start(inventory, args, timeout)
            except PortTaken:
                continue
        raise RuntimeError("schulit web: three free ports in a row were taken before it could bind")

    @classmethod
    def _start(cls, inventory: Path, args: tuple[str, ...], timeout: float) -> WebServer:
        port = free_port()
        log = inventory / f"web-{port}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "schulit",
                    "--inventory",
                    str(inventory),
                    "web",
                    "--listen",
                    f"127.0.0.1:{port}",
                    *args,
                ],
                stdout=handle,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                output = log.read_text()
                if "Address already in use" in output:
                    raise PortTaken(output)
                raise RuntimeError(f"schulit web exited: {output}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return cls(process, f"http://127.0.0.1:{port}", log)
            except OSError:
                time.sleep(0.1)
        process.kill()
        raise RuntimeError(f"schulit web did not listen on port {port}: {log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
