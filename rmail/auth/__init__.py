"""The single authority on who someone is: passwords, lockout, tokens, SASL.

Every protocol calls `Authenticator.authenticate()`; none checks a password on its own. The
reference manual's bootstrap works verbatim:

    python -c "import asyncio; from rmail import auth; \
asyncio.run(auth.create_user('./mailstore', 'admin', 'example.com', 'password', admin=True))"
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rmail.auth import apppasswords, totp
from rmail.auth.lockout import Lockout
from rmail.auth.passwords import hash_password, verified_recently, verify_password
from rmail.auth.totp import Totp
from rmail.store.accounts import Account, Accounts, check_password, check_quota
from rmail.store.authlog import AuthLog
from rmail.store.errors import InvalidValue, NotFound, StaleCache
from rmail.store.security import SecurityState

log = logging.getLogger(__name__)

__all__ = ["MASTER", "AuthError", "Authenticator", "Lockout", "LoginInfo", "Principal",
           "create_user", "hash_password"]

# Verified against when the user does not exist, so a wrong username costs as much as a wrong
# password and response times don't reveal which accounts exist.
# Made on first use, not at import: an argon2 hash takes tens of milliseconds and its memory
# cost, and every worker process imports this module.
@functools.cache
def _dummy_hash() -> str:
    return hash_password("rmail-no-such-user")


class AuthError(Exception):
    """Authentication refused. `reason`: "locked" (the IP is locked out), "invalid" (wrong
    credentials) or "disabled" (protocols show one generic message for both), "scope" (an
    application password of another scope), "2fa" (the master password of an account with
    two-factor on, outside the master scope: use an application password), "second_factor"
    (right password, now a TOTP or recovery code is needed), "token" (wrong code)."""

    def __init__(self, reason: str, message: str, account: Account | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.account = account  # "second_factor": whose password was right


MASTER = "master"  # the scope of a login with the account's own password (or a token of one)


@dataclass(frozen=True)
class Principal:
    """An authenticated user. `asp` is the id of the application password that opened this
    login ("" for the account's own password, a token or a session); `scope` the protocol
    scope it was checked for ("master" for the account's own password)."""

    account: Account
    asp: str = ""
    scope: str = MASTER

    @property
    def is_master(self) -> bool:
        """Logged in with the account's own credentials, not an application password: only
        such a login may change passwords, two-factor or application passwords."""
        return not self.asp

    def manages(self, domain: str) -> bool:
        """Whether this caller administers `domain` (global admin, or a domain admin of it)."""
        return self.account.manages(domain)

    @property
    def is_any_admin(self) -> bool:
        """A global admin or the admin of at least one domain."""
        return self.account.admin or bool(self.account.admin_domains)

    @property
    def username(self) -> str:
        return self.account.username

    @property
    def domain(self) -> str:
        return self.account.domain

    @property
    def admin(self) -> bool:
        return self.account.admin

    @property
    def address(self) -> str:
        return self.account.address


@dataclass(frozen=True)
class LoginInfo:
    """Where a login comes from, for the auth log: `protocol` (imap, pop3, smtp, caldav, dav,
    api, webmail, login, authenticate), `agent` (User-Agent, IMAP ID name...)."""

    protocol: str = ""
    agent: str = ""


# Front ends that send credentials with every request (HTTP Basic): their successes are
# logged once per client, protocol and IP every DEDUP_SECONDS per process, not per request.
DEDUP_PROTOCOLS = frozenset({"api", "caldav", "dav"})
DEDUP_SECONDS = 300
PENDING_SECONDS = 300  # to type the code after the password, in a two-step login


class Authenticator:
    """Checks credentials for every protocol, with the shared lockout, application passwords
    with scopes, the TOTP second factor and the auth log.

    `scope` says what the login opens: one of `apppasswords.SCOPES` for a protocol (the
    master password works there unless two-factor is on; an application password works when
    its scopes include this one), or `MASTER` for the account itself (`POST /auth/login`,
    webmail: only the master password, plus a TOTP or recovery `token` when two-factor is on).
    """

    def __init__(self, accounts: Accounts, lockout: Lockout | None = None,
                 default_domain: str | None = None) -> None:
        self.accounts = accounts
        self.lockout = lockout or Lockout()
        self.default_domain = default_domain
        root = accounts.layout.root
        self.authlog = AuthLog(root)
        self.security = SecurityState(root)
        self.totp = Totp(root, self.security)
        # (login, domain) -> account, valid while the accounts generation is `_hot_gen`:
        # every write of an account.json bumps the generation, so one stat proves them current.
        self._hot: dict[tuple[str, str | None], Account] = {}
        self._hot_gen: tuple[int, int] | None = None
        self._logged: dict[tuple[str, ...], float] = {}  # dedup of HTTP successes
        # How `authenticate` runs argon2 off the loop: `Services.run_password` (set by the
        # Services this authenticator belongs to; the CLI only calls `authenticate_sync`).
        self.run: Callable[..., Awaitable[Any]] | None = None

    def find_account(self, login: str, domain: str | None = None, *,
                     memory_only: bool = False) -> Account | None:
        """`user@domain` (any of the user's addresses) or a bare username in `domain`, else
        in the default domain (the first configured one). `memory_only`: StaleCache rather
        than scan the accounts (see `Accounts.find_address`)."""
        try:
            if "@" in login:
                owner = self.accounts.find_address(login, memory_only=memory_only)
                return None if owner is None else self.accounts.get_current(*owner)
            dom = domain or self.default_domain
            if dom is None and memory_only:
                raise StaleCache("no default domain known without a scan")
            if dom is None:
                domains = self.accounts.domains()
                if not domains:
                    return None
                dom = domains[0]
            return self.accounts.get_current(dom, login)
        except (NotFound, InvalidValue):
            return None

    # -- the auth log ---------------------------------------------------------------------------
    def log_event(self, account: Account, action: str, result: str, *, ip: str | None = None,
                  info: LoginInfo | None = None, scope: str = "", asp: str = "",
                  reason: str = "") -> None:
        """Append to the account's auth log (blocking: call from a thread)."""
        entry = self._entry(action, result, ip, info, scope, asp, reason)
        try:
            self.authlog.append_entry(account.domain, account.username, entry)
        except OSError:
            log.exception("auth log of %s not written", account.address)

    def _entry(self, action: str, result: str, ip: str | None, info: LoginInfo | None,
               scope: str, asp: str, reason: str) -> dict[str, Any]:
        info = info or LoginInfo()
        fields: dict[str, Any] = {"action": action, "result": result,
                                  "protocol": info.protocol, "scope": scope, "asp": asp,
                                  "ip": ip or "", "userAgent": info.agent}
        if reason:
            fields["reason"] = reason
        return self.authlog.make_entry(fields)

    def _dedup_key(self, principal: Principal, ip: str | None, info: LoginInfo
                   ) -> tuple[str, ...] | None:
        if info.protocol not in DEDUP_PROTOCOLS:
            return None
        return (principal.domain, principal.username, info.protocol, principal.scope,
                principal.asp, ip or "", info.agent)

    def _success_logged(self, principal: Principal, ip: str | None, info: LoginInfo) -> bool:
        """Whether this success needs no new entry (an HTTP client seen moments ago)."""
        key = self._dedup_key(principal, ip, info)
        if key is None:
            return False
        last = self._logged.get(key)
        return last is not None and time.monotonic() - last < DEDUP_SECONDS

    def _note_logged(self, principal: Principal, ip: str | None, info: LoginInfo) -> None:
        key = self._dedup_key(principal, ip, info)
        if key is not None:
            if len(self._logged) > 100_000:
                self._logged.clear()
            self._logged[key] = time.monotonic()

    def _fail(self, account: Account, ip: str | None, info: LoginInfo, scope: str,
              reason: str, asp: str = "", *, count: bool = True) -> None:
        locked = self.lockout.failure(ip) if count else False
        self.log_event(account, "authentication", "fail", ip=ip, info=info, scope=scope,
                       asp=asp, reason=reason)
        if locked:
            self.log_event(account, "lockout", "fail", ip=ip, info=info, scope=scope)

    # -- checking credentials ---------------------------------------------------------------
    def authenticate_sync(self, login: str, password: str, *, ip: str | None = None,
                          domain: str | None = None, scope: str = MASTER,
                          token: str | None = None, info: LoginInfo | None = None,
                          second_factor: bool = True) -> Principal:
        """The principal for these credentials, or AuthError. `second_factor=False` (for
        `/authenticate`, which reports `require2fa` instead) skips the TOTP check of a master
        scope login."""
        info = info or LoginInfo()
        if self.lockout.is_locked(ip):
            raise AuthError("locked", "too many failed logins; try again later")
        account = self.find_account(login, domain) if isinstance(login, str) else None
        if account is None or not isinstance(password, str):
            verify_password(password if isinstance(password, str) else "", _dummy_hash())
            self.lockout.failure(ip)
            raise AuthError("invalid", "invalid credentials")
        principal = self._app_password(account, password, scope, ip, info)
        if principal is None:
            principal = self._master(account, password, scope, ip, info, token, second_factor)
        if not account.enabled:
            raise AuthError("disabled", "account disabled")
        self.lockout.success(ip)
        if not self._success_logged(principal, ip, info):
            self.log_event(account, "authentication", "success", ip=ip, info=info,
                           scope=scope, asp=principal.asp)
            self._note_logged(principal, ip, info)
        if principal.asp:
            self.security.touch_asp(account.domain, account.username, principal.asp, ip or "")
        return principal

    def _app_password(self, account: Account, password: str, scope: str, ip: str | None,
                      info: LoginInfo) -> Principal | None:
        """The principal when `password` is one of the account's application passwords
        (AuthError when it is one of another scope), None to try the master password."""
        if scope == MASTER or not account.app_passwords:
            return None
        canonical = apppasswords.normalize(password)
        if canonical is None:
            return None
        for record in apppasswords.candidates(account.app_passwords, canonical):
            ok, _ = verify_password(canonical, record.hash)
            if not ok:
                continue
            if not record.allows(scope):
                self._fail(account, ip, info, scope, "application password not valid for "
                           f"{scope}", asp=record.id)
                raise AuthError("scope", f"this application password is not valid for {scope}")
            return Principal(account, asp=record.id, scope=scope)
        return None

    def _master(self, account: Account, password: str, scope: str, ip: str | None,
                info: LoginInfo, token: str | None, second_factor: bool) -> Principal:
        ok, new_hash = verify_password(password, account.password_hash)
        if not ok:
            self._fail(account, ip, info, scope, "wrong password")
            raise AuthError("invalid", "invalid credentials")
        if totp.enabled(account) and account.enabled:
            if scope != MASTER:
                # WildDuck: "with 2FA enabled, master password can not be used in IMAP, POP3
                # or SMTP": the password is right, so this is no guess to count.
                self._fail(account, ip, info, scope, "two-factor is on: application password "
                           "required", count=False)
                raise AuthError("2fa", "two-factor authentication is on: "
                                       "use an application password")
            if second_factor:
                if token is None or not token.strip():
                    raise AuthError("second_factor", "a second factor is required", account)
                if self.totp.check(account, token) is None:
                    self._fail(account, ip, info, scope, "wrong two-factor code")
                    raise AuthError("token", "invalid two-factor code")
        if new_hash is not None:  # upgrade an imported hash; the epoch stays, tokens live on
            account = self.accounts.update(account.domain, account.username,
                                           password_hash=new_hash,
                                           auth_epoch=account.auth_epoch)
        return Principal(account, scope=scope)

    # -- two-step logins (webmail: the password, then the code on a second page) ------------
    def pending_login(self, principal: Principal, ttl: int = PENDING_SECONDS) -> str:
        """A short-lived proof that `principal`'s password was right, for the page that asks
        for the second factor (so the password is not sent again). Signed with a key derived
        from `secrets/totp.key`; dies with a password change (the auth epoch)."""
        account = principal.account
        body = f"{account.domain}|{account.username}|{account.auth_epoch}|" \
               f"{int(time.time()) + ttl}"
        return base64.urlsafe_b64encode(body.encode()).decode() + "." + self._sign(body)

    def _sign(self, body: str) -> str:
        return hashlib.blake2b(body.encode(), key=self.totp.key, person=b"rmail-pending",
                               digest_size=24).hexdigest()

    def complete_login_sync(self, pending: str, token: str, *, ip: str | None = None,
                            info: LoginInfo | None = None) -> Principal:
        """The second step of a two-step login: `pending` from `pending_login` and a TOTP or
        recovery code. AuthError "invalid" when `pending` is forged, expired or stale,
        "token" for a wrong code (counted toward the lockout)."""
        info = info or LoginInfo()
        if self.lockout.is_locked(ip):
            raise AuthError("locked", "too many failed logins; try again later")
        encoded, _, signature = (pending or "").partition(".")
        try:
            body = base64.urlsafe_b64decode(encoded.encode()).decode()
            domain, username, epoch, expiry = body.split("|")
            fresh = int(expiry) >= time.time()
        except (ValueError, UnicodeDecodeError):
            raise AuthError("invalid", "invalid login state") from None
        if not hmac.compare_digest(signature, self._sign(body)) or not fresh:
            raise AuthError("invalid", "the login expired; start again")
        try:
            account = self.accounts.get_current(domain, username)
        except (NotFound, InvalidValue):
            raise AuthError("invalid", "invalid login state") from None
        if str(account.auth_epoch) != epoch or not account.enabled:
            raise AuthError("invalid", "the login expired; start again")
        if not isinstance(token, str) or self.totp.check(account, token) is None:
            self._fail(account, ip, info, MASTER, "wrong two-factor code")
            raise AuthError("token", "invalid two-factor code")
        self.lockout.success(ip)
        self.log_event(account, "authentication", "success", ip=ip, info=info, scope=MASTER)
        return Principal(account, scope=MASTER)

    def verify_master(self, account: Account, password: str, *, ip: str | None = None) -> bool:
        """Whether `password` is the account's own password (not an application password),
        for re-confirming an identity before a security change. A wrong one counts toward
        the IP's lockout like a failed login; a locked IP is refused outright."""
        if self.lockout.is_locked(ip):
            return False
        ok, _ = verify_password(password, account.password_hash)
        if not ok:
            self.lockout.failure(ip)
        return ok

    def _recently_verified(self, login: str, password: str, ip: str | None,
                           domain: str | None, scope: str, info: LoginInfo
                           ) -> Principal | None:
        """The answer without a thread hop when nothing can have changed: this password was
        verified against the account's current hash moments ago (HTTP clients send Basic
        credentials with every request). Costs one `stat` and two dict lookups, plus one
        small append to the auth log. None sends the login to the thread (`authenticate_sync`),
        which decides every case this one does not."""
        if not isinstance(login, str) or not isinstance(password, str) or \
                self.lockout.is_locked(ip):
            return None
        gen = self.accounts.generation()
        if gen is None:
            return None
        if gen != self._hot_gen:
            self._hot = {}
            self._hot_gen = gen
        account = self._hot.get((login, domain))
        if account is None:
            try:
                account = self.find_account(login, domain, memory_only=True)
            except StaleCache:
                return None
            if account is None:
                return None
            if len(self._hot) >= 10_000:
                self._hot = {}
            self._hot[(login, domain)] = account
        if not account.enabled:
            return None
        principal = self._cached_principal(account, password, scope)
        if principal is None:
            return None
        if principal.asp and self.security.due(account.domain, account.username,
                                               principal.asp, ip or ""):
            return None  # its last use is written in the thread
        if not self._success_logged(principal, ip, info):
            entry = self._entry("authentication", "success", ip, info, scope, principal.asp, "")
            try:
                if not self.authlog.try_append(account.domain, account.username, entry):
                    return None  # the log is busy: the thread waits for it
            except OSError:
                return None
            self._note_logged(principal, ip, info)
        self.lockout.success(ip)
        return principal

    @staticmethod
    def _cached_principal(account: Account, password: str, scope: str) -> Principal | None:
        if scope != MASTER and account.app_passwords:
            canonical = apppasswords.normalize(password)
            if canonical is not None:
                for record in apppasswords.candidates(account.app_passwords, canonical):
                    if verified_recently(canonical, record.hash):
                        return Principal(account, asp=record.id, scope=scope) \
                            if record.allows(scope) else None
        if totp.enabled(account) or not verified_recently(password, account.password_hash):
            return None
        return Principal(account, scope=scope)

    async def authenticate(self, login: str, password: str, *, ip: str | None = None,
                           domain: str | None = None, scope: str = MASTER,
                           token: str | None = None, info: LoginInfo | None = None
                           ) -> Principal:
        """Verify in a worker thread (argon2 takes tens of milliseconds), unless the same
        credentials were verified recently."""
        info = info or LoginInfo()
        if token is None:
            recent = self._recently_verified(login, password, ip, domain, scope, info)
            if recent is not None:
                return recent
        if self.run is None:
            raise RuntimeError("Authenticator.authenticate needs the Services' password pool")
        principal: Principal = await self.run(
            self.authenticate_sync, login, password, ip=ip, domain=domain, scope=scope,
            token=token, info=info)
        return principal


async def create_user(mail_root: str | os.PathLike[str], username: str, domain: str,
                      password: str, admin: bool = False, quota_mb: int = 1024,
                      display_name: str = "") -> Account:
    """Create a user (and the domain when missing) with the default folders."""
    check_password(password)
    check_quota(quota_mb)
    password_hash = await asyncio.to_thread(hash_password, password)
    accounts = Accounts(mail_root)
    return await asyncio.to_thread(accounts.create, domain, username, password_hash,
                                   admin=admin, quota_mb=quota_mb, display_name=display_name)
