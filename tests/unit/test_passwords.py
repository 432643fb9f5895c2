"""Initial passwords (SPEC §4): readable alphabet, `secrets`, {CRYPT} SHA-512 and {SSHA} hashes."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections.abc import Sequence

import pytest

from schulit import passwords
from schulit.passwords import generate_password, hash_password, verify_password

CONFUSABLE = set("0O1lIyYzZ")
CRYPT_SHA512 = re.compile(r"^\{CRYPT\}\$6\$(?P<salt>[A-Za-z0-9./]{16})\$(?P<hash>[A-Za-z0-9./]{86})$")


def test_alphabet_has_no_confusable_characters() -> None:
    assert not CONFUSABLE & set(passwords.ALPHABET)
    assert set(passwords.ALPHABET) == set(passwords.LOWER) | set(passwords.UPPER) | set(passwords.DIGITS)
    assert len(set(passwords.ALPHABET)) == len(passwords.ALPHABET)  # no letter weighted twice


@pytest.mark.parametrize("length", [8, 10, 12, 32])
def test_generated_passwords(length: int) -> None:
    for _ in range(200):
        password = generate_password(length)
        assert len(password) == length
        assert not CONFUSABLE & set(password)
        assert set(password) <= set(passwords.ALPHABET)
        assert any(c in passwords.LOWER for c in password)
        assert any(c in passwords.UPPER for c in password)
        assert any(c in passwords.DIGITS for c in password)


def test_default_length_and_minimum() -> None:
    assert len(generate_password()) == 10
    with pytest.raises(ValueError, match="shorter than 8"):
        generate_password(7)


def test_passwords_are_random() -> None:
    generated = {generate_password(10) for _ in range(500)}
    assert len(generated) == 500
    # Every character of the alphabet shows up somewhere in 5,000 draws.
    assert set("".join(generated)) == set(passwords.ALPHABET)


def test_passwords_come_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """generate_password draws each character with secrets.choice (not the random module)."""
    calls: list[str] = []
    script = iter("abcdefgh" + "abcdefgA" + "abcdefA2")  # two rejected draws, then an acceptable one

    def fake_choice(seq: Sequence[str]) -> str:
        calls.append("".join(seq))
        return next(script)

    monkeypatch.setattr(passwords.secrets, "choice", fake_choice)
    assert generate_password(8) == "abcdefA2"
    assert len(calls) == 24 and set(calls) == {passwords.ALPHABET}


def test_crypt_sha512_format_and_verify() -> None:
    hashed = hash_password("Kx7mPq2wRt")
    assert CRYPT_SHA512.match(hashed), hashed
    assert verify_password("Kx7mPq2wRt", hashed)
    assert not verify_password("Kx7mPq2wRT", hashed)
    assert not verify_password("", hashed)
    assert not verify_password("Kx7mPq2wRt ", hashed)


def test_crypt_sha512_matches_the_reference_vector() -> None:
    # Test vector from Ulrich Drepper's SHA-crypt specification: what slapd/libxcrypt compute.
    reference = (
        "{CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35"
        "inz1"
    )
    assert verify_password("Hello world!", reference)
    assert not verify_password("Hello world?", reference)
    assert passwords.crypt("Hello world!", "$6$saltstring") == reference.removeprefix("{CRYPT}")


def test_ssha_format_and_verify() -> None:
    hashed = hash_password("Kx7mPq2wRt", "ssha")
    assert hashed.startswith("{SSHA}")
    raw = base64.b64decode(hashed.removeprefix("{SSHA}"), validate=True)
    digest, salt = raw[:20], raw[20:]
    assert len(salt) == 8
    assert digest == hashlib.sha1(b"Kx7mPq2wRt" + salt).digest()  # noqa: S324 - the {SSHA} scheme is SHA-1
    assert verify_password("Kx7mPq2wRt", hashed)
    assert not verify_password("kx7mPq2wRt", hashed)


def test_ssha_made_elsewhere_verifies() -> None:
    salt = b"\x01\x02\x03\x04salt"
    value = "{SSHA}" + base64.b64encode(hashlib.sha1(b"geheim" + salt).digest() + salt).decode()  # noqa: S324
    assert verify_password("geheim", value)
    assert not verify_password("Geheim", value)


def test_non_ascii_passwords_round_trip() -> None:
    for scheme in ("crypt-sha512", "ssha"):
        hashed = hash_password("Grüße-ßÄ€", scheme)
        assert verify_password("Grüße-ßÄ€", hashed)
        assert not verify_password("Grusse-sA€", hashed)


def test_salts_are_distinct() -> None:
    crypt_hashes = [hash_password("same-password") for _ in range(50)]
    salts = {CRYPT_SHA512.match(h)["salt"] for h in crypt_hashes}  # type: ignore[index]
    assert len(salts) == 50
    ssha_salts = {base64.b64decode(hash_password("same-password", "ssha")[6:])[20:] for _ in range(50)}
    assert len(ssha_salts) == 50
    assert all(verify_password("same-password", h) for h in crypt_hashes)


def test_crypt_salts_come_from_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords.secrets, "choice", lambda seq: seq[0])
    assert hash_password("x").startswith("{CRYPT}$6$" + "a" * 16 + "$")
    monkeypatch.setattr(passwords.secrets, "token_bytes", lambda n: b"\x00" * n)
    assert base64.b64decode(hash_password("x", "ssha")[6:])[20:] == b"\x00" * 8


def test_hashing_in_threads_is_consistent() -> None:
    """Each thread has its own crypt_data buffer: parallel hashing must not mix results."""
    plain = [f"pw-{i}-{secrets.token_hex(4)}" for i in range(40)]
    results: dict[int, list[str]] = {}

    def work(index: int) -> None:
        results[index] = [hash_password(p) for p in plain[index * 10 : index * 10 + 10]]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    hashed = [h for i in range(4) for h in results[i]]
    assert all(verify_password(p, h) for p, h in zip(plain, hashed, strict=True))


def test_unknown_scheme_and_garbage_hashes() -> None:
    with pytest.raises(ValueError, match="unknown hash scheme"):
        hash_password("x", "md5")
    assert not verify_password("x", "{MD5}abc")
    assert not verify_password("x", "plaintext-x")
    assert not verify_password("x", "x")  # a cleartext value is never accepted as a hash
    assert not verify_password("x", "{SSHA}not base64!!")
    assert not verify_password("x", "{CRYPT}*0")
    assert not verify_password("x", "{CRYPT}")
