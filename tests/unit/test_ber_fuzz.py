"""schulit's own decoding of LDAP answers against pyasn1's (with ldap3's ASN.1 definitions) on the same bytes.

A small LDAP "server" in a thread answers a real ldap3 SYNC connection over loopback TCP with answers encoded
by pyasn1: search result entries, references and done messages (``paged_search``), add/modify/delete/
modify DN/extended responses in any order (``PipelinedWriter``). The bytes go out in random TCP chunks
(and the reader reads them in random sizes), sometimes truncated or corrupted. Contract: schulit reads what
pyasn1 reads, or raises DirectoryError; never another exception, never an entry or answer that pyasn1
would not give, never a wait longer than the connection's receive timeout.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import ldap3
import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from ldap3.protocol.rfc2696 import Cookie, RealSearchControlValue, Size
from ldap3.protocol.rfc4511 import (
    LDAPDN,
    LDAPOID,
    URI,
    AddResponse,
    AttributeDescription,
    AttributeValue,
    Control,
    Controls,
    ControlValue,
    Criticality,
    DelResponse,
    ExtendedResponse,
    LDAPMessage,
    LDAPString,
    MessageID,
    ModifyDNResponse,
    ModifyResponse,
    PartialAttribute,
    PartialAttributeList,
    ProtocolOp,
    Referral,
    ResponseName,
    ResponseValue,
    ResultCode,
    SearchResultDone,
    SearchResultEntry,
    SearchResultReference,
    Vals,
)
from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error

from schulit.directory import ber
from schulit.directory.fastsearch import PAGED_RESULTS, paged_search
from schulit.directory.writer import PipelinedWriter
from schulit.errors import DirectoryError

FUZZ = settings(
    max_examples=int(os.environ.get("SCHULIT_FUZZ_EXAMPLES", "120")),
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TIMEOUT = 5  # the connection's receive timeout: the longest any read may wait
PAGE_SIZE = 3


# ---------------------------------------------------------------------------------------------- the server


@dataclass
class Script:
    """What the server sends: ``answers(requests)`` → bytes, for each request (or batch of requests)."""

    batches: list[Callable[[list[tuple[int, str]]], bytes]]
    batch_size: int = 1
    chunks: random.Random = field(default_factory=random.Random)
    hold_open: bool = False  # after the last batch: keep the connection open instead of closing it
    sent: list[bytes] = field(default_factory=list)
    requests: list[list[tuple[int, str]]] = field(default_factory=list)


def read_requests(connection: socket.socket, buffer: bytearray, count: int) -> list[tuple[int, str]] | None:
    """(message id, operation name) of the next ``count`` requests (pyasn1-decoded); None at EOF."""
    found: list[tuple[int, str]] = []
    while len(found) < count:
        try:
            message, rest = decoder.decode(bytes(buffer), asn1Spec=LDAPMessage())
        except PyAsn1Error:
            chunk = connection.recv(65536)
            if not chunk:
                return None
            buffer.extend(chunk)
            continue
        del buffer[: len(buffer) - len(rest)]
        found.append((int(message["messageID"]), message["protocolOp"].getName()))
    return found


def send_in_chunks(connection: socket.socket, data: bytes, chunks: random.Random) -> None:
    """Send ``data`` in up to 12 pieces cut at random places, pausing between them now and then."""
    cuts = (
        sorted(chunks.sample(range(1, len(data)), min(len(data) - 1, chunks.randint(0, 11)))) if data else []
    )
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        connection.sendall(data[start:end])
        if chunks.random() < 0.5:
            time.sleep(0.0005)  # let the reader see the message split here


def serve(listener: socket.socket, script: Script) -> None:
    connection, _address = listener.accept()
    with connection:
        connection.settimeout(3 * TIMEOUT)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        with contextlib.suppress(OSError):
            for batch in script.batches:
                requests = read_requests(connection, buffer, script.batch_size)
                if requests is None:
                    return
                script.requests.append(requests)
                data = batch(requests)
                script.sent.append(data)
                send_in_chunks(connection, data, script.chunks)
            if script.hold_open:
                connection.recv(1)  # until the client gives up (its receive timeout) and closes
                return
            connection.shutdown(socket.SHUT_WR)
            while connection.recv(65536):  # until the client closes: no reset that could eat the answers
                pass


@pytest.fixture(scope="module")
def listener() -> Iterator[socket.socket]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        server.settimeout(3 * TIMEOUT)
        yield server


@contextlib.contextmanager
def conversation(
    listener: socket.socket, script: Script, read_size: int, timeout: int = TIMEOUT
) -> Iterator[ldap3.Connection]:
    """A real ldap3 SYNC connection to the scripted server, with the reader reading ``read_size`` at most."""
    thread = threading.Thread(target=serve, args=(listener, script), daemon=True)
    thread.start()
    server = ldap3.Server("127.0.0.1", port=listener.getsockname()[1], get_info=ldap3.NONE)
    connection = ldap3.Connection(server, client_strategy=ldap3.SYNC, receive_timeout=timeout)
    connection.open()
    default, ber.READ_SIZE = ber.READ_SIZE, read_size
    try:
        yield connection
    finally:
        ber.READ_SIZE = default
        with contextlib.suppress(Exception):
            connection.unbind()
        thread.join(4 * TIMEOUT)
        assert not thread.is_alive()


# ------------------------------------------------------------------------------------------- the encoding


def message(
    message_id: int, kind: str, operation: object, controls: list[tuple[bytes, bool, bytes | None]]
) -> bytes:
    found = LDAPMessage()
    found["messageID"] = MessageID(message_id)
    found["protocolOp"] = ProtocolOp().setComponentByName(kind, operation)
    if controls:
        encoded = Controls()
        for number, (oid, critical, value) in enumerate(controls):
            control = Control()
            control["controlType"] = LDAPOID(oid)
            if critical:
                control["criticality"] = Criticality(True)
            if value is not None:
                control["controlValue"] = ControlValue(value)
            encoded.setComponentByPosition(number, control)
        found["controls"] = encoded
    return bytes(encoder.encode(found))


def result(kind: type, code: int, diagnostic: bytes, referral: list[bytes]) -> object:
    found = kind()
    found["resultCode"] = ResultCode(code)
    found["matchedDN"] = LDAPDN(b"")
    found["diagnosticMessage"] = LDAPString(diagnostic)
    if referral:
        uris = Referral()
        for number, uri in enumerate(referral):
            uris.setComponentByPosition(number, URI(uri))
        found["referral"] = uris
    return found


@dataclass(frozen=True)
class Entry:
    dn: bytes
    attributes: tuple[tuple[bytes, tuple[bytes, ...]], ...]

    def encode(self, message_id: int) -> bytes:
        entry = SearchResultEntry()
        entry["object"] = LDAPDN(self.dn)
        attributes = PartialAttributeList()
        for number, (name, values) in enumerate(self.attributes):
            attribute = PartialAttribute()
            attribute["type"] = AttributeDescription(name)
            vals = Vals()
            for position, value in enumerate(values):
                vals.setComponentByPosition(position, AttributeValue(value))
            attribute["vals"] = vals
            attributes.setComponentByPosition(number, attribute)
        entry["attributes"] = attributes
        return message(message_id, "searchResEntry", entry, [])


@dataclass(frozen=True)
class Reference:
    uris: tuple[bytes, ...]

    def encode(self, message_id: int) -> bytes:
        reference = SearchResultReference()
        for number, uri in enumerate(self.uris):
            reference.setComponentByPosition(number, URI(uri))
        return message(message_id, "searchResRef", reference, [])


@dataclass(frozen=True)
class Done:
    code: int
    diagnostic: bytes
    cookie: bytes | None  # None: no paged-results control
    other_controls: tuple[tuple[bytes, bool, bytes | None], ...]

    def encode(self, message_id: int) -> bytes:
        controls = list(self.other_controls)
        if self.cookie is not None:
            value = RealSearchControlValue()
            value["size"] = Size(0)
            value["cookie"] = Cookie(self.cookie)
            controls.append((PAGED_RESULTS, False, bytes(encoder.encode(value))))
        return message(
            message_id, "searchResDone", result(SearchResultDone, self.code, self.diagnostic, []), controls
        )


def lengths(data: bytes) -> list[tuple[int, int, int]]:
    """(position of the length octets, their count, the length) of every element of the BER ``data``, as
    pyasn1 encoded it (definite lengths), nested ones included."""
    found: list[tuple[int, int, int]] = []

    def walk(position: int, end: int) -> None:
        while position + 1 < end:
            first = data[position + 1]
            count = 1 if first < 0x80 else 1 + (first & 0x7F)
            size = first if first < 0x80 else int.from_bytes(data[position + 2 : position + 1 + count], "big")
            found.append((position + 1, count, size))
            start = position + 1 + count
            if data[position] & 0x20:  # constructed
                walk(start, start + size)
            position = start + size

    walk(0, len(data))
    return found


@dataclass(frozen=True)
class Corruption:
    """Damage done to the bytes of one answer batch: cut off, a byte replaced, bytes inserted or removed,
    or the length of one element (an answer, an attribute, a value ...) made larger or smaller."""

    kind: str
    where: float
    byte: int
    extra: bytes
    delta: int

    def apply(self, data: bytes) -> bytes:
        at = min(int(self.where * len(data)), max(0, len(data) - 1))
        if self.kind == "truncate":
            return data[:at]
        if self.kind == "replace":
            return data[:at] + bytes((self.byte,)) + data[at + 1 :]
        if self.kind == "insert":
            return data[:at] + self.extra + data[at:]
        if self.kind == "remove":
            return data[:at] + data[at + 1 + len(self.extra) :]
        if self.kind == "length" and (found := lengths(data)):
            position, count, size = found[min(int(self.where * len(found)), len(found) - 1)]
            size = max(0, size + self.delta)
            if count == 1 and size < 0x80:
                encoded = bytes((size,))
            else:
                body = size.to_bytes(max(count - 1, (size.bit_length() + 7) // 8, 1), "big")
                encoded = bytes((0x80 | len(body),)) + body
            return data[:position] + encoded + data[position + count :]
        return data


# ------------------------------------------------------------------------------------------- strategies

characters = st.characters(blacklist_categories=("Cs",))
utf8 = st.text(characters, max_size=40).map(str.encode)
uri_bytes = st.text(characters, min_size=1, max_size=40).map(str.encode)
long_utf8 = st.text(st.sampled_from("aäß€𝄞"), min_size=100, max_size=400).map(str.encode)
text_bytes = st.one_of([utf8] * 12 + [long_utf8, st.binary(max_size=20)])  # binary: mostly not UTF-8
names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,12}", fullmatch=True)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    attribute_names = draw(st.lists(names, max_size=6, unique_by=str.lower))
    attributes = tuple(
        (name.encode(), tuple(draw(st.lists(text_bytes, max_size=4)))) for name in attribute_names
    )
    if draw(st.integers(0, 30)) == 0:  # one big value: a three-byte length inside a long message
        attributes += ((b"description", (b"x" * draw(st.integers(60_000, 70_000)),)),)
    return Entry(draw(text_bytes), attributes)


@st.composite
def text_entries(draw: st.DrawFn) -> Entry:
    """Entries with UTF-8 text only."""
    attribute_names = draw(st.lists(names, min_size=1, max_size=5, unique_by=str.lower))
    values = st.lists(st.one_of(utf8, utf8, long_utf8), min_size=1, max_size=3).map(tuple)
    return Entry(draw(utf8), tuple((name.encode(), draw(values)) for name in attribute_names))


controls = st.tuples(
    st.sampled_from([b"1.2.3.4", b"2.16.840.1.113730.3.4.2"]),
    st.booleans(),
    st.none() | st.binary(max_size=8),
)
result_codes = st.sampled_from([0] * 16 + [1, 32, 50, 68, 9999])
corruptions = st.builds(
    Corruption,
    kind=st.sampled_from(["truncate", "replace", "insert", "remove", "length", "length"]),
    where=st.floats(0, 1),
    byte=st.sampled_from(
        [0x00, 0x01, 0x04, 0x0A, 0x30, 0x31, 0x64, 0x65, 0x7F, 0x80, 0x81, 0x84, 0x8B, 0xA0, 0xFF]
    ),
    extra=st.binary(min_size=1, max_size=6),
    delta=st.sampled_from([1, 1, 2, 3, 50, 200, -1, -2, 2**31]),
)
page = st.tuples(
    st.lists(
        st.one_of(
            entries(),
            entries(),
            entries(),
            st.builds(Reference, st.lists(uri_bytes, min_size=1, max_size=2).map(tuple)),
        ),
        max_size=PAGE_SIZE,
    ),
    result_codes,
    text_bytes,
    st.lists(controls, max_size=2).map(tuple),
)
read_sizes = st.sampled_from([1, 2, 7, 100, ber.READ_SIZE])


# ------------------------------------------------------------------------------------ pyasn1's reading


class Refused(Exception):
    """What pyasn1 (plus the LDAP rules schulit applies, such as UTF-8 text) does not accept."""


def strict_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused("not UTF-8") from None


def pyasn1_messages(data: bytes) -> Iterator[LDAPMessage]:
    """Each message pyasn1 decodes off ``data``, then Refused where it stops (also: bytes left over)."""
    while data:
        try:
            decoded, data = decoder.decode(data, asn1Spec=LDAPMessage())
        except PyAsn1Error as exc:
            raise Refused(str(exc)) from None
        yield decoded
    raise Refused("end of the bytes")


def pyasn1_controls(decoded: LDAPMessage) -> list[tuple[bytes, bool, bytes | None]]:
    if not decoded["controls"].isValue:
        return []
    found = []
    for control in decoded["controls"]:
        value = control["controlValue"]
        found.append(
            (
                bytes(control["controlType"]),
                bool(control["criticality"]),
                bytes(value) if value.isValue else None,
            )
        )
    return found


def pyasn1_cookie(decoded: LDAPMessage) -> bytes:
    paging = [value for oid, _critical, value in pyasn1_controls(decoded) if oid == PAGED_RESULTS]
    if not paging:
        return b""
    if len(paging) > 1 or paging[0] is None:
        raise Refused("two paging controls")
    try:
        value, rest = decoder.decode(paging[0], asn1Spec=RealSearchControlValue())
    except PyAsn1Error as exc:
        raise Refused(str(exc)) from None
    if rest:
        raise Refused("bytes after the control value")
    return bytes(value["cookie"])


def pyasn1_entry(decoded: SearchResultEntry, requested: dict[str, str]) -> tuple[str, dict[str, list[str]]]:
    attributes: dict[str, list[str]] = {}
    for attribute in decoded["attributes"]:
        name = strict_text(bytes(attribute["type"]))
        key = requested.get(name.lower(), name)
        if key in attributes:
            raise Refused("attribute twice")
        attributes[key] = [strict_text(bytes(v)) for v in attribute["vals"]]
    return strict_text(bytes(decoded["object"])), attributes


def pyasn1_search(pages: list[bytes], message_ids: list[int], requested: list[str]) -> tuple[list, bool]:
    """(entries, complete) as pyasn1 reads the bytes the server sent for each page's request."""
    folded = {name.lower(): name for name in requested}
    found: list = []
    for data, message_id in zip(pages, message_ids, strict=True):
        try:
            for decoded in pyasn1_messages(data):
                if int(decoded["messageID"]) != message_id:
                    raise Refused("another message id")
                kind = decoded["protocolOp"].getName()
                operation = decoded["protocolOp"].getComponent()
                if kind == "searchResEntry":
                    found.append(pyasn1_entry(operation, folded))
                elif kind == "searchResDone":
                    strict_text(bytes(operation["diagnosticMessage"]))
                    code = int(operation["resultCode"])
                    if code == 32:
                        return found, True
                    if code != 0:
                        raise Refused("result code")
                    if not pyasn1_cookie(decoded):
                        return found, True
                    break  # next page
                elif kind != "searchResRef":
                    raise Refused(f"a {kind}")
        except Refused:
            return found, False
    return found, False  # the server sent no more pages


