"""LDAP messages on the wire: the little BER (X.690) schulit encodes and decodes itself, the encoding of
requests ldap3 builds, LDAPResult parsing, and a reader of whole messages off a socket.

Definite lengths only (all LDAP uses); tags are single bytes (all of LDAP's are).
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
INTEGER = 0x02
OCTET_STRING = 0x04
SEQUENCE = 0x30
SET = 0x31
CONTROLS = 0xA0  # [0], constructed, after the protocol operation
RESPONSE_VALUE = 0x8B  # [11] of an ExtendedResponse
READ_SIZE = 256 * 1024


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


def header(data: bytes, position: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the TLV at ``position``; IndexError if incomplete."""
    tag = data[position]
    first = data[position + 1]
    if first < 0x80:
        return tag, position + 2, position + 2 + first
    count = first & 0x7F
    start = position + 2 + count
    if start > len(data):
        raise IndexError("incomplete length")
    return tag, start, start + int.from_bytes(data[position + 2 : start], "big")


def as_int(raw: bytes) -> int:
    return int.from_bytes(raw, "big", signed=True)


def text(raw: bytes) -> str:
    """UTF-8 as RFC 4511 demands; anything else kept readable (Latin-1) rather than lost."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


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


def parse_result(data: bytes, start: int, end: int) -> Answer:
    """LDAPResult components (and an ExtendedResponse's responseValue) from ``data[start:end]``."""
    _tag, code_start, code_end = header(data, start)
    _tag, _matched_start, matched_end = header(data, code_end)
    _tag, message_start, message_end = header(data, matched_end)
    value = None
    position = message_end
    while position < end:
        tag, content, next_position = header(data, position)
        if tag == RESPONSE_VALUE:
            value = bytes(data[content:next_position])
        position = next_position
    return Answer(as_int(data[code_start:code_end]), text(data[message_start:message_end]), value)


class MessageReader:
    """Whole LDAP messages off a bound SYNC connection's socket, read in the caller's thread only."""

    def __init__(self, connection: ldap3.Connection):
        if connection.strategy_type != ldap3.SYNC:
            raise ValueError("schulit reads the socket itself only on SYNC connections (no receiver thread)")
        self.connection = connection
        self.buffer = b""
        self.position = 0

    def next(self) -> tuple[bytes, int, int, int]:
        """(buffer, message id, start of the protocol operation, end of the message) of the next message.

        The buffer is only valid until the next call. Raises OSError from the socket (timeouts included)
        and DirectoryError when the server closes the connection.
        """
        while True:
            if self.position < len(self.buffer):
                try:
                    _tag, content, end = header(self.buffer, self.position)
                except IndexError:
                    end = len(self.buffer) + 1
                if end <= len(self.buffer):
                    _tag, id_start, id_end = header(self.buffer, content)
                    self.position = end
                    return self.buffer, as_int(self.buffer[id_start:id_end]), id_end, end
            chunk = self.connection.socket.recv(READ_SIZE)
            if not chunk:
                raise DirectoryError("the directory server closed the connection")
            self.buffer = self.buffer[self.position :] + chunk
            self.position = 0
