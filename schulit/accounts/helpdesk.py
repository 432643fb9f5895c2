"""Helpdesk use cases: find an account, reset passwords (optionally straight into a letter), rename a login.

Each function takes the inventory and owns lock, directory connection and audit log; the CLI only parses
options and prints what comes back. Only schulit-managed accounts are touched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import ldap3
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from schulit.accounts import ops, schema, service
from schulit.accounts.model import ACCOUNT_ATTRIBUTES, KEY_PREFIX, RESERVED_PREFIX, ActualAccount
from schulit.accounts.rules import PasswordHolder, write_new_passwords
from schulit.audit import AuditLog
from schulit.delivery import DeliveryRecord, rename_login
from schulit.directory.connection import check_outcome, connected
from schulit.directory.controls import Control
from schulit.directory.layout import Layout
from schulit.directory.read import first, paged, values
from schulit.errors import SchulitError
from schulit.inventory import Inventory
from schulit.naming import transliterate
from schulit.passwords import generate_password
from schulit.rosters.common import normalise_class

LOGIN_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$")


def _openldap_only(inventory: Inventory, what: str) -> None:
    if inventory.directory.flavour != "openldap":
        raise SchulitError(f"{what}: not available with directory flavour {inventory.directory.flavour} yet")


# --- find ---------------------------------------------------------------------------------------------


NOT_ALNUM = re.compile(r"[^a-z0-9]")


@lru_cache(maxsize=65536)  # names repeat a lot across a county's accounts
def fold(text: str) -> str:
    """Comparison key: case, umlauts and diacritics, spaces and punctuation ignored.

    "Müller", "Mueller", "muller" and "MÜLLER" all fold to "muller"; so do logins ("emma.mueller").
    """
    key = NOT_ALNUM.sub("", (text if text.isascii() else transliterate(text)).lower())
    for spelled, plain in (("ae", "a"), ("oe", "o"), ("ue", "u"), ("ss", "s")):
        key = key.replace(spelled, plain)
    return key


def matches(first_name: str, last_name: str, login: str, key: str, words: Sequence[str]) -> bool:
    """Every (folded) word occurs in one of the account's names, its login or its roster id."""
    source_id = key[len(KEY_PREFIX) :].split(":", 2)[-1]
    fields = (fold(first_name), fold(last_name), fold(login), fold(source_id))
    return all(any(word in field for field in fields) for word in words)


SEARCH_ATTRIBUTES = ["uid", "givenName", "sn", "employeeNumber"]  # what find compares, nothing more


def find_accounts(inventory: Inventory, text: str) -> list[ActualAccount]:
    """Managed accounts whose name, login or roster id contain every word of ``text``."""
    _openldap_only(inventory, "accounts find")
    words = [word for word in (fold(part) for part in text.split()) if word]
    if not words:
        raise SchulitError("accounts find: give a name, login or roster id to look for")
    # Every managed account is compared (umlauts and spellings cannot be matched by the server): one bulk
    # read of the four attributes compared, then the whole entries of the few that match.
    managed = f"(&(objectClass=posixAccount)(employeeNumber={escape_filter_chars(KEY_PREFIX)}*))"
    with connected(inventory.directory, strategy=ldap3.SYNC, bulk_read=True) as connection:
        entries = list(paged(connection, inventory.layout.base_dn, managed, SEARCH_ATTRIBUTES))
    logins = [first(a, "uid") for _dn, a in entries]
    found = [login for login in logins if login == text.strip()] or [
        first(a, "uid")
        for _dn, a in entries
        if matches(first(a, "givenName"), first(a, "sn"), first(a, "uid"), first(a, "employeeNumber"), words)
    ]
    accounts = []
    with connected(inventory.directory, strategy=ldap3.SYNC, bulk_read=True) as connection:
        for start in range(0, len(found), 200):
            either = "".join(f"(uid={escape_filter_chars(login)})" for login in found[start : start + 200])
            search_filter = f"(&{managed}(|{either}))"
            accounts += [
                schema.parse_account(dn, attributes, inventory.layout)
                for dn, attributes in paged(
                    connection, inventory.layout.base_dn, search_filter, ACCOUNT_ATTRIBUTES
                )
            ]
    return sorted(accounts, key=lambda a: (a.home_school, a.class_name or "", a.login))


