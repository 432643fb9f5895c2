"""The Samba AD / Active Directory flavour: the same desired state and plan, written as AD objects.

Mapping (``schulit.directory.ad`` has the AD facts):

- a user ``CN=<login>`` in the school's ``OU=pupils|teachers``: ``sAMAccountName`` = login,
  ``userPrincipalName`` = login@realm, ``employeeNumber`` = the identity key (the "made by schulit"
  marker), ``employeeType`` role, ``departmentNumber`` schools, ``ou`` class, ``uidNumber``/``gidNumber``.
  Created disabled (514) with ``description: schulit:incomplete``, then one modify sets ``unicodePwd``,
  enables it (512, +65536 where the role's password never expires, ``pwdLastSet = 0`` where it must be
  changed at first logon) and drops the marker; a user a killed run left with the marker is planned again
  and completed under the same login. ``directory.password_on_add`` (default: on for a Samba DC): all of it
  in the add.
- deactivated: disabled bit + ``accountExpires`` = the day (the date is kept there); locked by an admin:
  disabled bit + ``description: schulit:locked=<date>``; enabled again only when neither is left.
- groups: ``group`` with ``groupType`` global security (school and class groups) or universal security
  (county groups), ``sAMAccountName`` = cn, ``gidNumber``, ``description: schulit:managed``; members are
  DNs. The plan speaks of logins; this module translates both ways.
- purge deletes the user (AD drops its group memberships itself) and keeps the login reserved as an
  ``organizationalRole`` below ``OU=schulit`` as for OpenLDAP.

Entries without the marker (Administrator, Domain Users, computers, hand-made users) are read only to keep
their names taken and are never written.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import ldap3
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from schulit.accounts.apply import ApplyResult
from schulit.accounts.model import (
    GROUP_MARKER,
    KEY_PREFIX,
    LOCKED_PREFIX,
    RESERVED_PREFIX,
    ActualAccount,
    ActualGroup,
    Change,
    DirectoryState,
    Plan,
)
from schulit.accounts.ops import PurgePlan, account_json
from schulit.accounts.rules import PasswordHolder, managed_counts, over_safety_limit, write_new_passwords
from schulit.accounts.schema import (
    PERMISSIVE_MODIFY,
    RESERVATION_CLASSES,
    UPDATE_ATTRIBUTES,
    home_school_of,
    marker_date,
)
from schulit.audit import AuditLog
from schulit.directory import ad
from schulit.directory.connection import check_outcome
from schulit.directory.layout import MANAGED_DESCRIPTION, Layout, normalise_dn
from schulit.directory.read import first, paged, values
from schulit.directory.writer import PipelinedWriter
from schulit.errors import DirectoryError, SafetyLimitError, SchulitError
from schulit.inventory import Inventory

USER_ATTRIBUTES = [
    "sAMAccountName",
    "employeeNumber",
    "employeeType",
    "givenName",
    "sn",
    "ou",
    "departmentNumber",
    "description",
    "mail",
    "uidNumber",
    "gidNumber",
    "userAccountControl",
    "accountExpires",
]
GROUP_ATTRIBUTES = ["cn", "gidNumber", "member", "description"]
USER_CLASSES = ["top", "person", "organizationalPerson", "user"]
MANAGED_USERS = f"(&(objectClass=user)(employeeNumber={escape_filter_chars(KEY_PREFIX)}*))"
WINDOW = 64
Modification = dict[str, list[tuple[str, list[Any]]]]
# on a user between its add (disabled, no password) and the modify that sets the password and enables it:
# a run that died in between leaves it, and the next run plans that person's account again and completes it
INCOMPLETE_MARKER = "schulit:incomplete"


# ---- names -------------------------------------------------------------------------------------------------
def user_rdn(login: str) -> str:
    return f"CN={escape_rdn(login)}"


def is_county_group(dn: str, layout: Layout) -> bool:
    return normalise_dn(dn.split(",", 1)[1]) == normalise_dn(layout.county_groups_dn)


# ---- reading ---------------------------------------------------------------------------------------------
def parse_user(dn: str, attributes: dict[str, Any], layout: Layout) -> ActualAccount:
    """One managed AD user as an ActualAccount."""
    return ActualAccount(
        dn=dn,
        login=first(attributes, "sAMAccountName"),
        key=first(attributes, "employeeNumber"),
        role=first(attributes, "employeeType"),
        first_name=first(attributes, "givenName"),
        last_name=first(attributes, "sn"),
        home_school=home_school_of(dn, layout),
        schools=tuple(sorted(values(attributes, "departmentNumber"))),
        class_name=first(attributes, "ou") or None,
        email=first(attributes, "mail") or None,
        uid_number=int(first(attributes, "uidNumber", "0") or 0),
        gid_number=int(first(attributes, "gidNumber", "0") or 0),
        deactivated_on=ad.filetime_date(first(attributes, "accountExpires")),
        locked_on=marker_date(values(attributes, "description"), LOCKED_PREFIX),
    )


def _containers(connection: ldap3.Connection, base_dn: str) -> set[str]:
    found = set()
    for dn, _ in paged(
        connection, base_dn, "(|(objectClass=organizationalUnit)(objectClass=domain))", ["1.1"]
    ):
        found.add(normalise_dn(dn))
    return found


def read_directory(connection: ldap3.Connection, layout: Layout, today: date) -> DirectoryState:
    """Accounts and groups below the base; every sAMAccountName and uidNumber of the whole domain."""
    domain_dn = ad.domain_dn_of(layout.base_dn)
    state = DirectoryState(
        accounts={},
        groups={},
        taken_logins=set(),
        used_uid_numbers=set(),
        used_gid_numbers=set(),
        existing_dns=_containers(connection, layout.base_dn),
    )
    for _dn, attributes in paged(
        connection, domain_dn, "(sAMAccountName=*)", ["sAMAccountName", "uidNumber", "gidNumber"]
    ):
        state.taken_logins.update(v.lower() for v in values(attributes, "sAMAccountName"))
        for name, used in (("uidNumber", state.used_uid_numbers), ("gidNumber", state.used_gid_numbers)):
            number = first(attributes, name)
            if number.isdigit():
                used.add(int(number))
    login_of: dict[str, str] = {}
    for dn, attributes in paged(connection, layout.base_dn, MANAGED_USERS, USER_ATTRIBUTES):
        if INCOMPLETE_MARKER in values(attributes, "description"):
            # never finished: not an account yet; its login is free for the person it was made for
            state.taken_logins.discard(first(attributes, "sAMAccountName").lower())
            continue
        account = parse_user(dn, attributes, layout)
        if account.key in state.accounts:
            raise DirectoryError(
                f"two entries carry the identity {account.key}: "
                f"{state.accounts[account.key].dn} and {dn}; remove one by hand"
            )
        state.accounts[account.key] = account
        login_of[normalise_dn(dn)] = account.login
    for dn, attributes in paged(connection, layout.base_dn, "(objectClass=group)", GROUP_ATTRIBUTES):
        gid_number = first(attributes, "gidNumber")
        state.groups[dn.lower()] = ActualGroup(
            dn=dn,
            name=first(attributes, "cn"),
            gid_number=int(gid_number) if gid_number.isdigit() else 0,
            # a member that is no managed account stays as its DN: the plan then removes it
            members={login_of.get(normalise_dn(member), member) for member in values(attributes, "member")},
            managed=GROUP_MARKER in values(attributes, "description"),
        )
    for _dn, attributes in read_reservations(connection, layout):
        until = marker_date(values(attributes, "description"), RESERVED_PREFIX)
        if until is not None and until >= today:
            state.taken_logins.add(first(attributes, "cn").lower())
    return state


def read_reservations(connection: ldap3.Connection, layout: Layout) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from paged(
        connection, layout.system_dn, "(objectClass=organizationalRole)", ["cn", "description"], ldap3.LEVEL
    )


# ---- writing -----------------------------------------------------------------------------------------------
class _Pipeline:
    """Up to WINDOW requests in flight; each answer audited; a change counts as applied when its last
    request succeeded and none before it failed (a user is an add and a modify)."""

    def __init__(self, wire: PipelinedWriter, result: ApplyResult, audit: AuditLog):
        self.wire = wire
        self.result = result
        self.audit = audit
        self.in_flight: deque[tuple[int, Change | None, bool, str, str, list[str]]] = deque()
        self.failed: set[int] = set()  # ids of changes with a failed request

    def send(
        self,
        change: Change | None,
        operation: str,
        dn: str,
        attributes: Iterable[str],
        request: Callable[[], int],
        *,
        last: bool = True,
    ) -> None:
        """``last=False``: a first step of ``change`` that a later request completes."""
        if len(self.in_flight) >= WINDOW:
            self._collect_one()
        try:
            message_id = request()
        except (OSError, ldap3.core.exceptions.LDAPException) as exc:
            raise DirectoryError(f"directory connection lost while writing {dn}: {exc}") from None
        self.in_flight.append((message_id, change, last, operation, dn, list(attributes)))

    def _collect_one(self) -> None:
        message_id, change, last, operation, dn, attributes = self.in_flight.popleft()
        try:
            answer = self.wire.answer(message_id)
        except OSError as exc:
            raise DirectoryError(f"directory connection lost while writing {dn}: {exc}") from None
        if answer.ok:
            self.audit.record(operation, dn, attributes)
            if change is not None and last and id(change) not in self.failed:
                self.result.applied.append(change)
        elif change is None or id(change) not in self.failed:
            if change is not None:
                self.failed.add(id(change))
            self.result.failed.append((change or Change("modify", "", dn), answer.explain()))

    def drain(self) -> None:
        while self.in_flight:
            self._collect_one()


@dataclass
class _Context:
    inventory: Inventory
    layout: Layout
    reader: ldap3.Connection
    pipeline: _Pipeline


def _control_value(role: str, inventory: Inventory, *, disabled: bool) -> int:
    value = ad.UAC_NORMAL
    if role in inventory.passwords.never_expire:
        value |= ad.UAC_DONT_EXPIRE
    return value | ad.UAC_DISABLED if disabled else value


def password_modification(role: str, password: str, inventory: Inventory) -> Modification:
    """Set the password; the next logon must change it where the role's policy says so."""
    modification: Modification = {"unicodePwd": [(ldap3.MODIFY_REPLACE, [ad.unicode_pwd(password)])]}
    if role in inventory.passwords.change_at_first_logon:
        modification["pwdLastSet"] = [(ldap3.MODIFY_REPLACE, ["0"])]
    return modification


