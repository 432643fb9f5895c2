"""The real sssd of a school server, on the files a push left below the host's root, in its namespace.

sssd (daemonised, logs in the namespace's private /var/log/sssd) joins a :class:`ServerNamespace`, where
``/etc/sssd`` is the host root's, ``/var/lib/sss`` private and NSS and PAM point at sss. :meth:`getent` and
:meth:`login` (pamtester: ``authenticate`` then ``acct_mgmt``, as a login does) ask it from inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schulit.devservers.namespace import ServerNamespace
from schulit.devservers.slapd import stop_process

RESTART = (
    'p=$(cat /run/sssd.pid 2>/dev/null); if [ -n "$p" ]; then kill $p; '
    "for i in $(seq 100); do [ -e /proc/$p ] || break; sleep 0.1; done; fi; "
    "rm -rf /var/lib/sss/db/* /var/lib/sss/mc/* /var/lib/sss/pipes/nss /var/lib/sss/pipes/pam; "
    "sssd -D --logger=files -d 0x0070 || exit 1; "
    "for i in $(seq 100); do [ -S /var/lib/sss/pipes/nss ] && [ -S /var/lib/sss/pipes/pam ] && exit 0; "
    "sleep 0.1; done; "
    "exit 1"
)


def restart_command() -> str:
    """A shell command that (re)starts sssd inside the namespace and waits for its NSS and PAM pipes: what
    ``systemctl restart sssd`` does on a school server (also used as the test inventory's handler)."""
    return f"sh -c '{RESTART}'"


@dataclass
class Sssd:
    """sssd (daemonised, pid file in the namespace's /run) in ``namespace``; stopped by its PID."""

    namespace: ServerNamespace

    @property
    def log_dir(self) -> Path:
        return self.namespace.state_dir / "log-sssd"

    def start(self) -> Sssd:
        """Start (or restart) sssd on the pushed sssd.conf."""
        done = self.namespace.run(["sh", "-c", RESTART], timeout=30)
        if done.returncode != 0:
            logs = "".join(p.read_text()[-1500:] for p in sorted(self.log_dir.glob("*.log")))
            raise RuntimeError(f"sssd did not start: {done.stdout}{done.stderr}{logs}")
        return self

    def pid(self) -> int | None:
        try:
            return int((self.namespace.state_dir / "run" / "sssd.pid").read_text().strip())
        except (OSError, ValueError):
            return None

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
        self.start()

    def stop(self, timeout: float = 15.0) -> None:
        stop_process(self.pid(), timeout)
