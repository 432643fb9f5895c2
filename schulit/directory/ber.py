"""The little BER (X.690) that schulit's own LDAP encoding and decoding needs, and a message reader.

Definite lengths only (all LDAP uses); tags are single bytes (all of LDAP's are).
"""

from __future__ import annotations

import ldap3

from schulit.errors import DirectoryError

Value = str | bytes | int
INTEGER = 0x02
OCTET_STRING = 0x04
ENUMERATED = 0x0A
SEQUENCE = 0x30
SET = 0x31
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