def user_attributes(change: Change, inventory: Inventory) -> dict[str, Any]:
    """Attributes of a new user, added disabled and without a password."""
    details = change.details
    full_name = f"{details['first_name']} {details['last_name']}"
    attributes: dict[str, Any] = {
        "sAMAccountName": change.login,
        "userPrincipalName": f"{change.login}@{inventory.directory.realm}",
        "givenName": details["first_name"],
        "sn": details["last_name"],
        "displayName": full_name,
        "employeeNumber": details["key"],
        "employeeType": details["role"],
        "departmentNumber": details["schools"],
        "uidNumber": str(details["uid_number"]),
        "gidNumber": str(details["gid_number"]),
        "userAccountControl": str(_control_value(details["role"], inventory, disabled=True)),
    }
    if details.get("class"):
        attributes["ou"] = details["class"]
    if details.get("email"):
        attributes["mail"] = details["email"]
    return attributes


def update_modification(change: Change) -> Modification:
    """The modify of an ``update`` plan entry (the CN is the login and stays; the display name follows)."""
    modification: Modification = {}
    for name, (_old, new) in change.details["changes"].items():
        attribute = UPDATE_ATTRIBUTES.get(name)
        if attribute is not None:
            new_values = (
                [] if new in (None, []) else [str(v) for v in (new if isinstance(new, list) else [new])]
            )
            modification[attribute] = [(ldap3.MODIFY_REPLACE, new_values)]
        elif name == "cn":
            modification["displayName"] = [(ldap3.MODIFY_REPLACE, [new])]
    return modification


