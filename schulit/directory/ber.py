"""LDAP messages on the wire: the little BER (X.690) schulit encodes and decodes itself, the encoding of
requests ldap3 builds, LDAPResult parsing, and a reader of whole messages off a socket.

Decoding is strict, as RFC 4511 §5.1 allows: definite lengths only, primitive OCTET STRINGs only, single-byte
tags (all of LDAP's are), every element inside its container, every tag the one that belongs there, text
UTF-8. Anything else is a ``MalformedAnswer`` (a ``DirectoryError``), never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ldap3
from ldap3.core.results import RESULT_CODES
from ldap3.protocol.convert import build_controls_list
from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
from ldap3.utils.asn1 import encode

from schulit.errors import DirectoryError

Value = str | bytes | int
Control = tuple[str, bool, Any]  # ldap3's (OID, criticality, value)
BOOLEAN = 0x01
INTEGER = 0x02
OCTET_STRING = 0x04
ENUMERATED = 0x0A
SEQUENCE = 0x30
SET = 0x31
CONTROLS = 0xA0  # [0], constructed, after the protocol operation
REFERRAL = 0xA3  # [3], constructed, in an LDAPResult
SASL_CREDENTIALS = 0x87  # [7] of a BindResponse
RESPONSE_NAME = 0x8A  # [10] of an ExtendedResponse
RESPONSE_VALUE = 0x8B  # [11] of an ExtendedResponse
EXTENDED_RESPONSE = 0x78  # [APPLICATION 24], constructed
READ_SIZE = 256 * 1024
MAX_INT = 2**31 - 1  # RFC 4511 maxInt: message ids, sizes
MAX_MESSAGE = 64 * 1024 * 1024  # a group of 100,000 members is ~2 MiB


def length(size: int) -> bytes:
    """A definite length in the shortest form."""
    if size < 0x80:
        return bytes((size,))
    body = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + length(len(content)) + content


def integer(number: int, tag: int = INTEGER) -> bytes:
    return tlv(tag, number.to_bytes(max(1, (number.bit_length() + 8) // 8), "big", signed=True))


def octets(value: Value, tag: int = OCTET_STRING) -> bytes:
    """An OCTET STRING: ``str`` as UTF-8, ``int`` as its decimal text, ``bytes`` as they are."""
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, str):
        raw = value.encode("utf-8")
    elif isinstance(value, int) and not isinstance(value, bool):
        raw = str(value).encode("ascii")
    else:
        raise TypeError(f"cannot send a {type(value).__name__} as an LDAP value")
    return tlv(tag, raw)


class MalformedAnswer(DirectoryError):
    """The server sent bytes that are not a well-formed LDAP message of the expected kind."""

    def __init__(self, problem: str):
        super().__init__(f"malformed answer from the directory server: {problem}")


def header(data: bytes, position: int, limit: int, expected: int | None = None) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the TLV at ``position``, which must end by ``limit``.

    ``expected``: the only tag allowed here. Raises MalformedAnswer for a TLV that does not fit in
    ``data[position:limit]``, an indefinite or reserved length, or another tag.
    """
    if position + 2 > limit:
        raise MalformedAnswer(f"an element at byte {position} runs past the end of its container")
    tag = data[position]
    if expected is not None and tag != expected:
        raise MalformedAnswer(f"tag {tag:#04x} at byte {position} where {expected:#04x} belongs")
    first = data[position + 1]
    if first < 0x80:
        start = position + 2
        end = start + first
    else:
        count = first & 0x7F
        if count == 0:
            raise MalformedAnswer(f"indefinite length at byte {position} (LDAP allows definite lengths only)")
        if count == 0x7F:
            raise MalformedAnswer(f"reserved length form at byte {position}")
        start = position + 2 + count
        if start > limit:
            raise MalformedAnswer(f"the length at byte {position} runs past the end of its container")
        end = start + int.from_bytes(data[position + 2 : start], "big")
    if end > limit:
        raise MalformedAnswer(
            f"an element at byte {position} claims {end - start} bytes, {limit - start} are there"
        )
    return tag, start, end


