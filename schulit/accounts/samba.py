"""Samba's view of an account (opt-in, ``[samba] enabled``): sambaSamAccount and sambaGroupMapping, as
Samba's ``ldapsam`` passdb reads them from the OpenLDAP directory (Debian's ``samba.schema``).

The NT hash is MD4 of the UTF-16LE password: unsalted and fast, as weak as Active Directory's own, which is
why it is opt-in and only the school servers' identities (never anonymous, never another school's) may read
it. Python's hashlib has no MD4 under OpenSSL 3; pycryptodome's is used.

SIDs are algorithmic (``sambaAlgorithmicRidBase`` 1000 in the domain entry): user RID = 2 * uidNumber + 1000,
group RID = 2 * gidNumber + 1001, so smbd never needs to write a "next RID" back and read-only identities do.
"""

from __future__ import annotations

import time
from typing import Any

import ldap3
from Crypto.Hash import MD4

from schulit.inventory import SambaSettings

ACCOUNT_CLASS = "sambaSamAccount"
GROUP_CLASS = "sambaGroupMapping"
RID_BASE = 1000
DOMAIN_GROUP = "2"  # sambaGroupType: a domain group
ACTIVE_FLAGS = "[UX         ]"  # U: a user account, X: the password does not expire
DISABLED_FLAGS = "[UDX        ]"  # D: disabled (leavers, locked accounts)

Modification = dict[str, list[tuple[str, list[str]]]]


def nt_hash(password: str) -> str:
    """The NT hash (``sambaNTPassword``): MD4 over the UTF-16LE password, 32 upper-case hex digits."""
    return MD4.new(password.encode("utf-16-le")).hexdigest().upper()  # noqa: S303 - the NT hash is MD4


def user_sid(samba: SambaSettings, uid_number: int) -> str:
    return f"{samba.domain_sid}-{2 * uid_number + RID_BASE}"


def group_sid(samba: SambaSettings, gid_number: int) -> str:
    return f"{samba.domain_sid}-{2 * gid_number + RID_BASE + 1}"


def flags(*, active: bool) -> str:
    return ACTIVE_FLAGS if active else DISABLED_FLAGS


def account_attributes(
    samba: SambaSettings, uid_number: int, gid_number: int, password: str, *, active: bool = True
) -> dict[str, Any]:
    """The sambaSamAccount attributes of a new account (its password set now)."""
    return {
        "sambaSID": user_sid(samba, uid_number),
        "sambaPrimaryGroupSID": group_sid(samba, gid_number),
        "sambaNTPassword": nt_hash(password),
        "sambaPwdLastSet": str(int(time.time())),
        "sambaAcctFlags": flags(active=active),
    }


def password_modification(password: str) -> Modification:
    """The NT-hash half of a password change (schulit sends it in the same modify as userPassword)."""
    return {
        "sambaNTPassword": [(ldap3.MODIFY_REPLACE, [nt_hash(password)])],
        "sambaPwdLastSet": [(ldap3.MODIFY_REPLACE, [str(int(time.time()))])],
    }


def flags_modification(*, active: bool) -> Modification:
    return {"sambaAcctFlags": [(ldap3.MODIFY_REPLACE, [flags(active=active)])]}


def group_attributes(samba: SambaSettings, gid_number: int, name: str) -> dict[str, Any]:
    """The sambaGroupMapping attributes of a new posixGroup (``valid users = @group`` resolves through NSS;
    the mapping gives the group its SID in smbd's tokens)."""
    return {"sambaSID": group_sid(samba, gid_number), "sambaGroupType": DOMAIN_GROUP, "displayName": name}
