"""One SSH connection and one SFTP session per host, with strict host keys, key auth and timeouts.

Never shared between threads: each worker opens its own. RejectPolicy: a host whose key is not in the
inventory's known hosts (or does not match) is refused before anything is sent.
"""

from __future__ import annotations

import base64
import errno
import stat
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from schulit.errors import SchulitError
from schulit.inventory import Server, SshSettings

KEEPALIVE_SECONDS = 15


class Unreachable(Exception):
    """The host did not answer (refused, timed out, no SSH banner)."""


class HostRefused(Exception):
    """The host answered but was refused: unknown or mismatched host key, authentication failure."""


def check_private_key(path: Path | None) -> Path:
    """The key file must exist and be private to its owner."""
    if path is None:
        raise SchulitError("no SSH key configured (ssh.key_file in county.toml)")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise SchulitError(f"SSH key {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise SchulitError(
            f"SSH key {path} is accessible by group or others (mode {mode:04o}); run: chmod 600 {path}"
        )
    return path


def load_private_key(path: Path) -> paramiko.PKey:
    """Load an ed25519, ECDSA or RSA private key (no passphrase: it is used unattended)."""
    try:
        return paramiko.PKey.from_path(str(path))
    except (paramiko.SSHException, OSError, ValueError) as exc:
        raise SchulitError(f"SSH key {path}: cannot load: {exc}") from None


@dataclass
class CommandResult:
    """Exit status and (bounded) output of a remote command."""

    status: int
    output: str


class HostConnection:
    """An open connection to one school server."""

    def __init__(self, server: Server, settings: SshSettings, key: paramiko.PKey):
        self.server = server
        self.settings = settings
        self.client = paramiko.SSHClient()
        if settings.known_hosts is not None and settings.known_hosts.exists():
            self.client.load_host_keys(str(settings.known_hosts))
        if server.host_key:
            self._add_inline_host_key(server.host_key)
        self.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        timeout = settings.connect_timeout
        try:
            self.client.connect(
                server.address,
                port=server.port,
                username=server.user,
                pkey=key,
                allow_agent=False,
                look_for_keys=False,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
                channel_timeout=timeout,
            )
        except paramiko.BadHostKeyException:
            self.client.close()
            raise HostRefused("host key mismatch: the server's key differs from the known key") from None
        except paramiko.AuthenticationException:
            self.client.close()
            raise HostRefused("authentication failed (key not accepted)") from None
        except paramiko.SSHException as exc:
            self.client.close()
            text = str(exc)
            if "not found in known_hosts" in text:
                raise HostRefused(
                    "unknown host key (not in known_hosts; add it, schulit never trusts on first use)"
                ) from None
            if "banner" in text or text in ("No existing session", "Negotiation failed."):
                # the port accepted the connection, but no SSH handshake followed within the timeout
                raise Unreachable(
                    f"no SSH handshake within {timeout:g} s (no SSH banner: not an SSH server, or overloaded)"
                ) from None
            raise Unreachable(f"SSH error: {text or type(exc).__name__}") from None
        except TimeoutError:
            self.client.close()
            raise Unreachable(f"timed out after {timeout:g} s") from None
        except OSError as exc:
            self.client.close()
            raise Unreachable(exc.strerror or str(exc)) from None
        transport = self.client.get_transport()
        if transport is not None:
            transport.set_keepalive(KEEPALIVE_SECONDS)
        self.sftp = self.client.open_sftp()
        self.sftp.get_channel().settimeout(settings.command_timeout)

    def _add_inline_host_key(self, line: str) -> None:
        parts = line.split()
        if len(parts) < 2:
            raise HostRefused(f"host_key {line!r} is not 'type base64'")
        host = (
            self.server.address if self.server.port == 22 else f"[{self.server.address}]:{self.server.port}"
        )
        key = paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
        self.client.get_host_keys().add(host, parts[0], key)

    def read(self, path: str) -> bytes | None:
        """The file's bytes, or None if it does not exist."""
        try:
            with self.sftp.open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            if getattr(exc, "errno", None) == 2:
                return None
            raise

    def ensure_directory(self, path: str) -> None:
        """mkdir -p over SFTP."""
        parts = [p for p in path.split("/") if p]
        current = ""
        for part in parts:
            current += "/" + part
            try:
                self.sftp.stat(current)
            except FileNotFoundError:
                self.sftp.mkdir(current, 0o755)

    def write(self, path: str, data: bytes, mode: int) -> None:
        """Create or truncate ``path`` and write all of ``data``, or raise OSError.

        The mode is set before the first byte is written (sssd.conf and friends hold secrets: never readable
        by others, not even while uploading). Not pipelined: paramiko checks the replies to pipelined writes
        only for data written before ``close()``, so a write that failed in the final flush (ENOSPC: a full
        disk) went unnoticed and left a short file that the caller would then rename over the target. Here
        every write is confirmed, and the size on the server is checked at the end.
        """
        with self.sftp.open(path, "wb") as handle:
            handle.chmod(mode)
            handle.write(data)
            handle.flush()
            size = handle.stat().st_size
        if size != len(data):
            raise OSError(errno.EIO, f"short write: {size} of {len(data)} bytes arrived")

    def active(self) -> bool:
        """True while the SSH connection is up (an SFTP error then concerns the file, not the host)."""
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def run(self, command: str, timeout: float | None = None, limit: int = 64 * 1024) -> CommandResult:
        """Run a command; output bounded to ``limit`` bytes, total time bounded by ``timeout``."""
        timeout = timeout or self.settings.command_timeout
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise Unreachable("connection lost")
        channel = transport.open_session(timeout=self.settings.connect_timeout)
        channel.settimeout(1.0)
        channel.set_combine_stderr(True)
        channel.exec_command(command)
        output = bytearray()
        deadline = time.monotonic() + timeout
        try:
            while True:
                if time.monotonic() > deadline:
                    raise Unreachable(f"command did not finish within {timeout:g} s: {command}")
                try:
                    chunk = channel.recv(4096)
                except TimeoutError:
                    chunk = None
                if chunk:
                    if len(output) < limit:
                        output.extend(chunk[: limit - len(output)])
                    continue
                if chunk == b"" and channel.exit_status_ready():
                    break
                if not transport.is_active():
                    raise Unreachable("connection lost")
            status = channel.recv_exit_status()
            if status == -1 and not transport.is_active():  # no exit status: the session died
                raise Unreachable(f"connection lost while running: {command}")
            return CommandResult(status, output.decode("utf-8", errors="replace"))
        finally:
            channel.close()

    def close(self) -> None:
        try:
            self.sftp.close()
        finally:
            self.client.close()
