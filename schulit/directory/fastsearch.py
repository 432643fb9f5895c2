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
    INTEGER,
    MAX_INT,
    OCTET_STRING,
    SEQUENCE,
    SET,
    MalformedAnswer,
    MessageReader,
    as_int,
    header,
    ldap3_message,
    notice,
    parse_controls,
    parse_result,
    uris,
)
from schulit.errors import DirectoryError

Entry = tuple[str, dict[str, list[str]]]
SEARCH_RESULT_ENTRY = 0x64  # [APPLICATION 4], constructed
SEARCH_RESULT_DONE = 0x65  # [APPLICATION 5], constructed
SEARCH_RESULT_REFERENCE = 0x73  # [APPLICATION 19], constructed
PAGED_RESULTS = b"1.2.840.113556.1.4.319"
NO_SUCH_OBJECT = 32


def decode_entry(
    data: bytes, start: int, end: int, names: dict[str, str], spelt: dict[bytes, str] | None = None
) -> Entry:
    """A SearchResultEntry's content → (dn, {attribute: [values]}); attribute names as the caller asked.

    ``names``: lower-case name → the caller's spelling; ``spelt``: the same keyed by the name's bytes as the
    caller spelt it (what servers send back), which saves decoding and lower-casing each name.
    Every value must be UTF-8 text (schulit reads no binary attribute); an attribute may appear once.
    Raises MalformedAnswer otherwise, or for any element that is not where and what RFC 4511 says.
    """
    _tag, dn_start, dn_end = header(data, start, end, OCTET_STRING)
    _tag, position, attributes_end = header(data, dn_end, end, SEQUENCE)
    if attributes_end != end:
        raise MalformedAnswer(f"unexpected bytes at {attributes_end} after the attributes of an entry")
    attributes: dict[str, list[str]] = {}
    try:
        dn = data[dn_start:dn_end].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedAnswer("the DN of an entry is not UTF-8 text") from None
    spelt = spelt or {}
    name = None
    try:
        while position < attributes_end:
            # The three headers of an attribute (SEQUENCE, its name, the SET of values) inlined for the
            # common short form, the hot loop of a directory read; anything else goes through ``header``.
            size = data[position + 1] if position + 2 <= attributes_end else 0x80
            content = position + 2
            next_position = content + size
            if size >= 0x80 or data[position] != SEQUENCE or next_position > attributes_end:
                _tag, content, next_position = header(data, position, attributes_end, SEQUENCE)
            size = data[content + 1] if content + 2 <= next_position else 0x80
            name_start = content + 2
            name_end = name_start + size
            if size >= 0x80 or data[content] != OCTET_STRING or name_end > next_position:
                _tag, name_start, name_end = header(data, content, next_position, OCTET_STRING)
            size = data[name_end + 1] if name_end + 2 <= next_position else 0x80
            value = name_end + 2
            values_end = value + size
            if size >= 0x80 or data[name_end] != SET or values_end > next_position:
                _tag, value, values_end = header(data, name_end, next_position, SET)
            if values_end != next_position:
                raise MalformedAnswer(f"unexpected bytes at {values_end} after the values of an attribute")
            name = None
            key = spelt.get(data[name_start:name_end])
            if key is None:
                name = data[name_start:name_end].decode("utf-8")
                key = names.get(name.lower(), name)
            if key in attributes:
                raise MalformedAnswer(f"attribute {name or key} twice in one entry")
            name = name or key
            found: list[str] = []
            while value < values_end:
                size = data[value + 1] if value + 2 <= values_end else 0x80
                if size < 0x80 and data[value] == OCTET_STRING and value + 2 + size <= values_end:
                    value_start = value + 2
                    value = value_start + size
                else:
                    _tag, value_start, value = header(data, value, values_end, OCTET_STRING)
                found.append(data[value_start:value].decode("utf-8"))
            attributes[key] = found
            position = next_position
    except UnicodeDecodeError:
        what = "an attribute name" if name is None else f"a value of attribute {name}"
        raise MalformedAnswer(f"{what} of an entry {dn!r} is not UTF-8 text") from None
    return dn, attributes


def _paged_cookie(data: bytes, start: int, end: int) -> bytes:
    """The cookie of the paged-results control among the controls in ``data[start:end]`` (b"" if none)."""
    found = [value for oid, _critical, value in parse_controls(data, start, end) if oid == PAGED_RESULTS]
    if not found:
        return b""
    if len(found) > 1 or found[0] is None:
        raise MalformedAnswer("the paged-results control twice or without a value")
    value = found[0]  # SEQUENCE { size INTEGER (0..maxInt), cookie OCTET STRING }
    _tag, sequence, sequence_end = header(value, 0, len(value), SEQUENCE)
    if sequence_end != len(value):
        raise MalformedAnswer("unexpected bytes after the paged-results control value")
    _tag, size_start, size_end = header(value, sequence, sequence_end, INTEGER)
    as_int(value, size_start, size_end, high=MAX_INT)
    _tag, cookie_start, cookie_end = header(value, size_end, sequence_end, OCTET_STRING)
    if cookie_end != sequence_end:
        raise MalformedAnswer("unexpected bytes after the paged-results cookie")
    return bytes(value[cookie_start:cookie_end])


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
        base, search_filter, scope, ldap3.DEREF_NEVER, attributes, 0, 0, False, True, True,
        schema=None, validator=None, check_names=False,
    )
    paging = [paged_search_control(False, page_size, cookie)] if page_size else []  # 0: one unpaged search
    return ldap3_message(message_id, "searchRequest", request, paging)


def _done(data: bytes, start: int, end: int, message_end: int) -> bytes | None:
    """SearchResultDone → the paged-results cookie (b"" on the last page), None for a missing base."""
    answer = parse_result(data, start, end)
    if answer.result == NO_SUCH_OBJECT:
        return None
    if not answer.ok:
        raise DirectoryError(answer.explain())
    if end < message_end:  # the controls, checked by ber.parse_message
        _tag, controls_start, controls_end = header(data, end, message_end, CONTROLS)
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
    spelt = {name.encode("utf-8"): name for name in attributes}
    cookie: bytes | None = b""
    complete = False
    try:
        while True:
            message_id = connection.server.next_message_id()
            request = _request(message_id, base, search_filter, scope, attributes, page_size, cookie or b"")
            connection.socket.sendall(request)
            sent = cookie
            entries = 0
            while True:
                data, answered, operation, start, end, message_end = reader.next()
                if answered == 0:
                    raise notice(data, operation, start, end)
                if answered != message_id:
                    raise DirectoryError(f"an answer to request {answered} arrived, not to {message_id}")
                if operation == SEARCH_RESULT_ENTRY:
                    entries += 1
                    yield decode_entry(data, start, end, names, spelt)
                elif operation == SEARCH_RESULT_DONE:
                    cookie = _done(data, start, end, message_end)
                    break
                elif operation == SEARCH_RESULT_REFERENCE:
                    uris(data, start, end)
                else:
                    raise MalformedAnswer(f"unexpected answer type {operation:#04x} to a search")
            if not cookie:  # last page, or no such base
                complete = True
                return
            if cookie == sent and not entries:
                raise MalformedAnswer("an empty page with the same paging cookie again (would never end)")
    except (DirectoryError, OSError) as exc:  # OSError: socket errors and timeouts
        raise DirectoryError(f"reading {base} failed: {exc}") from None
    finally:
        if not complete:
            with contextlib.suppress(Exception):
                connection.unbind()
