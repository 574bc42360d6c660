"""TOTP second factor (RFC 6238, pyotp) and recovery codes.

`account.json` `totp` holds `{"enabled", "secret", "created", "recovery"}`:

- `secret` is the base32 TOTP secret encrypted with AES-256-GCM (`v1:` + base64 of nonce and
  ciphertext), the account's address as associated data, under a key kept in
  `{mail_root}/secrets/totp.key` (0600, generated once). A copy of `account.json` alone does
  not reveal the secret, and a `totp` object copied into another account does not decrypt.
- `recovery` holds keyed BLAKE2b digests (same key) of the ten recovery codes; the codes
  themselves are shown once, when two-factor is activated or the codes are regenerated.

Replay protection lives in `security.json` (`rmail.store.security`): a TOTP code is accepted
only for a time step later than the last accepted one, a recovery code only once, both under
the user's security lock, so the rules hold across worker processes. Clock skew: one step
(30 s) either side.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import os
import secrets
import string
import time
from pathlib import Path
from typing import Any

import pyotp

from rmail.store.accounts import Account, Accounts
from rmail.store.errors import Conflict
from rmail.store.layout import Layout
from rmail.store.security import SecurityState

ISSUER = "rmail"
STEP = 30
SKEW = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = string.ascii_lowercase + string.digits
MAX_TOKEN = 64


class TotpError(Exception):
    """The stored TOTP data cannot be used (wrong key, damaged)."""


@functools.cache
def _key(path: str) -> bytes:
    from rmail.auth.tokens import secret_file  # here: PyJWT imports http.client, logins don't

    return hashlib.sha256(secret_file(Path(path)).encode()).digest()


class Totp:
    """TOTP enrolment and checks for the accounts under one mail root."""

    def __init__(self, mail_root: str | os.PathLike[str], security: SecurityState) -> None:
        self.layout = Layout(mail_root)
        self.security = security

    @property
    def key(self) -> bytes:
        return _key(str(self.layout.totp_key))

    # -- the secret -------------------------------------------------------------------------
    # `cryptography` is imported where a secret is sealed or opened, not with this module:
    # it costs a process about 7 MB of resident memory, and most never check a TOTP code.
    def encrypt(self, account: Account, secret: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        sealed = AESGCM(self.key).encrypt(nonce, secret.encode(), _aad(account))
        return "v1:" + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, account: Account, stored: str) -> str:
        if not stored.startswith("v1:"):
            raise TotpError("unknown TOTP secret format")
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            raw = base64.b64decode(stored[3:], validate=True)
            return AESGCM(self.key).decrypt(raw[:12], raw[12:], _aad(account)).decode()
        except (InvalidTag, ValueError) as exc:
            raise TotpError("the TOTP secret does not decrypt with secrets/totp.key") from exc

    def new_enrolment(self, account: Account, issuer: str = ISSUER) -> tuple[dict[str, Any],
                                                                            str, str]:
        """(the `totp` object to store, not yet enabled; the otpauth URI; its QR code as a
        PNG data URL)."""
        import segno  # only here: it pulls in xml and urllib.request, which logins never need

        secret = pyotp.random_base32()
        uri = pyotp.TOTP(secret).provisioning_uri(name=account.address, issuer_name=issuer)
        qr = segno.make(uri, error="m").png_data_uri(scale=5, border=2)
        doc = {"enabled": False, "secret": self.encrypt(account, secret),
               "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "recovery": []}
        return doc, uri, qr

    # -- recovery codes ---------------------------------------------------------------------
    def recovery_digest(self, code: str) -> str:
        return hashlib.blake2b(code.encode(), key=self.key[:32], digest_size=16).hexdigest()

    def new_recovery_codes(self) -> tuple[list[str], list[str]]:
        """(the codes to show once, their digests to store)."""
        codes = ["-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(4))
                          for _ in range(3)) for _ in range(RECOVERY_CODES)]
        return codes, [self.recovery_digest(_compact(c)) for c in codes]

    # -- checking ---------------------------------------------------------------------------
    def check(self, account: Account, token: str, *, pending: bool = False,
              now: float | None = None) -> str | None:
        """"totp" or "recovery" when `token` is a current, unused code of the account's
        secret (or a recovery code), else None. Records the use (replay protection).
        `pending`: check against a secret not yet activated (recovery codes do not apply)."""
        doc = account.totp or {}
        if not isinstance(token, str) or len(token) > MAX_TOKEN or not doc.get("secret"):
            return None
        if bool(doc.get("enabled")) == pending:
            return None
        code = _compact(token)
        if code.isdigit() and len(code) == 6:
            totp = pyotp.TOTP(self.decrypt(account, str(doc["secret"])))
            current = int((time.time() if now is None else now) // STEP)
            for step in range(current - SKEW, current + SKEW + 1):
                if hmac.compare_digest(totp.generate_otp(step), code):
                    ok = self.security.claim_totp_step(account.domain, account.username, step)
                    return "totp" if ok else None
            return None
        if pending:
            return None
        digest = self.recovery_digest(code)
        stored = doc.get("recovery") or []
        if not any(hmac.compare_digest(digest, str(d)) for d in stored):
            return None
        ok = self.security.claim_recovery(account.domain, account.username, digest)
        return "recovery" if ok else None

    def recovery_left(self, account: Account) -> int:
        stored = set((account.totp or {}).get("recovery") or [])
        used = set(self.security.read(account.domain, account.username)["recovery_used"])
        return len(stored - used)


def enabled(account: Account) -> bool:
    return bool((account.totp or {}).get("enabled"))


def _aad(account: Account) -> bytes:
    return f"{account.username}@{account.domain}".encode()


def _compact(token: str) -> str:
    return token.replace(" ", "").replace("-", "").strip().lower()


# -- changes (the API and the webmail both go through these; blocking: call in a thread) ------
class WrongCode(Exception):
    """The TOTP or recovery code given as proof is wrong or used."""


def start(totp: Totp, accounts: Accounts, account: Account, issuer: str
          ) -> tuple[str, str, str]:
    """A new secret, stored but not active: (otpauth URI, QR data URL, base32 seed).
    Conflict when two-factor is already on."""
    doc, uri, qr = totp.new_enrolment(account, issuer)

    def store(current: Account) -> dict[str, Any]:
        if enabled(current):
            raise Conflict("two-factor authentication is already on; turn it off first")
        return {"totp": doc}

    stored = accounts.modify(account.domain, account.username, store)
    totp.security.reset_totp(account.domain, account.username)
    return uri, qr, totp.decrypt(stored, doc["secret"])


def activate(totp: Totp, accounts: Accounts, account: Account, token: str) -> list[str]:
    """Turn on the pending secret with a current code; the recovery codes (shown once)."""
    doc = account.totp or {}
    if enabled(account):
        raise Conflict("two-factor authentication is already on")
    if not doc.get("secret"):
        raise Conflict("start the enrolment first")
    if totp.check(account, token, pending=True) is None:
        raise WrongCode("wrong code")
    codes, digests = totp.new_recovery_codes()

    def enable(current: Account) -> dict[str, Any]:
        now = current.totp or {}
        if now.get("secret") != doc["secret"] or now.get("enabled"):
            raise Conflict("the enrolment changed meanwhile; start again")
        return {"totp": {**now, "enabled": True, "recovery": digests}}

    accounts.modify(account.domain, account.username, enable)
    return codes


def regenerate(totp: Totp, accounts: Accounts, account: Account, token: str) -> list[str]:
    """New recovery codes (the old ones stop working), a current code as proof."""
    if not enabled(account):
        raise Conflict("two-factor authentication is not on")
    if totp.check(account, token) is None:
        raise WrongCode("wrong code")
    codes, digests = totp.new_recovery_codes()

    def store(current: Account) -> dict[str, Any]:
        if not enabled(current):
            raise Conflict("two-factor authentication is not on")
        return {"totp": {**(current.totp or {}), "recovery": digests}}

    accounts.modify(account.domain, account.username, store)
    return codes


def disable(accounts: Accounts, account: Account) -> None:
    if not account.totp:
        raise Conflict("two-factor authentication is not on")
    accounts.modify(account.domain, account.username, lambda current: {"totp": None})