# ---------------------------------------------------------------------------------------- paged_search


def search_pages(
    pages: list[tuple], last_cookie: bytes | None, damage: tuple[int, Corruption] | None
) -> list:
    """One batch per page, the last one the damaged page if any; every page's done but the last one's has
    a cookie of its own."""
    if damage is not None:
        pages = pages[: damage[0] + 1]
    batches = []
    for number, (items, code, diagnostic, others) in enumerate(pages):
        cookie = f"page-{number + 1}".encode() if number < len(pages) - 1 else last_cookie
        done = Done(code, diagnostic, cookie, others)
        hurt = damage[1] if damage is not None and damage[0] == number else None

        def batch(
            requests: list[tuple[int, str]], items: list = items, done: Done = done, hurt=hurt
        ) -> bytes:
            data = b"".join(item.encode(requests[0][0]) for item in [*items, done])
            return hurt.apply(data) if hurt is not None else data

        batches.append(batch)
    return batches


def schulit_search(
    connection: ldap3.Connection, requested: list[str]
) -> tuple[list, bool, DirectoryError | None]:
    found: list = []
    try:
        for entry in paged_search(
            connection, "dc=example", "(objectClass=*)", requested, page_size=PAGE_SIZE
        ):
            found.append(entry)
    except DirectoryError as exc:
        return found, False, exc
    return found, True, None


