"""LDAP add requests encoded directly as BER and sent on an open ldap3 ASYNC connection.

ldap3 builds every request as a tree of pyasn1 objects and encodes it with pyasn1: ~0.7 ms of CPU per
account entry, which made the client, not slapd, the limit of a 10,000-account import. An AddRequest is
a fixed, simple structure (RFC 4511 §4.7), so it is encoded here with plain byte strings (~20 µs) and
written to the connection's socket; everything else stays ldap3's: the connection, bind and TLS, the
receiver thread that decodes the responses, and ``get_response`` to collect them.

This relies on internals of ldap3 2.9 (the last release line), as ``Connection.add`` uses them: the
strategy's ``_outstanding`` table, where a request must be registered for ``get_response`` to accept its
message id, ``post_send_single_response`` (the event the receiver thread sets), and ``connection_lock``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import ldap3
from ldap3.core.exceptions import LDAPSocketSendError

Value = str | bytes | int
OCTET_STRING = 0x04
INTEGER = 0x02
SEQUENCE = 0x30
SET = 0x31
BOOLEAN_TRUE = b"\x01\x01\xff"
ADD_REQUEST = 0x68  # [APPLICATION 8], constructed
CONTROLS = 0xA0  # [0], constructed
START_TRANSACTION = "1.3.6.1.1.21.1"  # RFC 5805
TRANSACTION_SPECIFICATION = "1.3.6.1.1.21.2"
END_TRANSACTION = "1.3.6.1.1.21.3"


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    body = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def _integer(number: int) -> bytes:
    return _tlv(INTEGER, number.to_bytes(max(1, (number.bit_length() + 8) // 8), "big", signed=True))


def _octets(value: Value) -> bytes:
    if isinstance(value, bytes):
        raw = value
    elif isinstance(value, str):
        raw = value.encode("utf-8")
    elif isinstance(value, int) and not isinstance(value, bool):
        raw = str(value).encode("ascii")
    else:
        raise TypeError(f"cannot send a {type(value).__name__} as an LDAP value")
    return _tlv(OCTET_STRING, raw)


def _values(value: Value | Iterable[Value]) -> list[Value]:
    if isinstance(value, str | bytes | int):
        return [value]
    return list(value)


def encode_add_request(
    message_id: int,
    dn: str,
    attributes: Mapping[str, Value | Iterable[Value]],
    transaction: bytes | None = None,
) -> bytes:
    """The BER bytes of ``LDAPMessage { messageID, AddRequest { entry, attributes }, controls }``.

    Attributes with no values are left out (an AddRequest may not carry an empty set). With
    ``transaction``, the request carries the critical transaction specification control of RFC 5805.
    """
    encoded_attributes = b"".join(
        _tlv(SEQUENCE, _octets(name) + _tlv(SET, b"".join(_octets(v) for v in values)))
        for name, value in attributes.items()
        if (values := _values(value))
    )
    request = _tlv(ADD_REQUEST, _octets(dn) + _tlv(SEQUENCE, encoded_attributes))
    controls = b""
    if transaction is not None:
        control = _octets(TRANSACTION_SPECIFICATION) + BOOLEAN_TRUE + _octets(transaction)
        controls = _tlv(CONTROLS, _tlv(SEQUENCE, control))
    return _tlv(SEQUENCE, _integer(message_id) + request + controls)


def send_add(
    connection: ldap3.Connection,
    dn: str,
    object_classes: Iterable[str],
    attributes: Mapping[str, Value | Iterable[Value]],
    transaction: bytes | None = None,
) -> int:
    """Send an add on an open, bound ASYNC connection; return the message id for ``get_response``.

    With ``transaction`` (from ``start_transaction``) the server only queues the add until the end of the
    transaction."""
    if connection.strategy_type != ldap3.ASYNC:
        raise ValueError("send_add needs an ASYNC connection (its receiver thread collects the answers)")
    entry = {"objectClass": list(object_classes), **attributes}
    with connection.connection_lock:
        strategy = connection.strategy
        if not connection.listening or strategy._outstanding is None:
            raise LDAPSocketSendError("unable to send message, socket is not open")
        message_id = connection.server.next_message_id()
        data = encode_add_request(message_id, dn, entry, transaction)
        strategy._outstanding[message_id] = {
            "type": "addRequest",
            "entry": dn,
            "attributes": entry,
            "controls": None,
        }
        try:
            connection.socket.sendall(data)
        except OSError as exc:
            strategy._outstanding.pop(message_id, None)
            connection.last_error = f"socket sending error {exc}"
            raise LDAPSocketSendError(connection.last_error) from None
        strategy.post_send_single_response(message_id)  # creates the event the receiver thread sets
    return message_id


def offers_transactions(connection: ldap3.Connection) -> bool:
    """True if the server's root DSE lists both the start and the end transaction operations."""
    ok, _result, response, _request = connection.search(
        "", "(objectClass=*)", ldap3.BASE, attributes=["supportedExtension"]
    )
    if not ok or not response:
        return False
    offered = {str(v) for v in response[0]["attributes"].get("supportedExtension") or []}
    return {START_TRANSACTION, END_TRANSACTION} <= offered


def _extended(connection: ldap3.Connection, name: str, value: bytes | None) -> dict:
    _response, result = connection.get_response(connection.extended(name, value))
    if result is None:
        raise LDAPSocketSendError(f"no answer to the extended operation {name}")
    return result


def start_transaction(connection: ldap3.Connection) -> bytes | None:
    """Start an RFC 5805 transaction on an ASYNC connection; its identifier, or None if refused."""
    result = _extended(connection, START_TRANSACTION, None)
    if result["result"] != 0:
        return None
    value = result.get("responseValue")
    return bytes(value) if value else b""


def end_transaction(connection: ldap3.Connection, transaction: bytes, *, commit: bool) -> tuple[bool, str]:
    """Commit (or abort) a transaction; ``(committed, server message)``. Nothing is applied unless True."""
    flag = b"" if commit else b"\x01\x01\x00"  # commit is the DEFAULT TRUE and is left out
    result = _extended(connection, END_TRANSACTION, _tlv(SEQUENCE, flag + _octets(transaction)))
    committed = commit and result["result"] == 0
    return committed, f"{result.get('description', '')} {result.get('message', '')}".strip()
