"""The single authority on who someone is: passwords, lockout, tokens, SASL.

Every protocol calls `Authenticator.authenticate()`; none checks a password on its own. The
reference manual's bootstrap works verbatim:

    python -c "import asyncio; from rmail import auth; \
asyncio.run(auth.create_user('./mailstore', 'admin', 'example.com', 'password', admin=True))"
"""

from __future__ import annotations

import asyncio
import functools
import os
from dataclasses import dataclass

from rmail.auth.lockout import Lockout
from rmail.auth.passwords import hash_password, verified_recently, verify_password
from rmail.store.accounts import Account, Accounts, check_password, check_quota
from rmail.store.errors import InvalidValue, NotFound, StaleCache

__all__ = ["MASTER", "AuthError", "Authenticator", "Lockout", "Principal", "create_user",
           "hash_password"]

# Verified against when the user does not exist, so a wrong username costs as much as a wrong
# password and response times don't reveal which accounts exist.
# Made on first use, not at import: an argon2 hash takes tens of milliseconds and its memory
# cost, and every worker process imports this module.
@functools.cache
def _dummy_hash() -> str:
    return hash_password("rmail-no-such-user")


class AuthError(Exception):
    """Authentication refused. `reason` is "locked", "invalid" or "disabled"; protocols show
    one generic message for "invalid" and "disabled" alike."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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


class Authenticator:
    """Checks credentials for every protocol, with the shared lockout."""

    def __init__(self, accounts: Accounts, lockout: Lockout | None = None,
                 default_domain: str | None = None) -> None:
        self.accounts = accounts
        self.lockout = lockout or Lockout()
        self.default_domain = default_domain
        # (login, domain) -> account, valid while the accounts generation is `_hot_gen`:
        # every write of an account.json bumps the generation, so one stat proves them current.
        self._hot: dict[tuple[str, str | None], Account] = {}
        self._hot_gen: tuple[int, int] | None = None

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

    def authenticate_sync(self, login: str, password: str, *, ip: str | None = None,
                          domain: str | None = None) -> Principal:
        if self.lockout.is_locked(ip):
            raise AuthError("locked", "too many failed logins; try again later")
        account = self.find_account(login, domain) if isinstance(login, str) else None
        if account is None or not isinstance(password, str):
            verify_password(password if isinstance(password, str) else "", _dummy_hash())
            self.lockout.failure(ip)
            raise AuthError("invalid", "invalid credentials")
        ok, new_hash = verify_password(password, account.password_hash)
        if not ok:
            self.lockout.failure(ip)
            raise AuthError("invalid", "invalid credentials")
        if not account.enabled:
            raise AuthError("disabled", "account disabled")
        self.lockout.success(ip)
        if new_hash is not None:  # upgrade an imported hash; the epoch stays, tokens live on
            account = self.accounts.update(account.domain, account.username,
                                           password_hash=new_hash,
                                           auth_epoch=account.auth_epoch)
        return Principal(account)

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
                           domain: str | None) -> Principal | None:
        """The answer without a thread hop when nothing can have changed: this password was
        verified against the account's current hash moments ago (HTTP clients send Basic
        credentials with every request). Costs one `stat` and two dict lookups."""
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
        if not account.enabled or not verified_recently(password, account.password_hash):
            return None
        self.lockout.success(ip)
        return Principal(account)

    async def authenticate(self, login: str, password: str, *, ip: str | None = None,
                           domain: str | None = None) -> Principal:
        """Verify in a worker thread (argon2 takes tens of milliseconds), unless the same
        credentials were verified recently."""
        principal = self._recently_verified(login, password, ip, domain)
        if principal is not None:
            return principal
        return await asyncio.to_thread(self.authenticate_sync, login, password, ip=ip,
                                       domain=domain)


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
