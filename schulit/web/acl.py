"""The OpenLDAP access rules for the web page's own identity: least privilege.

The web identity may write the password attributes of pupils' entries (``=w``: write only, it cannot even
read them back), may not touch any password attribute elsewhere (teachers, admins, other identities), and
reads the rest of schulit's subtree (accounts and groups: who teaches which class). Every rule ends in
``by * break`` (or leaves others undecided), so the county's own rules — placed after these — still decide
for everybody else (anonymous ``auth`` for binds, a person reading their own entry, ...).
"""

from __future__ import annotations

import re

from schulit.directory.layout import Layout

PASSWORD_ATTRIBUTES = ("userPassword",)  # the NT hash attributes join here where Samba is enabled


def _regex_escape(text: str) -> str:
    """Escape a DN for a POSIX extended regular expression in slapd.conf (inside double quotes)."""
    return re.sub(r'([.\[\]()*+?{}|^$\\"])', r"\\\1", text)


def web_access_rules(
    layout: Layout, web_dn: str, password_attributes: tuple[str, ...] = PASSWORD_ATTRIBUTES
) -> list[str]:
    """``access to`` lines (slapd.conf syntax) to put before the county's other rules for schulit's base."""
    attrs = ",".join(password_attributes)
    pupils = f"^uid=[^,]+,ou=pupils,ou=[^,]+,{_regex_escape(layout.schools_dn)}$"
    return [
        f'access to dn.regex="{pupils}" attrs={attrs}\n'
        f'    by dn.exact="{web_dn}" =w\n'
        "    by anonymous auth\n"
        "    by * break",
        f'access to dn.subtree="{layout.base_dn}" attrs={attrs}\n'
        f'    by dn.exact="{web_dn}" none\n'
        "    by * break",
        f'access to dn.subtree="{layout.base_dn}"\n    by dn.exact="{web_dn}" read\n    by * break',
    ]
