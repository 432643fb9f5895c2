"""OpenLDAP access rules for schulit's subtree (``schulit directory acl``): slapd.conf or cn=config LDIF.

What they grant, first match wins:

1. password hashes (``userPassword``, ``sambaLMPassword``): schulit's bind identity writes, anybody may
   *bind* with them (``auth``), nobody reads them;
2. with Samba: the NT hash of a school's accounts is read by that school's servers (smbd checks NTLM logons
   itself, it cannot bind with the password), by nobody else;
3. a school's servers (``ou=<school>,ou=servers,ou=schulit,<base>``) read the accounts whose
   ``departmentNumber`` names their school (teachers of several schools included) and the school's groups;
   they may *search* from the containers, nothing more;
4. everything else: schulit writes, a person reads their own entry, nobody (anonymous included) anything.

Rules are per school, so print and load them again when a school is added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ldap3.utils.conv import escape_filter_chars

from schulit.directory.layout import Layout
from schulit.inventory import Inventory
from schulit.servers.identities import school_servers_dn, servers_dn
from schulit.web.acl import PASSWORD_ATTRIBUTES, web_access_rules

FORMATS = ("slapd.conf", "ldif")
DEFAULT_DATABASE_DN = "olcDatabase={1}mdb,cn=config"


@dataclass(frozen=True)
class Rule:
    """One ``access to`` directive: what, then (who, access) pairs in order; a comment above it."""

    comment: str
    what: str
    by: tuple[tuple[str, str], ...]


def _quoted(dn: str) -> str:
    return '"' + dn.replace("\\", "\\\\").replace('"', '\\"') + '"'


def access_rules(layout: Layout, bind_dn: str, school_ids: Sequence[str], *, samba: bool) -> list[Rule]:
    """The rules for ``layout``'s subtree, in the order slapd must evaluate them."""
    base = _quoted(layout.base_dn)
    schools = _quoted(layout.schools_dn)
    writer = (f"dn.exact={_quoted(bind_dn)}", "write")
    all_servers = f"dn.subtree={_quoted(servers_dn(layout))}"
    hashes = "userPassword,sambaLMPassword" if samba else "userPassword"
    rules = [
        Rule(
            "Password hashes: schulit writes them, anybody may bind with them, nobody reads them.",
            f"dn.subtree={base} attrs={hashes}",
            (writer, ("anonymous", "auth"), ("*", "none")),
        )
    ]
    if samba:
        for school_id in school_ids:
            servers = f"dn.onelevel={_quoted(school_servers_dn(layout, school_id))}"
            rules.append(
                Rule(
                    f"NT hashes of {school_id}'s accounts: read by its servers (smbd checks NTLM itself).",
                    f'dn.subtree={schools} filter="(departmentNumber={escape_filter_chars(school_id)})" '
                    "attrs=sambaNTPassword",
                    (writer, (servers, "read"), ("*", "break")),
                )
            )
        rules.append(
            Rule(
                "Every other NT hash: schulit only.",
                f"dn.subtree={base} attrs=sambaNTPassword",
                (writer, ("*", "none")),
            )
        )
    for school_id in school_ids:
        servers = f"dn.onelevel={_quoted(school_servers_dn(layout, school_id))}"
        escaped = escape_filter_chars(school_id)
        rules.append(
            Rule(
                f"{school_id}'s servers read its accounts (teachers of several schools included).",
                f'dn.subtree={schools} filter="(&(objectClass=posixAccount)(departmentNumber={escaped}))"',
                (writer, (servers, "read"), ("*", "break")),
            )
        )
        rules.append(
            Rule(
                f"{school_id}'s servers read {school_id}'s groups.",
                f"dn.subtree={_quoted(layout.container_dn(school_id, 'groups'))}",
                (writer, (servers, "read"), ("*", "break")),
            )
        )
    if samba:
        rules.append(
            Rule(
                "The Samba domain entry: read by every school server.",
                f'dn.onelevel={base} filter="(objectClass=sambaDomain)"',
                (writer, (all_servers, "read"), ("*", "break")),
            )
        )
    rules += [
        Rule(
            "The base entry: servers may search from it (and learn nothing more).",
            f"dn.base={base} attrs=entry",
            (writer, (all_servers, "search"), ("*", "break")),
        ),
        Rule(
            "The containers servers search from: search, never read (no list of the county's schools).",
            f'dn.subtree={schools} filter="(objectClass=organizationalUnit)"',
            (writer, (all_servers, "search"), ("*", "break")),
        ),
        Rule(
            "Everything else: schulit writes, a person reads their own entry, nobody (anonymous too) more.",
            f"dn.subtree={base}",
            (writer, ("self", "read"), ("*", "none")),
        ),
    ]
    return rules


SAMBA_PASSWORD_ATTRIBUTES = ("sambaNTPassword", "sambaPwdLastSet")  # written with userPassword


def web_rules(inventory: Inventory) -> list[str]:
    """The web page identity's rules (``schulit web --print-acl``), placed first, when ``[web]`` is set; with
    Samba it writes the NT hash in the same modify as ``userPassword``."""
    if inventory.web is None:
        return []
    attributes = PASSWORD_ATTRIBUTES + (SAMBA_PASSWORD_ATTRIBUTES if inventory.samba.enabled else ())
    return web_access_rules(inventory.layout, inventory.web.bind_dn, attributes)


def county_rules(inventory: Inventory) -> tuple[list[str], list[Rule]]:
    """(the web identity's rules, schulit's own) for the inventory's directory."""
    settings = inventory.directory
    own = access_rules(
        inventory.layout,
        settings.bind_dn,
        [school.id for school in inventory.schools],
        samba=inventory.samba.enabled,
    )
    return web_rules(inventory), own


def format_slapd_conf(rules: Sequence[Rule], base_dn: str, leading: Sequence[str] = ()) -> str:
    """slapd.conf lines for the database section of ``base_dn`` (``leading``: ready-made access blocks)."""
    lines = [
        f"# schulit: access rules for {base_dn}, in the database section (before any other access line).",
        "# Generated by `schulit directory acl`; print and load them again when a school is added.",
    ]
    if leading:
        lines += [
            "",
            "# The web page's identity (schulit web): pupils' passwords write-only, reads the rest.",
        ]
        lines += list(leading)
    for rule in rules:
        lines += ["", f"# {rule.comment}", f"access to {rule.what}"]
        lines += [f"    by {who} {access}" for who, access in rule.by]
    return "\n".join(lines) + "\n"


def format_ldif(
    rules: Sequence[Rule], base_dn: str, database_dn: str = DEFAULT_DATABASE_DN, leading: Sequence[str] = ()
) -> str:
    """A cn=config modify that replaces the database's olcAccess with these rules."""
    lines = [
        f"# schulit: access rules for {base_dn} (generated by `schulit directory acl --format ldif`).",
        "# Replaces every olcAccess value of the database. Find its DN with",
        f"#   ldapsearch -Y EXTERNAL -H ldapi:/// -b cn=config '(olcSuffix={base_dn})' dn",
        "# and load with",
        "#   ldapmodify -Y EXTERNAL -H ldapi:/// -f schulit-acl.ldif",
        f"dn: {database_dn}",
        "changetype: modify",
        "replace: olcAccess",
    ]
    values = [" ".join(block.split()).removeprefix("access ") for block in leading]
    values += [
        f"to {rule.what} " + " ".join(f"by {who} {access}" for who, access in rule.by) for rule in rules
    ]
    for index, value in enumerate(values):
        lines.append(f"olcAccess: {{{index}}}{value}")
    lines.append("-")
    return "\n".join(lines) + "\n"
