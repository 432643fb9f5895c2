"""Reading the directory: paged subtree searches and attribute access, for every layer above.

Nothing here knows accounts or groups; it only turns searches into ``(dn, attributes)`` pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ldap3
from ldap3.core.exceptions import LDAPNoSuchObjectResult

from schulit.directory.fastsearch import paged_search
from schulit.errors import DirectoryError

PAGE_SIZE = 1000


def paged(
    connection: ldap3.Connection,
    base: str,
    search_filter: str,
    attributes: list[str],
    scope: str = ldap3.SUBTREE,
) -> Iterator[tuple[str, dict[str, list[str]]]]:
    """Yield (dn, attributes) of every entry found; a missing base yields nothing.

    On a SYNC connection (the bulk reads) the answers are decoded by ``schulit.directory.fastsearch``.
    """
    if connection.strategy_type == ldap3.SYNC:
        yield from paged_search(connection, base, search_filter, attributes, scope, PAGE_SIZE)
        return
    try:
        for entry in connection.extend.standard.paged_search(
            base,
            search_filter,
            search_scope=scope,
            attributes=attributes,
            paged_size=PAGE_SIZE,
            generator=True,
        ):
            if entry.get("type") == "searchResEntry":
                yield entry["dn"], entry["attributes"]
    except LDAPNoSuchObjectResult:
        return
    except ldap3.core.exceptions.LDAPException as exc:
        raise DirectoryError(f"reading {base} failed: {exc}") from None


def first(attributes: dict[str, Any], name: str, default: str = "") -> str:
    """The first value of an attribute, or ``default``."""
    values = attributes.get(name) or []
    if isinstance(values, list):
        return str(values[0]) if values else default
    return str(values)


def values(attributes: dict[str, Any], name: str) -> list[str]:
    """All values of an attribute as strings."""
    found = attributes.get(name) or []
    return [str(v) for v in found] if isinstance(found, list) else [str(found)]
