"""The real sssd of a school server, on the files a push left below the host's root, in its namespace.

sssd (``-i``: in the foreground, logging to stderr) joins a :class:`ServerNamespace`, where ``/etc/sssd`` is
the host root's, ``/var/lib/sss`` private and NSS and PAM point at sss. :meth:`getent` and :meth:`login`
(pamtester: ``authenticate`` then ``acct_mgmt``, as a login does) ask it from inside the same namespace.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from schulit.devservers.namespace import ServerNamespace


@dataclass
class Sssd:
    """sssd in ``namespace``; stopped by its PID."""

    namespace: ServerNamespace
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_file(self) -> Path:
        return self.namespace.state_dir / "sssd.log"

    def start(self, timeout: float = 20.0) -> Sssd:
        for cache in (self.namespace.state_dir / "sss" / "db", self.namespace.state_dir / "sss" / "mc"):
            shutil.rmtree(cache, ignore_errors=True)  # a restart starts with an empty cache, like a new host
            cache.mkdir(parents=True)
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            self.namespace.command(["sssd", "-i", "--logger=stderr", "-d", "0x0070"]),
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + timeout
        pipe = self.namespace.state_dir / "sss" / "pipes" / "nss"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"sssd exited ({self.process.returncode}): {self.log_file.read_text()[-3000:]}"
                )
            if pipe.exists():
                return self
            time.sleep(0.1)
        raise RuntimeError(f"sssd did not come up within {timeout:g} s; see {self.log_file}")

    def getent(self, database: str, key: str) -> str:
        """``getent -s sss DATABASE KEY``: the entry line, or "" if sssd does not know it."""
        done = self.namespace.run(["getent", "-s", "sss", database, key])
        return done.stdout.strip() if done.returncode == 0 else ""

    def login(self, user: str, password: str) -> bool:
        """pamtester through pam_sss: True if both the password and the account check pass."""
        done = self.namespace.run(
            ["pamtester", "-v", ServerNamespace.PAM_SERVICE_NAME, user, "authenticate", "acct_mgmt"],
            stdin=password + "\n",
        )
        return done.returncode == 0

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
