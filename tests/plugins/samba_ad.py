"""pytest fixture: one real Samba AD domain controller per test session, on its own loopback address.

Provisioned once per session (a few seconds to ~20 s) into a temp folder and kept as a tarball; each test
gets the DC restored to that fresh state and started, and stopped with its whole process tree afterwards.
The folder is removed when the session ends.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from schulit.devservers.samba_ad import SambaAD, SambaMember

CANDIDATE_ADDRESSES = [f"127.0.12.{n}" for n in range(1, 20)]


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
def samba_ad_snapshot() -> Iterator[tuple[SambaAD, Path]]:
    """A DC provisioned once per session (stopped) and a tarball of its fresh state."""
    _require_samba()
    address = next((a for a in CANDIDATE_ADDRESSES if _free(a)), None)
    if address is None:
        pytest.fail("no free 127.0.12.x address for the Samba AD DC")
    folder = Path(tempfile.mkdtemp(prefix="schulit-samba-ad-"))
    folder.chmod(0o711)  # smbd serves a share below it to the domain's users
    dc = SambaAD(folder / "dc", address=address)
    try:
        dc.provision()
        dc.snapshot(folder / "fresh.tar")
        yield dc, folder / "fresh.tar"
    finally:
        dc.stop()
        leftover = dc.processes()
        shutil.rmtree(folder, ignore_errors=True)
    assert not leftover, f"Samba AD DC processes still running after stop: {leftover}"


@pytest.fixture
def samba_ad(samba_ad_snapshot: tuple[SambaAD, Path]) -> Iterator[SambaAD]:
    """A running DC in its freshly provisioned state (realm AD.LK-TEST.EXAMPLE, domain LKTEST).

    sAMAccountNames are unique in the whole domain, so every test gets the fresh domain back (the
    snapshot is restored, ~1-2 s) instead of a corner of a shared one.
    """
    dc, tarball = samba_ad_snapshot
    dc.restore(tarball)
    dc.start()
    try:
        yield dc
    finally:
        dc.stop()
    assert not dc.processes(), "Samba AD DC processes still running after stop"


@pytest.fixture
def ad_base(samba_ad: SambaAD) -> str:
    """Where schulit works in the test domain (it creates the OU)."""
    return f"OU=county,{samba_ad.base_dn}"


@pytest.fixture
def samba_member(samba_ad: SambaAD) -> Iterator[SambaMember]:
    """A member file server of the test domain on its own address (not yet configured or joined)."""
    address = next((a for a in CANDIDATE_ADDRESSES if a != samba_ad.address and _free(a)), None)
    if address is None:
        pytest.fail("no free 127.0.12.x address for the member server")
    folder = Path(tempfile.mkdtemp(prefix="schulit-samba-member-"))
    folder.chmod(0o711)  # the shares below it are entered as the domain's users
    member = SambaMember(folder / "fs1", samba_ad, address=address)
    try:
        yield member
    finally:
        member.stop()
        leftover = member.processes()
        shutil.rmtree(folder, ignore_errors=True)
    assert not leftover, f"member server processes still running after stop: {leftover}"
