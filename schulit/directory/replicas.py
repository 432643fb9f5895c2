"""Do the replication providers hold the same directory? ``schulit directory check-replicas [--repair]``.

Equal ``contextCSN`` values do not prove it: a provider killed while an add was in flight can keep that
entry committed and never replicated, with both contextCSNs equal. So every provider's subtree below the
base DN is read (DN, ``entryCSN`` and the attributes schulit manages) and the entries are compared.

Memory stays bounded by the largest unit compared at once: the base's direct children, then each subtree
below them one by one (every school's subtree on its own), one fingerprint (16 bytes + entryCSN) per entry
and provider. Differences seen in the first pass are read again after a short pause, so that a change
still on its way (replication lag is milliseconds) is not reported.

The winning version of an entry: where it is missing, the providers that have it (a delete that did not
replicate cannot be told from an add that did not: schulit's next sync deactivates what should not be
there); where it differs, the one with the newest ``entryCSN`` (a tie: the first provider in
``directory.url``). ``--repair`` writes the winning version to each provider that lacks it, through that
provider, as an ordinary write that then replicates everywhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import ldap3

from schulit.directory.connection import connect, disconnect, pinned, provider_urls
from schulit.directory.fastsearch import paged_search
from schulit.errors import DirectoryError
from schulit.inventory import DirectorySettings

MANAGED_ATTRIBUTES = [
    "objectClass",
    "uid",
    "cn",
    "sn",
    "givenName",
    "displayName",
    "uidNumber",
    "gidNumber",
    "homeDirectory",
    "loginShell",
    "employeeNumber",
    "employeeType",
    "departmentNumber",
    "ou",
    "mail",
    "userPassword",
    "description",
    "shadowExpire",
    "memberUid",
    "dc",
    "o",
]
READ_ATTRIBUTES = [*MANAGED_ATTRIBUTES, "entryCSN"]
SETTLE_SECONDS = 2.0
Unit = tuple[str, str]  # (base, scope)


@dataclass(frozen=True)
class Version:
    """One provider's copy of an entry: its entryCSN and a fingerprint of the managed attributes."""

    csn: str
    fingerprint: bytes


@dataclass
class Difference:
    """An entry that is missing on some providers or differs between them."""

    dn: str
    kind: str  # "missing" or "different"
    winner: str  # the provider whose version wins
    behind: list[str]  # providers to be rewritten
    repaired: bool = False
    error: str = ""

    def describe(self) -> str:
        what = "missing on" if self.kind == "missing" else "different on"
        return f"{self.dn}: {what} {', '.join(self.behind)} (the version of {self.winner} wins)"


@dataclass
class ReplicaReport:
    """What ``check_replicas`` found."""

    providers: list[str]
    entries: int = 0
    differences: list[Difference] = field(default_factory=list)


def fingerprint(attributes: dict[str, list[str]]) -> Version:
    """Order-independent fingerprint of the managed attributes (names case-insensitive)."""
    csn = (attributes.get("entryCSN") or [""])[0]
    digest = hashlib.blake2b(digest_size=16)
    for name in sorted(a.lower() for a in attributes if a != "entryCSN" and attributes[a]):
        values = next(v for a, v in attributes.items() if a.lower() == name)
        digest.update(name.encode() + b"\0" + b"\1".join(sorted(v.encode() for v in values)) + b"\2")
    return Version(csn, digest.digest())


def units(connections: list[ldap3.Connection], base_dn: str) -> Iterator[Unit]:
    """The base entry, its children, then each child's subtree; ``ou=schools`` school by school.

    Children are collected from every provider: a subtree one provider lacks is still compared.
    """
    yield base_dn, ldap3.BASE
    yield base_dn, ldap3.LEVEL
    children = _children(connections, base_dn)
    for child in children:
        if child.lower().startswith("ou=schools,"):
            yield from ((school, ldap3.SUBTREE) for school in _children(connections, child))
        else:
            yield from ((grandchild, ldap3.SUBTREE) for grandchild in _children(connections, child))


def _children(connections: list[ldap3.Connection], dn: str) -> list[str]:
    found: dict[str, str] = {}
    for connection in connections:
        for child, _attributes in paged_search(connection, dn, "(objectClass=*)", ["1.1"], ldap3.LEVEL):
            found.setdefault(child.lower(), child)
    return sorted(found.values(), key=str.lower)


def read_unit(connection: ldap3.Connection, unit: Unit) -> dict[str, tuple[str, Version]]:
    """{dn lowercased: (dn, version)} of one unit on one provider."""
    base, scope = unit
    page_size = 0 if scope == ldap3.SUBTREE else 1000  # see schulit.accounts.scan.read_units: sub-base pages
    return {
        dn.lower(): (dn, fingerprint(attributes))
        for dn, attributes in paged_search(
            connection, base, "(objectClass=*)", READ_ATTRIBUTES, scope, page_size=page_size
        )
    }


