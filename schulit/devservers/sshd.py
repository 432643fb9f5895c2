"""Real, throwaway OpenSSH ``sshd`` instances on loopback: "school servers" for tests, demo and benchmarks.

Each instance has its own folder with an ed25519 host key, an ``authorized_keys`` file and a config that
allows key authentication only. sshd daemonises and is stopped by the PID in its pid file.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from schulit.devservers.slapd import free_port, process_alive, stop_process
from schulit.inventory import Inventory

SSHD = "/usr/sbin/sshd"


def make_key(path: Path, comment: str = "schulit") -> Path:
    """Create an ed25519 key pair at ``path`` (private key 0600) unless it exists; return the path."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            check=True,
            capture_output=True,
            timeout=30,
        )
    path.chmod(0o600)
    return path


@dataclass
class Sshd:
    """One sshd instance living in ``state_dir``."""

    state_dir: Path
    address: str = "127.0.0.1"
    port: int = 0
    prefix: tuple[str, ...] = ()  # e.g. nsenter into a school server's namespace (devservers.namespace)

    @property
    def host_key(self) -> Path:
        return self.state_dir / "ssh_host_ed25519_key"

    @property
    def authorized_keys(self) -> Path:
        return self.state_dir / "authorized_keys"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "sshd.pid"

    def known_hosts_line(self) -> str:
        """The line a client's known_hosts needs for this instance."""
        key_type, key, *_ = (self.host_key.with_suffix(".pub")).read_text().split()
        host = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{host} {key_type} {key}"

    def authorize(self, public_key_file: Path) -> None:
        """Allow logins with this public key (idempotent)."""
        line = public_key_file.read_text().strip()
        existing = self.authorized_keys.read_text().splitlines() if self.authorized_keys.exists() else []
        if line not in existing:
            with self.authorized_keys.open("a") as handle:
                handle.write(line + "\n")
        self.authorized_keys.chmod(0o600)

    def _write_config(self) -> Path:
        config = self.state_dir / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    f"ListenAddress {self.address}:{self.port}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.pid_file}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "PermitRootLogin prohibit-password",
                    "UsePAM no",
                    "StrictModes no",
                    "MaxStartups 100:30:200",
                    "MaxSessions 20",
                    "LogLevel ERROR",
                    "Subsystem sftp internal-sftp",
                    "",
                ]
            )
        )
        return config

    def start(self, timeout: float = 15.0) -> Sshd:
        """Start sshd and wait until it sends its banner."""
        if not ipaddress.ip_address(self.address).is_loopback:
            raise ValueError(f"refusing to start sshd on {self.address}: only 127.0.0.0/8 is allowed")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if not self.prefix:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.address)
        make_key(self.host_key, "schulit-test-host")
        self.authorized_keys.touch(mode=0o600)
        config = self._write_config()
        subprocess.run(
            [*self.prefix, SSHD, "-f", str(config), "-E", str(self.state_dir / "sshd.log")],
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.address, self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(
            f"sshd did not start on {self.address}:{self.port}; see {self.state_dir / 'sshd.log'}"
        )

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and process_alive(pid)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the listener (SIGTERM by PID; connections in progress end with their sessions)."""
        stop_process(self.pid(), timeout)


def start_inventory_hosts(inventory: Inventory, state_dir: Path) -> list[str]:
    """One sshd per inventory server (loopback only), the client key and known_hosts: for the demo."""
    if inventory.ssh.key_file is None or inventory.ssh.known_hosts is None:
        raise ValueError("the inventory needs ssh.key_file and ssh.known_hosts for local hosts")
    client_key = make_key(inventory.ssh.key_file, "schulit-demo-admin")
    lines = []
    known = []
    for server in inventory.servers():
        if not ipaddress.ip_address(server.address).is_loopback:
            raise ValueError(f"{server.name}: {server.address} is not a loopback address")
        host = Sshd(state_dir / server.name, server.address, server.port)
        if host.running():
            lines.append(f"sshd {server.name} already running at {server.address}:{server.port}")
        else:
            host.start()
            lines.append(f"sshd {server.name} started at {server.address}:{server.port} (pid {host.pid()})")
        host.authorize(client_key.with_name(client_key.name + ".pub"))
        known.append(host.known_hosts_line())
        Path(server.root).mkdir(parents=True, exist_ok=True)
        (Path(server.root) / "etc/sssd/conf.d").mkdir(parents=True, exist_ok=True)  # as sssd-common has it
    inventory.ssh.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    inventory.ssh.known_hosts.write_text("\n".join(known) + "\n")
    return lines


def stop_inventory_hosts(inventory: Inventory, state_dir: Path) -> list[str]:
    """Stop the demo's sshd instances."""
    lines = []
    for server in inventory.servers():
        host = Sshd(state_dir / server.name, server.address, server.port)
        if host.running():
            host.stop()
            lines.append(f"sshd {server.name} stopped")
    return lines