def frame(data: bytes, position: int) -> tuple[int, int] | None:
    """(start, end) of the content of the message that begins at ``position``; None while its header is
    incomplete. ``end`` beyond ``len(data)`` means the rest has yet to arrive."""
    if len(data) < position + 2:
        return None
    if data[position] != SEQUENCE:
        raise MalformedAnswer(f"a message starting with tag {data[position]:#04x} instead of a SEQUENCE")
    first = data[position + 1]
    if first < 0x80:
        return position + 2, position + 2 + first
    count = first & 0x7F
    if count == 0:
        raise MalformedAnswer("a message of indefinite length (LDAP allows definite lengths only)")
    if count > 4:
        raise MalformedAnswer(f"a message length of {count} bytes")
    start = position + 2 + count
    if start > len(data):
        return None
    size = int.from_bytes(data[position + 2 : start], "big")
    if size > MAX_MESSAGE:
        raise MalformedAnswer(f"a message of {size} bytes (more than the {MAX_MESSAGE} schulit accepts)")
    return start, start + size


def as_int(data: bytes, start: int, end: int, *, low: int = 0, high: int = MAX_INT) -> int:
    """The INTEGER or ENUMERATED value in ``data[start:end]``, which must lie in ``low..high``."""
    if not 0 < end - start <= 8:
        raise MalformedAnswer(f"an integer of {end - start} bytes at byte {start}")
    number = int.from_bytes(data[start:end], "big", signed=True)
    if not low <= number <= high:
        raise MalformedAnswer(f"the number {number} at byte {start} is out of range")
    return number


def text(raw: bytes) -> str:
    """UTF-8 as RFC 4511 demands; MalformedAnswer for anything else (no guessing at another encoding)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedAnswer(f"text that is not UTF-8: {raw[:60]!r}") from None


def uris(data: bytes, start: int, end: int) -> None:
    """Check a SEQUENCE SIZE (1..MAX) OF URI (a referral, a search result reference)."""
    if start >= end:
        raise MalformedAnswer(f"an empty list of URIs at byte {start}")
    while start < end:
        _tag, _content, start = header(data, start, end, OCTET_STRING)


def parse_controls(data: bytes, start: int, end: int) -> list[tuple[bytes, bool, bytes | None]]:
    """The (OID, criticality, value) of each Control in the content of a ``[0] Controls``."""
    found = []
    while start < end:
        _tag, position, control_end = header(data, start, end, SEQUENCE)
        _tag, oid_start, oid_end = header(data, position, control_end, OCTET_STRING)
        position = oid_end
        critical = False
        value = None
        if position < control_end and data[position] == BOOLEAN:
            _tag, flag, position = header(data, position, control_end, BOOLEAN)
            if position - flag != 1:
                raise MalformedAnswer(f"a BOOLEAN of {position - flag} bytes at byte {flag}")
            critical = data[flag] != 0
        if position < control_end:
            _tag, value_start, position = header(data, position, control_end, OCTET_STRING)
            value = bytes(data[value_start:position])
        if position != control_end:
            raise MalformedAnswer(f"unexpected bytes at {position} inside a control")
        found.append((bytes(data[oid_start:oid_end]), critical, value))
        start = control_end
    return found


def parse_message(data: bytes, start: int, end: int) -> tuple[int, int, int, int]:
    """(message id, protocol operation tag, its content start, its content end) of the LDAPMessage whose
    content is ``data[start:end]``; any controls after the operation are checked (``parse_controls``)."""
    _tag, id_start, id_end = header(data, start, end, INTEGER)
    message_id = as_int(data, id_start, id_end)
    operation, content, operation_end = header(data, id_end, end)
    if operation & 0x1F == 0x1F:
        raise MalformedAnswer(f"a multi-byte tag at byte {id_end}")
    if operation_end < end:
        _tag, controls_start, controls_end = header(data, operation_end, end, CONTROLS)
        if controls_end != end:
            raise MalformedAnswer(f"unexpected bytes at {controls_end} after the controls of a message")
        parse_controls(data, controls_start, controls_end)
    return message_id, operation, content, operation_end


def ldap3_message(message_id: int, kind: str, request: Any, controls: Sequence[Control] = ()) -> bytes:
    """The bytes of a request built by ldap3's operation builders (``kind``: e.g. ``"searchRequest"``)."""
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName(kind, request)
    if controls:
        message["controls"] = build_controls_list(list(controls))
    return bytes(encode(message))


