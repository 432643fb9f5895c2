"""Paged subtree reads whose answers are decoded here, not by ldap3: the no-change sync's long pole.

ldap3 decodes every search result entry value by value in general-purpose Python (a config look-up, a
case-insensitive dict insert and a Unicode conversion per value, ~10 µs each); reading 100,000 accounts
spent three quarters of the no-change sync there. The request is still built and encoded by ldap3 (filter
parsing, the paged-results control of RFC 2696); the answers (SearchResultEntry, SearchResultDone,
RFC 4511 §4.5.2) are plain BER read off the connection's socket with a few slicing operations per value.

Only for SYNC connections: no receiver thread reads the socket meanwhile, and every answer of a page is
consumed before the next request, so ldap3 finds the connection as it left it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import ldap3
from ldap3.operation.search import search_operation
from ldap3.protocol.rfc2696 import paged_search_control

from schulit.directory.ber import (
    CONTROLS,
    OCTET_STRING,
    MessageReader,
    header,
    ldap3_message,
    parse_result,
    text,
)
from schulit.errors import DirectoryError

Entry = tuple[str, dict[str, list[str]]]
SEARCH_RESULT_ENTRY = 0x64  # [APPLICATION 4], constructed
SEARCH_RESULT_DONE = 0x65  # [APPLICATION 5], constructed
SEARCH_RESULT_REFERENCE = 0x73  # [APPLICATION 19], constructed
PAGED_RESULTS = b"1.2.840.113556.1.4.319"
NO_SUCH_OBJECT = 32


def decode_entry(data: bytes, start: int, end: int, names: dict[str, str]) -> Entry:
    """A SearchResultEntry's content → (dn, {attribute: [values]}); attribute names as the caller asked."""
    _tag, dn_start, dn_end = header(data, start)
    dn = text(data[dn_start:dn_end])
    _tag, position, attributes_end = header(data, dn_end)
    attributes: dict[str, list[str]] = {}
    while position < attributes_end:
        _tag, content, next_position = header(data, position)
        _tag, name_start, name_end = header(data, content)
        name = text(data[name_start:name_end])
        _tag, value, values_end = header(data, name_end)
        found: list[str] = []
        while value < values_end:
            _tag, value_start, value_end = header(data, value)
            found.append(text(data[value_start:value_end]))
            value = value_end
        attributes[names.get(name.lower(), name)] = found
        position = next_position
    return dn, attributes


def _paged_cookie(data: bytes, start: int, end: int) -> bytes:
    """The cookie of the paged-results control among the controls in ``data[start:end]`` (b"" if none)."""
    position = start
    while position < end:
        _tag, content, next_position = header(data, position)
        _tag, oid_start, oid_end = header(data, content)
        if data[oid_start:oid_end] == PAGED_RESULTS:
            item = oid_end
            while item < next_position:
                tag, item_start, item_end = header(data, item)
                if tag == OCTET_STRING:  # controlValue: SEQUENCE { size INTEGER, cookie OCTET STRING }
                    _tag, sequence, _end = header(data, item_start)
                    _tag, _size_start, size_end = header(data, sequence)
                    _tag, cookie_start, cookie_end = header(data, size_end)
                    return bytes(data[cookie_start:cookie_end])
                item = item_end
        position = next_position
    return b""


def _request(
    message_id: int,
    base: str,
    search_filter: str,
    scope: str,
    attributes: list[str],
    page_size: int,
    cookie: bytes,
) -> bytes:
    request = search_operation(
        base,
        search_filter,
        scope,
        ldap3.DEREF_NEVER,
        attributes,
        0,
        0,
        False,
        True,
        True,
        schema=None,
        validator=None,
        check_names=False,
    )
    paging = paged_search_control(False, page_size, cookie)
    return ldap3_message(message_id, "searchRequest", request, [paging])


def _done(data: bytes, start: int, end: int, message_end: int, base: str) -> bytes | None:
    """SearchResultDone → the paged-results cookie (b"" on the last page), None for a missing base."""
    answer = parse_result(data, start, end)
    if answer.result == NO_SUCH_OBJECT:
        return None
    if not answer.ok:
        raise DirectoryError(f"reading {base} failed: {answer.explain()}")
    if end < message_end:
        tag, controls_start, controls_end = header(data, end)
        if tag == CONTROLS:
            return _paged_cookie(data, controls_start, controls_end)
    return b""


def paged_search(
    connection: ldap3.Connection,
    base: str,
    search_filter: str,
    attributes: list[str],
    scope: str = ldap3.SUBTREE,
    page_size: int = 1000,
) -> Iterator[Entry]:
    """Yield (dn, attributes) of every entry found; a missing base yields nothing.

    Values are ``str`` (UTF-8); attribute names are spelt as in ``attributes`` whatever case the server
    uses. Raises DirectoryError on any failure; a read not finished (error, or the caller stopped early)
    unbinds the connection, whose socket may still hold answers.
    """
    reader = MessageReader(connection)
    names = {name.lower(): name for name in attributes}
    cookie: bytes | None = b""
    complete = False
    try:
        while True:
            message_id = connection.server.next_message_id()
            request = _request(message_id, base, search_filter, scope, attributes, page_size, cookie or b"")
            connection.socket.sendall(request)
            while True:
                data, answered, operation_start, message_end = reader.next()
                if answered != message_id:
                    raise DirectoryError(f"reading {base} failed: an answer to another request arrived")
                operation, start, end = header(data, operation_start)
                if operation == SEARCH_RESULT_ENTRY:
                    yield decode_entry(data, start, end, names)
                elif operation == SEARCH_RESULT_DONE:
                    cookie = _done(data, start, end, message_end, base)
                    break
                elif operation != SEARCH_RESULT_REFERENCE:
                    raise DirectoryError(f"reading {base} failed: unexpected answer type {operation:#x}")
            if not cookie:  # last page, or no such base
                complete = True
                return
    except OSError as exc:  # socket errors and timeouts
        raise DirectoryError(f"reading {base} failed: {exc}") from None
    finally:
        if not complete:
            with contextlib.suppress(Exception):
                connection.unbind()