# --- list ---------------------------------------------------------------------------------------------


def list_accounts(
    inventory: Inventory,
    *,
    school: str | None = None,
    class_name: str | None = None,
    state: str | None = None,
) -> list[ActualAccount]:
    """``accounts list``: an unknown school or class is an error; the class is normalised like the rosters."""
    if school is not None:
        inventory.school(school)
    backend = service.flavour(inventory)
    with connected(inventory.directory) as connection:
        if class_name is not None:
            class_name = backend.known_class(connection, inventory.layout, school, class_name)
        return backend.list_accounts(
            connection, inventory.layout, school=school, class_name=class_name, state=state
        )


# --- reset-password -----------------------------------------------------------------------------------


@dataclass
class ResetResult:
    """What a reset did: the accounts, and where their passwords went (a letter or delivery files)."""

    accounts: list[ActualAccount]
    letter: Path | None = None
    delivery_files: list[Path] = field(default_factory=list)


def select_accounts(
    connection: ldap3.Connection,
    inventory: Inventory,
    logins: Sequence[str],
    school: str | None,
    class_name: str | None,
) -> list[ActualAccount]:
    """The named logins plus, with ``school`` and ``class_name``, every pupil of that class."""
    layout = inventory.layout
    backend = service.flavour(inventory)
    accounts = [backend.find_account(connection, layout, login) for login in logins]
    if school or class_name:
        if not (school and class_name):
            raise SchulitError("--school and --class go together (every pupil of one class)")
        inventory.school(school)
        wanted = normalise_class(class_name)
        found = backend.list_accounts(connection, layout, school=school, class_name=wanted) if wanted else []
        if not found:
            raise SchulitError(f"--class {class_name!r}: no pupils of such a class in {school}")
        accounts += [a for a in found if a.login not in {b.login for b in accounts}]
    return accounts


def reset_passwords(
    inventory: Inventory,
    logins: Sequence[str],
    *,
    school: str | None = None,
    class_name: str | None = None,
    letter: Path | None = None,
    confirm_disabled: Callable[[list[ActualAccount]], bool] = lambda _accounts: False,
    today: date | None = None,
) -> ResetResult:
    """New initial passwords for the accounts.

    With ``letter`` the passwords go only into that PDF (slips, no cover sheet, mode 0600), written before
    any hash changes, and no delivery row is kept; otherwise into a 0600 delivery file for
    ``passwords letters``. Deactivated or locked accounts are reset (and stay disabled) only if
    ``confirm_disabled`` says so; otherwise nothing is changed.
    """
    if not logins and not (school and class_name):
        raise SchulitError("name logins, or --school ID --class C")
    if letter is not None and letter.exists():
        raise SchulitError(f"{letter} exists; choose another file name")
    with service.writing(inventory, "accounts reset-password") as (connection, audit):
        accounts = select_accounts(connection, inventory, logins, school, class_name)
        disabled = [a for a in accounts if a.state != "active" or a.locked_on is not None]
        if disabled and not confirm_disabled(disabled):
            raise SchulitError(
                "not reset: " + ", ".join(f"{a.login} is {a.state}" for a in disabled) + "; nothing changed"
            )
        passwords = _new_passwords(connection, inventory, accounts)
        result = ResetResult(accounts)
        names = {s.id: s.name for s in inventory.schools}
        if letter is not None:
            from schulit.letters import LetterText, build_pdf, class_labels

            text = LetterText.from_inventory(inventory)
            records = _records(inventory, accounts, passwords)
            labels = class_labels(inventory, {r.school_id for r in records})
            build_pdf(records, names, letter, today or date.today(), text, covers=False, labels=labels)
            result.letter = letter
        else:
            holders = [(PasswordHolder.of(a), passwords[a.login]) for a in accounts]
            result.delivery_files = write_new_passwords(
                inventory.passwords.delivery_dir, holders, names, "reset"
            )
        done: list[str] = []
        for account in accounts:
            modification, controls = _password_write(inventory, account, passwords[account.login])
            try:
                check_outcome(
                    connection.modify(account.dn, modification, controls=controls),
                    f"resetting the password of {account.login}",
                )
            except SchulitError as exc:
                where = f"the letter {letter}" if letter is not None else "the delivery file"
                raise SchulitError(
                    f"{exc}; new passwords are valid only for: {', '.join(done) or 'nobody'} "
                    f"(the others in {where} are not)"
                ) from None
            audit.record("modify", account.dn, list(modification))
            done.append(account.login)
    return result


