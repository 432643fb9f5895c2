"""Pipelined LDAP writes on one SYNC connection: requests sent back to back, answers read in the same thread.

ldap3 pipelines only with its ASYNC strategy, whose receiver thread reads the socket while the caller's
thread writes it. On a TLS socket that is two threads in one OpenSSL connection at once, which OpenSSL
does not support: in tests, pipelined writes over ldaps:// and StartTLS lost answers or broke the
handshake. Here one thread does both: ``send`` writes a request and returns its message id, ``answer``
reads answers (in whatever order the server sends them) until that id's has come.

Add requests are encoded by ``schulit.directory.fastadd`` (ldap3's pyasn1 path costs ~0.7 ms of CPU per
account); modify, modify DN and delete requests are built and encoded by ldap3. ldap3 still opens, secures
and binds the connection, and unbinds it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import ldap3
from ldap3.operation.delete import delete_operation
from ldap3.operation.modify import modify_operation
from ldap3.operation.modifyDn import modify_dn_operation

from schulit.directory.ber import (
    EXTENDED_RESPONSE,
    RESPONSE_NAME,
    RESPONSE_VALUE,
    SEQUENCE,
    Answer,
    Control,
    MalformedAnswer,
    MessageReader,
    Value,
    integer,
    ldap3_message,
    notice,
    octets,
    parse_result,
    tlv,
)
from schulit.directory.fastadd import encode_add_request

ADD_RESPONSE = 0x69  # [APPLICATION 9]
RESPONSES = {"modifyRequest": 0x67, "delRequest": 0x6B, "modDNRequest": 0x6D}  # [APPLICATION 7, 11, 13]
RESPONSE_EXTRAS = {EXTENDED_RESPONSE: (RESPONSE_NAME, RESPONSE_VALUE)}
EXTENDED_REQUEST = 0x77  # [APPLICATION 23]
REQUEST_NAME = 0x80  # [0]
REQUEST_VALUE = 0x81  # [1]
START_TRANSACTION = "1.3.6.1.1.21.1"  # RFC 5805
END_TRANSACTION = "1.3.6.1.1.21.3"


class PipelinedWriter:
    """Write requests on a bound SYNC connection without waiting for each answer."""

    def __init__(self, connection: ldap3.Connection):
        self.connection = connection
        self.reader = MessageReader(connection)
        self.answers: dict[int, Answer] = {}
        self.outstanding: dict[int, int] = {}  # message id → the type of answer it is due

    def _send(self, build: Any, response: int) -> int:
        message_id = self.connection.server.next_message_id()
        self.outstanding[message_id] = response
        self.connection.socket.sendall(build(message_id))
        return message_id

    def abandon(self) -> None:
        """After a failure: close the socket at once, without an unbind, if answers are still due.

        slapd 2.5.13 crashed (the whole server) when an unbind arrived while a transaction's commit was
        still running, which is where a timed-out or interrupted run would otherwise send one.
        """
        if self.outstanding:
            with contextlib.suppress(OSError):
                self.connection.socket.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                self.connection.socket.close()

    def _send_ldap3(self, kind: str, request: Any, controls: Sequence[Control] = ()) -> int:
        response = RESPONSES[kind]
        return self._send(lambda message_id: ldap3_message(message_id, kind, request, controls), response)

    def add(
        self,
        dn: str,
        object_classes: Iterable[str],
        attributes: Mapping[str, Value | Iterable[Value]],
        transaction: bytes | None = None,
    ) -> int:
        """Send an add (queued in ``transaction`` if given); returns the message id."""
        entry = {"objectClass": list(object_classes), **attributes}
        return self._send(
            lambda message_id: encode_add_request(message_id, dn, entry, transaction), ADD_RESPONSE
        )

    def modify(
        self, dn: str, changes: Mapping[str, list[tuple[str, list[str]]]], controls: Sequence[Control] = ()
    ) -> int:
        """Send a modify in ldap3's change format ``{attribute: [(MODIFY_*, values)]}``."""
        request = modify_operation(dn, dict(changes), True, schema=None, validator=None, check_names=False)
        return self._send_ldap3("modifyRequest", request, controls)

    def modify_dn(self, dn: str, relative_dn: str, new_superior: str) -> int:
        """Send a move/rename (old RDN deleted)."""
        return self._send_ldap3("modDNRequest", modify_dn_operation(dn, relative_dn, True, new_superior))

    def delete(self, dn: str) -> int:
        return self._send_ldap3("delRequest", delete_operation(dn))

    def extended(self, name: str, value: bytes | None = None) -> int:
        request = tlv(
            EXTENDED_REQUEST,
            octets(name, REQUEST_NAME) + (octets(value, REQUEST_VALUE) if value is not None else b""),
        )
        return self._send(lambda message_id: tlv(SEQUENCE, integer(message_id) + request), EXTENDED_RESPONSE)

    def answer(self, message_id: int) -> Answer:
        """Read answers until the one to ``message_id`` has arrived; return it.

        An answer to no outstanding request, or of another type than its request's, is a MalformedAnswer.
        """
        if message_id not in self.answers and message_id not in self.outstanding:
            raise ValueError(f"no request {message_id} is waiting for its answer")
        while message_id not in self.answers:
            data, answered, operation, start, end, _message_end = self.reader.next()
            if answered == 0:
                raise notice(data, operation, start, end)
            due = self.outstanding.pop(answered, None)
            if due is None:
                raise MalformedAnswer(f"an answer to request {answered}, which is not waiting for one")
            if operation != due:
                raise MalformedAnswer(f"an answer of type {operation:#04x} to request {answered}")
            self.answers[answered] = parse_result(data, start, end, RESPONSE_EXTRAS.get(operation, ()))
        return self.answers.pop(message_id)

    def start_transaction(self) -> bytes | None:
        """Start an RFC 5805 transaction; its identifier, or None if the server refused."""
        found = self.answer(self.extended(START_TRANSACTION))
        return (found.value or b"") if found.ok else None

    def end_transaction(self, transaction: bytes, *, commit: bool) -> tuple[bool, str]:
        """Commit (or abort) a transaction: (committed, server message). Nothing is applied unless True."""
        flag = b"" if commit else b"\x01\x01\x00"  # commit is the DEFAULT TRUE and is left out
        found = self.answer(self.extended(END_TRANSACTION, tlv(SEQUENCE, flag + octets(transaction))))
        return commit and found.ok, found.explain()


def offers_transactions(connection: ldap3.Connection) -> bool:
    """True if the server's root DSE lists both the start and the end transaction operations."""
    ok, _result, response, _request = connection.search(
        "", "(objectClass=*)", ldap3.BASE, attributes=["supportedExtension"]
    )
    if not ok or not response:
        return False
    offered = {str(v) for v in response[0]["attributes"].get("supportedExtension") or []}
    return {START_TRANSACTION, END_TRANSACTION} <= offered