def check_search(listener, pages, last_cookie, damage, requested, read_size, seed) -> None:
    """Serve ``pages`` (one damaged if ``damage``) to ``paged_search``; compare with pyasn1's reading."""
    script = Script(search_pages(pages, last_cookie, damage), chunks=random.Random(seed))
    with conversation(listener, script, read_size) as connection:
        got, complete, error = schulit_search(connection, requested)
    message_ids = [requests[0][0] for requests in script.requests]
    expected, expected_complete = pyasn1_search(script.sent, message_ids, requested)
    event(f"complete={complete} pyasn1={expected_complete} damaged={damage is not None}")
    event(f"error: {str(error).split('failed: ')[-1][:60] if error else None}")

    assert got == expected[: len(got)], "an entry pyasn1 reads differently (or not at all)"
    if complete:
        assert expected_complete and got == expected
    if damage is None or damage[0] >= len(pages):  # well-formed bytes: exactly pyasn1's reading
        assert (got, complete) == (expected, expected_complete), error


@FUZZ
@given(
    pages=st.lists(page, min_size=1, max_size=3),
    last_cookie=st.sampled_from([b"", None]),
    damage=st.none() | st.tuples(st.integers(0, 2), corruptions),
    requested=st.lists(names, max_size=4),
    read_size=read_sizes,
    seed=st.integers(0, 2**32),
)
def test_search_answers_read_as_pyasn1_reads_them(
    listener, pages, last_cookie, damage, requested, read_size, seed
) -> None:
    check_search(listener, pages, last_cookie, damage, requested, read_size, seed)


