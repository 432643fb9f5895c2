"""Each school server's own read-only identity in the directory, created and kept by schulit.

::

    ou=servers,ou=schulit,<base>
    └── ou=<school id>
        └── cn=<server name>     applicationProcess + simpleSecurityObject, userPassword = hash of its secret

The identity binds for sssd and Samba on that server; ``schulit directory acl`` lets it read its own
school's accounts and groups and nothing else. The secret lives in a 0600 file on the admin machine
(:mod:`schulit.servers.secrets`) and, after a push, in 0600 files on the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ldap3
from ldap3.utils.dn import escape_rdn

from schulit.audit import AuditLog
from schulit.directory.connection import connected
from schulit.directory.layout import MANAGED_DESCRIPTION, Layout
from schulit.errors import DirectoryError, SchulitError
from schulit.inventory import Inventory, Server
from schulit.passwords import hash_password, verify_password
from schulit.servers.secrets import SecretStore

# A server's secret is 32 random bytes, not a person's password: no hash speed makes it guessable, so the
# directory stores it salted-SHA1 ({SSHA}) and every push checks it without SHA-512-crypt's 5,000 rounds.
SECRET_HASH = "ssha"  # noqa: S105 - the name of a hash scheme, not a password
OBJECT_CLASSES = ["top", "applicationProcess", "simpleSecurityObject"]


def servers_dn(layout: Layout) -> str:
    return f"ou=servers,{layout.system_dn}"


def school_servers_dn(layout: Layout, school_id: str) -> str:
    return f"ou={escape_rdn(school_id)},{servers_dn(layout)}"


def identity_dn(layout: Layout, server: Server) -> str:
    """``cn=<server>,ou=<school>,ou=servers,ou=schulit,<base>``."""
    return f"cn={escape_rdn(server.name)},{school_servers_dn(layout, server.school_id)}"


def identity_containers(layout: Layout, school_ids: Sequence[str]) -> list[str]:
    """The OUs the identities live in, parents first (``directory init`` creates them)."""
    return [servers_dn(layout), *(school_servers_dn(layout, school_id) for school_id in school_ids)]


def secret_store(inventory: Inventory) -> SecretStore:
    return SecretStore(inventory.server_identities.secrets_dir)


@dataclass(frozen=True)
class IdentityChange:
    """One change to the servers' identities: create, set-secret (hash does not match), remove."""

    action: str
    server: str
    dn: str
    school_id: str = ""

    def describe(self) -> str:
        return f"{self.action} {self.dn}"


def _entries(connection: ldap3.Connection, layout: Layout) -> dict[str, dict[str, list[str]]]:
    """Identity entries below ``ou=servers`` by lower-cased DN (empty when the OU does not exist yet)."""
    found: dict[str, dict[str, list[str]]] = {}
    ok, result, response, _ = connection.search(
        servers_dn(layout),
        "(objectClass=applicationProcess)",
        ldap3.SUBTREE,
        attributes=["cn", "ou", "userPassword", "description"],
    )
    if not ok and result.get("description") not in ("noSuchObject", "success"):
        raise DirectoryError(f"cannot read {servers_dn(layout)}: {result.get('description')}")
    for item in response or []:
        if item.get("type") != "searchResEntry":
            continue
        attributes = {
            name: [v.decode() if isinstance(v, bytes) else str(v) for v in (value or [])]
            for name, value in item["raw_attributes"].items()
        }
        found[item["dn"].lower()] = attributes
    return found


def plan_identities(
    connection: ldap3.Connection,
    inventory: Inventory,
    servers: Sequence[Server],
    store: SecretStore,
    *,
    remove_unknown: bool,
) -> list[IdentityChange]:
    """What it takes for every server in ``servers`` to have an identity whose hash matches its secret."""
    layout = inventory.layout
    entries = _entries(connection, layout)
    changes: list[IdentityChange] = []
    wanted: set[str] = set()
    for server in servers:
        dn = identity_dn(layout, server)
        wanted.add(dn.lower())
        entry = entries.get(dn.lower())
        secret = store.read(server.name)
        if entry is None:
            changes.append(IdentityChange("create", server.name, dn, server.school_id))
        elif secret is None or not any(verify_password(secret, h) for h in entry.get("userPassword", [])):
            changes.append(IdentityChange("set-secret", server.name, dn, server.school_id))
    if remove_unknown:
        for dn, entry in sorted(entries.items()):
            if dn not in wanted and MANAGED_DESCRIPTION in entry.get("description", []):
                name = (entry.get("cn") or [dn])[0]
                changes.append(IdentityChange("remove", name, dn))
    return changes


