"""Initial passwords: generated with ``secrets``, hashed before they leave the process, never logged.

{CRYPT} SHA-512 ("$6$") is computed by libxcrypt through ctypes: the same library slapd uses to verify it,
~1 ms per hash. {SSHA} is available for directories that cannot verify crypt hashes.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import hashlib
import hmac
import secrets
import string
import threading

# No 0 O 1 l I (look alike on paper), no y Y z Z (swapped on German keyboards).
LOWER = "abcdefghijkmnopqrstuvwx"
UPPER = "ABCDEFGHJKLMNPQRSTUVWX"
DIGITS = "23456789"
ALPHABET = LOWER + UPPER + DIGITS
SALT_ALPHABET = string.ascii_letters + string.digits + "./"

CRYPT_DATA_SIZE = 32768  # sizeof(struct crypt_data) in libxcrypt
_library_lock = threading.Lock()
_libcrypt: ctypes.CDLL | None = None
_scratch = threading.local()


def generate_password(length: int = 10) -> str:
    """A random password from the readable alphabet, with a lower, an upper letter and a digit."""
    if length < 8:
        raise ValueError("passwords shorter than 8 characters are not issued")
    while True:
        password = "".join(secrets.choice(ALPHABET) for _ in range(length))
        if (any(c in LOWER for c in password) and any(c in UPPER for c in password)
                and any(c in DIGITS for c in password)):
            return password


def _crypt_library() -> ctypes.CDLL:
    global _libcrypt
    with _library_lock:
        if _libcrypt is None:
            name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
            library = ctypes.CDLL(name)
            library.crypt_rn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
            library.crypt_rn.restype = ctypes.c_char_p
            _libcrypt = library
        return _libcrypt


def crypt(password: str, setting: str) -> str:
    """libxcrypt's reentrant ``crypt_rn`` for ``setting`` (e.g. ``$6$salt``); raises ValueError on failure.

    ctypes releases the GIL during the call and each thread has its own ``crypt_data`` buffer, so hashing
    in a thread pool uses every core.
    """
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None:
        buffer = _scratch.buffer = ctypes.create_string_buffer(CRYPT_DATA_SIZE)
    result = _crypt_library().crypt_rn(password.encode(), setting.encode(), buffer, CRYPT_DATA_SIZE)
    if not result or result.startswith(b"*"):
        raise ValueError("crypt(3) refused the setting")
    return result.decode()


def hash_password(password: str, scheme: str = "crypt-sha512") -> str:
    """The ``userPassword`` value for ``password``: ``{CRYPT}$6$...`` or ``{SSHA}...``."""
    if scheme == "crypt-sha512":
        salt = "".join(secrets.choice(SALT_ALPHABET) for _ in range(16))
        return "{CRYPT}" + crypt(password, f"$6${salt}")
    if scheme == "ssha":
        salt = secrets.token_bytes(8)
        digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - the {SSHA} scheme is SHA-1
        return "{SSHA}" + base64.b64encode(digest + salt).decode()
    raise ValueError(f"unknown hash scheme {scheme!r}")


def verify_password(password: str, hashed: str) -> bool:
    """True if ``password`` matches a value made by ``hash_password``."""
    if hashed.startswith("{CRYPT}"):
        stored = hashed[len("{CRYPT}"):]
        try:
            return hmac.compare_digest(crypt(password, stored), stored)
        except ValueError:
            return False
    if hashed.startswith("{SSHA}"):
        try:
            raw = base64.b64decode(hashed[len("{SSHA}"):], validate=True)
        except ValueError:
            return False
        digest, salt = raw[:20], raw[20:]
        return hmac.compare_digest(hashlib.sha1(password.encode() + salt).digest(), digest)  # noqa: S324
    return False