@FUZZ
@given(
    items=st.lists(text_entries(), min_size=1, max_size=PAGE_SIZE),
    damage=st.builds(
        Corruption,
        st.just("length"),
        st.floats(0, 1),
        st.just(0),
        st.just(b""),
        st.sampled_from([1, 2, 5, -1]),
    ),
    read_size=read_sizes,
    seed=st.integers(0, 2**32),
)
def test_any_length_made_wrong_in_a_page_is_refused_or_read_as_pyasn1_reads_it(
    listener, items, damage, read_size, seed
) -> None:
    """Well-formed text entries, one length in the page (of a message, an attribute, a value ...) changed."""
    check_search(listener, [(items, 0, b"", ())], b"", (0, damage), ["uid", "sn"], read_size, seed)


# ---------------------------------------------------------------------------------------- the writer

RESPONSES = {
    "addRequest": ("addResponse", AddResponse),
    "modifyRequest": ("modifyResponse", ModifyResponse),
    "delRequest": ("delResponse", DelResponse),
    "modDNRequest": ("modDNResponse", ModifyDNResponse),
    "extendedReq": ("extendedResp", ExtendedResponse),
}


@dataclass(frozen=True)
class Reply:
    code: int
    diagnostic: bytes
    referral: tuple[bytes, ...]
    name: bytes | None
    value: bytes | None

    def encode(self, message_id: int, request: str) -> bytes:
        kind, response = RESPONSES[request]
        found = result(response, self.code, self.diagnostic, list(self.referral))
        if request == "extendedReq":
            if self.name is not None:
                found["responseName"] = ResponseName(self.name)
            if self.value is not None:
                found["responseValue"] = ResponseValue(self.value)
        return message(message_id, kind, found, [])


