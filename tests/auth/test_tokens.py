"""JWT access tokens: issue, decode, and every way a token can be bad."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from rmail.auth.tokens import TokenClaims, TokenError, decode_token, issue_token, random_secret

SECRET = "0123456789abcdef" * 4


def test_round_trip() -> None:
    now = int(time.time())
    token = issue_token(SECRET, "alice", "example.com", admin=True, epoch=3, ttl=60, now=now)
    assert decode_token(SECRET, token) == TokenClaims("alice", "example.com", True, 3, now + 60)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice@example.com"
    assert claims["iat"] == now


def test_defaults() -> None:
    claims = decode_token(SECRET, issue_token(SECRET, "bob", "example.com"))
    assert (claims.admin, claims.epoch) == (False, 0)
    assert claims.expires - time.time() == pytest.approx(3600, abs=5)


def test_expired() -> None:
    token = issue_token(SECRET, "alice", "example.com", ttl=60, now=time.time() - 120)
    with pytest.raises(TokenError, match="expired"):
        decode_token(SECRET, token)


def test_wrong_secret() -> None:
    token = issue_token(SECRET, "alice", "example.com")
    with pytest.raises(TokenError):
        decode_token(random_secret(), token)


def test_tampered_payload() -> None:
    header, payload, signature = issue_token(SECRET, "alice", "example.com").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["adm"] = True
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError):
        decode_token(SECRET, f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "a.b"])
def test_malformed(token: str) -> None:
    with pytest.raises(TokenError):
        decode_token(SECRET, token)


def test_unsigned_token_refused() -> None:
    now = int(time.time())
    token = jwt.encode({"sub": "a@b.c", "u": "a", "d": "b.c", "iat": now, "exp": now + 60},
                       None, algorithm="none")
    with pytest.raises(TokenError):
        decode_token(SECRET, token)


@pytest.mark.parametrize("missing", ["exp", "iat", "sub", "u", "d"])
def test_missing_claims(missing: str) -> None:
    now = int(time.time())
    claims = {"sub": "a@b.c", "u": "a", "d": "b.c", "adm": False, "ep": 0, "iat": now,
              "exp": now + 60}
    del claims[missing]
    with pytest.raises(TokenError):
        decode_token(SECRET, jwt.encode(claims, SECRET, algorithm="HS256"))


def test_random_secret() -> None:
    secret = random_secret()
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert secret != random_secret()
