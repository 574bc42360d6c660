"""JWT access tokens for the JSON API (HS256, PyJWT).

Claims: `sub` (user@domain), `u`, `d`, `adm`, `ep` (the account's auth epoch: a password change
bumps it, so older tokens stop working), `iat`, `exp`. The signing secret comes from
`exchange_api.token_secret`, or when that is not set from `{mail_root}/secrets/jwt.secret`,
generated once (`stored_secret`), so every worker process signs and checks with the same secret
and tokens survive a restart.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def stored_secret(mail_root: str | os.PathLike[str]) -> str:
    """The generated JWT signing secret under `secrets/` (see `secret_file`)."""
    from rmail.store.layout import Layout

    return secret_file(Layout(mail_root).jwt_secret)


def secret_file(path: Path) -> str:
    """A generated secret in `path` (under `secrets/`), created on first use (0600). Racing
    creators (several workers, the CLI) agree: each writes a private temp file and links it
    into place, so exactly one wins and everyone reads the winner's secret."""
    from rmail.store.fsutil import ensure_dir, fsync_dir, tmp_name, write_new_file

    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    ensure_dir(path.parent)
    os.chmod(path.parent, 0o700)
    tmp = tmp_name(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    write_new_file(tmp, (random_secret() + "\n").encode())
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)
        fsync_dir(path.parent)
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return _read_secret(path)


def _read_secret(path: os.PathLike[str]) -> str:
    text = Path(path).read_text(encoding="ascii").strip()
    if len(text) < 32:
        raise ValueError(f"{path}: the stored secret is shorter than 32 characters")
    return text


def issue_token(secret: str, username: str, domain: str, *, admin: bool = False,
                epoch: int = 0, ttl: int = 3600, now: float | None = None) -> str:
    import jwt  # here, not at import: PyJWT imports `cryptography` (about 7 MB per process)

    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": f"{username}@{domain}", "u": username, "d": domain,
                              "adm": admin, "ep": epoch, "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> TokenClaims:
    import jwt

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
