"""The hand-encoded AddRequest is byte for byte what ldap3's pyasn1 path sends for the same entry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ldap3.operation.add import add_operation
from ldap3.protocol.rfc4511 import LDAPMessage, MessageID, ProtocolOp
from ldap3.utils.asn1 import encode

from schulit.directory.fastadd import encode_add_request


def reference(message_id: int, dn: str, attributes: dict[str, list[str]]) -> bytes:
    request = add_operation(dn, attributes, auto_encode=True, schema=None, validator=None, check_names=False)
    message = LDAPMessage()
    message["messageID"] = MessageID(message_id)
    message["protocolOp"] = ProtocolOp().setComponentByName("addRequest", request)
    return bytes(encode(message))


def test_an_account_entry_encodes_like_ldap3() -> None:
    attributes = {
        "objectClass": ["top", "inetOrgPerson", "posixAccount", "shadowAccount"],
        "uid": ["zeynep.oeztuerk"],
        "cn": ["Zeynep Öztürk"],
        "sn": ["Öztürk"],
        "description": ["x" * 300],  # long form length
        "userPassword": ["{CRYPT}$6$salt$hash"],
    }
    dn = r"uid=zeynep.oeztuerk,ou=Schüler,ou=gy-soltau,dc=heide,dc=example"
    assert encode_add_request(7, dn, attributes) == reference(7, dn, attributes)


def test_plain_string_and_int_values_are_single_values_and_empty_lists_are_left_out() -> None:
    got = encode_add_request(1, "cn=a,dc=x", {"cn": "a", "gidNumber": 20001, "memberUid": []})
    assert got == reference(1, "cn=a,dc=x", {"cn": ["a"], "gidNumber": ["20001"]})


def test_values_of_other_types_are_refused() -> None:
    with pytest.raises(TypeError):
        encode_add_request(1, "cn=a,dc=x", {"cn": [1.5]})  # type: ignore[list-item]


texts = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(
    message_id=st.integers(min_value=1, max_value=2**31 - 1),
    dn=texts,
    attributes=st.dictionaries(
        st.from_regex(r"[a-zA-Z][a-zA-Z0-9-]{0,20}", fullmatch=True),
        st.lists(texts, min_size=1, max_size=5),
        max_size=12,
    ),
)
def test_any_entry_encodes_like_ldap3(message_id: int, dn: str, attributes: dict[str, list[str]]) -> None:
    assert encode_add_request(message_id, dn, attributes) == reference(message_id, dn, attributes)
