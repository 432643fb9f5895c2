"""Private mount (and network) namespaces for programs that insist on system paths (sssd, smbd, dnsmasq).

A program started through :func:`sandboxed` sees ``/etc`` as a read-only overlay of the given folders
(first one wins) over the machine's own ``/etc``, and private bind mounts where it keeps state
(``/var/lib/sss``, ``/run``, ...). The machine's files are never written: its NSS, PAM and services stay as
they were. Client programs join the namespace of a running process with :func:`joined` (``nsenter``), so
``getent -s sss`` and ``pamtester`` there talk to the test's sssd and nothing else.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Sandbox:
    """What the namespace looks like: /etc layers, private binds and whether it has its own network."""

    etc_layers: tuple[Path, ...] = ()
    binds: tuple[tuple[Path, str], ...] = ()  # (folder on this machine, path inside)
    own_network: bool = False
    live: tuple[str, ...] | None = None  # folders of the layers (below etc) to bind; None: see live_folders

    def script(self) -> str:
        lines = ["set -e"]
        if self.etc_layers:
            lower = ":".join(str(layer) for layer in (*self.etc_layers, Path("/etc")))
            lines.append(f"mount -t overlay schulit-etc -o lowerdir={shlex.quote(lower)} /etc")
            # an overlay does not follow changes in its layers: the folders that hold files of a layer are
            # bound over the overlay, so files a push replaces later are seen at once
            for layer in self.etc_layers:
                if self.live is None:
                    folders = live_folders(layer)
                else:
                    folders = [layer / name for name in self.live if (layer / name).is_dir()]
                for folder in folders:
                    target = "/etc/" + str(folder.relative_to(layer))
                    lines.append(f"mount --bind {shlex.quote(str(folder))} {shlex.quote(target)}")
        for source, target in self.binds:
            lines.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}")
        if self.own_network:
            lines.append("ip link set lo up")
        lines.append('exec "$@"')
        return "\n".join(lines)


def live_folders(layer: Path) -> list[Path]:
    """Folders below ``layer`` (not the layer itself) that hold files or no folders, parents first."""
    found = []
    for folder in layer.rglob("*"):
        if not folder.is_dir():
            continue
        children = list(folder.iterdir())
        if any(child.is_file() for child in children) or not any(child.is_dir() for child in children):
            found.append(folder)
    return sorted(found)


def sandboxed(sandbox: Sandbox, argv: Sequence[str]) -> list[str]:
    """The command line that runs ``argv`` in a new private namespace laid out as ``sandbox`` says."""
    flags = ["--mount", "--propagation", "private"] + (["--net"] if sandbox.own_network else [])
    return ["unshare", *flags, "sh", "-c", sandbox.script(), "schulit-sandbox", *argv]


def joined(pid: int, argv: Sequence[str], *, network: bool = False) -> list[str]:
    """The command line that runs ``argv`` in the mount (and network) namespace of process ``pid``."""
    flags = [f"--mount=/proc/{pid}/ns/mnt"] + ([f"--net=/proc/{pid}/ns/net"] if network else [])
    return ["nsenter", *flags, "--", *argv]


NSSWITCH = """\
# a school server's NSS: local files, then the directory through sssd
passwd: files sss
group: files sss
shadow: files sss
hosts: files
"""

PAM_SERVICE = """\
# what a school server's login runs: sssd decides (password, then the account's expiry)
auth required pam_sss.so
account required pam_sss.so
password required pam_deny.so
session required pam_permit.so
"""

SERVER_STATE = (
    ("sss", "/var/lib/sss", ("db", "pipes/private", "mc", "pubconf", "gpo_cache", "secrets", "deskprofile")),
    ("log-sssd", "/var/log/sssd", ()),
    ("run", "/run", ("sshd", "samba")),
    ("samba-lib", "/var/lib/samba", ("private",)),
    ("samba-cache", "/var/cache/samba", ()),
    ("samba-log", "/var/log/samba", ()),
)
# what a Debian school server has before the first push (sssd-common ships /etc/sssd/conf.d)
ROOT_FOLDERS = ("etc/sssd/conf.d", "etc/ssl/certs", "etc/samba", "etc/ldap", "srv")
LIVE = ("pam.d", "sssd", "sssd/conf.d", "ssl/certs", "samba", "ldap")


@dataclass
class ServerNamespace:
    """A school server's private world on this machine: the host root's ``etc`` over ``/etc``, its ``srv`` at
    ``/srv``, private state for sssd and Samba, NSS through sss and a PAM service ``schulit-test``.

    A holder process keeps the namespace alive; sshd, sssd, smbd and the test's clients join it by its PID.
    """

    root: Path
    state_dir: Path
    holder: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    PAM_SERVICE_NAME = "schulit-test"

    def start(self) -> ServerNamespace:
        for folder in ROOT_FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        client = self.state_dir / "etc-client"
        (client / "pam.d").mkdir(parents=True, exist_ok=True)
        (client / "nsswitch.conf").write_text(NSSWITCH)
        (client / "pam.d" / self.PAM_SERVICE_NAME).write_text(PAM_SERVICE)
        binds = [(self.root / "srv", "/srv")]
        for name, target, subfolders in SERVER_STATE:
            folder = self.state_dir / name
            for sub in ("", *subfolders):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            (folder).chmod(0o755)
            binds.append((folder, target))
        sandbox = Sandbox(etc_layers=(client, self.root / "etc"), binds=tuple(binds), live=LIVE)
        self.holder = subprocess.Popen(
            sandboxed(sandbox, ["sleep", "infinity"]), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        mine = Path(f"/proc/{self.holder.pid}/ns/mnt")
        while time.monotonic() < deadline:
            if self.holder.poll() is not None:
                raise RuntimeError(f"namespace setup failed: {self.holder.stderr.read().decode()[-2000:]}")
            if Path("/proc/self/ns/mnt").readlink() != mine.readlink() and self._ready():
                return self
            time.sleep(0.05)
        raise RuntimeError("namespace setup timed out")

    def _ready(self) -> bool:
        probe = subprocess.run(
            self.command(["cat", f"/etc/pam.d/{self.PAM_SERVICE_NAME}"]), capture_output=True
        )
        return probe.returncode == 0

    @property
    def pid(self) -> int:
        if self.holder is None:
            raise RuntimeError("namespace not started")
        return self.holder.pid

    def command(self, argv: Sequence[str]) -> list[str]:
        return joined(self.pid, argv)

    def run(
        self, argv: Sequence[str], stdin: str = "", timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )

    def stop(self) -> None:
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait(10)
        self.holder = None
