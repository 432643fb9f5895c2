"""The real smbd of a school server, on the pushed smb.conf, in its namespace; smbclient as the client.

smbd joins a :class:`ServerNamespace` (``/etc/samba``, ``/etc/ldap`` from the host root; ``/var/lib/samba``,
``/var/cache/samba``, ``/run/samba`` private; users and groups through sssd), listens on 127.0.0.1 and a
free port, in the foreground, stopped by its PID. The ldapsam secret is in
secrets.tdb as the push's handler put it there (``smbpasswd -W``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

from schulit.devservers.namespace import ServerNamespace
from schulit.devservers.slapd import free_port


@dataclass
class Smbd:
    """smbd in ``namespace`` on ``address``:``port``."""

    namespace: ServerNamespace
    address: str = "127.0.0.1"
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 20.0) -> Smbd:
        self.port = self.port or free_port(self.address)
        log = (self.namespace.state_dir / "smbd.log").open("ab")
        argv = [
            "smbd",
            "--foreground",
            "--no-process-group",
            "--debug-stdout",
            "-d",
            "2",
            f"--option=smb ports={self.port}",
            "--option=interfaces=lo",  # Samba binds only addresses an interface has: lo's 127.0.0.1
            "--option=bind interfaces only=yes",
        ]
        # its own session: smbd signals its whole process group when it ends, never the test's
        self.process = subprocess.Popen(
            self.namespace.command(argv), stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                text = (self.namespace.state_dir / "smbd.log").read_text(errors="replace")
                raise RuntimeError(f"smbd exited ({self.process.returncode}): {text[-3000:]}")
            try:
                with socket.create_connection((self.address, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"smbd did not listen on {self.address}:{self.port} within {timeout:g} s")

    def client(
        self, share: str, user: str, password: str, command: str = "ls"
    ) -> subprocess.CompletedProcess[str]:
        """``smbclient //address/share`` as ``user`` (password in the environment, never argv), SMB3."""
        return subprocess.run(
            [
                "smbclient",
                f"//{self.address}/{share}",
                "-p",
                str(self.port),
                "-m",
                "SMB3",
                "--configfile=/dev/null",
                "-c",
                command,
            ],
            env={**os.environ, "USER": user, "PASSWD": password},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def opens(self, share: str, user: str, password: str) -> bool:
        return self.client(share, user, password).returncode == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
