"""Slow salted password hashes (scrypt from the standard library).

Stored form: ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>``, so the
parameters can be raised later without invalidating existing hashes.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os

LOG2_N, R, P = 14, 8, 1  # ~16 MiB of memory and tens of ms per check
_SALT_BYTES, _HASH_BYTES = 16, 32
# The prefix of a stored password that nothing matches (unusable_password).
UNUSABLE = "!"


class PasswordHash(str):
    """A password already hashed (before a transaction opened): stored as is."""


def hash_password(password: str) -> str:
    if isinstance(password, PasswordHash):
        return str(password)
    salt = os.urandom(_SALT_BYTES)
    digest = _scrypt(password, salt, LOG2_N, R, P)
    return "scrypt$%d$%d$%d$%s$%s" % (LOG2_N, R, P, _b64(salt), _b64(digest))


def unusable_password() -> PasswordHash:
    """A stored password that no password matches, for an account made on
    its owner's behalf (a new sender of email), who sets one through
    password recovery. As safe as the hash of a random password nobody
    knows, without its scrypt: that was most of the Email Import's CPU
    per new sender (bench/email_import.py)."""
    return PasswordHash(UNUSABLE + os.urandom(8).hex())


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith(UNUSABLE):
        # As slow as a real check, so that timing does not tell such accounts apart.
        burn_equal_time(password)
        return False
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(log2_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)


def _scrypt(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=1 << log2_n, r=r, p=p,
        maxmem=256 * 1024 * 1024, dklen=_HASH_BYTES,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# Checked against unknown usernames so that a missing account costs as much
# time as a wrong password (no user enumeration by timing).
_DUMMY_HASH = hash_password("stws-dummy-password")


def burn_equal_time(password: str) -> None:
    verify_password(password, _DUMMY_HASH)
