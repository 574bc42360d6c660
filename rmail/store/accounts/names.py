"""The gate for names from the outside: usernames, domains, addresses, passwords and quotas
checked and put in the one form the account records and the address map use."""

from __future__ import annotations

import re

from rmail.mail.domains import to_ascii_domain
from rmail.store.errors import InvalidValue

QUOTA_MIN_MB, QUOTA_MAX_MB = 1, 1_048_576
PASSWORD_MAX_BYTES = 1024

_USERNAME_RE = re.compile(r"[a-z0-9._-]{1,64}")
_LABEL_RE = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_LOCAL_ATOM_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")


def check_username(name: object) -> str:
    """Lowercase `a-z0-9._-`, 1-64 characters, not `.`/`..`, no leading dot (the name is a
    directory name), and no trailing or double dot (it is also the local part of the user's
    address, which `split_address` would refuse: RFC 5322 dot-atom)."""
    if not isinstance(name, str) or not _USERNAME_RE.fullmatch(name):
        raise InvalidValue("username must be 1-64 characters of lowercase a-z, 0-9, '.', '_', '-'")
    if name.startswith(".") or name.endswith(".") or ".." in name:
        raise InvalidValue("username must not start or end with '.' or contain '..'")
    return name


def normalize_domain(domain: object) -> str:
    """Lowercase IDNA (punycode) form of a domain name, validated label by label."""
    if not isinstance(domain, str) or not domain.strip():
        raise InvalidValue("domain is empty")
    name = domain.strip().rstrip(".").lower()
    try:
        ascii_name = name if name.isascii() else to_ascii_domain(name)
    except UnicodeError as exc:
        raise InvalidValue(f"domain {domain!r} is not a valid internationalised name") from exc
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise InvalidValue(f"domain {domain!r} is not a valid domain name")
    return ascii_name


def check_password(password: object) -> str:
    if not isinstance(password, str):
        raise InvalidValue("password must be a string")
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate (e.g. "\ud800" in JSON) can't be hashed
        raise InvalidValue("password is not valid Unicode") from None
    if not 1 <= size <= PASSWORD_MAX_BYTES:
        raise InvalidValue(f"password must be 1-{PASSWORD_MAX_BYTES} bytes")
    return password


def check_quota(quota_mb: object) -> int:
    if isinstance(quota_mb, bool) or not isinstance(quota_mb, int) or \
            not QUOTA_MIN_MB <= quota_mb <= QUOTA_MAX_MB:
        raise InvalidValue(f"quota_mb must be an integer {QUOTA_MIN_MB}-{QUOTA_MAX_MB}")
    return quota_mb


def split_address(address: object) -> tuple[str, str]:
    """`Local@Domain` -> (local, domain) with the domain normalised and an ASCII local part
    lowercased. UTF-8 local parts (RFC 6531) are allowed and NFC-normalised."""
    import unicodedata

    if not isinstance(address, str) or address.count("@") < 1:
        raise InvalidValue(f"{address!r} is not an e-mail address")
    local, _, domain = address.strip().rpartition("@")
    if local.startswith('"') and local.endswith('"') and len(local) >= 2:
        local = local[1:-1]
    if not local or len(local.encode()) > 64:
        raise InvalidValue(f"{address!r} has an empty or over-long local part")
    for ch in local:
        if ord(ch) < 0x21 or ord(ch) == 0x7F or ch in '"(),:;<>@[\\]':
            raise InvalidValue(f"{address!r} has a character not allowed in a local part")
    if local.isascii():
        if not _LOCAL_ATOM_RE.fullmatch(local) or local.startswith(".") or \
                local.endswith(".") or ".." in local:
            raise InvalidValue(f"{address!r} is not a valid local part")
        local = local.lower()
    else:
        local = unicodedata.normalize("NFC", local).lower()
    return local, normalize_domain(domain)


def normalize_address(address: object) -> str:
    local, domain = split_address(address)
    return f"{local}@{domain}"