def _read_control(reader: ldap3.Connection, dn: str) -> tuple[int, list[str], date | None]:
    """(userAccountControl, descriptions, deactivation date) of one user, read now."""
    ok, _result, response, _ = reader.search(
        dn,
        "(objectClass=user)",
        ldap3.BASE,
        attributes=["userAccountControl", "description", "accountExpires"],
    )
    if not ok or not response:
        raise DirectoryError(f"cannot read {dn}")
    attributes = response[0]["attributes"]
    control = int(first(attributes, "userAccountControl", str(ad.UAC_NORMAL)) or ad.UAC_NORMAL)
    return control, values(attributes, "description"), ad.filetime_date(first(attributes, "accountExpires"))


def deactivate_modification(control: int, today: date) -> Modification:
    return {
        "userAccountControl": [(ldap3.MODIFY_REPLACE, [str(control | ad.UAC_DISABLED)])],
        "accountExpires": [(ldap3.MODIFY_REPLACE, [str(ad.filetime(today))])],
    }


def reactivate_modification(control: int, locked: bool) -> Modification:
    modification: Modification = {"accountExpires": [(ldap3.MODIFY_REPLACE, [str(ad.NEVER)])]}
    if not locked:
        modification["userAccountControl"] = [(ldap3.MODIFY_REPLACE, [str(control & ~ad.UAC_DISABLED)])]
    return modification


