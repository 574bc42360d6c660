"""The Sender Rewriting Scheme (Shevek's SRS draft, as libsrs2 and postsrsd speak it) for
forwarded mail: the envelope sender of a message rmail forwards becomes an address of the
forwarding user's domain, so the receiver's SPF check sees our domain, and a bounce to that
address finds its way back to the original sender.

    user@example.net           --forward-->  SRS0=HHHH=TT=example.net=user@our.domain
    SRS0=HHHH=TT=orig=user@a   --forward-->  SRS1=HHHH=a==HHHH=TT=orig=user@our.domain

``HHHH`` is an HMAC-SHA1 of the rest (base32, four characters: no `+`, which is our
subaddress delimiter, and compared case-insensitively because some relays lowercase local
parts), ``TT`` the day number modulo 1024 in base32: a
reverse accepts an address up to `MAX_AGE_DAYS` old. The key is made once and kept in
`secrets/srs.secret` (0600), shared by every worker and kept across restarts.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from rmail.store import fsutil
from rmail.store.layout import Layout

__all__ = ["MAX_AGE_DAYS", "Srs", "SrsError", "is_srs"]

MAX_AGE_DAYS = 21
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_DAY = 86400


class SrsError(ValueError):
    """An SRS address that is malformed, forged or too old."""


def is_srs(local: str) -> bool:
    return local[:5].lower() in ("srs0=", "srs1=")


class Srs:
    """Forward and reverse SRS addresses with one key."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.clock = clock

    @classmethod
    def stored(cls, mail_root: str | os.PathLike[str]) -> Srs:
        """With the key under `secrets/`, made on first use; racing workers agree (the
        first link wins, everyone reads the winner's key)."""
        path = Layout(mail_root).srs_secret
        try:
            return cls(_read(path))
        except FileNotFoundError:
            pass
        fsutil.ensure_dir(path.parent)
        os.chmod(path.parent, 0o700)
        tmp = fsutil.tmp_name(path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        fsutil.write_new_file(tmp, (secrets.token_hex(32) + "\n").encode())
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)
            fsutil.fsync_dir(path.parent)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        return cls(_read(path))

    def _hash(self, *parts: str) -> str:
        mac = hmac.new(self.key, "".join(parts).lower().encode("utf-8"), hashlib.sha1).digest()
        return base64.b32encode(mac).decode()[:4]

    def _stamp(self) -> str:
        day = int(self.clock() // _DAY) % 1024
        return _B32[day >> 5] + _B32[day & 31]

    def _stamp_ok(self, stamp: str) -> bool:
        stamp = stamp.upper()
        if len(stamp) != 2 or any(c not in _B32 for c in stamp):
            return False
        then = _B32.index(stamp[0]) << 5 | _B32.index(stamp[1])
        age = (int(self.clock() // _DAY) - then) % 1024
        return age <= MAX_AGE_DAYS

    def forward(self, sender: str, domain: str) -> str:
        """The envelope sender to use when forwarding mail from ``sender`` out of ``domain``.
        The null sender stays null; a sender of ``domain`` itself needs no rewriting."""
        if not sender or "@" not in sender:
            return sender
        local, _, host = sender.rpartition("@")
        if host.lower() == domain.lower():
            return sender
        if local[:5].lower() == "srs0=":  # forwarded once already: SRS1 keeps one hop
            opaque = local[5:]
            hash_ = self._hash(host, opaque)
            return f"SRS1={hash_}={host}=={opaque}@{domain}"
        if local[:5].lower() == "srs1=":
            try:
                _, orig_host, rest = local[5:].split("=", 2)
            except ValueError:
                pass
            else:
                hash_ = self._hash(orig_host, rest)
                return f"SRS1={hash_}={orig_host}={rest}@{domain}"
        stamp = self._stamp()
        hash_ = self._hash(stamp, host, local)
        return f"SRS0={hash_}={stamp}={host}={local}@{domain}"

    def reverse(self, local: str) -> str:
        """The address an SRS local part stands for (SRS0: the original sender; SRS1: the
        SRS0 address at the first forwarder). Raises `SrsError`."""
        kind, rest = local[:5].lower(), local[5:]
        if kind == "srs0=":
            parts = rest.split("=", 3)
            if len(parts) != 4 or not all(parts):
                raise SrsError("malformed SRS0 address")
            hash_, stamp, host, user = parts
            if not hmac.compare_digest(hash_.lower(), self._hash(stamp, host, user).lower()):
                raise SrsError("SRS address does not carry our signature")
            if not self._stamp_ok(stamp):
                raise SrsError("SRS address has expired")
            return f"{user}@{host}"
        if kind == "srs1=":
            parts = rest.split("=", 2)
            if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2].startswith("="):
                raise SrsError("malformed SRS1 address")
            hash_, host, opaque = parts[0], parts[1], parts[2][1:]
            if not hmac.compare_digest(hash_.lower(), self._hash(host, opaque).lower()):
                raise SrsError("SRS address does not carry our signature")
            return f"SRS0={opaque}@{host}"
        raise SrsError("not an SRS address")


def _read(path: Path) -> bytes:
    text = path.read_text(encoding="ascii").strip()
    if len(text) < 32:
        raise ValueError(f"{path} holds no usable key")
    return text.encode()