@dataclass(frozen=True)
class Answer:
    """The LDAPResult of one request (and an extended operation's response value)."""

    result: int
    message: str = ""
    value: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.result == 0

    @property
    def description(self) -> str:
        return str(RESULT_CODES.get(self.result, f"result code {self.result}"))

    def explain(self) -> str:
        return f"{self.description} {self.message}".strip()


def parse_result(data: bytes, start: int, end: int, extras: tuple[int, ...] = ()) -> Answer:
    """The LDAPResult in ``data[start:end]`` (the content of a response).

    ``extras``: the tags that may follow it, in this order (an ExtendedResponse's name and value, a
    BindResponse's credentials); the value of RESPONSE_VALUE is kept. Raises MalformedAnswer otherwise.
    """
    _tag, code_start, code_end = header(data, start, end, ENUMERATED)
    code = as_int(data, code_start, code_end, low=-(2**31))
    _tag, _matched_start, matched_end = header(data, code_end, end, OCTET_STRING)
    _tag, message_start, position = header(data, matched_end, end, OCTET_STRING)
    explanation = text(data[message_start:position])
    if position < end and data[position] == REFERRAL:
        _tag, referral_start, position = header(data, position, end, REFERRAL)
        uris(data, referral_start, position)
    value = None
    allowed = list(extras)
    while position < end:
        tag = data[position]
        if tag not in allowed:
            raise MalformedAnswer(f"unexpected tag {tag:#04x} at byte {position} in a result")
        del allowed[: allowed.index(tag) + 1]
        _tag, content, next_position = header(data, position, end, tag)
        if tag == RESPONSE_VALUE:
            value = bytes(data[content:next_position])
        position = next_position
    return Answer(code, explanation, value)


def notice(data: bytes, operation: int, start: int, end: int) -> DirectoryError:
    """The error for an unsolicited notification (message id 0), e.g. the server shutting down."""
    if operation != EXTENDED_RESPONSE:
        raise MalformedAnswer(f"an answer of type {operation:#04x} with message id 0")
    found = parse_result(data, start, end, (RESPONSE_NAME, RESPONSE_VALUE))
    return DirectoryError(f"the directory server ended the session: {found.explain()}")


class MessageReader:
    """Whole LDAP messages off a bound SYNC connection's socket, read in the caller's thread only."""

    def __init__(self, connection: ldap3.Connection):
        if connection.strategy_type != ldap3.SYNC:
            raise ValueError("schulit reads the socket itself only on SYNC connections (no receiver thread)")
        self.connection = connection
        self.buffer = b""
        self.position = 0

    def next(self) -> tuple[bytes, int, int, int, int, int]:
        """(buffer, message id, protocol operation tag, its content start, its content end, end of the
        message) of the next message, checked by ``parse_message``.

        The buffer is only valid until the next call. Raises OSError from the socket (timeouts included),
        MalformedAnswer for bytes that are no LDAP message and DirectoryError when the server closes the
        connection (also in the middle of a message).
        """
        while True:
            found = frame(self.buffer, self.position)
            if found is not None and found[1] <= len(self.buffer):
                start, end = found
                self.position = end
                return self.buffer, *parse_message(self.buffer, start, end), end
            self._fill(found[1] - self.position if found is not None else 0)

    def _fill(self, wanted: int) -> None:
        """Read at least one chunk, and on until ``wanted`` bytes from the current position are there."""
        chunks = [self.buffer[self.position :]]
        have = len(chunks[0])
        while True:
            chunk = self.connection.socket.recv(READ_SIZE)
            if not chunk:
                middle = " in the middle of an answer" if have else ""
                raise DirectoryError(f"the directory server closed the connection{middle}")
            chunks.append(chunk)
            have += len(chunk)
            if have >= wanted:
                break
        self.buffer = b"".join(chunks)
        self.position = 0