def apply_plan(
    plan: Plan,
    inventory: Inventory,
    reader: ldap3.Connection,
    writer: ldap3.Connection,
    audit: AuditLog,
    *,
    progress: Callable[[int], None] | None = None,
) -> ApplyResult:
    """Apply ``plan.pending`` to an AD: ``reader`` (SAFE_SYNC) looks up, ``writer`` (SYNC) is pipelined."""
    wire = PipelinedWriter(writer)
    try:
        return _apply(plan, inventory, reader, wire, audit, progress or (lambda _n: None))
    except BaseException:
        wire.abandon()
        raise


def _apply(
    plan: Plan,
    inventory: Inventory,
    reader: ldap3.Connection,
    wire: PipelinedWriter,
    audit: AuditLog,
    tick: Callable[[int], None],
) -> ApplyResult:
    result = ApplyResult()
    pipeline = _Pipeline(wire, result, audit)
    layout = inventory.layout
    context = _Context(inventory, layout, reader, pipeline)
    changes = plan.pending

    def phase(*actions: str) -> list[Change]:
        return [c for c in changes if c.action in actions]

    for change in phase("container-create"):
        name = parse_dn(change.dn, escape=False)[0][1]
        attributes = {"ou": name, "description": MANAGED_DESCRIPTION}
        pipeline.send(
            change,
            "add",
            change.dn,
            attributes,
            lambda c=change, a=attributes: wire.add(c.dn, ["top", "organizationalUnit"], a),
        )
        pipeline.drain()  # parents before children
    members: dict[str, tuple[set[str], set[str]]] = {}  # group DN -> (logins to add, to remove)
    for change in phase("group-create"):
        group_type = ad.GROUP_UNIVERSAL if is_county_group(change.dn, layout) else ad.GROUP_GLOBAL
        name = parse_dn(change.dn, escape=False)[0][1]
        attributes = {
            "sAMAccountName": name,
            "groupType": str(group_type),
            "gidNumber": str(change.details["gid_number"]),
            "description": GROUP_MARKER,
        }
        pipeline.send(
            change,
            "add",
            change.dn,
            attributes,
            lambda c=change, a=attributes: wire.add(c.dn, ["top", "group"], a),
        )
        members[change.dn] = (set(change.details["members"]), set())
    pipeline.drain()
    tick(len(result.applied))
    _write_creates(phase("create"), context, result, tick)
    for change in phase("move"):
        new_dn = change.details["new_dn"]
        superior = new_dn.split(",", 1)[1]
        pipeline.send(
            change,
            "move",
            change.dn,
            [],
            lambda c=change, s=superior: wire.modify_dn(c.dn, user_rdn(c.login), s),
        )
    pipeline.drain()
    for change in phase("update"):
        modification = update_modification(change)
        dn = change.dn
        if modification:
            pipeline.send(change, "modify", dn, modification, lambda d=dn, m=modification: wire.modify(d, m))
    pipeline.drain()
    for change in phase("reactivate", "deactivate"):
        dn = change.dn
        control, descriptions, _since = _read_control(reader, dn)
        if change.action == "deactivate":
            modification = deactivate_modification(control, plan.today)
        else:
            locked = any(d.startswith(LOCKED_PREFIX) for d in descriptions)
            modification = reactivate_modification(control, locked)
        pipeline.send(change, "modify", dn, modification, lambda d=dn, m=modification: wire.modify(d, m))
    pipeline.drain()
    tick(len(result.applied))
    for change in phase("group-update"):
        members[change.dn] = (set(change.details["add"]), set(change.details["remove"]))
    _write_members(members, phase("group-update"), context)
    for change in phase("group-delete"):
        pipeline.send(change, "delete", change.dn, [], lambda c=change: wire.delete(c.dn))
    pipeline.drain()
    tick(len(result.applied))
    return result


