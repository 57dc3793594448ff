"""Password hashing and the credential cache, without a server."""
from __future__ import annotations

import time

from stws.security.auth import CredentialCache
from stws.security.passwords import hash_password, verify_password


def test_hash_is_salted_and_verifies():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert "correct horse" not in first
    assert verify_password("correct horse", first) and verify_password("correct horse", second)
    assert not verify_password("correct horsE", first)
    assert not verify_password("x", "garbage") and not verify_password("x", "scrypt$1$2")


def test_cache_keys_do_not_contain_the_password_and_depend_on_both_parts():
    cache = CredentialCache(60)
    key = cache.key("Alice", "s3cret")
    assert b"s3cret" not in key and len(key) == 32
    assert key == cache.key("alice", "s3cret")  # user names are case-insensitive
    assert key != cache.key("alice", "s3creT")
    assert key != CredentialCache(60).key("alice", "s3cret")  # per-process secret


ROLES = frozenset({"Everyone", "Agent"})


def test_cache_hit_needs_same_user_and_stamp_and_expires():
    cache = CredentialCache(0.2)
    key = cache.key("alice", "pw")
    cache.store(key, 7, "stamp1", ROLES)
    assert cache.lookup(key, 7, "stamp1") == ROLES  # the roles come with the hit
    assert cache.lookup(key, 8, "stamp1") is None  # another user's entry
    assert cache.lookup(key, 7, "stamp1") is None  # ... was dropped
    cache.store(key, 7, "stamp1", ROLES)
    assert cache.lookup(key, 7, "stamp2") is None  # credentials changed: entry dropped
    assert cache.lookup(key, 7, "stamp1") is None
    cache.store(key, 7, "stamp1", ROLES)
    time.sleep(0.25)
    assert cache.lookup(key, 7, "stamp1") is None


def test_forget_user_and_bounded_size():
    cache = CredentialCache(60, max_entries=3)
    for n in range(3):
        cache.store(cache.key("u%d" % n, "pw"), n, "s", ROLES)
    cache.forget_user(1)
    assert cache.lookup(cache.key("u1", "pw"), 1, "s") is None
    assert cache.lookup(cache.key("u2", "pw"), 2, "s") == ROLES
    for n in range(10, 20):
        cache.store(cache.key("u%d" % n, "pw"), n, "s", ROLES)
    assert len(cache._entries) <= 3
