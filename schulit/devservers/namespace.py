"""Private mount (and network) namespaces for programs that insist on system paths (sssd, smbd, dnsmasq).

A program started through :func:`sandboxed` sees ``/etc`` as a read-only overlay of the given folders
(first one wins) over the machine's own ``/etc``, and private bind mounts where it keeps state
(``/var/lib/sss``, ``/run``, ...). The machine's files are never written: its NSS, PAM and services stay as
they were. Client programs join the namespace of a running process with :func:`joined` (``nsenter``), so
``getent -s sss`` and ``pamtester`` there talk to the test's sssd and nothing else.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Sandbox:
    """What the namespace looks like: /etc layers, private binds and whether it has its own network."""

    etc_layers: tuple[Path, ...] = ()
    binds: tuple[tuple[Path, str], ...] = ()  # (folder on this machine, path inside)
    own_network: bool = False
    extra: tuple[str, ...] = field(default=())  # further shell lines run before the program

    def script(self) -> str:
        lines = ["set -e"]
        if self.etc_layers:
            lower = ":".join(str(layer) for layer in (*self.etc_layers, Path("/etc")))
            lines.append(f"mount -t overlay schulit-etc -o lowerdir={shlex.quote(lower)} /etc")
            # an overlay does not follow changes in its layers: the folders that hold files of a layer are
            # bound over the overlay, so files a push replaces later are seen at once
            for layer in self.etc_layers:
                for folder in live_folders(layer):
                    target = "/etc/" + str(folder.relative_to(layer))
                    lines.append(f"mount --bind {shlex.quote(str(folder))} {shlex.quote(target)}")
        for source, target in self.binds:
            lines.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}")
        if self.own_network:
            lines.append("ip link set lo up")
        lines.extend(self.extra)
        lines.append('exec "$@"')
        return "\n".join(lines)


def live_folders(layer: Path) -> list[Path]:
    """Folders below ``layer`` (not the layer itself) that directly hold files, parents first."""
    return sorted(
        folder
        for folder in layer.rglob("*")
        if folder.is_dir() and any(child.is_file() for child in folder.iterdir())
    )


def sandboxed(sandbox: Sandbox, argv: Sequence[str]) -> list[str]:
    """The command line that runs ``argv`` in a new private namespace laid out as ``sandbox`` says."""
    flags = ["--mount", "--propagation", "private"] + (["--net"] if sandbox.own_network else [])
    return ["unshare", *flags, "sh", "-c", sandbox.script(), "schulit-sandbox", *argv]


def joined(pid: int, argv: Sequence[str], *, network: bool = False) -> list[str]:
    """The command line that runs ``argv`` in the mount (and network) namespace of process ``pid``."""
    flags = [f"--mount=/proc/{pid}/ns/mnt"] + ([f"--net=/proc/{pid}/ns/net"] if network else [])
    return ["nsenter", *flags, "--", *argv]
