"""The OpenLDAP flavour's mapping of accounts and groups to directory entries, in both directions.

How schulit marks and stores things with the stock schemas only (core, cosine, inetorgperson, nis):

- ``employeeNumber: schulit:<scope>:<role>:<source id>`` on every account schulit created: the identity key
  *and* the "managed by schulit" marker. Entries without it are never changed, moved or deleted.
- ``employeeType``: pupil | teacher; ``departmentNumber``: the school ids; ``ou``: the pupil's class.
- ``description: schulit:deactivated=<date>`` (missing from the roster) and ``schulit:locked=<date>`` (by an
  admin). While either is present, ``shadowExpire: 1`` disables PAM logins and the ``userPassword`` hash
  carries a ``!`` after its ``{SCHEME}`` so that no LDAP bind can succeed; removing the ``!`` restores it.
- groups: posixGroup with ``memberUid``; ``description: schulit:managed`` marks schulit's groups.
- reserved logins of deleted accounts: ``cn=<login>,ou=schulit,<base>`` (organizationalRole) with
  ``description: schulit:reserved-until=<date>``.

Reading (``parse_account``, ``parse_group``) and writing (``*_attributes``, ``*_modification``) live here
together, so a second flavour or an extra object class plugs in at one place.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from sys import intern
from typing import Any

import ldap3
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from schulit.accounts import samba as samba_schema
from schulit.accounts.model import (
    DEACTIVATED_PREFIX,
    GROUP_MARKER,
    LOCKED_PREFIX,
    RESERVED_PREFIX,
    ActualAccount,
    ActualGroup,
    Change,
)
from schulit.directory.controls import Control, assertion_control
from schulit.directory.layout import Layout
from schulit.directory.read import first, values
from schulit.inventory import SambaSettings

ACCOUNT_CLASSES = ["top", "inetOrgPerson", "posixAccount", "shadowAccount"]
GROUP_CLASSES = ["top", "posixGroup"]
RESERVATION_CLASSES = ["top", "organizationalRole"]
PERMISSIVE_MODIFY = ("1.2.840.113556.1.4.1413", False, None)  # adding a present value is not an error

Modification = dict[str, list[tuple[str, list[str]]]]

# --- directory → records ----------------------------------------------------------------------------------


def marker_date(descriptions: list[str], prefix: str) -> date | None:
    """The date in a ``schulit:<what>=<date>`` description value, if present."""
    for value in descriptions:
        if value.startswith(prefix):
            try:
                return date.fromisoformat(value[len(prefix) :])
            except ValueError:
                return date.min
    return None


def home_school_of(dn: str, layout: Layout) -> str:
    """The school id whose OU holds ``dn`` (``uid=..,ou=pupils,ou=<school>,ou=schools,<base>``), or ''."""
    suffix = "," + layout.schools_dn.lower()
    if not dn.lower().endswith(suffix):
        return ""
    # Split from the right: the school and container RDNs are schulit's own ([a-z0-9-]); only the leftmost
    # RDN (the login, or a hand-made entry's name) could hold an escaped comma, and it stays in one piece.
    above = dn[: -len(suffix)].rsplit(",", 2)
    if len(above) < 2:
        return ""
    attribute, _, value = above[-1].partition("=")
    return value if attribute.strip().lower() == "ou" else ""


@lru_cache(maxsize=4096)  # a pure function of the few school combinations there are
def _schools(values: tuple[str, ...]) -> tuple[str, ...]:
    """An account's school ids, sorted and interned: one tuple object per combination."""
    return tuple(sorted(intern(value) for value in values))


def parse_account(dn: str, attributes: dict[str, Any], layout: Layout) -> ActualAccount:
    """Turn one search entry of a managed account into an ActualAccount.

    Called once per account of a directory read, so written for speed: plain look-ups in a dict of lists
    of str (what schulit's own decoder gives); anything else is converted to that first. The values that
    repeat from account to account (role, school ids, class) are interned, and the schools tuple is one
    per combination: a million accounts then hold a few thousand such objects, not millions, and the
    diff's comparisons with the desired state (which uses the same interned strings) end at the identity
    check, without reading either string.
    """
    if not all(type(found) is list for found in attributes.values()):
        attributes = {name: values(attributes, name) for name in attributes}
    get = attributes.get
    descriptions = get("description") or []
    none = ("",)
    return ActualAccount(
        dn=dn,
        login=(get("uid") or none)[0],
        key=(get("employeeNumber") or none)[0],
        role=intern((get("employeeType") or none)[0]),
        first_name=(get("givenName") or none)[0],
        last_name=(get("sn") or none)[0],
        home_school=intern(home_school_of(dn, layout)),
        schools=_schools(tuple(get("departmentNumber") or ())),
        class_name=intern((get("ou") or none)[0]) or None,
        email=(get("mail") or none)[0] or None,
        uid_number=int((get("uidNumber") or none)[0] or 0),
        gid_number=int((get("gidNumber") or none)[0] or 0),
        deactivated_on=marker_date(descriptions, DEACTIVATED_PREFIX) if descriptions else None,
        locked_on=marker_date(descriptions, LOCKED_PREFIX) if descriptions else None,
    )


