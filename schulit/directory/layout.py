"""Where things live in the directory (SPEC §4), as DN arithmetic with proper escaping.

::

    <base>
    ├── ou=schools
    │   └── ou=<school id>
    │       ├── ou=pupils       uid=<login>  inetOrgPerson + posixAccount + shadowAccount
    │       ├── ou=teachers     uid=<login>
    │       └── ou=groups       cn=<school id>-<class>, cn=<school id>-pupils, cn=<school id>-teachers
    ├── ou=groups               county-wide groups (cn=all-teachers, cn=all-pupils)
    └── ou=schulit              bookkeeping: reserved logins of deleted accounts
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ldap3.utils.dn import escape_rdn, parse_dn

SCHOOL_CONTAINERS = ("pupils", "teachers", "groups")
ROLE_CONTAINERS = {"pupil": "pupils", "teacher": "teachers"}
MANAGED_DESCRIPTION = "managed by schulit"


def normalise_dn(dn: str) -> str:
    """Lower-cased attr=value,... form of a DN, for comparing DNs (blanks after separators tolerated, as
    people write ``dc=a, dc=b``)."""
    compact = re.sub(r"(?<!\\),\s+", ",", dn.strip())
    return ",".join(f"{attr.lower()}={value.lower()}" for attr, value, _ in parse_dn(compact, escape=True))


@dataclass(frozen=True)
class Layout:
    """DNs of schulit's containers below ``base_dn``."""

    base_dn: str

    @property
    def schools_dn(self) -> str:
        return f"ou=schools,{self.base_dn}"

    @property
    def county_groups_dn(self) -> str:
        return f"ou=groups,{self.base_dn}"

    @property
    def system_dn(self) -> str:
        return f"ou=schulit,{self.base_dn}"

    def school_dn(self, school_id: str) -> str:
        return f"ou={escape_rdn(school_id)},{self.schools_dn}"

    def container_dn(self, school_id: str, container: str) -> str:
        """``ou=pupils|teachers|groups`` of one school."""
        if container not in SCHOOL_CONTAINERS:
            raise ValueError(f"unknown container {container!r}")
        return f"ou={container},{self.school_dn(school_id)}"

    def group_dn(self, school_id: str | None, name: str) -> str:
        """DN of a school group (``school_id`` given) or a county-wide group."""
        parent = self.container_dn(school_id, "groups") if school_id else self.county_groups_dn
        return f"cn={escape_rdn(name)},{parent}"

    def account_dn(self, school_id: str, role: str, login: str) -> str:
        """DN of an account in its home school's pupils or teachers OU."""
        return f"uid={escape_rdn(login)},{self.container_dn(school_id, ROLE_CONTAINERS[role])}"

    def base_containers(self, school_ids: list[str]) -> list[str]:
        """Every container DN schulit needs, parents before children."""
        dns = [self.schools_dn, self.county_groups_dn, self.system_dn]
        for school_id in school_ids:
            dns.append(self.school_dn(school_id))
            dns.extend(self.container_dn(school_id, name) for name in SCHOOL_CONTAINERS)
        return dns