def apply_identities(
    connection: ldap3.Connection,
    inventory: Inventory,
    changes: Sequence[IdentityChange],
    store: SecretStore,
    audit: AuditLog,
) -> list[IdentityChange]:
    """Carry out ``changes``; the local secret is written before the directory holds its hash."""
    done = []
    scheme = SECRET_HASH
    layout = inventory.layout
    for change in changes:
        if change.action == "remove":
            ok, result, _, _ = connection.delete(change.dn)
            if not ok and result.get("description") != "noSuchObject":
                raise DirectoryError(f"cannot remove {change.dn}: {result.get('description')}")
            audit.record("delete", change.dn)
        elif change.action == "create":
            for container in identity_containers(layout, [change.school_id]):
                _ensure_container(connection, container, audit)
            secret = store.get_or_create(change.server)
            ok, result, _, _ = connection.add(
                change.dn,
                OBJECT_CLASSES,
                {
                    "cn": change.server,
                    "ou": change.school_id,
                    "description": MANAGED_DESCRIPTION,
                    "userPassword": hash_password(secret, scheme),
                },
            )
            if not ok:
                reason = f"{result.get('description')} {result.get('message', '')}".strip()
                raise DirectoryError(f"cannot create {change.dn}: {reason}")
            audit.record("add", change.dn, ["cn", "ou", "description", "userPassword"])
        elif change.action == "set-secret":
            secret = store.get_or_create(change.server)
            _set_hash(connection, change.dn, hash_password(secret, scheme))
            audit.record("modify", change.dn, ["userPassword"])
        else:
            raise ValueError(f"unknown identity change {change.action!r}")
        done.append(change)
    return done


def _ensure_container(connection: ldap3.Connection, dn: str, audit: AuditLog) -> None:
    """The OU ``dn`` (its parent, ou=schulit, exists once accounts were synced or the directory set up)."""
    name = dn.split(",", 1)[0].split("=", 1)[1]
    ok, result, _, _ = connection.add(
        dn, ["top", "organizationalUnit"], {"ou": name, "description": MANAGED_DESCRIPTION}
    )
    if ok:
        audit.record("add", dn, ["ou", "description"])
    elif result.get("description") != "entryAlreadyExists":
        raise DirectoryError(f"cannot create {dn}: {result.get('description')} {result.get('message', '')}")


def _set_hash(connection: ldap3.Connection, dn: str, value: str) -> None:
    ok, result, _, _ = connection.modify(dn, {"userPassword": [(ldap3.MODIFY_REPLACE, [value])]})
    if not ok:
        raise DirectoryError(f"cannot set the secret of {dn}: {result.get('description')}")


def find_server(inventory: Inventory, name: str) -> Server:
    for server in inventory.servers():
        if server.name == name:
            return server
    raise SchulitError(f"no server named {name!r} in the inventory")


def rotate_secret(
    connection: ldap3.Connection, inventory: Inventory, name: str, store: SecretStore, audit: AuditLog
) -> IdentityChange:
    """A new secret for server ``name``: local file first, then the directory's hash."""
    server = find_server(inventory, name)
    layout = inventory.layout
    dn = identity_dn(layout, server)
    if dn.lower() not in _entries(connection, layout):
        store.get_or_create(server.name)
        return apply_identities(
            connection, inventory, [IdentityChange("create", server.name, dn, server.school_id)], store, audit
        )[0]
    secret = store.create(server.name)
    _set_hash(connection, dn, hash_password(secret, SECRET_HASH))
    audit.record("modify", dn, ["userPassword"])
    return IdentityChange("rotate-secret", server.name, dn, server.school_id)


def sync_identities(inventory: Inventory, *, check: bool) -> tuple[list[IdentityChange], int]:
    """``servers sync``: plan (and unless ``check`` apply) every server's identity; (changes, servers)."""
    store = secret_store(inventory)
    servers = inventory.servers()
    with connected(inventory.directory) as connection:
        changes = plan_identities(connection, inventory, servers, store, remove_unknown=True)
        if check or not changes:
            return changes, len(servers)
        with AuditLog(inventory.audit_log, "servers sync") as audit:
            return apply_identities(connection, inventory, changes, store, audit), len(servers)


def rotate(inventory: Inventory, name: str) -> IdentityChange:
    """``servers rotate-secret``: a new secret for server ``name``."""
    store = secret_store(inventory)
    with (
        connected(inventory.directory) as connection,
        AuditLog(inventory.audit_log, "servers rotate-secret") as audit,
    ):
        return rotate_secret(connection, inventory, name, store, audit)