def parse_group(dn: str, attributes: dict[str, Any]) -> ActualGroup:
    """Turn one posixGroup search entry into an ActualGroup."""
    gid_number = first(attributes, "gidNumber")
    return ActualGroup(
        dn=dn,
        name=first(attributes, "cn"),
        gid_number=int(gid_number) if gid_number.isdigit() else 0,
        members=set(values(attributes, "memberUid")),
        managed=GROUP_MARKER in values(attributes, "description"),
    )


# --- records → directory ----------------------------------------------------------------------------------


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


def account_entry(
    change: Change, password_hash: str, password: str, samba: SambaSettings | None = None
) -> tuple[list[str], dict[str, Any]]:
    """Object classes and attributes of a new account; with Samba also sambaSamAccount and its NT hash."""
    attributes = person_attributes(change, password_hash)
    if samba is None or not samba.enabled:
        return ACCOUNT_CLASSES, attributes
    details = change.details
    attributes.update(
        samba_schema.account_attributes(
            samba, int(details["uid_number"]), int(details["gid_number"]), password
        )
    )
    return [*ACCOUNT_CLASSES, samba_schema.ACCOUNT_CLASS], attributes


UPDATE_ATTRIBUTES = {
    "first_name": "givenName",
    "last_name": "sn",
    "class": "ou",
    "email": "mail",
    "schools": "departmentNumber",
    "gid_number": "gidNumber",
    "key": "employeeNumber",
}


def update_modification(change: Change) -> Modification:
    """The LDAP modify of an ``update`` plan entry."""
    modification: Modification = {}
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


def container_entry(dn: str) -> tuple[list[str], dict[str, Any]]:
    """Object classes and attributes of one of schulit's OUs."""
    from schulit.directory.layout import MANAGED_DESCRIPTION

    return ["top", "organizationalUnit"], {
        "ou": parse_dn(dn, escape=False)[0][1],
        "description": MANAGED_DESCRIPTION,
    }


def group_attributes(dn: str, gid_number: int, members: list[str]) -> dict[str, Any]:
    """Attributes of a new managed posixGroup."""
    attributes: dict[str, Any] = {
        "cn": parse_dn(dn, escape=False)[0][1],
        "gidNumber": str(gid_number),
        "description": GROUP_MARKER,
    }
    if members:
        attributes["memberUid"] = members
    return attributes


def group_entry(
    dn: str, gid_number: int, members: list[str], samba: SambaSettings | None = None
) -> tuple[list[str], dict[str, Any]]:
    """Object classes and attributes of a new managed group; with Samba also sambaGroupMapping."""
    attributes = group_attributes(dn, gid_number, members)
    if samba is None or not samba.enabled:
        return GROUP_CLASSES, attributes
    attributes.update(samba_schema.group_attributes(samba, gid_number, attributes["cn"]))
    return [*GROUP_CLASSES, samba_schema.GROUP_CLASS], attributes


def membership_modification(add: list[str], remove: list[str]) -> Modification:
    """Add and remove group members in one modify (sent with PERMISSIVE_MODIFY)."""
    modification: Modification = {}
    if add:
        modification["memberUid"] = [(ldap3.MODIFY_ADD, add)]
    if remove:
        modification.setdefault("memberUid", []).append((ldap3.MODIFY_DELETE, remove))
    return modification


def reservation_attributes(login: str, until: date) -> dict[str, Any]:
    """The entry that keeps a deleted login from being issued again until ``until``."""
    return {"cn": login, "description": f"{RESERVED_PREFIX}{until.isoformat()}"}


