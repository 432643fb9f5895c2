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
from pathlib import Path
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPException

from schulit.accounts import schema
from schulit.accounts.model import Change, Plan
from schulit.accounts.rules import PasswordHolder, write_new_passwords
from schulit.audit import AuditLog
from schulit.directory.init import base_entry
from schulit.directory.writer import PipelinedWriter, offers_transactions
from schulit.errors import DirectoryError
from schulit.hashworkers import HelperHashes
from schulit.inventory import Inventory
from schulit.passwords import generate_password, hash_password

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


def read_state_attributes(connection: ldap3.Connection, dn: str) -> tuple[str, list[str]]:
    """The current password hash and description values of one account (what state changes build on)."""
    ok, _result, response, _ = connection.search(
        dn, "(objectClass=*)", ldap3.BASE, attributes=schema.STATE_ATTRIBUTES
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
                classes, attributes = schema.container_entry(change.dn)
            pipeline.send(
                change,
                "add",
                attributes,
                lambda c=change, o=classes, a=attributes: wire.add(c.dn, o, a),
            )
            pipeline.drain()  # parents before children
        for change in phase({"group-create"}):
            classes, attributes = schema.group_entry(
                change.dn, change.details["gid_number"], change.details["members"], inventory.samba
            )
            pipeline.send(
                change,
                "add",
                attributes,
                lambda c=change, o=classes, a=attributes: wire.add(c.dn, o, a),
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
        modification = schema.update_modification(change)
        if modification:
            pipeline.send(
                change, "modify", modification, lambda c=change, m=modification: wire.modify(c.dn, m)
            )
    pipeline.drain()
    for change in phase({"reactivate", "deactivate"}):
        password, descriptions = read_state_attributes(reader, change.dn)
        if change.action == "deactivate":
            modification = schema.deactivate_modification(password, plan.today, inventory.samba)
        else:
            modification = schema.reactivate_modification(password, descriptions, inventory.samba)
        pipeline.send(change, "modify", modification, lambda c=change, m=modification: wire.modify(c.dn, m))
    pipeline.drain()
    tick(len(result.applied))
    for change in phase({"group-update"}):
        modification = schema.membership_modification(change.details["add"], change.details["remove"])
        pipeline.send(
            change,
            "modify",
            list(modification),
            lambda c=change, m=modification: wire.modify(c.dn, m, [schema.PERMISSIVE_MODIFY]),
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
    holders = [
        PasswordHolder(
            login=change.login,
            role=change.details["role"],
            first_name=change.details["first_name"],
            last_name=change.details["last_name"],
            class_name=change.details.get("class"),
            school_id=change.school,
        )
        for change in creates
    ]
    school_names = {c.school: c.details.get("school_name", c.school) for c in creates}
    result.delivery_files.extend(
        write_new_passwords(
            inventory.passwords.delivery_dir, zip(holders, passwords, strict=True), school_names, "new"
        )
    )
    batch: list[_Add] = []
    for index, (change, hashed) in enumerate(zip(creates, hashes, strict=True)):
        classes, attributes = schema.account_entry(change, hashed, passwords[index], inventory.samba)
        add = _Add(
            change,
            (change.dn, classes, attributes),
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


__all__ = ["ApplyResult", "apply_plan", "read_state_attributes"]
