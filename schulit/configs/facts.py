"""A school's live state in the directory, as the last successful sync left it: what templates render from.

Read once per school, never from a roster: a refused export changes nothing in the directory, so it changes
nothing on the school's servers either; a class that a sync removed loses its share on the next push.
"""

from __future__ import annotations

from typing import Any

import ldap3
from ldap3.utils.conv import escape_filter_chars

from schulit.accounts.model import ACCOUNT_ATTRIBUTES, GROUP_ATTRIBUTES, KEY_PREFIX, ActualAccount
from schulit.accounts.schema import home_school_of, parse_account, parse_group
from schulit.directory.layout import Layout
from schulit.directory.read import paged


def read_school_state(connection: ldap3.Connection, layout: Layout, school_id: str) -> dict[str, Any]:
    """The template variable ``state`` of one school (see ``empty_state`` for its shape)."""
    if layout.flavour == "samba-ad":
        from schulit.accounts import flavour_ad

        return flavour_ad.read_school_state(connection, layout, school_id)
    state = empty_state(school_id)
    role_groups = set(state["groups"].values())
    prefix = f"{school_id}-"
    for dn, attributes in paged(
        connection,
        layout.container_dn(school_id, "groups"),
        "(objectClass=posixGroup)",
        GROUP_ATTRIBUTES,
        scope=ldap3.LEVEL,
    ):
        group = parse_group(dn, attributes)
        if group.managed and group.name not in role_groups and group.name.startswith(prefix):
            state["classes"].append(
                {"name": group.name[len(prefix) :], "group": group.name, "members": sorted(group.members)}
            )
    state["classes"].sort(key=lambda c: c["name"])
    search_filter = (
        f"(&(objectClass=posixAccount)(employeeNumber={escape_filter_chars(KEY_PREFIX)}*)"
        f"(departmentNumber={escape_filter_chars(school_id)}))"
    )
    accounts = [
        parse_account(dn, attributes, layout)
        for dn, attributes in paged(connection, layout.base_dn, search_filter, ACCOUNT_ATTRIBUTES)
    ]
    for account in sorted(accounts, key=lambda a: a.login):
        if account.deactivated_on is None:
            state["pupils" if account.role == "pupil" else "teachers"].append(person_fact(account))
    return state


def read_school_states(
    connection: ldap3.Connection, layout: Layout, school_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """``read_school_state`` of many schools with two searches in all (class groups below ou=schools, and
    the accounts of any of the schools), not two per school: a push to 40 schools' servers reads once."""
    if layout.flavour == "samba-ad" or len(school_ids) < 2:
        return {school_id: read_school_state(connection, layout, school_id) for school_id in school_ids}
    states = {school_id: empty_state(school_id) for school_id in school_ids}
    for dn, attributes in paged(connection, layout.schools_dn, "(objectClass=posixGroup)", GROUP_ATTRIBUTES):
        group = parse_group(dn, attributes)
        state = states.get(home_school_of(dn, layout))
        if state is None or not group.managed or group.name in set(state["groups"].values()):
            continue
        prefix = state["groups"]["pupils"].removesuffix("pupils")
        if group.name.startswith(prefix) and dn.lower().startswith(f"cn={group.name.lower()},ou=groups,"):
            state["classes"].append(
                {"name": group.name[len(prefix) :], "group": group.name, "members": sorted(group.members)}
            )
    schools = "".join(f"(departmentNumber={escape_filter_chars(school_id)})" for school_id in school_ids)
    search_filter = (
        f"(&(objectClass=posixAccount)(employeeNumber={escape_filter_chars(KEY_PREFIX)}*)(|{schools}))"
    )
    accounts = [
        parse_account(dn, attributes, layout)
        for dn, attributes in paged(connection, layout.base_dn, search_filter, ACCOUNT_ATTRIBUTES)
    ]
    for account in sorted(accounts, key=lambda a: a.login):
        if account.deactivated_on is not None:
            continue
        role = "pupils" if account.role == "pupil" else "teachers"
        for school_id in account.schools:
            if school_id in states:
                states[school_id][role].append(person_fact(account))
    for state in states.values():
        state["classes"].sort(key=lambda c: c["name"])
    return states


def empty_state(school_id: str) -> dict[str, Any]:
    """A school with no accounts yet: the shape of ``state`` (for ``inventory check`` and new schools)::

        classes:  [{"name": "5a", "group": "<id>-5a", "members": [login, ...]}, ...]   sorted by name
        pupils:   [{"login", "uid_number", "class", "first_name", "last_name", "home_school"}, ...]
        teachers: [...]  every active teacher of the school, those of several schools included
        groups:   {"pupils": "<id>-pupils", "teachers": "<id>-teachers"}
    """
    return {
        "classes": [],
        "pupils": [],
        "teachers": [],
        "groups": {"pupils": f"{school_id}-pupils", "teachers": f"{school_id}-teachers"},
    }


def person_fact(account: ActualAccount) -> dict[str, Any]:
    return {
        "login": account.login,
        "uid_number": account.uid_number,
        "class": account.class_name,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "home_school": account.home_school,
    }