# --- the states an account can be in: deactivated, locked, and back -------------------------------------
# Every state change is one modify built here; ``password_hash`` is the entry's current userPassword. With
# Samba enabled the same modify sets sambaAcctFlags (D: disabled), so smbd refuses what PAM refuses.


def same_state_control(active: bool) -> Control:
    """For a password write made from an account read as active (or as disabled): apply it only if the
    account still is. A sync or an admin that deactivated or locked it meanwhile is never undone by a reset
    or a pupil's own change (a fresh hash written without the ``!`` would open LDAP binds again)."""
    disabled = (
        f"(|(description={escape_filter_chars(DEACTIVATED_PREFIX)}*)"
        f"(description={escape_filter_chars(LOCKED_PREFIX)}*))"
    )
    return assertion_control(f"(!{disabled})" if active else disabled)


def _samba(samba: SambaSettings | None) -> bool:
    return samba is not None and samba.enabled


def _disable(password_hash: str, samba: SambaSettings | None) -> Modification:
    return {
        "shadowExpire": [(ldap3.MODIFY_REPLACE, ["1"])],
        "userPassword": [(ldap3.MODIFY_REPLACE, [disabled_hash(password_hash)])],
        **(samba_schema.flags_modification(active=False) if _samba(samba) else {}),
    }


def _enable(password_hash: str, samba: SambaSettings | None) -> Modification:
    return {
        "shadowExpire": [(ldap3.MODIFY_REPLACE, [])],
        "userPassword": [(ldap3.MODIFY_REPLACE, [enabled_hash(password_hash)])],
        **(samba_schema.flags_modification(active=True) if _samba(samba) else {}),
    }


def deactivate_modification(
    password_hash: str, today: date, samba: SambaSettings | None = None
) -> Modification:
    """Missing from every roster: marked with the date, logins disabled."""
    return {
        "description": [(ldap3.MODIFY_ADD, [f"{DEACTIVATED_PREFIX}{today.isoformat()}"])],
        **_disable(password_hash, samba),
    }


def reactivate_modification(
    password_hash: str, descriptions: list[str], samba: SambaSettings | None = None
) -> Modification:
    """Back on a roster: the marker goes; logins work again unless an admin's lock stays."""
    stale = [d for d in descriptions if d.startswith(DEACTIVATED_PREFIX)]
    modification: Modification = {"description": [(ldap3.MODIFY_DELETE, stale)]}
    if not any(d.startswith(LOCKED_PREFIX) for d in descriptions):
        modification.update(_enable(password_hash, samba))
    return modification


def lock_modification(password_hash: str, today: date, samba: SambaSettings | None = None) -> Modification:
    """An admin's lock (kept across syncs)."""
    return {
        "description": [(ldap3.MODIFY_ADD, [f"{LOCKED_PREFIX}{today.isoformat()}"])],
        **_disable(password_hash, samba),
    }


def unlock_modification(
    password_hash: str, descriptions: list[str], samba: SambaSettings | None = None
) -> Modification:
    """The lock goes; a deactivated account stays disabled until it is back on a roster."""
    locks = [d for d in descriptions if d.startswith(LOCKED_PREFIX)]
    modification: Modification = {"description": [(ldap3.MODIFY_DELETE, locks)]}
    if not any(d.startswith(DEACTIVATED_PREFIX) for d in descriptions):
        modification.update(_enable(password_hash, samba))
    return modification


def password_modification(
    password_hash: str, *, active: bool, password: str = "", samba: SambaSettings | None = None
) -> Modification:
    """A new password; a disabled account (deactivated or locked) keeps its login disabled. With Samba the
    NT hash changes in the same modify: the two hashes never disagree."""
    modification: Modification = {
        "userPassword": [(ldap3.MODIFY_REPLACE, [password_hash if active else disabled_hash(password_hash)])]
    }
    if _samba(samba):
        if not password:
            raise ValueError("a Samba password change needs the password itself (for the NT hash)")
        modification.update(samba_schema.password_modification(password))
    return modification


STATE_ATTRIBUTES = ["userPassword", "description"]  # what the state modifications above are built from


def rename_modification(old_login: str, new_login: str, home_directory: str) -> Modification:
    """After the RDN moved from ``uid=old`` to ``uid=new``: the home directory follows (if schulit set it)."""
    if home_directory == f"/home/{old_login}":
        return {"homeDirectory": [(ldap3.MODIFY_REPLACE, [f"/home/{new_login}"])]}
    return {}
