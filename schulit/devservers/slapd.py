"""A real, throwaway OpenLDAP ``slapd`` on a loopback port: for the test suite, the demo and the benchmarks.

Stock Debian schemas (core, cosine, inetorgperson, nis; Samba's on request), an mdb database in its own
folder, optional access rules, the root DN as the bind DN. The password is generated here, written to a 0600
file and given to slapd as an {SSHA} hash.
The daemon forks and is stopped by the PID in its pid file.

``Providers`` runs several of them as OpenLDAP multi-provider replication (syncprov + syncrepl, one
``serverID`` each): what a Land-sized directory looks like, on one host.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
INDEXES = (
    "objectClass eq",
    "uid eq,sub",
    "cn eq,sub",
    "uidNumber eq",
    "gidNumber eq",
    "memberUid eq",
    "member eq",
    "employeeNumber eq",
    "ou eq",
)


def stop_process(pid: int | None, timeout: float, *, kill: bool = False) -> None:
    """Stop a daemon by its PID: SIGTERM (SIGKILL with ``kill``), wait until it is gone, SIGKILL after
    ``timeout``. Nothing if there is no PID or no such process."""
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def free_port(address: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``address`` right now, below the kernel's ephemeral range.

    A port the kernel hands out for ``bind(0)`` comes from the ephemeral range, the same one it takes the
    local ports of outgoing connections from: between this call and the server's own bind, any client
    socket of the test run could take it ("Address already in use"). Below that range only servers bind.
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = secrets.randbelow(low - 10000) + 10000
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # everything below is taken
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux default 32768)."""
    try:
        return max(11000, int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return 32768


SAMBA_SCHEMA_CANDIDATES = (
    Path("/usr/share/doc/samba/examples/LDAP/samba.schema"),
    Path("/usr/share/doc/samba/examples/LDAP/samba.schema.gz"),
)


def samba_schema(folder: Path) -> Path:
    """Debian's samba.schema (from the samba package's examples), unpacked into ``folder`` if gzipped."""
    for candidate in SAMBA_SCHEMA_CANDIDATES:
        if candidate.suffix == ".schema" and candidate.exists():
            return candidate
        if candidate.exists():
            target = folder / "samba.schema"
            folder.mkdir(parents=True, exist_ok=True)
            target.write_bytes(gzip.decompress(candidate.read_bytes()))
            return target
    raise FileNotFoundError("samba.schema not found (Debian's samba: /usr/share/doc/samba/examples/LDAP)")


def ssha(password: str) -> str:
    """An {SSHA} hash for slapd's rootpw (the server compares it; only the hash is written)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - the {SSHA} scheme is SHA-1
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def process_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (daemons are reparented and may be reaped late)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@dataclass
class TlsFiles:
    """Server certificate, key and (for the clients) the CA that signed it."""

    cert_file: Path
    key_file: Path
    ca_file: Path


@dataclass
class Slapd:
    """One slapd instance living in ``state_dir``."""

    state_dir: Path
    base_dn: str = "dc=example,dc=org"
    address: str = "127.0.0.1"
    port: int = 0
    durable: bool = True
    tls: TlsFiles | None = None
    bind_password_file: Path | None = None
    ldaps_port: int = 0
    server_id: int = 0  # >0: a replication provider (``serverID``); ``peers`` are the other providers
    server_ids: tuple[tuple[int, str], ...] = ()
    peers: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()  # global ``allow`` features, e.g. bind_anon_dn (unauthenticated binds)
    access: tuple[str, ...] = ()  # ``access to`` rules of the database (slapd.conf syntax)
    size_limit: str = "unlimited"  # for binds other than the root DN (the root DN has none)
    extra_schemas: tuple[Path, ...] = ()  # e.g. Samba's (see samba_schema())

    @property
    def url(self) -> str:
        return f"ldap://{self.address}:{self.port}"

    @property
    def bind_dn(self) -> str:
        return f"cn=admin,{self.base_dn}"

    @property
    def password_file(self) -> Path:
        return self.bind_password_file or self.state_dir / "ldap-bind.password"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "slapd.pid"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "slapd.conf"

    def password(self) -> str:
        """The bind password (read from its 0600 file)."""
        return self.password_file.read_text().strip()

    def _write_config(self) -> None:
        data_dir = self.state_dir / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(24))
        lines = [f"include {SCHEMA_DIR / name}.schema" for name in SCHEMAS]
        lines += [f"include {path}" for path in self.extra_schemas]
        lines += [
            f"pidfile {self.pid_file}",
            f"argsfile {self.state_dir / 'slapd.args'}",
            f"modulepath {MODULE_DIR}",
            "moduleload back_mdb",
            f"sizelimit {self.size_limit}",
            # group members kept sorted: adding or removing values of a group with 1,000,000 members is then
            # a binary search per value, not a scan of the whole list (README: big directories)
            "sortvals memberUid member",
        ]
        if self.server_id:
            lines.append("moduleload syncprov")
            # each provider's line names the URL its own -h listens on: that is how slapd finds its id
            lines += [f"serverID {number} {url}/" for number, url in self.server_ids]
        if self.allow:
            lines.append(f"allow {' '.join(self.allow)}")
        if self.tls is not None:
            lines += [
                f"TLSCACertificateFile {self.tls.ca_file}",
                f"TLSCertificateFile {self.tls.cert_file}",
                f"TLSCertificateKeyFile {self.tls.key_file}",
            ]
        lines += [
            "database mdb",
            "maxsize 4294967296",
            f'suffix "{self.base_dn}"',
            f'rootdn "{self.bind_dn}"',
            f"rootpw {ssha(self.password())}",
            f"directory {data_dir}",
        ]
        lines += [f"index {index}" for index in INDEXES]
        lines += list(self.access)
        if not self.durable:
            lines.append("dbnosync")
        if self.server_id:
            lines += self._replication_lines()
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def _replication_lines(self) -> list[str]:
        """One syncrepl consumer per other provider, then ``multiprovider on`` (only valid after a
        syncrepl line) and the syncprov overlay that serves the other providers' consumers."""
        lines = []
        for peer in self.peers:
            number = next(n for n, url in self.server_ids if url == peer)
            lines.append(  # the password sits in this 0600 file, as slapd needs it in clear to bind
                f"syncrepl rid={number:03d} provider={peer} bindmethod=simple "
                f'binddn="{self.bind_dn}" credentials="{self.password()}" searchbase="{self.base_dn}" '
                'type=refreshAndPersist retry="1 +" timeout=3 network-timeout=3'
            )
        return [*lines, "multiprovider on", "overlay syncprov", "index entryCSN,entryUUID eq"]

    def start(self, timeout: float = 15.0) -> Slapd:
        """Write the config, start slapd, and wait until it accepts connections."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.address)
        self._write_config()
        urls = [f"{self.url}/" if self.server_id else self.url]  # exactly as on its serverID line
        if self.tls is not None:
            self.ldaps_port = self.ldaps_port or free_port(self.address)
            urls.append(f"ldaps://{self.address}:{self.ldaps_port}")
        log = (self.state_dir / "slapd.log").open("ab")
        subprocess.run(
            ["slapd", "-f", str(self.config_file), "-h", " ".join(urls)],
            check=True,
            stdout=log,
            stderr=log,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"slapd did not start on {self.url}; see {self.state_dir / 'slapd.log'}")

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 15.0, *, kill: bool = False) -> None:
        """Stop slapd by the PID in its pid file and wait until it has exited.

        ``kill=True`` sends SIGKILL at once: for throwaway test servers whose data does not matter.
        """
        stop_process(self.pid(), timeout, kill=kill)

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and process_alive(pid)

    def slapcat(self) -> str:
        """The whole database as LDIF, operational attributes included (slapd may be running)."""
        return subprocess.run(
            ["slapcat", "-o", "ldif-wrap=no", "-f", str(self.config_file)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def slapadd(self, ldif: str | Path, *, replace: bool = False) -> None:
        """Load LDIF straight into the database files (slapd must be stopped): the fast way to seed a big
        directory, and a way to change one provider behind replication's back. ``replace`` empties the
        database first. Entries keep the entryCSN/entryUUID the LDIF gives them."""
        if self.running():
            raise RuntimeError("slapadd needs slapd stopped")
        data_dir = self.state_dir / "data"
        if replace:
            for item in data_dir.glob("*.mdb"):
                item.unlink()
        self._write_config()
        command = ["slapadd", "-q", "-w", "-f", str(self.config_file)]  # -w: contextCSN from the entries
        if isinstance(ldif, Path):
            subprocess.run([*command, "-l", str(ldif)], check=True, capture_output=True)
        else:
            subprocess.run(command, input=ldif.encode(), check=True, capture_output=True)

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets open and answers nothing (a hung server)."""
        pid = self.pid()
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT; nothing if the server is gone (killed: its pid file may still name it)."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


@dataclass
class Providers:
    """``count`` slapd instances replicating to each other (multi-provider), one folder each below
    ``state_dir``, sharing one base DN and one bind password."""

    state_dir: Path
    count: int = 2
    base_dn: str = "dc=example,dc=org"
    address: str = "127.0.0.1"
    durable: bool = True
    servers: list[Slapd] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.servers:
            return
        ports = [free_port(self.address) for _ in range(self.count)]
        urls = [f"ldap://{self.address}:{port}" for port in ports]
        password_file = self.state_dir / "ldap-bind.password"
        ids = tuple((number, url) for number, url in enumerate(urls, start=1))
        for number, (port, url) in enumerate(zip(ports, urls, strict=True), start=1):
            self.servers.append(
                Slapd(
                    self.state_dir / f"provider-{number}",
                    base_dn=self.base_dn,
                    address=self.address,
                    port=port,
                    durable=self.durable,
                    bind_password_file=password_file,
                    server_id=number,
                    server_ids=ids,
                    peers=tuple(u for u in urls if u != url),
                )
            )

    @property
    def urls(self) -> list[str]:
        return [server.url for server in self.servers]

    @property
    def bind_dn(self) -> str:
        return self.servers[0].bind_dn

    @property
    def password_file(self) -> Path:
        return self.servers[0].password_file

    def password(self) -> str:
        return self.servers[0].password()

    def start(self) -> Providers:
        for server in self.servers:
            server.start()
        return self

    def stop(self, *, kill: bool = False) -> None:
        """Stop every provider, each whatever happened to the others (none may be left running)."""
        failures: list[BaseException] = []
        for server in self.servers:
            try:
                server.thaw()  # a stopped process cannot act on SIGTERM
                server.stop(kill=kill)
            except Exception as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
