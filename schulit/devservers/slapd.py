"""A real, throwaway OpenLDAP ``slapd`` on a loopback port: for the test suite, the demo and the benchmarks.

Stock Debian schemas (core, cosine, inetorgperson, nis; Samba's on request), an mdb database in its own
folder, optional access rules, the root DN as the bind DN. The password is generated here, written to a 0600
file and given to slapd as an {SSHA} hash.
The daemon forks and is stopped by the PID in its pid file.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
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


def free_port(address: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``address`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


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
    allow: tuple[str, ...] = ()  # global ``allow`` features, e.g. bind_anon_dn (unauthenticated binds)
    access: tuple[str, ...] = ()  # ``access to`` rules of the database (slapd.conf syntax)
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
            "sizelimit unlimited",
        ]
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
        fd = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")

    def start(self, timeout: float = 15.0) -> Slapd:
        """Write the config, start slapd, and wait until it accepts connections."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.address)
        self._write_config()
        urls = [self.url]
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
        pid = self.pid()
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
        os.kill(pid, signal.SIGKILL)

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and process_alive(pid)