replies = st.builds(
    Reply,
    code=result_codes,
    diagnostic=st.one_of([utf8] * 20 + [st.binary(max_size=20)]),
    referral=st.lists(uri_bytes, max_size=2).map(tuple),
    name=st.none() | st.just(b"1.3.6.1.1.21.1"),
    value=st.none() | st.binary(max_size=10),
)


def send_requests(wire: PipelinedWriter, kinds: list[str]) -> list[int]:
    sent = []
    for number, kind in enumerate(kinds):
        dn = f"uid=u{number},dc=example"
        if kind == "add":
            sent.append(
                wire.add(dn, ["top", "account"], {"uid": f"u{number}", "description": ["ä", b"\xff"]})
            )
        elif kind == "modify":
            sent.append(wire.modify(dn, {"description": [(ldap3.MODIFY_REPLACE, ["x"])]}))
        elif kind == "delete":
            sent.append(wire.delete(dn))
        elif kind == "modify_dn":
            sent.append(wire.modify_dn(dn, f"uid=v{number}", "ou=moved,dc=example"))
        else:
            sent.append(wire.extended("1.3.6.1.1.21.1"))
    return sent


def pyasn1_answers(data: bytes, requests: list[tuple[int, str]]) -> tuple[dict[int, ber.Answer], bool]:
    """The answers pyasn1 reads, in order, until every request has one; (answers, all of them read)."""
    due = dict(requests)
    found: dict[int, ber.Answer] = {}
    try:
        for decoded in pyasn1_messages(data):
            if len(found) == len(requests):
                break
            message_id = int(decoded["messageID"])
            kind = decoded["protocolOp"].getName()
            if message_id not in due or RESPONSES[due.pop(message_id)][0] != kind:
                raise Refused("an answer to no request, or of the wrong kind")
            operation = decoded["protocolOp"].getComponent()
            value = operation["responseValue"] if kind == "extendedResp" else None
            found[message_id] = ber.Answer(
                int(operation["resultCode"]),
                strict_text(bytes(operation["diagnosticMessage"])),
                bytes(value) if value is not None and value.isValue else None,
            )
    except Refused:
        pass
    return found, len(found) == len(requests)


