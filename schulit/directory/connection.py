"""Connect and bind to the central directory with the transport-security rules of SPEC §6.

- ``ldaps://`` or ``ldap://`` + StartTLS: the server certificate is verified against the configured CA file
  (or the system store); there is no switch to turn verification off.
- plain ``ldap://`` only to a loopback address and only when the inventory says
  ``allow_plaintext_loopback = true``; ``ldapi://`` (a local socket) is always accepted.
- the bind password comes from a file (never argv); the file must not be readable by others.
"""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import ldap3
from ldap3.core.exceptions import LDAPException

from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings


def is_loopback(host: str) -> bool:
    """True for localhost and addresses in 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transport(settings: DirectorySettings) -> None:
    """Refuse settings that would send the bind password unencrypted over a network."""
    parsed = urlparse(settings.url)
    if parsed.scheme in ("ldaps", "ldapi"):
        return
    if parsed.scheme != "ldap":
        raise DirectoryError(f"directory url {settings.url!r}: expected ldap://, ldaps:// or ldapi://")
    if settings.start_tls:
        return
    host = parsed.hostname or ""
    if not is_loopback(host):
        raise DirectoryError(
            f"directory url {settings.url}: plain LDAP to {host} would send the bind password unencrypted; "
            "use ldaps:// or set start_tls = true (loopback addresses may use plain LDAP when "
            "allow_plaintext_loopback = true)"
        )
    if not settings.allow_plaintext_loopback:
        raise DirectoryError(
            f"directory url {settings.url}: plain LDAP without TLS; set allow_plaintext_loopback = true "
            "in [directory] to allow it for this loopback address, or use ldaps:// / start_tls"
        )


def read_secret_file(path: Path | None, what: str) -> str:
    """Read a secret from a file that only its owner may read; the error never contains the secret."""
    if path is None:
        raise DirectoryError(
            f"{what}: no password file configured (set password_file or SCHULIT_LDAP_PASSWORD_FILE)"
        )
    try:
        info = path.stat()
    except OSError as exc:
        raise DirectoryError(f"{what}: cannot read {path}: {exc.strerror}") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise DirectoryError(
            f"{what}: {path} is readable by group or others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
        )
    value = path.read_text(encoding="utf-8").rstrip("\r\n")
    if not value:
        raise DirectoryError(f"{what}: {path} is empty")
    return value


def _tls(settings: DirectorySettings) -> ldap3.Tls:
    if settings.ca_file is not None and not settings.ca_file.is_file():
        raise DirectoryError(f"directory CA file not found: {settings.ca_file}")
    return ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        version=ssl.PROTOCOL_TLS_CLIENT,
        ca_certs_file=str(settings.ca_file) if settings.ca_file else None,
    )


def directory_server(settings: DirectorySettings) -> ldap3.Server:
    """The ldap3 Server for ``settings``: TLS verified where the URL or StartTLS asks for it."""
    use_tls = urlparse(settings.url).scheme == "ldaps" or settings.start_tls
    return ldap3.Server(
        settings.url,
        get_info=ldap3.NONE,
        connect_timeout=max(1, int(settings.timeout)),
        tls=_tls(settings) if use_tls else None,
    )


def connect(
    settings: DirectorySettings, *, strategy: str = ldap3.SAFE_SYNC, bulk_read: bool = False
) -> ldap3.Connection:
    """Open a bound connection; raise DirectoryError with a clear message on any failure.

    ``bulk_read``: values come back as plain strings without ldap3's per-attribute formatting (the server
    schema is not read anyway), which makes reading 100,000 entries markedly faster.
    """
    check_transport(settings)
    password = read_secret_file(settings.password_file, "directory bind")
    parsed = urlparse(settings.url)
    server = directory_server(settings)
    connection = ldap3.Connection(
        server,
        user=settings.bind_dn,
        password=password,
        client_strategy=strategy,
        # bounds every wait for an answer, schulit's own pipelined writes and bulk reads included (schulit
        # uses no ASYNC connection: its receiver thread spins after unbind when this timeout is set)
        receive_timeout=max(1, int(settings.timeout * 6)),
        raise_exceptions=False,
        check_names=not bulk_read,
        auto_bind=ldap3.AUTO_BIND_NONE,
        read_only=False,
    )
    try:
        connection.open()
        if settings.start_tls and parsed.scheme == "ldap":
            connection.start_tls()
            if not connection.tls_started:
                raise DirectoryError(f"{settings.url}: StartTLS failed: {connection.result}")
        connection.bind()  # SAFE_SYNC returns a tuple; the connection's state tells the outcome
        if not connection.bound:
            result = connection.result or {}
            raise DirectoryError(
                f"{settings.url}: bind as {settings.bind_dn} failed: "
                f"{result.get('description', 'error')} {result.get('message', '')}".rstrip()
            )
    except LDAPException as exc:
        raise DirectoryError(f"{settings.url}: cannot connect: {_describe(exc)}") from None
    return connection


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "the server certificate could not be verified against the configured CA (ca_file)"
    return text or type(exc).__name__


@contextmanager
def connected(settings: DirectorySettings, **kwargs: object) -> Iterator[ldap3.Connection]:
    """A bound connection for the block, closed afterwards (quietly, if the server already dropped it)."""
    connection = connect(settings, **kwargs)  # type: ignore[arg-type]
    try:
        yield connection
    finally:
        disconnect(connection)


def disconnect(connection: ldap3.Connection) -> None:
    """Unbind and close; a connection the server already dropped is closed without another error."""
    try:
        connection.unbind()
    except (OSError, LDAPException):
        with contextlib.suppress(Exception):
            connection.socket.close()
