"""A real dnsmasq started the way Debian's unit starts it, on the files a push left below a host's root.

Debian's ``dnsmasq.service`` runs ``dnsmasq -7 /etc/dnsmasq.d,.dpkg-dist,.dpkg-old,.dpkg-new
--local-service`` (``/etc/default/dnsmasq``) after ``--test`` with the same options. Here the host root's
``etc`` is laid over ``/etc`` in a private mount namespace with its own network namespace (only ``lo``,
so DHCP's port 67 and DNS's port 53 are private), leases and log in the state folder. :meth:`query` asks it
over DNS from inside that network namespace (dnspython).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from schulit.devservers.namespace import Sandbox, joined, sandboxed

DEBIAN_CONFIG_DIR = "/etc/dnsmasq.d,.dpkg-dist,.dpkg-old,.dpkg-new"

_QUERY = """
import sys, dns.message, dns.query, dns.rcode
question = dns.message.make_query(sys.argv[1], sys.argv[2])
answer = dns.query.udp(question, "127.0.0.1", timeout=2, port=53)
print(dns.rcode.to_text(answer.rcode()))
for rrset in answer.answer:
    for item in rrset:
        print(item.to_text())
"""


def debian_test_command(config_dir: str = DEBIAN_CONFIG_DIR) -> list[str]:
    """What the unit's checkconfig runs (``/etc/init.d/dnsmasq checkconfig``)."""
    return ["dnsmasq", "--test", "-7", config_dir]


@dataclass
class Dnsmasq:
    """dnsmasq serving ``root``'s pushed files; stopped (and restarted) by its PID."""

    root: Path
    state_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    starts: int = 0

    @property
    def sandbox(self) -> Sandbox:
        return Sandbox(etc_layers=(self.root / "etc",), own_network=True)

    @property
    def log_file(self) -> Path:
        return self.state_dir / "dnsmasq.log"

    def check(self) -> subprocess.CompletedProcess[str]:
        """``dnsmasq --test`` with Debian's conf-dir, on the pushed files."""
        return subprocess.run(
            sandboxed(self.sandbox, debian_test_command()), capture_output=True, text=True, timeout=30
        )

    def start(self, timeout: float = 10.0) -> Dnsmasq:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            "dnsmasq",
            "--keep-in-foreground",
            "-7",
            DEBIAN_CONFIG_DIR,
            "--local-service",
            "--no-resolv",
            f"--log-facility={self.log_file}",
            f"--dhcp-leasefile={self.state_dir / 'leases'}",
            f"--pid-file={self.state_dir / 'dnsmasq.pid'}",
        ]
        self.process = subprocess.Popen(
            sandboxed(self.sandbox, argv),
            stdout=subprocess.DEVNULL,
            stderr=(self.state_dir / "stderr.log").open("ab"),
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dnsmasq exited ({self.process.returncode}): "
                    + (self.state_dir / "stderr.log").read_text()[-2000:]
                )
            try:
                self.query("localhost")
                return self
            except (RuntimeError, subprocess.TimeoutExpired):
                time.sleep(0.1)
        raise RuntimeError(f"dnsmasq did not answer within {timeout:g} s; see {self.log_file}")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("dnsmasq is not running")
        return self.process.pid

    def query(self, name: str, rtype: str = "A") -> tuple[str, list[str]]:
        """(rcode, answers) for ``name`` from this dnsmasq."""
        done = subprocess.run(
            joined(self.pid, [sys.executable, "-c", _QUERY, name, rtype], network=True),
            capture_output=True,
            text=True,
            timeout=10,
        )
        if done.returncode != 0:
            raise RuntimeError(f"DNS query failed: {done.stderr.strip()[-500:]}")
        lines = done.stdout.split()
        return lines[0], lines[1:]

    def reload(self) -> None:
        """SIGHUP, as ``systemctl reload dnsmasq`` sends it: hosts files are re-read."""
        os.kill(self.pid, signal.SIGHUP)
        time.sleep(0.3)

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