@FUZZ
@given(
    kinds=st.lists(
        st.sampled_from(["add", "modify", "delete", "modify_dn", "extended"]), min_size=1, max_size=6
    ),
    answers=st.data(),
    damage=st.none() | corruptions,
    read_size=read_sizes,
    seed=st.integers(0, 2**32),
)
def test_write_answers_read_as_pyasn1_reads_them(listener, kinds, answers, damage, read_size, seed) -> None:
    generated = answers.draw(st.lists(replies, min_size=len(kinds), max_size=len(kinds)))
    order = answers.draw(st.permutations(range(len(kinds))))
    asked = answers.draw(st.permutations(range(len(kinds))))

    def batch(requests: list[tuple[int, str]]) -> bytes:
        data = b"".join(generated[n].encode(*requests[n]) for n in order)
        return damage.apply(data) if damage is not None else data

    script = Script([batch], batch_size=len(kinds), chunks=random.Random(seed))
    got: dict[int, ber.Answer] = {}
    error = None
    with conversation(listener, script, read_size) as connection:
        wire = PipelinedWriter(connection)
        sent = send_requests(wire, kinds)
        try:
            for n in asked:
                got[sent[n]] = wire.answer(sent[n])
        except DirectoryError as exc:
            error = exc
            wire.abandon()
    expected, expected_all = pyasn1_answers(script.sent[0], script.requests[0])
    event(f"all={len(got) == len(kinds)} pyasn1={expected_all} damaged={damage is not None}")
    event(f"error: {str(error)[:60] if error else None}")

    assert all(expected.get(message_id) == answer for message_id, answer in got.items()), "a wrong answer"
    if len(got) == len(kinds):
        assert expected_all
    if damage is None:  # well-formed bytes: all answers exactly when pyasn1 reads them all
        assert (len(got) == len(kinds)) == expected_all, error


# ---------------------------------------------------------------------------------- particular answers


def one_page(data: Callable[[int], bytes], hold_open: bool = False) -> Script:
    return Script([lambda requests: data(requests[0][0])], hold_open=hold_open)