def _write_creates(
    creates: list[Change], context: _Context, result: ApplyResult, tick: Callable[[int], None]
) -> None:
    """Passwords (meeting the domain's policy) → delivery files (0600) → add disabled → password + enable.

    ``directory.password_on_add`` (default "auto": on when the DC is Samba): the add carries the password
    and the enabled state, one write and one DC transaction per user instead of two. Samba accepts that;
    Microsoft AD is measured to take ``unicodePwd`` only in a modify, so "auto" keeps the modify there.
    """
    if not creates:
        return
    inventory = context.inventory
    policy = ad.read_domain_policy(context.reader, ad.domain_dn_of(inventory.directory.base_dn))
    passwords = [
        ad.policy_password(
            policy,
            inventory.passwords.length,
            c.login,
            f"{c.details['first_name']} {c.details['last_name']}",
        )
        for c in creates
    ]
    holders = [
        PasswordHolder(
            login=c.login,
            role=c.details["role"],
            first_name=c.details["first_name"],
            last_name=c.details["last_name"],
            class_name=c.details.get("class"),
            school_id=c.school,
        )
        for c in creates
    ]
    result.delivery_files.extend(_deliver(inventory, holders, passwords, "new"))
    in_add = inventory.directory.password_on_add
    if in_add is None:
        in_add = ad.is_samba(context.reader)
    pipeline = context.pipeline
    wire = pipeline.wire
    unfinished = {
        normalise_dn(dn)
        for dn, _ in paged(
            context.reader,
            context.layout.base_dn,
            f"(&{MANAGED_USERS}(description={escape_filter_chars(INCOMPLETE_MARKER)}))",
            ["1.1"],
        )
    }
    for index, (change, password) in enumerate(zip(creates, passwords, strict=True)):
        dn = change.dn
        role = change.details["role"]
        attributes = user_attributes(change, inventory)
        enable = [(ldap3.MODIFY_REPLACE, [str(_control_value(role, inventory, disabled=False))])]
        if normalise_dn(dn) in unfinished:  # left by a run that died: complete it with this plan's values
            modification = {
                name: [(ldap3.MODIFY_REPLACE, value if isinstance(value, list) else [value])]
                for name, value in attributes.items()
                if name not in ("sAMAccountName", "userPrincipalName", "userAccountControl")
            }
            modification.update(password_modification(role, password, inventory))
            modification["userAccountControl"] = enable
            modification["description"] = [(ldap3.MODIFY_REPLACE, [])]
            pipeline.send(change, "modify", dn, modification, lambda d=dn, m=modification: wire.modify(d, m))
            continue
        if in_add:  # one request and one transaction on the DC per user
            attributes["userAccountControl"] = str(_control_value(role, inventory, disabled=False))
            attributes["unicodePwd"] = ad.unicode_pwd(password)
            if role in inventory.passwords.change_at_first_logon:
                attributes["pwdLastSet"] = "0"
            pipeline.send(
                change, "add", dn, attributes, lambda d=dn, a=attributes: wire.add(d, USER_CLASSES, a)
            )
            continue
        attributes["description"] = INCOMPLETE_MARKER
        pipeline.send(
            change, "add", dn, attributes, lambda d=dn, a=attributes: wire.add(d, USER_CLASSES, a), last=False
        )
        modification = password_modification(role, password, inventory)
        modification["userAccountControl"] = enable
        modification["description"] = [(ldap3.MODIFY_REPLACE, [])]
        pipeline.send(change, "modify", dn, modification, lambda d=dn, m=modification: wire.modify(d, m))
        if index % 200 == 199:
            tick(len(result.applied))
    pipeline.drain()


