"""Two OpenLDAP providers replicating to each other (multi-provider syncrepl), started by the suite.

A provider killed or frozen during a sync: the run goes on on the other provider (or ends with a clean
error), nothing is written twice, and after the provider is back the next run converges to exactly what one
clean run on one server produces, on both providers. ``directory check-replicas`` compares the providers
entry by entry and repairs an entry changed behind replication's back.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ldap3
import pytest

from schulit.accounts.lock import LEASE_RDN, Holder
from schulit.devservers.slapd import Providers, Slapd
from tests.integration import test_faults as faults
from tests.integration.test_accounts_sync import County
from tests.integration.test_faults import PUPILS, ROWS, accounts, assert_converged, start, wait_for_accounts

clean_dump = faults.clean_dump  # the fixtures, shared
_no_run_left_behind = faults._no_run_left_behind

LOGIN_TIMEOUT = 1  # directory.timeout: a frozen provider is given up within seconds


def replicated_county(root: Path, pair: Providers, schools: tuple[str, ...] = ("gs-a",)) -> County:
    """A county whose directory.url lists both providers (A first)."""
    county = County(root, pair.servers[0], schools=schools)
    config = root / "county.toml"
    text = config.read_text()
    urls = ", ".join(f'"{url}"' for url in pair.urls)
    text = text.replace(f'url = "{pair.servers[0].url}"', f"url = [{urls}]\ntimeout = {LOGIN_TIMEOUT}")
    config.write_text(text)
    return county


def on(county: County, server: Slapd) -> County:
    """The same county, read through one provider (for dumps and counts)."""
    view = copy.copy(county)
    view.slapd = server
    return view


def exists(county: County, dn: str) -> bool:
    with county.connection() as conn:
        return bool(conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["1.1"]))


def lease_holder(county: County) -> Holder | None:
    with county.connection() as conn:
        conn.search(
            f"{LEASE_RDN},ou=schulit,{county.slapd.base_dn}",
            "(objectClass=*)",
            ldap3.BASE,
            attributes=["description"],
        )
        if not conn.entries:
            return None
        return Holder.parse(str(conn.entries[0].description.value))


def replicated_lease(county: County, timeout: float = 5) -> Holder | None:
    """The lease as this provider has it, waiting up to ``timeout`` for replication to bring it (its
    consumer may still be in its first refresh, or retrying its first connect, when the writes begin)."""
    deadline = time.monotonic() + timeout
    while (holder := lease_holder(county)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return holder


def wait_in_sync(county: County, pair: Providers, timeout: float = 60) -> list[str]:
    """Wait until both providers hold the same entries; return that dump."""
    deadline = time.monotonic() + timeout
    while True:
        dumps = [on(county, server).dump() for server in pair.servers]
        if dumps[0] == dumps[1]:
            return dumps[0]
        assert time.monotonic() < deadline, "the providers did not converge"
        time.sleep(0.5)


def assert_no_duplicates(county: County) -> None:
    found = accounts(county)
    assert len(found) == PUPILS
    assert len({uid for _dn, uid, _key, _pw in found}) == PUPILS
    assert len({key for _dn, _uid, key, _pw in found}) == PUPILS
    with county.connection() as conn:
        entries = conn.extend.standard.paged_search(
            county.slapd.base_dn, "(objectClass=posixAccount)", attributes=["uidNumber"], generator=False
        )
        numbers = [e["raw_attributes"]["uidNumber"][0] for e in entries if e.get("type") == "searchResEntry"]
    assert len(numbers) == len(set(numbers)) == PUPILS


@pytest.fixture
def big_replicated(providers: Providers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> County:
    monkeypatch.setenv("SCHULIT_LOCK_FILE", str(tmp_path / "schulit.lock"))
    county = replicated_county(tmp_path / "inventory", providers)
    county.pupils("gs-a", ROWS)
    return county


def assert_clean_end(code: int, stderr: str) -> None:
    """Finished on B (exit 0, having said so) or stopped with one clear error line (exit 1)."""
    assert "Traceback" not in stderr
    assert code in (0, 1), (code, stderr)
    if code == 0:
        assert "is gone" in stderr and "continuing on" in stderr, stderr
    else:
        lines = [line for line in stderr.splitlines() if line.strip() and "is gone" not in line]
        assert len(lines) == 1 and lines[0].startswith("schulit: error: "), stderr


def test_provider_killed_at_30_percent_finishes_on_the_other_and_converges(
    big_replicated: County, providers: Providers, clean_dump: list[str]
) -> None:
    county = big_replicated
    a, b = providers.servers
    run = start(county.root, "first", "accounts", "sync", "--yes")
    wait_for_accounts(on(county, a), PUPILS * 3 // 10, run)
    lease = replicated_lease(on(county, b))  # taken on A, replicated to B: every admin machine sees it
    assert lease is not None and lease.pid == run.process.pid, lease
    a.stop(kill=True)  # a crash: in-flight writes may be committed on A and never replicated
    code = run.wait(120)
    stderr = run.err()
    print(f"first run: exit {code}: {stderr.strip()[-300:]}")  # which of the two allowed ends (pytest -s)
    assert_clean_end(code, stderr)
    if code == 0:
        assert_converged(on(county, b), clean_dump)  # finished on B alone
    a.start()  # same data folder and port: A comes back and catches up
    rerun = county.sync("--lock-timeout", "0")
    assert rerun.exit_code == 0, rerun.output
    assert wait_in_sync(county, providers) == clean_dump
    for server in providers.servers:
        assert_converged(on(county, server), clean_dump)
        assert_no_duplicates(on(county, server))
    assert county.run("directory", "check-replicas").exit_code == 0


def test_frozen_provider_midway_is_gone_within_the_timeout(
    big_replicated: County, providers: Providers, clean_dump: list[str]
) -> None:
    """SIGSTOP: connections stay open and nothing answers. The overdue answer (6 × timeout) ends the
    attempt, a fresh bind gets no answer within the timeout: the run goes on on B."""
    county = big_replicated
    a, b = providers.servers
    run = start(county.root, "first", "accounts", "sync", "--yes")
    wait_for_accounts(on(county, a), PUPILS * 3 // 10, run)
    a.freeze()
    try:
        code = run.wait(120)
        stderr = run.err()
        assert code == 0, stderr
        assert_clean_end(code, stderr)
        assert_converged(on(county, b), clean_dump)
    finally:
        a.thaw()
    rerun = county.sync("--lock-timeout", "0")
    assert rerun.exit_code == 0, rerun.output
    assert wait_in_sync(county, providers) == clean_dump
    for server in providers.servers:
        assert_no_duplicates(on(county, server))


def test_frozen_first_provider_is_skipped_at_the_start(providers: Providers, tmp_path: Path) -> None:
    county = replicated_county(tmp_path / "inventory", providers)
    county.pupils("gs-a", ROWS[:20])
    a, b = providers.servers
    a.freeze()
    try:
        started = time.monotonic()
        result = county.sync()
        elapsed = time.monotonic() - started
        assert result.exit_code == 0, result.output
        assert elapsed < 6 * LOGIN_TIMEOUT, elapsed  # given up after one bind timeout, not 6 × or forever
        assert len(accounts(on(county, b))) == 20
    finally:
        a.thaw()
    wait_in_sync(county, providers)
    assert len(accounts(on(county, a))) == 20


@pytest.fixture
def synced(providers: Providers, tmp_path: Path) -> Iterator[County]:
    county = replicated_county(tmp_path / "inventory", providers, schools=("gs-a", "gs-b"))
    county.pupils("gs-a", ROWS[:30])
    county.pupils("gs-b", ROWS[30:60])
    assert county.sync().exit_code == 0
    wait_in_sync(county, providers)
    yield county


def behind_replication(server: Slapd, edit: dict[str, str | None]) -> None:
    """Change entries on one provider's database files directly: ``{dn: None}`` deletes the entry,
    ``{dn: "attr: old -> attr: new"}`` changes a line. Replication never hears of it."""
    server.stop()
    blocks = server.slapcat().strip().split("\n\n")
    kept = []
    for block in blocks:
        dn = block.splitlines()[0].removeprefix("dn: ")
        if dn in edit and edit[dn] is None:
            continue
        if dn in edit:
            old, new = str(edit[dn]).split(" -> ")
            assert old in block
            block = block.replace(old, new)
        kept.append(block)
    server.slapadd("\n\n".join(kept) + "\n", replace=True)
    server.start()


def test_check_replicas_finds_and_repairs_entries_changed_behind_replications_back(
    synced: County, providers: Providers
) -> None:
    county = synced
    a, b = providers.servers
    result = county.run("directory", "check-replicas")
    assert result.exit_code == 0, result.output
    assert "0 differences" in result.output
    deleted, changed = (dn for dn, *_ in accounts(on(county, a))[:2])
    behind_replication(b, {deleted: None, changed: "givenName: Kind -> givenName: Falsch"})
    assert on(county, b).entry(deleted.split(",")[0][4:]) is None

    found = county.run("directory", "check-replicas", "--settle", "0.5")
    assert found.exit_code == 2, found.output
    assert f"{deleted}: missing on {b.url}" in found.output
    assert f"{changed}: different on" in found.output
    assert "2 differences" in found.output

    repaired = county.run("directory", "check-replicas", "--repair", "--settle", "0.5")
    assert repaired.exit_code == 0, repaired.output
    assert "2 repaired, 0 failed" in repaired.output
    assert wait_in_sync(county, providers) == on(county, a).dump()
    again = county.run("directory", "check-replicas")
    assert again.exit_code == 0, again.output
    assert county.run("accounts", "plan").exit_code == 0


def test_a_lease_held_by_another_machine_keeps_the_run_out(synced: County, providers: Providers) -> None:
    county = synced
    a, b = providers.servers
    lease_dn = f"{LEASE_RDN},ou=schulit,{county.slapd.base_dn}"
    until = datetime.now(UTC) + timedelta(hours=1)
    other = Holder("f00d", "admin-pc-2", 4242, until).value()
    with on(county, b).connection() as conn:  # taken through the other provider: it replicates to A
        assert conn.add(lease_dn, ["top", "applicationProcess"], {"cn": "run-lock", "description": other})
    county.pupils("gs-a", [*ROWS[:30], ROWS[60]])
    deadline = time.monotonic() + 10
    while not exists(on(county, a), lease_dn) and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = county.sync("--lock-timeout", "0")
    assert refused.exit_code == 1
    assert "admin-pc-2" in refused.output and "4242" in refused.output
    assert len(accounts(on(county, a))) == 60, "nothing written"

    expired = Holder("f00d", "admin-pc-2", 4242, datetime.now(UTC) - timedelta(minutes=1)).value()
    with on(county, a).connection() as conn:
        assert conn.modify(lease_dn, {"description": [(ldap3.MODIFY_REPLACE, [expired])]})
    taken = county.sync("--lock-timeout", "0")
    assert taken.exit_code == 0, taken.output
    assert len(accounts(on(county, a))) == 61
    wait_in_sync(county, providers)
    for server in providers.servers:  # released: the entry is gone again, everywhere
        assert not exists(on(county, server), lease_dn)
