"""pytest fixtures: real OpenSSH sshd "school servers" on loopback, started and stopped by the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from schulit.devservers.sshd import Sshd, make_key


@pytest.fixture(scope="session")
def ssh_client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The admin's ed25519 key (0600) that every test host accepts."""
    return make_key(tmp_path_factory.mktemp("client") / "id_ed25519", "schulit-test-admin")


@pytest.fixture(scope="session")
def sshd_hosts(tmp_path_factory: pytest.TempPathFactory, ssh_client_key: Path) -> Iterator[list[Sshd]]:
    """Four sshd instances on 127.0.20.1-4, free ports, own host keys, key-only login."""
    hosts = []
    try:
        for number in range(1, 5):
            host = Sshd(tmp_path_factory.mktemp(f"sshd{number}"), f"127.0.20.{number}").start()
            host.authorize(ssh_client_key.with_name(ssh_client_key.name + ".pub"))
            hosts.append(host)
        yield hosts
    finally:
        for host in hosts:
            host.stop()


@pytest.fixture(scope="session")
def known_hosts_file(tmp_path_factory: pytest.TempPathFactory, sshd_hosts: list[Sshd]) -> Path:
    """A known_hosts file with the keys of all test hosts."""
    path = tmp_path_factory.mktemp("known") / "known_hosts"
    path.write_text("".join(host.known_hosts_line() + "\n" for host in sshd_hosts))
    return path