def _write_members(
    members: dict[str, tuple[set[str], set[str]]], updates: list[Change], context: _Context
) -> None:
    """Group members as DNs: one modify per group (additions and removals), permissive as in OpenLDAP."""
    if not any(add or remove for add, remove in members.values()):
        return
    dn_of = {
        first(attributes, "sAMAccountName").lower(): dn
        for dn, attributes in paged(context.reader, context.layout.base_dn, MANAGED_USERS, ["sAMAccountName"])
    }
    by_dn = {change.dn: change for change in updates}
    pipeline = context.pipeline
    for group, (add, remove) in sorted(members.items()):

        def dns(logins: set[str]) -> list[str]:
            # a value with "=" is a DN already (a member that is no managed account); logins never hold "="
            return sorted(
                v if "=" in v else dn_of[v.lower()] for v in logins if "=" in v or v.lower() in dn_of
            )

        modification: Modification = {}
        if add:
            modification["member"] = [(ldap3.MODIFY_ADD, dns(add))]
        if remove:
            modification.setdefault("member", []).append((ldap3.MODIFY_DELETE, dns(remove)))
        modification = {k: [(op, v) for op, v in ops if v] for k, ops in modification.items()}
        if not modification.get("member"):
            continue
        pipeline.send(
            by_dn.get(group),
            "modify",
            group,
            ["member"],
            lambda g=group, m=modification: pipeline.wire.modify(g, m, [PERMISSIVE_MODIFY]),
        )
    pipeline.drain()


def _deliver(
    inventory: Inventory, holders: list[PasswordHolder], passwords: list[str], reason: str
) -> list[Path]:
    names = {school.id: school.name for school in inventory.schools}
    return write_new_passwords(
        inventory.passwords.delivery_dir, list(zip(holders, passwords, strict=True)), names, reason
    )


# ---- day-to-day operations ---------------------------------------------------------------------------------
def list_accounts(
    connection: ldap3.Connection,
    layout: Layout,
    *,
    school: str | None = None,
    class_name: str | None = None,
    state: str | None = None,
) -> list[ActualAccount]:
    """Managed users matching the filters, sorted by school, class, login."""
    parts = [MANAGED_USERS]
    if school:
        parts.append(f"(departmentNumber={escape_filter_chars(school)})")
    if class_name:
        parts.append(f"(ou={escape_filter_chars(class_name)})")
    search_filter = f"(&{''.join(parts)})"
    accounts = [
        parse_user(dn, a, layout)
        for dn, a in paged(connection, layout.base_dn, search_filter, USER_ATTRIBUTES)
    ]
    if state:
        accounts = [a for a in accounts if a.state == state or (state == "locked" and a.locked_on)]
    return sorted(accounts, key=lambda a: (a.home_school, a.class_name or "", a.login))


