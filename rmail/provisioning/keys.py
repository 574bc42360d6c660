"""Controller API keys: random secrets shown once, stored in the config only as argon2id hashes
(`provisioning.api_keys`), presented as `Authorization: Bearer KEY`.

Verification reuses the password cache (`rmail.auth.passwords`): a controller sending the same
key with every request pays one argon2 run per few minutes, not one per request.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from rmail.auth.passwords import hash_password, verified_recently, verify_password

KEY_PREFIX = "rmk_"
MAX_KEY_LENGTH = 512


def generate_key() -> tuple[str, str]:
    """(key, argon2id hash of the key)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_password(key)


def looks_like_key(credential: str) -> bool:
    """API keys have no dots; a JWT has two."""
    return credential.count(".") != 2


def key_matches_recently(key: str, hashes: Iterable[str]) -> bool:
    """A cache lookup only (fine on the event loop)."""
    return any(verified_recently(key, h) for h in hashes)


def key_matches(key: str, hashes: Iterable[str]) -> bool:
    """Checks every configured hash (argon2: call in a worker thread)."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return False
    return any(verify_password(key, h)[0] for h in hashes)
