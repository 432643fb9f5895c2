"""pytest fixtures: real OpenLDAP slapd servers on loopback, started and stopped by the suite."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from schulit.devservers.slapd import Providers, Slapd, samba_schema

TEST_BASE_DN = "dc=lk-test,dc=schule,dc=example"


def _require_slapd() -> None:
    if shutil.which("slapd") is None and not Path("/usr/sbin/slapd").exists():
        pytest.fail(
            "slapd is not installed: run scripts/install-system-deps.sh (the README's test command does)"
        )


@pytest.fixture
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A fresh, empty slapd (no base entry yet) for one test; fast (dbnosync), killed afterwards. It knows
    Samba's schema too (for inventories with ``[samba] enabled``)."""
    _require_slapd()
    folder = tmp_path_factory.mktemp("slapd")
    server = Slapd(
        folder, base_dn=TEST_BASE_DN, durable=False, extra_schemas=(samba_schema(folder / "schema"),)
    ).start()
    yield server
    server.stop(kill=True)


@pytest.fixture
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Providers]:
    """Two empty slapd replicating to each other (OpenLDAP multi-provider) for one test; killed after it."""
    _require_slapd()
    pair = Providers(tmp_path_factory.mktemp("providers"), base_dn=TEST_BASE_DN, durable=False).start()
    yield pair
    pair.stop(kill=True)
