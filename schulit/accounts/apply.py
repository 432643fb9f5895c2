"""Carry out a plan: pipelined LDAP writes in a fixed order that converges after any interruption.

Order: containers → new groups → renames → new accounts → moves → updates → reactivations → deactivations →
group memberships → removed groups. Every step is derived from a fresh read on the next run, so a run killed
at any point leaves nothing the next run cannot finish: accounts are matched by their identity key (no
duplicates), group memberships are recomputed, and new passwords reach the 0600 delivery file *before* the
account that uses them is written.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Generator, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.dn import parse_dn

from schulit.accounts.model import (
    DEACTIVATED_PREFIX,
    GROUP_MARKER,
    LOCKED_PREFIX,
    Change,
    Plan,
)
from schulit.audit import AuditLog
from schulit.delivery import DeliveryRecord, write_delivery
from schulit.directory.init import base_entry
from schulit.directory.layout import MANAGED_DESCRIPTION
from schulit.directory.writer import PipelinedWriter, offers_transactions
from schulit.errors import DirectoryError
from schulit.hashworkers import HelperHashes
from schulit.inventory import Inventory
from schulit.passwords import generate_password, hash_password

PERMISSIVE_MODIFY = ("1.2.840.113556.1.4.1413", False, None)
WINDOW = 64  # write requests in flight at once
TRANSACTION_SIZE = 250  # new accounts committed together where the server offers transactions
POOL_THRESHOLD = 200  # hash in helper processes from this many new passwords on


@dataclass
class ApplyResult:
    """What was written: changes done, failures, and the delivery files with the new passwords."""

    applied: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    delivery_files: list[Path] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "applied": [c.to_json() for c in self.applied],
            "failed": [{**c.to_json(), "error": error} for c, error in self.failed],
            "delivery_files": [str(p) for p in self.delivery_files],
        }


def disabled_hash(value: str) -> str:
    """``{CRYPT}$6$..`` → ``{CRYPT}!$6$..``: no password can match it any more."""
    if "}" in value and value.startswith("{"):
        scheme, rest = value.split("}", 1)
        return value if rest.startswith("!") else f"{scheme}}}!{rest}"
    return value if value.startswith("!") else f"!{value}"


def enabled_hash(value: str) -> str:
    """Undo ``disabled_hash``."""
    if "}!" in value:
        scheme, rest = value.split("}!", 1)
        return f"{scheme}}}{rest}"
    return value[1:] if value.startswith("!") else value


def person_attributes(change: Change, password_hash: str) -> dict[str, Any]:
    """LDAP attributes of a new account from its plan entry."""
    details = change.details
    full_name = f"{details['first_name']} {details['last_name']}"
    attributes: dict[str, Any] = {
        "uid": change.login,
        "cn": full_name,
        "sn": details["last_name"],
        "givenName": details["first_name"],
        "displayName": full_name,
        "uidNumber": str(details["uid_number"]),
        "gidNumber": str(details["gid_number"]),
        "homeDirectory": f"/home/{change.login}",
        "loginShell": "/bin/bash",
        "employeeNumber": details["key"],
        "employeeType": details["role"],
        "departmentNumber": details["schools"],
        "userPassword": password_hash,
    }
    if details.get("class"):
        attributes["ou"] = details["class"]
    if details.get("email"):
        attributes["mail"] = details["email"]
    return attributes


UPDATE_ATTRIBUTES = {
    "first_name": "givenName",
    "last_name": "sn",
    "class": "ou",
    "email": "mail",
    "schools": "departmentNumber",
    "gid_number": "gidNumber",
    "key": "employeeNumber",
}


def update_modification(change: Change) -> dict[str, list[tuple[str, list[str]]]]:
    """The LDAP modify of an ``update`` plan entry."""
    modification: dict[str, list[tuple[str, list[str]]]] = {}
    changes = change.details["changes"]
    for name, (_old, new) in changes.items():
        attribute = UPDATE_ATTRIBUTES.get(name)
        if attribute is None:
            continue
        if new is None or new == []:
            modification[attribute] = [(ldap3.MODIFY_REPLACE, [])]
        else:
            modification[attribute] = [
                (ldap3.MODIFY_REPLACE, [str(v) for v in new] if isinstance(new, list) else [str(new)])
            ]
    if "cn" in changes:
        full_name = changes["cn"][1]
        modification["cn"] = [(ldap3.MODIFY_REPLACE, [full_name])]
        modification["displayName"] = [(ldap3.MODIFY_REPLACE, [full_name])]
    return modification


class _Pipeline:
    """Keeps up to WINDOW requests in flight on the writer and collects every result, in order."""

    def __init__(self, wire: PipelinedWriter, result: ApplyResult, audit: AuditLog):
        self.wire = wire
        self.result = result
        self.audit = audit
        self.in_flight: deque[tuple[int, Change, str, list[str]]] = deque()

    def send(
        self, change: Change, operation: str, attributes: Iterable[str], request: Callable[[], int]
    ) -> None:
        if len(self.in_flight) >= WINDOW:
            self._collect_one()
        try:
            message_id = request()
        except (OSError, LDAPException) as exc:
            raise DirectoryError(f"directory connection lost while writing {change.dn}: {exc}") from None
        self.in_flight.append((message_id, change, operation, list(attributes)))

    def _collect_one(self) -> None:
        message_id, change, operation, attributes = self.in_flight.popleft()
        try:
            answer = self.wire.answer(message_id)
        except OSError as exc:
            raise DirectoryError(f"directory connection lost while writing {change.dn}: {exc}") from None
        if answer.ok:
            self.result.applied.append(change)
            self.audit.record(operation, change.dn, attributes)
        else:
            self.result.failed.append((change, answer.explain()))

    def drain(self) -> None:
        """Wait for every request in flight (a phase boundary)."""
        while self.in_flight:
            self._collect_one()

    def add_in_transaction(self, batch: list[_Add]) -> bool:
        """Write ``batch`` as one RFC 5805 transaction: one commit (one disk sync on the server) for all.

        Returns False, having written nothing, when the server refused the transaction or any add in it;
        the caller then sends the batch entry by entry, so that each entry gets its own result.
        """
        self.drain()
        dn = batch[0].change.dn
        try:
            transaction = self.wire.start_transaction()
            if transaction is None:
                return False
            queued = [self.wire.add(*add.request, transaction) for add in batch]
            accepted = all([self.wire.answer(message_id).ok for message_id in queued])  # read every answer
            committed, _message = self.wire.end_transaction(transaction, commit=accepted)
        except OSError as exc:
            raise DirectoryError(f"directory connection lost while writing {dn} and others: {exc}") from None
        if committed:
            for add in batch:
                self.result.applied.append(add.change)
                self.audit.record("add", add.change.dn, add.attribute_names)
        return committed

    def add(self, add: _Add) -> None:
        """Pipeline one add outside any transaction."""
        self.send(add.change, "add", add.attribute_names, lambda: self.wire.add(*add.request))


@dataclass
class _Add:
    """One add: the plan entry, the request (dn, object classes, attributes) and what the audit names."""

    change: Change
    request: tuple[str, list[str], dict[str, Any]]
    attribute_names: list[str]


def _hashes(
    passwords: list[str], scheme: str, transactions: bool
) -> Generator[str, None, None] | HelperHashes:
    """Hashes in order; many are computed in helper processes (SHA-512-crypt costs ~1.5 ms of CPU each).

    Written one by one, each account waits for the server's disk sync: one helper fills that time and
    leaves a core to slapd and the writer. In transactions the writes cost little CPU and no waiting, so
    hashing is the long pole and gets every core.
    """
    if len(passwords) < POOL_THRESHOLD:
        return (hash_password(p, scheme) for p in passwords)
    return HelperHashes(passwords, scheme, helpers=(os.cpu_count() or 2) if transactions else None)


def _read_password_and_description(connection: ldap3.Connection, dn: str) -> tuple[str, list[str]]:
    ok, _result, response, _ = connection.search(
        dn, "(objectClass=*)", ldap3.BASE, attributes=["userPassword", "description"]
    )
    if not ok or not response:
        raise DirectoryError(f"cannot read {dn}")
    attributes = response[0]["attributes"]
    passwords = attributes.get("userPassword") or [b""]
    value = passwords[0]
    return (value.decode() if isinstance(value, bytes) else str(value)), [
        str(v) for v in attributes.get("description") or []
    ]


def apply_plan(
    plan: Plan,
    inventory: Inventory,
    reader: ldap3.Connection,
    writer: ldap3.Connection,
    audit: AuditLog,
    *,
    progress: Callable[[int], None] | None = None,
) -> ApplyResult:
    """Apply ``plan.pending`` using ``reader`` (SAFE_SYNC) for look-ups and ``writer`` (SYNC) for writes.

    The writer's socket is then used by ``PipelinedWriter`` only, from this thread only.
    """
    wire = PipelinedWriter(writer)
    try:
        return _apply(plan, inventory, reader, wire, audit, progress)
    except BaseException:
        wire.abandon()  # no unbind into a running commit
        raise


def _apply(
    plan: Plan,
    inventory: Inventory,
    reader: ldap3.Connection,
    wire: PipelinedWriter,
    audit: AuditLog,
    progress: Callable[[int], None] | None,
) -> ApplyResult:
    result = ApplyResult()
    pipeline = _Pipeline(wire, result, audit)
    changes = plan.pending
    today = plan.today.isoformat()
    tick = progress or (lambda _n: None)

    def phase(actions: set[str]) -> list[Change]:
        return [c for c in changes if c.action in actions]

    creates = phase({"create"})
    passwords = [generate_password(inventory.passwords.length) for _ in creates]
    transactions = bool(creates) and inventory.directory.transactions and offers_transactions(reader)
    # hashing starts now and overlaps the container and group writes
    with closing(_hashes(passwords, inventory.passwords.hash_scheme, transactions)) as hashes:
        for change in phase({"container-create"}):
            if change.dn.lower() == inventory.directory.base_dn.lower():
                classes, attributes = base_entry(change.dn, inventory.county_name)
            else:
                classes = ["top", "organizationalUnit"]
                ou = parse_dn(change.dn, escape=False)[0][1]
                attributes = {"ou": ou, "description": MANAGED_DESCRIPTION}
            pipeline.send(
                change,
                "add",
                attributes,
                lambda c=change, o=classes, a=attributes: wire.add(c.dn, o, a),
            )
            pipeline.drain()  # parents before children
        for change in phase({"group-create"}):
            attributes = {
                "cn": parse_dn(change.dn, escape=False)[0][1],
                "gidNumber": str(change.details["gid_number"]),
                "description": GROUP_MARKER,
            }
            if change.details["members"]:
                attributes["memberUid"] = change.details["members"]
            pipeline.send(
                change,
                "add",
                attributes,
                lambda c=change, a=attributes: wire.add(c.dn, ["top", "posixGroup"], a),
            )
        pipeline.drain()
        tick(len(result.applied))

        if creates:
            _write_creates(
                creates,
                passwords,
                hashes,
                inventory,
                pipeline,
                result,
                tick,
                transactions=transactions,
            )
    for change in phase({"move"}):
        pipeline.drain()
        new_dn = change.details["new_dn"]
        rdn, superior = new_dn.split(",", 1)
        pipeline.send(
            change,
            "move",
            [],
            lambda c=change, r=rdn, s=superior: wire.modify_dn(c.dn, r, s),
        )
    pipeline.drain()  # updates address the moved DNs
    for change in phase({"update"}):
        if set(change.details["changes"]) == {"key"}:
            modification = {"employeeNumber": [(ldap3.MODIFY_REPLACE, [change.details["changes"]["key"][1]])]}
        else:
            modification = update_modification(change)
        if modification:
            pipeline.send(
                change, "modify", modification, lambda c=change, m=modification: wire.modify(c.dn, m)
            )
    pipeline.drain()
    for change in phase({"reactivate", "deactivate"}):
        password, descriptions = _read_password_and_description(reader, change.dn)
        locked = any(d.startswith(LOCKED_PREFIX) for d in descriptions)
        modification: dict[str, list[tuple[str, list[str]]]] = {}
        if change.action == "deactivate":
            modification["description"] = [(ldap3.MODIFY_ADD, [f"{DEACTIVATED_PREFIX}{today}"])]
            modification["shadowExpire"] = [(ldap3.MODIFY_REPLACE, ["1"])]
            modification["userPassword"] = [(ldap3.MODIFY_REPLACE, [disabled_hash(password)])]
        else:
            stale = [d for d in descriptions if d.startswith(DEACTIVATED_PREFIX)]
            modification["description"] = [(ldap3.MODIFY_DELETE, stale)]
            if not locked:
                modification["shadowExpire"] = [(ldap3.MODIFY_REPLACE, [])]
                modification["userPassword"] = [(ldap3.MODIFY_REPLACE, [enabled_hash(password)])]
        pipeline.send(change, "modify", modification, lambda c=change, m=modification: wire.modify(c.dn, m))
    pipeline.drain()
    tick(len(result.applied))
    for change in phase({"group-update"}):
        modification = {}
        if change.details["add"]:
            modification["memberUid"] = [(ldap3.MODIFY_ADD, change.details["add"])]
        if change.details["remove"]:
            modification.setdefault("memberUid", []).append((ldap3.MODIFY_DELETE, change.details["remove"]))
        pipeline.send(
            change,
            "modify",
            ["memberUid"],
            lambda c=change, m=modification: wire.modify(c.dn, m, [PERMISSIVE_MODIFY]),
        )
    for change in phase({"group-delete"}):
        pipeline.send(change, "delete", [], lambda c=change: wire.delete(c.dn))
    pipeline.drain()
    tick(len(result.applied))
    return result


def _write_creates(
    creates: list[Change],
    passwords: list[str],
    hashes: Iterable[str],
    inventory: Inventory,
    pipeline: _Pipeline,
    result: ApplyResult,
    tick: Callable[[int], None],
    *,
    transactions: bool,
) -> None:
    """Passwords → delivery files (0600, fsync) → adds with the hashes as they arrive: in transactions of
    TRANSACTION_SIZE where the server offers them (one disk sync each instead of one per account),
    pipelined one by one otherwise."""
    policy = inventory.passwords
    issued_at = datetime.now(UTC).isoformat(timespec="seconds")
    by_school: dict[str, list[DeliveryRecord]] = {}
    for change, password in zip(creates, passwords, strict=True):
        details = change.details
        school = inventory.school(change.school)
        by_school.setdefault(change.school, []).append(
            DeliveryRecord(
                school_id=school.id,
                school_name=school.name,
                class_name=details.get("class") or "",
                role=details["role"],
                login=change.login,
                first_name=details["first_name"],
                last_name=details["last_name"],
                password=password,
                reason="new",
                issued_at=issued_at,
            )
        )
    for school_id, records in sorted(by_school.items()):
        path = write_delivery(policy.delivery_dir, school_id, records)
        if path is not None:
            result.delivery_files.append(path)
    batch: list[_Add] = []
    for index, (change, hashed) in enumerate(zip(creates, hashes, strict=True)):
        attributes = person_attributes(change, hashed)
        add = _Add(
            change,
            (change.dn, ["top", "inetOrgPerson", "posixAccount", "shadowAccount"], attributes),
            [a for a in attributes if a != "userPassword"] + ["userPassword"],
        )
        if not transactions:
            pipeline.add(add)
        else:
            batch.append(add)
            if len(batch) == TRANSACTION_SIZE or index == len(creates) - 1:
                if not pipeline.add_in_transaction(batch):
                    for refused in batch:
                        pipeline.add(refused)
                batch = []
        if index % 500 == 499:
            tick(len(result.applied))
    pipeline.drain()


__all__ = ["ApplyResult", "apply_plan", "disabled_hash", "enabled_hash"]
