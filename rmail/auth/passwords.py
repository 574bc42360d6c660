"""Password hashing and verification.

New hashes are argon2id; `$1$` (md5-crypt), `$5$`/`$6$` (sha-crypt), bcrypt and argon2 hashes
are accepted so accounts can be imported from other servers (provisioning files carry crypt
hashes) and are upgraded to argon2id on the next successful login.

A successful verification is remembered for a few minutes, keyed by the stored hash and a keyed
digest of the password, so a mail client that logs in every few seconds costs one argon2 run,
not one per login. Changing the password changes the hash and so misses the cache.

In a multi-process server the cache is shared: the supervisor hands its digest key to every
worker (`set_cache_key`), and each fresh verification goes to `forward` (set by `rmail.bus`),
which tells the other workers (`remember`). Without it a client whose connections the kernel
spreads over N workers pays N argon2 runs, about 0.1 s each here; a 200 MB drive download
that takes 0.2 s over loopback measured at a third of its speed when it landed on the worker
that had not yet seen the password.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from passlib.context import CryptContext

CACHE_SECONDS = 300
CACHE_MAX = 10_000


@functools.cache
def _context() -> CryptContext:
    """The hash schemes, built at the first hash or check rather than at import: passlib with
    its argon2 and bcrypt handlers costs a process over 1 MB, and a worker that only takes
    mail never checks a password. (The first check pays about 30 ms once, beside argon2's
    own tens of milliseconds.)"""
    from passlib.context import CryptContext

    return CryptContext(
        schemes=["argon2", "bcrypt", "sha512_crypt", "sha256_crypt", "md5_crypt"],
        default="argon2",
        deprecated=["bcrypt", "sha512_crypt", "sha256_crypt", "md5_crypt"],
        argon2__type="ID",
    )


_cache_key = secrets.token_bytes(32)
_cache: dict[tuple[str, bytes], float] = {}
_cache_lock = threading.Lock()
# Called (from any thread) with (stored hash, password digest, seconds) after each fresh
# verification; set by `rmail.bus` in a worker of a multi-process server.
forward: Callable[[str, bytes, float], None] | None = None


def cache_key() -> bytes:
    """The key of this process's password digests (the supervisor hands it to its workers)."""
    return _cache_key


def set_cache_key(key: bytes) -> None:
    """Use ``key`` for password digests, so entries learnt from other processes match. Called
    once, before the first verification; entries made with another key are dropped."""
    global _cache_key
    if len(key) != 32:
        raise ValueError("the password cache key is 32 bytes")
    with _cache_lock:
        _cache_key = key
        _cache.clear()


def remember(stored_hash: str, digest: bytes, seconds: float) -> None:
    """Take a verification another process made (see `forward`) into this cache."""
    seconds = min(float(seconds), CACHE_SECONDS)
    if seconds <= 0 or len(digest) != 32:
        return
    now = time.monotonic()
    with _cache_lock:
        _store(stored_hash, digest, now, now + seconds)


def _store(stored_hash: str, digest: bytes, now: float, expiry: float) -> None:
    if len(_cache) >= CACHE_MAX:
        for k in [k for k, exp in _cache.items() if exp <= now] or list(_cache)[:100]:
            _cache.pop(k, None)
    _cache[(stored_hash, digest)] = expiry


def hash_password(password: str) -> str:
    return _context().hash(password)


def is_supported_hash(value: str) -> bool:
    """True when `value` is a hash we can verify (for imports of pre-hashed passwords)."""
    return _context().identify(value) is not None


def _digest(password: str) -> bytes:
    """A keyed MAC of the password (BLAKE2b's keyed mode: one C call, a third of HMAC-SHA256's
    cost on the per-request path); the cache never holds a password."""
    return hashlib.blake2b(password.encode("utf-8", "surrogatepass"), key=_cache_key,
                           digest_size=32).digest()


def verify_password(password: str, stored_hash: str) -> tuple[bool, str | None]:
    """(ok, new_hash): `new_hash` is set when the stored hash should be upgraded."""
    key = (stored_hash, _digest(password))
    now = time.monotonic()
    with _cache_lock:
        expiry = _cache.get(key)
        if expiry is not None and expiry > now:
            return True, None
    try:
        ok, new_hash = _context().verify_and_update(password, stored_hash)
    except (ValueError, TypeError):
        return False, None
    if ok:
        with _cache_lock:
            _store(stored_hash, key[1], now, now + CACHE_SECONDS)
        hook = forward
        if hook is not None and new_hash is None:  # an upgraded hash changes the key anyway
            hook(stored_hash, key[1], CACHE_SECONDS)
    return ok, new_hash


def verified_recently(password: str, stored_hash: str) -> bool:
    """True when this password was verified against this hash within the cache lifetime: a
    dictionary lookup, cheap enough for the event loop (a miss goes to `verify_password` in a
    worker thread)."""
    expiry = _cache.get((stored_hash, _digest(password)))
    return expiry is not None and expiry > time.monotonic()


def forget_cached(stored_hash: str) -> None:
    with _cache_lock:
        for k in [k for k in _cache if k[0] == stored_hash]:
            del _cache[k]


def check_hash(value: object) -> str:
    """A pre-hashed password as provisioning imports it ($1$, $5$, $6$ with or without
    `rounds=`, bcrypt, argon2), parsed strictly: a known prefix with a malformed salt or
    checksum, or a bare salt without a checksum, is refused with the reason (ValueError)."""
    if not isinstance(value, str) or not value:
        raise ValueError("expected a crypt hash string")
    scheme = _context().identify(value)
    if scheme is None:
        raise ValueError("not a supported hash ($1$, $5$, $6$, bcrypt or argon2 expected)")
    try:
        parsed = _context().handler(scheme).from_string(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"malformed {scheme} hash: {exc}") from None
    if getattr(parsed, "checksum", None) in (None, b"", ""):
        raise ValueError(f"malformed {scheme} hash: no checksum")
    return value