def _new_passwords(
    connection: ldap3.Connection, inventory: Inventory, accounts: list[ActualAccount]
) -> dict[str, str]:
    """One new password per account; on an AD, meeting the domain's policy (read from the domain object)."""
    if inventory.directory.flavour == "samba-ad":
        from schulit.directory import ad

        policy = ad.read_domain_policy(connection, ad.domain_dn_of(inventory.directory.base_dn))
        length = inventory.passwords.length
        return {
            a.login: ad.policy_password(policy, length, a.login, f"{a.first_name} {a.last_name}")
            for a in accounts
        }
    return {a.login: generate_password(inventory.passwords.length) for a in accounts}


def _password_write(
    inventory: Inventory, account: ActualAccount, password: str
) -> tuple[schema.Modification, list[Control] | None]:
    """The modify that sets ``password``, and its controls.

    OpenLDAP: the hash (disabled accounts keep a disabled hash), applied only while the account's state is
    still the one read (``schema.same_state_control``). AD: ``unicodePwd`` (never ``userPassword``),
    ``pwdLastSet = 0`` where the role must change it; a disabled user stays disabled."""
    if inventory.directory.flavour == "samba-ad":
        from schulit.accounts import flavour_ad

        return flavour_ad.password_modification(account.role, password, inventory), None
    active = account.state == "active"
    # every hash it keeps (with Samba the NT hash too), in one modify
    modification = ops.new_password_modification(inventory, password, active=active)
    return modification, [schema.same_state_control(active)]


def _records(
    inventory: Inventory, accounts: list[ActualAccount], passwords: dict[str, str]
) -> list[DeliveryRecord]:
    """What the letter prints (the same fields a delivery row holds; nothing is written to disk)."""
    issued_at = datetime.now(UTC).isoformat(timespec="seconds")
    records = []
    for account in accounts:
        school = inventory.school(account.home_school)
        records.append(
            DeliveryRecord(
                school_id=school.id,
                school_name=school.name,
                class_name=account.class_name or "",
                role=account.role,
                login=account.login,
                first_name=account.first_name,
                last_name=account.last_name,
                password=passwords[account.login],
                reason="reset",
                issued_at=issued_at,
            )
        )
    return records


# --- rename -------------------------------------------------------------------------------------------


@dataclass
class RenameResult:
    """A login change: the new DN, the groups that follow, until when the old login stays reserved."""

    old: str
    new: str
    dn: str
    groups: list[str]
    reserved_until: date


def check_new_login(inventory: Inventory, login: str) -> None:
    """A new login must look like schulit's own: lower-case a-z, 0-9, '.', '-', within the length cap."""
    if not LOGIN_PATTERN.match(login) or ".." in login:
        raise SchulitError(
            f"{login!r} is not a valid login (lower-case a-z, 0-9, '.' and '-', starting and ending with a "
            "letter or digit)"
        )
    if len(login) > inventory.naming.max_length:
        raise SchulitError(f"{login!r} is longer than naming.max_length ({inventory.naming.max_length})")


