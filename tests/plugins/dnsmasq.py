"""pytest fixture: real dnsmasq instances on a pushed host root, each in its own network namespace."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from schulit.devservers.dnsmasq import Dnsmasq


@pytest.fixture
def dnsmasq_on(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], Dnsmasq]]:
    """``dnsmasq_on(host_root)`` starts dnsmasq as Debian's unit does on the files pushed to that root."""
    if shutil.which("dnsmasq") is None and not Path("/usr/sbin/dnsmasq").exists():
        pytest.fail("dnsmasq is not installed: run scripts/install-system-deps.sh")
    started: list[Dnsmasq] = []

    def start(root: Path) -> Dnsmasq:
        server = Dnsmasq(root, tmp_path_factory.mktemp("dnsmasq")).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