def compare(urls: list[str], copies: list[dict[str, tuple[str, Version]]]) -> list[Difference]:
    """The differences among the providers' copies of one unit."""
    differences = []
    for key in sorted(set().union(*copies)):
        present = [(url, copy[key]) for url, copy in zip(urls, copies, strict=True) if key in copy]
        dn = present[0][1][0]
        if len(present) < len(urls):
            winner = max(present, key=lambda item: item[1][1].csn)[0]
            behind = [url for url, copy in zip(urls, copies, strict=True) if key not in copy]
            differences.append(Difference(dn, "missing", winner, behind))
            continue
        versions = [version for _url, (_dn, version) in present]
        if len({v.fingerprint for v in versions}) == 1 and len({v.csn for v in versions}) == 1:
            continue
        newest = max(v.csn for v in versions)
        winner_index = next(i for i, v in enumerate(versions) if v.csn == newest)
        won = versions[winner_index]
        behind = [url for url, version in zip(urls, versions, strict=True) if version != won]
        differences.append(Difference(dn, "different", urls[winner_index], behind))
    return differences


def check_replicas(
    settings: DirectorySettings,
    *,
    settle: float = SETTLE_SECONDS,
    progress: Callable[[str], None] | None = None,
) -> ReplicaReport:
    """Compare every provider of ``settings.url``; raises DirectoryError if one cannot be read."""
    urls = provider_urls(settings.url)
    report = ReplicaReport(urls)
    connections = _open_all(settings, urls)
    try:
        suspects: list[Difference] = []
        for unit in units(connections, settings.base_dn):
            copies = [read_unit(connection, unit) for connection in connections]
            report.entries += len(set().union(*copies))
            suspects += compare(urls, copies)
            if progress is not None:
                progress(unit[0])
        if suspects and settle > 0:
            time.sleep(settle)
        for suspect in suspects:
            copies = [read_unit(connection, (suspect.dn, ldap3.BASE)) for connection in connections]
            report.differences += compare(urls, copies)
    finally:
        for connection in connections:
            with contextlib.suppress(Exception):
                disconnect(connection)
    return report


def _open_all(settings: DirectorySettings, urls: Iterable[str]) -> list[ldap3.Connection]:
    connections: list[ldap3.Connection] = []
    try:
        for url in urls:
            connections.append(connect(pinned(settings, url), strategy=ldap3.SYNC, bulk_read=True))
    except DirectoryError:
        for connection in connections:
            disconnect(connection)
        raise
    return connections


def repair(settings: DirectorySettings, differences: list[Difference]) -> None:
    """Write each difference's winning version to the providers behind; parents before children."""
    urls = provider_urls(settings.url)
    connections = {url: connect(pinned(settings, url)) for url in urls}
    try:
        for difference in sorted(differences, key=lambda d: d.dn.count(",")):
            winning = _read_entry(connections[difference.winner], difference.dn)
            if winning is None:
                difference.error = f"gone from {difference.winner} meanwhile"
                continue
            errors = [_rewrite(connections[url], difference.dn, winning) for url in difference.behind]
            difference.error = "; ".join(e for e in errors if e)
            difference.repaired = not difference.error
    finally:
        for connection in connections.values():
            disconnect(connection)


def _read_entry(connection: ldap3.Connection, dn: str) -> dict[str, list[bytes]] | None:
    ok, _result, response, _ = connection.search(
        dn, "(objectClass=*)", ldap3.BASE, attributes=MANAGED_ATTRIBUTES
    )
    if not ok or not response:
        return None
    return {name: list(values) for name, values in response[0]["raw_attributes"].items() if values}


def _rewrite(connection: ldap3.Connection, dn: str, winning: dict[str, list[bytes]]) -> str:
    """Add the entry, or replace its managed attributes; '' on success, else the server's answer."""
    current = _read_entry(connection, dn)
    url = connection.server.name
    if current is None:
        classes = winning.get("objectClass", [])
        attributes = {name: values for name, values in winning.items() if name != "objectClass"}
        ok, result, _, _ = connection.add(dn, classes, attributes)
    else:
        changes: dict[str, list[tuple[str, list[bytes]]]] = {}
        wanted = {name.lower(): (name, values) for name, values in winning.items()}
        have = {name.lower(): values for name, values in current.items()}
        for key, (name, values) in wanted.items():
            if sorted(have.get(key, [])) != sorted(values):
                changes[name] = [(ldap3.MODIFY_REPLACE, values)]
        for key in have.keys() - wanted.keys():
            changes[key] = [(ldap3.MODIFY_REPLACE, [])]
        if not changes:  # the same attributes, another entryCSN: touch it so that one version replicates
            first = next(iter(wanted.values()))
            changes[first[0]] = [(ldap3.MODIFY_REPLACE, first[1])]
        ok, result, _, _ = connection.modify(dn, changes)
    if ok:
        return ""
    return f"{url}: {result.get('description')} {result.get('message', '')}".rstrip()