def entry_bytes(message_id: int) -> bytes:
    return Entry(b"uid=a,dc=example", ((b"uid", (b"a",)), (b"sn", (b"M\xc3\xbcller",)))).encode(message_id)


@pytest.mark.parametrize(
    ("name", "answer", "problem"),
    [
        ("nothing", lambda _m: b"", "timed out"),
        ("half a header", lambda m: entry_bytes(m)[:1], "timed out"),
        ("half a message", lambda m: entry_bytes(m)[:-3], "timed out"),
        ("a length of 2 GiB", lambda _m: b"\x30\x84\x7f\xff\xff\xff\x02\x01\x01", "more than"),
        ("an indefinite length", lambda m: b"\x30\x80" + entry_bytes(m)[2:] + b"\x00\x00", "indefinite"),
        ("a length of 9 bytes", lambda _m: b"\x30\x89" + b"\x01" * 12, "length of 9 bytes"),
        ("not a SEQUENCE", lambda m: b"\x31" + entry_bytes(m)[1:], "instead of a SEQUENCE"),
    ],
)
def test_an_unfinished_or_impossible_answer_ends_within_the_timeout(listener, name, answer, problem) -> None:
    """The server keeps the connection open: schulit waits at most its receive timeout, or not at all."""
    script = one_page(answer, hold_open=True)
    with (
        conversation(listener, script, ber.READ_SIZE, timeout=1) as connection,
        pytest.raises(DirectoryError, match=problem),
    ):
        list(paged_search(connection, "dc=example", "(objectClass=*)", ["uid"]))


def test_a_well_formed_page_reads_like_ldap3(listener) -> None:
    def answer(message_id: int) -> bytes:
        return entry_bytes(message_id) + Done(0, b"", b"", ()).encode(message_id)

    with conversation(listener, one_page(answer), 1) as connection:
        assert list(paged_search(connection, "dc=example", "(objectClass=*)", ["UID", "sn"])) == [
            ("uid=a,dc=example", {"UID": ["a"], "sn": ["Müller"]})
        ]


@pytest.mark.parametrize(
    ("name", "attributes", "problem"),
    [
        (
            "a value not UTF-8",
            ((b"uid", (b"a",)), (b"sn", (b"M\xfcller",))),
            "a value of attribute sn of an entry .* is not UTF-8",
        ),
        ("an attribute name not UTF-8", ((b"\xff", (b"a",)),), "an attribute name of an entry"),
        ("the same attribute twice", ((b"sn", (b"a",)), (b"SN", (b"b",))), "attribute SN twice"),
    ],
)
def test_an_entry_that_is_no_text_or_twice_an_attribute_is_refused(
    listener, name, attributes, problem
) -> None:
    entry = Entry(b"uid=a,dc=example", attributes)
    with (
        conversation(listener, one_page(entry.encode), ber.READ_SIZE) as connection,
        pytest.raises(DirectoryError, match=problem),
    ):
        list(paged_search(connection, "dc=example", "(objectClass=*)", ["uid", "sn"]))


@pytest.mark.parametrize(
    ("name", "damage", "problem"),
    [
        ("a value's length beyond its set", (b"\x04\x07M", b"\x04\x08M"), "claims 8 bytes, 7 are there"),
        ("a constructed OCTET STRING", (b"\x04\x03uid", b"\x24\x03uid"), "tag 0x24"),
        ("a set of values as a SEQUENCE", (b"\x31\x03\x04\x01a", b"\x30\x03\x04\x01a"), "tag 0x30"),
    ],
)
def test_a_damaged_entry_is_refused_by_name(listener, name, damage, problem) -> None:
    with (
        conversation(
            listener, one_page(lambda m: entry_bytes(m).replace(*damage)), ber.READ_SIZE
        ) as connection,
        pytest.raises(DirectoryError, match=problem),
    ):
        list(paged_search(connection, "dc=example", "(objectClass=*)", ["uid", "sn"]))


def test_an_answer_to_no_request_is_not_waited_for(listener) -> None:
    with (
        conversation(listener, Script([]), ber.READ_SIZE) as connection,
        pytest.raises(ValueError, match="no request 7"),
    ):
        PipelinedWriter(connection).answer(7)
