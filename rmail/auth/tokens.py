"""JWT access tokens for the JSON API (HS256, PyJWT).

Claims: `sub` (user@domain), `u`, `d`, `adm`, `ep` (the account's auth epoch: a password change
bumps it, so older tokens stop working), `iat`, `exp`. The signing secret comes from
`exchange_api.token_secret`, or a random one per start when that is not set.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"


class TokenError(Exception):
    """The token is missing, malformed, tampered with or expired."""


@dataclass(frozen=True)
class TokenClaims:
    username: str
    domain: str
    admin: bool
    epoch: int
    expires: int


def random_secret() -> str:
    return secrets.token_hex(32)


def issue_token(secret: str, username: str, domain: str, *, admin: bool = False,
                epoch: int = 0, ttl: int = 3600, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": f"{username}@{domain}", "u": username, "d": domain,
                              "adm": admin, "ep": epoch, "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> TokenClaims:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "iat", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except jwt.PyJWTError as exc:
        raise TokenError("invalid token") from exc
    try:
        return TokenClaims(str(claims["u"]), str(claims["d"]), bool(claims.get("adm")),
                           int(claims.get("ep", 0)), int(claims["exp"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError("invalid token claims") from exc