def known_class(connection: ldap3.Connection, layout: Layout, school: str | None, class_name: str) -> str:
    """``--class`` normalised like the rosters ("05a" → "5a"); an error if no managed user has it."""
    from schulit.rosters.common import normalise_class

    normalised = normalise_class(class_name)
    if normalised is not None:
        search_filter = f"(&{MANAGED_USERS}(ou={escape_filter_chars(normalised)})"
        if school:
            search_filter += f"(departmentNumber={escape_filter_chars(school)})"
        if any(True for _ in paged(connection, layout.base_dn, search_filter + ")", ["1.1"])):
            return normalised
    where = f"school {school}" if school else "the directory"
    raise SchulitError(f"--class {class_name!r}: no such class in {where}")


def find_account(connection: ldap3.Connection, layout: Layout, login: str) -> ActualAccount:
    """The managed user with this login (searched in the whole domain), or a clear error."""
    search_filter = f"(sAMAccountName={escape_filter_chars(login)})"
    found = list(paged(connection, ad.domain_dn_of(layout.base_dn), search_filter, USER_ATTRIBUTES))
    if not found:
        raise SchulitError(f"no account with login {login!r}")
    dn, attributes = found[0]
    if not first(attributes, "employeeNumber").startswith(KEY_PREFIX) or not dn.lower().endswith(
        layout.base_dn.lower()
    ):
        raise SchulitError(f"{dn} was not created by schulit; schulit leaves it alone")
    return parse_user(dn, attributes, layout)


def account_groups(connection: ldap3.Connection, layout: Layout, login: str) -> list[str]:
    """Names of the groups below the base that list the user as a member."""
    account = find_account(connection, layout, login)
    search_filter = f"(&(objectClass=group)(member={escape_filter_chars(account.dn)}))"
    return sorted(first(a, "cn") for _dn, a in paged(connection, layout.base_dn, search_filter, ["cn"]))


def lock(
    connection: ldap3.Connection, account: ActualAccount, audit: AuditLog, today: date, _samba: object = None
) -> bool:
    """Disable by hand (kept across syncs); False if locked already."""
    if account.locked_on is not None:
        return False
    control, _descriptions, _since = _read_control(connection, account.dn)
    modification: Modification = {
        "description": [(ldap3.MODIFY_REPLACE, [f"{LOCKED_PREFIX}{today.isoformat()}"])],
        "userAccountControl": [(ldap3.MODIFY_REPLACE, [str(control | ad.UAC_DISABLED)])],
    }
    check_outcome(connection.modify(account.dn, modification), f"locking {account.login}")
    audit.record("modify", account.dn, list(modification))
    return True


def unlock(
    connection: ldap3.Connection, account: ActualAccount, audit: AuditLog, _samba: object = None
) -> bool:
    """Remove a hand lock; a deactivated user stays disabled. False if it was not locked."""
    if account.locked_on is None:
        return False
    control, _descriptions, deactivated = _read_control(connection, account.dn)
    modification: Modification = {"description": [(ldap3.MODIFY_REPLACE, [])]}
    if deactivated is None:
        modification["userAccountControl"] = [(ldap3.MODIFY_REPLACE, [str(control & ~ad.UAC_DISABLED)])]
    check_outcome(connection.modify(account.dn, modification), f"unlocking {account.login}")
    audit.record("modify", account.dn, list(modification))
    return True


def plan_purge(connection: ldap3.Connection, inventory: Inventory, layout: Layout, today: date) -> PurgePlan:
    """What ``accounts purge`` would delete: users past the grace period, expired reservations."""
    grace = timedelta(days=inventory.lifecycle.grace_days)
    due = [
        a
        for a in list_accounts(connection, layout, state="deactivated")
        if a.deactivated_on is not None and a.deactivated_on + grace <= today
    ]
    expired = []
    for dn, attributes in read_reservations(connection, layout):
        until = marker_date(values(attributes, "description"), RESERVED_PREFIX)
        if until is not None and until < today:
            expired.append(dn)
    return PurgePlan(due, sorted(expired), today)