def rename_account(inventory: Inventory, old: str, new: str, *, today: date | None = None) -> RenameResult:
    """Give an account a new login (admin-approved; sync itself never renames).

    The entry keeps its identity, uid number and password; ``homeDirectory`` follows; every group listing
    the old login lists the new one instead (class shares follow their groups); the old login is reserved
    for ``lifecycle.login_retention_days`` like a deleted one. Interrupted midway, the next sync repairs the
    group memberships.
    """
    _openldap_only(inventory, "accounts rename")
    check_new_login(inventory, new)
    if new == old:
        raise SchulitError(f"{old} already has that login")
    day = today or date.today()
    layout = inventory.layout
    with service.writing(inventory, "accounts rename") as (connection, audit):
        account = ops.find_account(connection, layout, old)
        taken = list(paged(connection, layout.base_dn, f"(uid={escape_filter_chars(new)})", ["uid"]))
        if taken:
            raise SchulitError(f"login {new!r} is taken ({taken[0][0]})")
        reservation = f"cn={escape_rdn(new)},{layout.system_dn}"
        for _dn, attributes in paged(
            connection, layout.system_dn, f"(cn={escape_filter_chars(new)})", ["description"], ldap3.LEVEL
        ):
            for value in values(attributes, "description"):
                if value.startswith(RESERVED_PREFIX) and value[len(RESERVED_PREFIX) :] >= day.isoformat():
                    raise SchulitError(
                        f"login {new!r} is reserved until {value[len(RESERVED_PREFIX) :]} "
                        f"(a deleted account had it; {reservation})"
                    )
        until = day + timedelta(days=inventory.lifecycle.login_retention_days)
        _reserve(connection, layout, old, until, audit)
        rdn = f"uid={escape_rdn(new)}"
        check_outcome(connection.modify_dn(account.dn, rdn, delete_old_dn=True), f"renaming {old} to {new}")
        new_dn = f"{rdn},{account.dn.split(',', 1)[1]}"
        audit.record("move", account.dn, ["uid"])
        modification = schema.rename_modification(old, new, _home_directory(connection, new_dn))
        if modification:
            check_outcome(connection.modify(new_dn, modification), f"renaming {old} to {new}")
            audit.record("modify", new_dn, list(modification))
        groups = []
        search_filter = f"(&(objectClass=posixGroup)(memberUid={escape_filter_chars(old)}))"
        for group_dn, attributes in list(paged(connection, layout.base_dn, search_filter, ["cn"])):
            check_outcome(
                connection.modify(
                    group_dn,
                    schema.membership_modification([new], [old]),
                    controls=[schema.PERMISSIVE_MODIFY],
                ),
                f"moving {group_dn} from {old} to {new}",
            )
            audit.record("modify", group_dn, ["memberUid"])
            groups.append(first(attributes, "cn"))
        rename_login(inventory.passwords.delivery_dir, old, new)  # a letter not printed yet shows NEW
    return RenameResult(old, new, new_dn, sorted(groups), until)


def _reserve(connection: ldap3.Connection, layout: Layout, login: str, until: date, audit: AuditLog) -> None:
    dn = f"cn={escape_rdn(login)},{layout.system_dn}"
    attributes = schema.reservation_attributes(login, until)
    outcome = connection.add(dn, schema.RESERVATION_CLASSES, attributes)
    if not outcome[0]:
        if outcome[1].get("description") != "entryAlreadyExists":
            check_outcome(outcome, f"reserving {login}")
        check_outcome(
            connection.modify(dn, {"description": [(ldap3.MODIFY_REPLACE, [attributes["description"]])]}),
            f"reserving {login}",
        )
    audit.record("add", dn, ["cn", "description"])


def _home_directory(connection: ldap3.Connection, dn: str) -> str:
    ok, _result, response, _ = connection.search(
        dn, "(objectClass=*)", ldap3.BASE, attributes=["homeDirectory"]
    )
    return first(response[0]["attributes"], "homeDirectory") if ok and response else ""
