"""Active Directory facts schulit relies on (measured on Samba 4.17; the same on Microsoft AD).

- A password is written as ``unicodePwd``: the password in double quotes, UTF-16-LE, over an encrypted
  connection only. ``userPassword`` is never written (on AD it "succeeds" as a readable attribute).
- ``userAccountControl``: 512 a normal account, +2 disabled, +65536 the password never expires.
- ``pwdLastSet = 0`` makes the next logon change the password first (bind "data 773",
  ``PASSWORD_MUST_CHANGE``); ``accountExpires`` is a FILETIME (100 ns since 1601), 0 or 2^63-1 = never.
- Groups: ``groupType`` global security -2147483646, universal security -2147483640, members as DNs.
- ``sAMAccountName`` is unique in the whole domain, at most 20 characters for users, none of
  ``"/\\[]:;|=,+*?<>``.
- The domain's password policy lives on the domain object: ``minPwdLength``, ``pwdProperties`` (bit 1:
  complexity: three of upper, lower, digit, other; neither the login nor a 3+ character part of the display
  name inside the password), ``maxPwdAge``, ``pwdHistoryLength``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import ldap3

from schulit.errors import DirectoryError
from schulit.passwords import generate_password

UAC_DISABLED = 0x2
UAC_NORMAL = 0x200
UAC_DONT_EXPIRE = 0x10000
GROUP_GLOBAL = -2147483646
GROUP_UNIVERSAL = -2147483640
NEVER = 0x7FFFFFFFFFFFFFFF
PASSWORD_COMPLEX = 0x1
SAM_FORBIDDEN = set('"/\\[]:;|=,+*?<>')
SAM_MAX_USER = 20
_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)

# "data NNN" in an AD bind error: what it means
BIND_REASONS = {
    "525": "no such user",
    "52e": "invalid credentials",
    "530": "logon not permitted at this time",
    "531": "logon not permitted from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "password must be changed",
    "775": "account locked out",
}


def unicode_pwd(password: str) -> bytes:
    """The ``unicodePwd`` value for ``password``."""
    return f'"{password}"'.encode("utf-16-le")


def filetime(moment: date | datetime) -> int:
    """A date (midnight UTC) or datetime as a FILETIME integer."""
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, time(), tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 10


def filetime_date(value: str | int | None) -> date | None:
    """The UTC date of a FILETIME, or None for "never" (0, 2^63-1, missing)."""
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if number <= 0 or number >= NEVER:
        return None
    return (_EPOCH + timedelta(microseconds=number // 10)).date()


def realm_of(base_dn: str) -> str:
    """``OU=x,DC=ad,DC=example,DC=org`` -> ``AD.EXAMPLE.ORG`` (the DC components, upper case)."""
    parts = [value for attribute, value, _ in ldap3.utils.dn.parse_dn(base_dn) if attribute.lower() == "dc"]
    return ".".join(parts).upper()


def domain_dn_of(base_dn: str) -> str:
    """The domain object's DN: the DC components of ``base_dn``."""
    parts = [
        f"DC={value}" for attribute, value, _ in ldap3.utils.dn.parse_dn(base_dn) if attribute.lower() == "dc"
    ]
    return ",".join(parts)


def sam_account_name_problem(login: str) -> str | None:
    """Why ``login`` cannot be a user's sAMAccountName, or None."""
    if len(login) > SAM_MAX_USER:
        return f"{login!r} is longer than {SAM_MAX_USER} characters (Windows' limit for logins)"
    bad = sorted(SAM_FORBIDDEN.intersection(login))
    if bad:
        return f"{login!r} contains {''.join(bad)!r}, which Windows logins cannot hold"
    if login.endswith("."):
        return f"{login!r} ends in a dot"
    return None


def bind_reason(message: str) -> str:
    """A readable reason for an AD bind error message (``... data 773, v1db1``)."""
    match = re.search(r"data ([0-9a-f]{3})", message or "")
    if match and match.group(1) in BIND_REASONS:
        return BIND_REASONS[match.group(1)]
    return message or "bind failed"


@dataclass(frozen=True)
class DomainPolicy:
    """The domain's password policy as the domain object states it."""

    min_length: int = 7
    complex: bool = True
    max_age_days: int | None = 42
    history: int = 24


def is_samba(connection: ldap3.Connection) -> bool:
    """Whether the DC is Samba: its root DSE names the vendor (``vendorName: Samba Team ...``); Microsoft AD
    publishes no vendorName."""
    outcome = connection.search("", "(objectClass=*)", ldap3.BASE, attributes=["vendorName"])
    response = outcome[2] if isinstance(outcome, tuple) else connection.response
    for entry in response or []:
        if entry.get("type") == "searchResEntry":
            vendor = entry["attributes"].get("vendorName") or []
            vendor = vendor if isinstance(vendor, list) else [vendor]
            return any(str(v).startswith("Samba") for v in vendor)
    return False


def read_domain_policy(connection: ldap3.Connection, domain_dn: str) -> DomainPolicy:
    """The password policy on the domain object (``minPwdLength``, ``pwdProperties``, ...)."""
    outcome = connection.search(
        domain_dn,
        "(objectClass=domain)",
        ldap3.BASE,
        attributes=["minPwdLength", "pwdProperties", "maxPwdAge", "pwdHistoryLength"],
    )
    response = outcome[2] if isinstance(outcome, tuple) else connection.response
    entries = [e for e in response or [] if e.get("type") == "searchResEntry"]
    if not entries:
        raise DirectoryError(f"cannot read the password policy of the domain {domain_dn}")
    attributes = entries[0]["attributes"]

    def number(name: str, default: int) -> int:
        value = attributes.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        try:
            return int(value) if value is not None else default
        except (TypeError, ValueError):
            return default

    max_age = number("maxPwdAge", 0)
    return DomainPolicy(
        min_length=number("minPwdLength", 7),
        complex=bool(number("pwdProperties", 1) & PASSWORD_COMPLEX),
        max_age_days=None if max_age in (0, -NEVER - 1) else abs(max_age) // (10_000_000 * 86400),
        history=number("pwdHistoryLength", 0),
    )


def satisfies(policy: DomainPolicy, password: str, login: str, display_name: str) -> bool:
    """True if ``password`` meets the domain policy for this account."""
    if len(password) < policy.min_length:
        return False
    if not policy.complex:
        return True
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        return False
    lowered = password.lower()
    if len(login) >= 3 and login.lower() in lowered:
        return False
    tokens = re.split(r"[,.\-_ #\t]+", display_name)
    return not any(len(token) >= 3 and token.lower() in lowered for token in tokens)


def policy_password(policy: DomainPolicy, length: int, login: str, display_name: str) -> str:
    """A generated password (readable alphabet) that meets the domain policy for this account."""
    length = max(length, policy.min_length, 8)
    for _ in range(1000):
        password = generate_password(length)
        if satisfies(policy, password, login, display_name):
            return password
    # practically unreachable: the alphabet always gives three classes; add a symbol if names block it
    return generate_password(length - 1) + secrets.choice("-+#")
