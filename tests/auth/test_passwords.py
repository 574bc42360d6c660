"""Password hashing: argon2id for new hashes, imported crypt/bcrypt hashes, the success cache."""

from __future__ import annotations

import pytest
from passlib.hash import bcrypt, md5_crypt, sha512_crypt

from rmail.auth import passwords
from rmail.auth.passwords import (
    forget_cached,
    hash_password,
    is_supported_hash,
    verify_password,
)

# Imported hashes at cheap cost settings: the format is what matters here, not the work factor.
IMPORTED = {
    "md5-crypt": lambda pw: md5_crypt.hash(pw),
    "sha512-crypt": lambda pw: sha512_crypt.using(rounds=5000).hash(pw),
    "bcrypt": lambda pw: bcrypt.using(rounds=4).hash(pw),
}


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, bytes], float]:
    cache: dict[tuple[str, bytes], float] = {}
    monkeypatch.setattr(passwords, "_cache", cache)
    return cache


def test_new_hashes_are_argon2id() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert hashed != hash_password("correct horse")  # salted
    assert verify_password("correct horse", hashed) == (True, None)
    assert verify_password("wrong horse", hashed) == (False, None)


@pytest.mark.parametrize("kind", sorted(IMPORTED))
def test_imported_hashes_verify_and_ask_for_upgrade(kind: str) -> None:
    hashed = IMPORTED[kind]("s3cret")
    assert hashed.startswith({"md5-crypt": "$1$", "sha512-crypt": "$6$",
                              "bcrypt": "$2b$"}[kind])
    assert is_supported_hash(hashed)
    ok, upgraded = verify_password("s3cret", hashed)
    assert ok
    assert upgraded is not None and upgraded.startswith("$argon2id$")
    assert verify_password("s3cret", upgraded) == (True, None)
    assert verify_password("S3cret", hashed) == (False, None)


@pytest.mark.parametrize("value", ["plaintext", "", "$9$nope", "{SHA}abc"])
def test_unsupported_hashes(value: str) -> None:
    assert not is_supported_hash(value)
    assert verify_password("plaintext", value) == (False, None)


def test_unicode_passwords() -> None:
    hashed = hash_password("pässwörd 😀")
    assert verify_password("pässwörd 😀", hashed)[0]
    assert not verify_password("passwort 😀", hashed)[0]


def test_success_is_cached_and_failure_is_not(
        empty_cache: dict[tuple[str, bytes], float]) -> None:
    hashed = hash_password("pw")
    assert not verify_password("nope", hashed)[0]
    assert empty_cache == {}
    assert verify_password("pw", hashed)[0]
    assert [k[0] for k in empty_cache] == [hashed]
    assert b"pw" not in next(iter(empty_cache))[1]  # a keyed digest, not the password


def test_second_verify_takes_the_cache(empty_cache: dict[tuple[str, bytes], float]) -> None:
    """Proved without timing: a cache entry alone answers, even for a password argon2 would
    refuse; an expired entry does not."""
    hashed = hash_password("pw")
    verify_password("pw", hashed)
    [(_, expiry)] = empty_cache.items()
    forged = (hashed, passwords._digest("not-the-password"))
    empty_cache[forged] = expiry
    assert verify_password("not-the-password", hashed) == (True, None)
    empty_cache[forged] = 0.0  # expired
    assert verify_password("not-the-password", hashed) == (False, None)


def test_forget_cached(empty_cache: dict[tuple[str, bytes], float]) -> None:
    a, b = hash_password("a"), hash_password("b")
    verify_password("a", a)
    verify_password("b", b)
    forget_cached(a)
    assert [k[0] for k in empty_cache] == [b]


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch,
                          empty_cache: dict[tuple[str, bytes], float]) -> None:
    monkeypatch.setattr(passwords, "CACHE_MAX", 3)
    hashed = md5_crypt.hash("pw")
    for i in range(10):
        empty_cache[(f"h{i}", b"d")] = 1e18  # live entries
    verify_password("pw", hashed)
    assert len(empty_cache) <= 10
    assert (hashed, passwords._digest("pw")) in empty_cache


def test_a_fresh_verification_is_forwarded_and_learnt_elsewhere(
        monkeypatch: pytest.MonkeyPatch, empty_cache: dict[tuple[str, bytes], float]) -> None:
    """What the bus does between workers: the verifying process forwards (hash, digest,
    lifetime); a process with the same digest key takes it and then answers from its cache."""
    sent: list[tuple[str, bytes, float]] = []
    monkeypatch.setattr(passwords, "forward", lambda h, d, s: sent.append((h, d, s)))
    monkeypatch.setattr(passwords, "_cache_key", passwords.cache_key())
    hashed = hash_password("pw")
    assert verify_password("pw", hashed)[0]
    assert verify_password("pw", hashed)[0]  # from the cache: not forwarded again
    [(h, digest, seconds)] = sent
    assert (h, seconds) == (hashed, passwords.CACHE_SECONDS)
    assert b"pw" not in digest

    key = passwords.cache_key()
    passwords.set_cache_key(key)  # "another worker", given the supervisor's key
    assert empty_cache == {}
    assert not passwords.verified_recently("pw", hashed)
    passwords.remember(h, digest, seconds)
    assert passwords.verified_recently("pw", hashed)
    assert not passwords.verified_recently("other", hashed)

    passwords.set_cache_key(bytes(32))  # a different key: the learnt digest no longer matches
    passwords.remember(h, digest, seconds)
    assert not passwords.verified_recently("pw", hashed)
    with pytest.raises(ValueError):
        passwords.set_cache_key(b"short")
