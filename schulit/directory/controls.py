"""LDAP request controls schulit sends, encoded once here."""

from __future__ import annotations

from ldap3.operation.search import compile_filter, parse_filter
from ldap3.utils.asn1 import encode

ASSERTION = "1.3.6.1.1.12"  # RFC 4528: the server applies the operation only if the entry matches a filter

Control = tuple[str, bool, bytes]


def assertion_control(search_filter: str) -> Control:
    """A critical assertion control: the write is done only if the entry still matches ``search_filter``
    (otherwise the server answers assertionFailed and changes nothing), one atomic step on the server."""
    parsed = parse_filter(search_filter, None, True, False, None, False)
    return ASSERTION, True, bytes(encode(compile_filter(parsed.elements[0])))