def check_purge_limit(
    plan: PurgePlan, inventory: Inventory, connection: ldap3.Connection, layout: Layout
) -> None:
    """Refuse to delete more per school than the safety limit allows (``--force`` skips this check)."""
    per_school: dict[str, int] = {}
    for account in plan.accounts:
        per_school[account.home_school] = per_school.get(account.home_school, 0) + 1
    managed = {
        school_id: managed_counts(list_accounts(connection, layout, school=school_id)).get(school_id, 0)
        for school_id in per_school
    }
    for school_id, (count, limit) in sorted(over_safety_limit(inventory.safety, per_school, managed).items()):
        raise SafetyLimitError(
            f"{school_id}: purge would delete {count} accounts, {managed.get(school_id, 0)} are active "
            f"(limit {limit}); nothing deleted; run with --force if that is right"
        )


def apply_purge(
    connection: ldap3.Connection, inventory: Inventory, layout: Layout, plan: PurgePlan, audit: AuditLog
) -> list[str]:
    """Delete the users (reserving their logins) and the expired reservations; return deleted DNs."""
    until = plan.today + timedelta(days=inventory.lifecycle.login_retention_days)
    deleted = []
    for account in plan.accounts:
        reservation = f"cn={escape_rdn(account.login)},{layout.system_dn}"
        outcome = connection.add(
            reservation,
            RESERVATION_CLASSES,
            {"cn": account.login, "description": f"{RESERVED_PREFIX}{until.isoformat()}"},
        )
        if not outcome[0] and outcome[1].get("description") != "entryAlreadyExists":
            check_outcome(outcome, f"reserving {account.login}")
        audit.record("add", reservation, ["cn", "description"])
        # AD drops its memberships itself
        check_outcome(connection.delete(account.dn), f"deleting {account.dn}")
        audit.record("delete", account.dn)
        deleted.append(account.dn)
    for dn in plan.expired_reservations:
        check_outcome(connection.delete(dn), f"deleting the expired reservation {dn}")
        audit.record("delete", dn)
        deleted.append(dn)
    return deleted


def read_school_state(connection: ldap3.Connection, layout: Layout, school_id: str) -> dict[str, Any]:
    """The template variable ``state`` of one school (``schulit.configs.facts``), read from the AD."""
    from schulit.configs.facts import empty_state, person_fact

    state = empty_state(school_id)
    search_filter = f"(&{MANAGED_USERS}(departmentNumber={escape_filter_chars(school_id)}))"
    accounts = [
        parse_user(dn, a, layout)
        for dn, a in paged(connection, layout.base_dn, search_filter, USER_ATTRIBUTES)
    ]
    login_of = {normalise_dn(a.dn): a.login for a in accounts}
    role_groups = set(state["groups"].values())
    prefix = f"{school_id}-"
    for _dn, attributes in paged(
        connection,
        layout.container_dn(school_id, "groups"),
        "(objectClass=group)",
        GROUP_ATTRIBUTES,
        ldap3.LEVEL,
    ):
        name = first(attributes, "cn")
        if (
            GROUP_MARKER in values(attributes, "description")
            and name not in role_groups
            and name.startswith(prefix)
        ):
            members = sorted(
                login_of[m] for m in map(normalise_dn, values(attributes, "member")) if m in login_of
            )
            state["classes"].append({"name": name[len(prefix) :], "group": name, "members": members})
    state["classes"].sort(key=lambda c: c["name"])
    for account in sorted(accounts, key=lambda a: a.login):
        if account.deactivated_on is None:
            state["pupils" if account.role == "pupil" else "teachers"].append(person_fact(account))
    return state


__all__ = [
    "PurgePlan",
    "account_json",
    "apply_plan",
    "apply_purge",
    "check_purge_limit",
    "find_account",
    "known_class",
    "list_accounts",
    "lock",
    "plan_purge",
    "read_directory",
    "read_school_state",
    "unlock",
]
