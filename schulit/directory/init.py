"""``schulit directory init``: create the base entry, the container OUs (accounts, groups, the school servers'
identities) and, with Samba enabled, the ``sambaDomain`` entry, where missing."""

from __future__ import annotations

from dataclasses import dataclass, field

import ldap3
from ldap3.utils.dn import escape_rdn, parse_dn

from schulit.directory.layout import MANAGED_DESCRIPTION, Layout, normalise_dn
from schulit.errors import DirectoryError
from schulit.inventory import SambaSettings
from schulit.servers.identities import identity_containers


@dataclass
class InitPlan:
    """What ``directory init`` would create (DNs, parents first)."""

    base_missing: bool
    missing: list[str] = field(default_factory=list)
    samba_domain: str = ""  # DN of the sambaDomain entry to create, or ""

    @property
    def changes(self) -> int:
        return len(self.missing) + (1 if self.base_missing else 0) + (1 if self.samba_domain else 0)


def existing_dns(connection: ldap3.Connection, base_dn: str) -> set[str]:
    """Lower-cased DNs of the base entry and every OU below it (one paged subtree search)."""
    found: set[str] = set()
    entries = connection.extend.standard.paged_search(
        base_dn,
        "(|(objectClass=organizationalUnit)(objectClass=dcObject)(objectClass=organization)(objectClass=domain))",
        search_scope=ldap3.SUBTREE,
        attributes=["1.1"],
        paged_size=500,
        generator=True,
    )
    try:
        for entry in entries:
            if entry.get("type") == "searchResEntry":
                found.add(normalise_dn(entry["dn"]))
    except ldap3.core.exceptions.LDAPNoSuchObjectResult:
        return set()
    return found


def samba_domain_dn(layout: Layout, samba: SambaSettings) -> str:
    return f"sambaDomainName={escape_rdn(samba.domain_name)},{layout.base_dn}"


def _entry_exists(connection: ldap3.Connection, dn: str) -> bool:
    ok, result, _, _ = connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["1.1"])
    if not ok and result.get("description") != "noSuchObject":
        raise DirectoryError(f"cannot read {dn}: {result.get('description')} {result.get('message', '')}")
    return ok


def plan_init(
    connection: ldap3.Connection,
    layout: Layout,
    school_ids: list[str],
    samba: SambaSettings | None = None,
) -> InitPlan:
    """Compare the containers (and the Samba domain entry) schulit needs with what the directory has."""
    have = existing_dns(connection, layout.base_dn)
    wanted = layout.base_containers(school_ids) + identity_containers(layout, school_ids)
    samba_dn = ""
    if samba is not None and samba.enabled:
        samba_dn = samba_domain_dn(layout, samba)
        if have and _entry_exists(connection, samba_dn):
            samba_dn = ""
    return InitPlan(
        base_missing=normalise_dn(layout.base_dn) not in have,
        missing=[dn for dn in wanted if normalise_dn(dn) not in have],
        samba_domain=samba_dn,
    )


def base_entry(base_dn: str, organisation: str) -> tuple[list[str], dict[str, list[str]]]:
    """Object classes and attributes of the base entry itself (dc=, o= or ou=)."""
    attribute, value, _ = parse_dn(base_dn, escape=False)[0]
    attribute = attribute.lower()
    if attribute == "dc":
        return ["top", "dcObject", "organization"], {"dc": [value], "o": [organisation]}
    if attribute == "o":
        return ["top", "organization"], {"o": [value]}
    if attribute == "ou":
        return ["top", "organizationalUnit"], {"ou": [value]}
    raise DirectoryError(f"base DN {base_dn}: cannot create a base entry of type {attribute}=")


def apply_init(
    connection: ldap3.Connection,
    layout: Layout,
    plan: InitPlan,
    organisation: str,
    samba: SambaSettings | None = None,
) -> list[str]:
    """Create what ``plan`` lists; return the DNs created. Already-existing entries are not an error."""
    created: list[str] = []
    if plan.base_missing:
        classes, attributes = base_entry(layout.base_dn, organisation)
        _add(connection, layout.base_dn, classes, attributes, created)
    for dn in plan.missing:
        name = parse_dn(dn, escape=False)[0][1]
        _add(
            connection,
            dn,
            ["top", "organizationalUnit"],
            {"ou": [name], "description": [MANAGED_DESCRIPTION]},
            created,
        )
    if plan.samba_domain and samba is not None:
        # algorithmic RIDs (uid * 2 + 1000, gid * 2 + 1001): smbd never has to write the next free RID back,
        # so the servers' read-only identities suffice
        _add(
            connection,
            plan.samba_domain,
            ["top", "sambaDomain"],
            {
                "sambaDomainName": [samba.domain_name],
                "sambaSID": [samba.domain_sid],
                "sambaAlgorithmicRidBase": ["1000"],
            },
            created,
        )
    return created


def _add(
    connection: ldap3.Connection,
    dn: str,
    classes: list[str],
    attributes: dict[str, list[str]],
    created: list[str],
) -> None:
    ok, result, _, _ = connection.add(dn, classes, attributes)
    if ok:
        created.append(dn)
    elif result.get("description") != "entryAlreadyExists":
        raise DirectoryError(f"cannot create {dn}: {result.get('description')} {result.get('message', '')}")
