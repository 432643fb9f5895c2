"""Connect and bind to the central directory with the transport-security rules of SPEC §6.

- ``ldaps://`` or ``ldap://`` + StartTLS: the server certificate is verified against the configured CA file
  (or the system store); there is no switch to turn verification off.
- plain ``ldap://`` only to a loopback address and only when the inventory says
  ``allow_plaintext_loopback = true``; ``ldapi://`` (a local socket) is always accepted.
- the bind password comes from a file (never argv); the file must not be readable by others.

``url`` may list several replication providers (comma-separated): ``connect`` binds to the first that
answers within the timeout. A run that writes pins one of them for its whole life: ``schulit.directory.
failover``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import ssl
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
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


def provider_urls(url: str) -> list[str]:
    """The provider URLs of a ``directory.url`` (one URL, or several separated by commas or blanks)."""
    return [part for part in re.split(r"[\s,]+", url) if part]


def pinned(settings: DirectorySettings, url: str) -> DirectorySettings:
    """``settings`` reaching exactly one provider."""
    return replace(settings, url=url)


def check_transport(settings: DirectorySettings) -> None:
    """Refuse settings that would send the bind password unencrypted over a network (to any provider)."""
    urls = provider_urls(settings.url)
    if not urls:
        raise DirectoryError("directory url is empty")
    for url in urls:
        _check_one_transport(url, settings)


def _check_one_transport(url: str, settings: DirectorySettings) -> None:
    parsed = urlparse(url)
    if parsed.scheme in ("ldaps", "ldapi"):
        return
    if parsed.scheme != "ldap":
        raise DirectoryError(f"directory url {url!r}: expected ldap://, ldaps:// or ldapi://")
    if settings.start_tls:
        return
    host = parsed.hostname or ""
    if not is_loopback(host):
        raise DirectoryError(
            f"directory url {url}: plain LDAP to {host} would send the bind password unencrypted; "
            "use ldaps:// or set start_tls = true (loopback addresses may use plain LDAP when "
            "allow_plaintext_loopback = true)"
        )
    if not settings.allow_plaintext_loopback:
        raise DirectoryError(
            f"directory url {url}: plain LDAP without TLS; set allow_plaintext_loopback = true "
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


class BindRefused(DirectoryError):
    """The provider answered and refused the bind: a settings problem, not a provider that is gone."""


def directory_server(settings: DirectorySettings) -> ldap3.Server:
    """The ldap3 Server for ``settings`` (its first provider, if it lists several): TLS verified where the
    URL or StartTLS asks for it."""
    url = provider_urls(settings.url)[0]
    use_tls = urlparse(url).scheme == "ldaps" or settings.start_tls
    return ldap3.Server(
        url,
        get_info=ldap3.NONE,
        connect_timeout=max(1, int(settings.timeout)),
        tls=_tls(settings) if use_tls else None,
    )


def connect(
    settings: DirectorySettings,
    *,
    strategy: str = ldap3.SAFE_SYNC,
    bulk_read: bool = False,
    answer_timeout: float | None = None,
) -> ldap3.Connection:
    """Open a bound connection; raise DirectoryError with a clear message on any failure.

    With several providers in ``settings.url``: the first that answers the bind within the timeout (one
    that refuses it stops the search: its answer is a settings problem the others share).
    ``bulk_read``: values come back as plain strings without ldap3's per-attribute formatting (the server
    schema is not read anyway), which makes reading 100,000 entries markedly faster.
    ``answer_timeout``: how long to wait for any answer (default 6 × ``timeout``: a busy server may take
    a while to write).
    """
    check_transport(settings)
    password = read_secret_file(settings.password_file, "directory bind")
    failures = []
    for url in provider_urls(settings.url):
        try:
            return _connect_one(url, settings, password, strategy, bulk_read, answer_timeout)
        except BindRefused:
            raise
        except DirectoryError as exc:
            failures.append(str(exc))
    if len(failures) == 1:
        raise DirectoryError(failures[0])
    raise DirectoryError("no directory provider answered: " + "; ".join(failures))


def _connect_one(
    url: str,
    settings: DirectorySettings,
    password: str,
    strategy: str,
    bulk_read: bool,
    answer_timeout: float | None,
) -> ldap3.Connection:
    parsed = urlparse(url)
    server = directory_server(pinned(settings, url))
    wait = answer_timeout if answer_timeout is not None else settings.timeout * 6
    connection = ldap3.Connection(
        server,
        user=settings.bind_dn,
        password=password,
        client_strategy=strategy,
        # bounds every wait for an answer, schulit's own pipelined writes and bulk reads included (schulit
        # uses no ASYNC connection: its receiver thread spins after unbind when this timeout is set)
        receive_timeout=max(1, int(wait)),
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
                raise DirectoryError(f"{url}: StartTLS failed: {connection.result}")
        connection.bind()  # SAFE_SYNC returns a tuple; the connection's state tells the outcome
        if not connection.bound:
            result = connection.result or {}
            if not result.get("description"):  # no answer at all (e.g. the wait timed out)
                raise DirectoryError(f"{url}: no answer to the bind within {wait:g} s")
            with contextlib.suppress(Exception):
                connection.socket.close()
            raise BindRefused(
                f"{url}: bind as {settings.bind_dn} failed: "
                f"{result.get('description', 'error')} {result.get('message', '')}".rstrip()
            )
    except LDAPException as exc:
        with contextlib.suppress(Exception):
            connection.unbind()
        raise DirectoryError(f"{url}: cannot connect: {_describe(exc)}") from None
    except OSError as exc:  # e.g. the socket timed out before ldap3 noticed
        with contextlib.suppress(Exception):
            connection.socket.close()
        raise DirectoryError(f"{url}: cannot connect: {exc}") from None
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


def check_outcome(outcome: tuple[Any, ...], what: str) -> None:
    """Raise DirectoryError naming ``what`` unless a SAFE_SYNC operation's ``(ok, result, ...)`` succeeded."""
    ok, result = outcome[0], outcome[1] or {}
    if not ok and result.get("description") == "assertionFailed":  # see schema.same_state_control
        raise DirectoryError(
            f"{what}: the account was deactivated, locked or reactivated meanwhile (by a sync or an admin); "
            "nothing was written to it; try again"
        )
    if not ok:
        raise DirectoryError(f"{what}: {result.get('description')} {result.get('message', '')}".strip())


def disconnect(connection: ldap3.Connection) -> None:
    """Unbind and close; a connection the server already dropped is closed without another error."""
    try:
        connection.unbind()
    except (OSError, LDAPException):
        with contextlib.suppress(Exception):
            connection.socket.close()
