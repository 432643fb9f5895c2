"""pytest fixture: one real Samba AD domain controller per test session, on its own loopback address.

Provisioned once (a few seconds to ~20 s) into a temp folder, started, and stopped with its whole process
tree when the session ends; the folder is removed afterwards. Tests keep apart by working below their own
OU (``ad_base``), so the DC needs no reset between tests.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from schulit.devservers.samba_ad import SambaAD

CANDIDATE_ADDRESSES = [f"127.0.12.{n}" for n in range(1, 20)]
_counter = itertools.count(1)


def _free(address: str) -> bool:
    for port in (389, 636, 88, 445):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.2)
            if probe.connect_ex((address, port)) == 0:
                return False
    return True


def _require_samba() -> None:
    missing = [p for p in ("samba", "samba-tool", "kinit", "smbclient", "unshare") if shutil.which(p) is None]
    if missing or not Path("/usr/share/samba/setup/ad-schema").is_dir():
        pytest.fail(
            f"Samba AD DC tools missing ({', '.join(missing) or 'samba-ad-provision'}): "
            "run scripts/install-system-deps.sh (the README's test command does)"
        )


@pytest.fixture(scope="session")
def samba_ad() -> Iterator[SambaAD]:
    """A running Samba AD DC (realm AD.LK-TEST.EXAMPLE, domain LKTEST), Administrator's password 0600."""
    _require_samba()
    address = next((a for a in CANDIDATE_ADDRESSES if _free(a)), None)
    if address is None:
        pytest.fail("no free 127.0.12.x address for the Samba AD DC")
    folder = Path(tempfile.mkdtemp(prefix="schulit-samba-ad-"))
    folder.chmod(0o711)  # smbd serves a share below it to the domain's users
    dc = SambaAD(folder / "dc", address=address)
    try:
        dc.provision()
        dc.start()
        yield dc
    finally:
        dc.stop()
        leftover = dc.processes()
        shutil.rmtree(folder, ignore_errors=True)
    assert not leftover, f"Samba AD DC processes still running after stop: {leftover}"


@pytest.fixture
def ad_base(samba_ad: SambaAD) -> str:
    """A DN below the domain that no other test uses (schulit creates it as an OU)."""
    return f"OU=t{next(_counter)},{samba_ad.base_dn}"
