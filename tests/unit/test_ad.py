"""The AD facts schulit relies on (schulit.directory.ad), without a DC."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schulit.directory import ad


def test_unicode_pwd_is_the_quoted_password_in_utf16le() -> None:
    assert ad.unicode_pwd("Ab1ä") == '"Ab1ä"'.encode("utf-16-le")
    assert ad.unicode_pwd("x")[:2] == b'"\x00'


def test_filetime_round_trips_dates_and_knows_never() -> None:
    assert ad.filetime(date(1601, 1, 1)) == 0
    assert ad.filetime(datetime(1970, 1, 1, tzinfo=UTC)) == 116444736000000000
    assert ad.filetime_date(ad.filetime(date(2026, 9, 1))) == date(2026, 9, 1)
    for never in (0, ad.NEVER, "9223372036854775807", None, "", "junk"):
        assert ad.filetime_date(never) is None


@given(st.dates(min_value=date(1700, 1, 1), max_value=date(9000, 12, 31)))
def test_filetime_date_is_the_inverse_of_filetime(day: date) -> None:
    assert ad.filetime_date(ad.filetime(day)) == day


def test_realm_domain_and_sam_account_names() -> None:
    assert ad.realm_of("OU=county,DC=ad,DC=lk-test,DC=example") == "AD.LK-TEST.EXAMPLE"
    assert ad.domain_dn_of("OU=x,OU=y,dc=ad,dc=example") == "DC=ad,DC=example"
    assert ad.sam_account_name_problem("lea.mueller") is None
    assert "longer than 20" in (ad.sam_account_name_problem("a" * 21) or "")
    assert "cannot hold" in (ad.sam_account_name_problem("a*b") or "")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error, data 773, v1db1",
            "password must be changed",
        ),
        ("... data 533, v1db1", "account disabled"),
        ("... data 52e, v1db1", "invalid credentials"),
        ("something else", "something else"),
    ],
)
def test_bind_reasons(message: str, reason: str) -> None:
    assert ad.bind_reason(message) == reason


def test_policy_passwords_meet_complexity_and_avoid_the_names() -> None:
    policy = ad.DomainPolicy(min_length=12, complex=True)
    for _ in range(200):
        password = ad.policy_password(policy, 10, "lea.mueller", "Lea Müller")
        assert len(password) >= 12 and ad.satisfies(policy, password, "lea.mueller", "Lea Müller")
    assert not ad.satisfies(policy, "abcdefghijkl", "x", "X Y")  # one class only
    assert not ad.satisfies(policy, "Xy3Lea-abcdefg", "lea.mueller", "Lea Müller")  # a part of the name
    assert not ad.satisfies(policy, "Ab3", "x", "X")  # too short
    assert ad.satisfies(ad.DomainPolicy(min_length=8, complex=False), "abcdefgh", "abc", "Abc")
