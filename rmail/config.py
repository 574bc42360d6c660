"""Typed configuration: frozen dataclasses with defaults and help text.

`config.json` is decoded into a `Config`, and every value is checked before anything starts:
an unknown key, a wrong type or an out-of-range value is a `ConfigError` whose message names
the file and the dotted key, e.g. ``config.json: listeners.imap.port: expected an integer
0-65535, got "abc"``.

Validation lives in each section's ``__post_init__``, so a config built in code (tests, the
CLI) is held to the same rules as one read from disk::

    config = Config(mail_root=tmp_path).with_overrides(listeners={"http": {"port": 0}})

Every field carries ``metadata["help"]``; README's configuration table is written from it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
import secrets
import socket
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rmail.mail.domains import to_ascii_domain

__all__ = [
    "LISTENER_NAMES",
    "Config",
    "ConfigError",
    "ExchangeApiConfig",
    "HttpListenerConfig",
    "ListenerConfig",
    "ListenersConfig",
    "ProvisioningConfig",
    "QueueConfig",
    "RelayConfig",
    "RelayHost",
    "SecurityConfig",
    "SmtpConfig",
    "TlsConfig",
    "WebmailConfig",
    "load_config",
]

CONFIG_ENV = "RMAIL_CONFIG"
DEFAULT_CONFIG_FILE = "config.json"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A configuration problem, located by file (``source``) and dotted ``key``."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + reason)

    def located(self, source: str, prefix: str) -> ConfigError:
        """The same error, seen from an enclosing section at ``prefix`` in ``source``."""
        return ConfigError(source, _join(prefix, self.key), self.reason)


def _join(prefix: str, key: str) -> str:
    if not prefix:
        return key
    if not key:
        return prefix
    return prefix + key if key.startswith("[") else f"{prefix}.{key}"


def _show(value: object) -> str:
    """Render a bad value the way it was written in JSON."""
    if isinstance(value, Path):
        return json.dumps(str(value))
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Invalid(Exception):
    """Raised by a field converter; ``key`` is relative to the field (e.g. ``[2]``)."""

    def __init__(self, reason: str, key: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key


# --- field converters: take a raw value, return the normalised value or raise _Invalid -------

Converter = Callable[[Any], Any]


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"expected true or false, got {_show(value)}")
    return value


def _int(lo: int, hi: int | None = None) -> Converter:
    expected = f"an integer {lo}-{hi}" if hi is not None else f"an integer >= {lo}"

    def convert(value: object) -> int:
        # bool is an int subclass in Python, but `true` is never a port or a count.
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid(f"expected {expected}, got {_show(value)}")
        if value < lo or (hi is not None and value > hi):
            raise _Invalid(f"expected {expected}, got {value}")
        return value

    return convert


def _string(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"expected a non-empty string, got {_show(value)}")
    return value


def _optional(convert: Converter) -> Converter:
    def convert_optional(value: object) -> Any:
        return None if value is None else convert(value)

    return convert_optional


def _list(convert: Converter, *, unique: bool = True) -> Converter:
    def convert_list(value: object) -> tuple[Any, ...]:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise _Invalid(f"expected a list, got {_show(value)}")
        items: list[Any] = []
        for index, item in enumerate(value):
            try:
                converted = convert(item)
            except _Invalid as exc:
                raise _Invalid(exc.reason, f"[{index}]{exc.key}") from None
            if unique and converted in items:
                raise _Invalid(f"duplicate entry {_show(item)}", f"[{index}]")
            items.append(converted)
        return tuple(items)

    return convert_list


def _path(value: object) -> Path:
    if isinstance(value, Path):
        value = str(value)
    text = _string(value)
    return Path(os.path.abspath(os.path.expanduser(text)))


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _dns_name(value: object) -> str:
    """A host or domain name, lowercased and IDNA-encoded (``bücher.example`` → A-label)."""
    text = _string(value).strip().rstrip(".")
    try:
        ascii_name = text.lower() if text.isascii() else to_ascii_domain(text)
    except UnicodeError:
        raise _Invalid(f"not a valid domain name: {_show(value)}") from None
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in ascii_name.split(".")):
        raise _Invalid(f"not a valid domain name: {_show(value)}")
    return ascii_name


def _host(value: object) -> str:
    """A listen address: an IP literal (``127.0.0.1``, ``::``) or a host name."""
    text = _string(value).strip()
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    try:
        return _dns_name(text)
    except _Invalid:
        raise _Invalid(f"expected an IP address or host name, got {_show(value)}") from None


def _network(value: object) -> IPNetwork:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    text = _string(value)
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise _Invalid(
            f"expected a network like 10.0.0.0/8 or ::1/128, got {_show(value)}"
        ) from None


def _token_secret(value: object) -> str:
    # PyJWT warns (an error under our test settings) on HS256 keys shorter than 32 bytes.
    if not isinstance(value, str) or len(value.encode()) < 32:
        raise _Invalid(
            "expected a string of at least 32 characters (e.g. 64 hex digits), "
            f"got {_show(value) if not isinstance(value, str) else f'{len(value)} characters'}"
        )
    return value


def _workers(value: object) -> int | str:
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
        raise _Invalid(f'expected an integer 1-256 or "auto", got {_show(value)}')
    return value


def _default_hostname() -> str:
    try:
        return _dns_name(socket.getfqdn())
    except _Invalid:
        return "localhost"


# --- field declarations ----------------------------------------------------------------------


def _opt(default: Any, convert: Converter, help: str, *, path: bool = False, **kw: Any) -> Any:
    """A scalar field: its converter, its help text, and whether it is a file path."""
    metadata = {"help": help, "convert": convert, "path": path}
    if callable(default):
        return field(default_factory=default, metadata=metadata, **kw)
    return field(default=default, metadata=metadata, **kw)


def _section(factory: Callable[[], Any], help: str, **defaults: Any) -> Any:
    """A nested object; ``defaults`` are the values a partially given object starts from."""
    section = factory.func if isinstance(factory, partial) else factory
    return field(
        default_factory=factory,
        metadata={"help": help, "section": section, "defaults": defaults},
    )


class _Section:
    """Base of every config section: checks and normalises fields after construction."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            section = f.metadata.get("section")
            if section is not None:
                if not isinstance(value, section):
                    raise ConfigError("<code>", f.name, f"expected a {section.__name__}")
                continue
            convert = f.metadata.get("convert")
            if convert is None:
                continue
            try:
                normalised = convert(value)
            except _Invalid as exc:
                raise ConfigError("<code>", _join(f.name, exc.key), exc.reason) from None
            object.__setattr__(self, f.name, normalised)
        self._check()

    def _check(self) -> None:
        """Checks spanning several fields (override in sections that need them)."""


# --- sections --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerConfig(_Section):
    """One TCP listener."""

    enabled: bool = _opt(True, _bool, "Start this listener.")
    host: str = _opt("127.0.0.1", _host, "Address to bind (IP literal or host name).")
    port: int = _opt(0, _int(0, 65535), "TCP port; 0 picks a free port (tests).")


@dataclass(frozen=True)
class HttpListenerConfig(ListenerConfig):
    """The HTTP listener (JSON API, CalDAV, drive, webmail)."""

    tls: bool = _opt(True, _bool, "Serve HTTPS (true) or plain HTTP (false).")
    access_log: bool = _opt(
        True, _bool, "Log one line per request (logger `rmail.http.access`, level INFO)."
    )


def _listener(port: int, help: str, cls: type[ListenerConfig] = ListenerConfig) -> Any:
    return _section(partial(cls, port=port), help, port=port)


LISTENER_NAMES = (
    "smtp",
    "submission",
    "submissions",
    "lmtp",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "http",
)


@dataclass(frozen=True)
class ListenersConfig(_Section):
    """Every listener by name; each may be given partially in the file."""

    smtp: ListenerConfig = _listener(25, "SMTP for incoming mail (MX), STARTTLS.")
    submission: ListenerConfig = _listener(587, "Mail submission with STARTTLS and AUTH.")
    submissions: ListenerConfig = _listener(465, "Mail submission over implicit TLS.")
    lmtp: ListenerConfig = _listener(24, "LMTP for local delivery from another MTA.")
    imap: ListenerConfig = _listener(143, "IMAP with STARTTLS.")
    imaps: ListenerConfig = _listener(993, "IMAP over implicit TLS.")
    pop3: ListenerConfig = _listener(110, "POP3 with STLS.")
    pop3s: ListenerConfig = _listener(995, "POP3 over implicit TLS.")
    http: HttpListenerConfig = _listener(
        9003, "JSON API, CalDAV, drive and webmail.", HttpListenerConfig
    )

    def items(self) -> Iterator[tuple[str, ListenerConfig]]:
        """(name, listener) pairs in declaration order."""
        for name in LISTENER_NAMES:
            yield name, getattr(self, name)

    def enabled(self) -> Iterator[tuple[str, ListenerConfig]]:
        return ((name, lst) for name, lst in self.items() if lst.enabled)

    def _check(self) -> None:
        seen: dict[tuple[str, int], str] = {}
        for name, lst in self.enabled():
            if lst.port == 0:
                continue
            other = seen.setdefault((lst.host, lst.port), name)
            if other != name:
                raise ConfigError(
                    "<code>", name, f"same address as listeners.{other} ({lst.host}:{lst.port})"
                )


@dataclass(frozen=True)
class TlsConfig(_Section):
    """Certificate for every TLS listener."""

    cert: Path | None = _opt(
        None,
        _optional(_path),
        "PEM certificate chain; null: a self-signed one is made in {mail_root}/tls/.",
        path=True,
    )
    key: Path | None = _opt(
        None, _optional(_path), "PEM private key for `cert` (null when cert is null).", path=True
    )

    def _check(self) -> None:
        if (self.cert is None) != (self.key is None):
            missing = "key" if self.key is None else "cert"
            raise ConfigError("<code>", missing, "cert and key must be given together")


@dataclass(frozen=True)
class ExchangeApiConfig(_Section):
    """JSON API tokens (JWT, HS256)."""

    token_secret: str | None = _opt(
        None,
        _optional(_token_secret),
        "JWT signing secret (>= 32 characters); null: generated once and kept in "
        "{mail_root}/secrets/jwt.secret.",
        repr=False,
    )
    token_ttl: int = _opt(3600, _int(1), "Token lifetime in seconds.")
    # Not a config key: the secret actually in use by this process (see `secret`).
    generated_secret: str = field(
        default_factory=lambda: secrets.token_hex(32),
        repr=False,
        compare=False,
        metadata={"internal": True},
    )

    @property
    def secret(self) -> str:
        """The effective signing secret: the configured one, else this start's random one."""
        return self.token_secret if self.token_secret is not None else self.generated_secret


@dataclass(frozen=True)
class SecurityConfig(_Section):
    """Login lockout and rate limiting, shared by every protocol."""

    lockout_attempts: int = _opt(5, _int(1), "Failed logins from one IP before it is locked out.")
    lockout_seconds: int = _opt(900, _int(1), "How long a locked-out IP stays locked.")
    rate_limit_per_minute: int = _opt(600, _int(1), "HTTP requests per minute per IP.")
    trusted_networks: tuple[IPNetwork, ...] = _opt(
        ("127.0.0.0/8", "::1/128"),
        _list(_network),
        "Networks exempt from lockout and rate limits ([] exempts nobody).",
    )

    def is_trusted(self, address: str) -> bool:
        """Whether a peer address (as a socket reports it) is in a trusted network."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(ip in net for net in self.trusted_networks)


@dataclass(frozen=True)
class Pop3Config(_Section):
    """Limits of the POP3 listeners."""

    max_connections_per_ip: int = _opt(
        50, _int(1), "Concurrent POP3 connections per client IP, as IMAP (trusted networks exempt)."
    )
    timeout: int = _opt(
        600, _int(600), "Seconds without a command before a POP3 session is closed (RFC 1939: "
        "at least 600)."
    )


RELAY_TLS_MODES = ("opportunistic", "starttls", "implicit", "none")


@dataclass(frozen=True)
class SmtpConfig(_Section):
    """Limits of the SMTP, submission and LMTP listeners."""

    max_connections_per_ip: int = _opt(
        20, _int(1), "Concurrent SMTP/LMTP connections per client IP (trusted networks exempt)."
    )
    max_recipients: int = _opt(1000, _int(1), "Recipients per message; more get 452 4.5.3.")
    timeout: int = _opt(300, _int(1), "Seconds an idle SMTP/LMTP session is kept open.")
    auth_without_tls_trusted: bool = _opt(
        False, _bool, "Allow AUTH before STARTTLS from security.trusted_networks."
    )


@dataclass(frozen=True)
class RelayHost(_Section):
    """A next-hop SMTP server: the smarthost, or the target of a static route."""

    host: str | None = _opt(None, _optional(_host), "Host name or IP address (required).")
    port: int = _opt(25, _int(1, 65535), "TCP port.")
    tls: str = _opt(
        "opportunistic",
        lambda v: _choice(v, RELAY_TLS_MODES),
        "opportunistic (STARTTLS when offered, unverified), starttls (required, verified), "
        "implicit (TLS from the start, verified) or none.",
    )
    username: str | None = _opt(None, _optional(_string), "AUTH user (with password).")
    password: str | None = _opt(None, _optional(_string), "AUTH password.", repr=False)

    def _check(self) -> None:
        if self.host is None:
            raise ConfigError("<code>", "host", "a relay host needs a host")
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            raise ConfigError("<code>", missing, "username and password must be given together")


def _choice(value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise _Invalid(f"expected one of {', '.join(choices)}, got {_show(value)}")
    return value


def _relay_host(value: object) -> RelayHost:
    """A `RelayHost` from an object, or from a ``"host"``/``"host:port"``/``"[v6]:port"``."""
    if isinstance(value, RelayHost):
        return value
    if isinstance(value, str):
        host, port = _string(value).strip(), "25"
        if host.startswith("[") and "]" in host:
            host, _, rest = host[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else port
        elif host.count(":") == 1:
            host, port = host.split(":")
        if not port.isdigit():
            raise _Invalid(f'expected "host" or "host:port", got {_show(value)}')
        value = {"host": host, "port": int(port)}
    if not isinstance(value, Mapping):
        raise _Invalid(f'expected an object or "host:port", got {_show(value)}')
    try:
        relay: RelayHost = _decode(RelayHost, value, "", "<code>", Path.cwd(), {})
    except ConfigError as exc:
        raise _Invalid(exc.reason, exc.key) from None
    return relay


def _routes(value: object) -> dict[str, RelayHost]:
    if not isinstance(value, Mapping):
        raise _Invalid(f"expected an object mapping domains to relay hosts, got {_show(value)}")
    routes: dict[str, RelayHost] = {}
    for domain, target in value.items():
        try:
            name = _dns_name(domain)
        except _Invalid as exc:
            raise _Invalid(exc.reason, str(domain)) from None
        try:
            routes[name] = _relay_host(target)
        except _Invalid as exc:
            raise _Invalid(exc.reason, _join(name, exc.key)) from None
    return routes


@dataclass(frozen=True)
class RelayConfig(_Section):
    """Where outbound mail goes: static routes first, then the smarthost, else MX lookup."""

    smarthost: RelayHost | None = _opt(
        None,
        _optional(_relay_host),
        'Send all remote mail through this server: "host:port" or an object with host, port, '
        "tls, username, password; null: deliver directly to each domain's MX.",
    )
    routes: dict[str, RelayHost] = _opt(
        dict,
        _routes,
        'Static routes by recipient domain: {"example.net": "10.0.0.5:25"} or objects like '
        "smarthost; they win over the smarthost and DNS.",
    )


@dataclass(frozen=True)
class QueueConfig(_Section):
    """The outbound queue: retries and lifetime."""

    lifetime: int = _opt(
        5 * 24 * 3600, _int(1), "Seconds a message is retried before it is bounced (5 days)."
    )
    retry_min: int = _opt(300, _int(1), "Seconds before the first retry; doubles per attempt.")
    retry_max: int = _opt(14400, _int(1), "Longest wait between two attempts, in seconds.")
    concurrency: int = _opt(8, _int(1, 256), "Remote deliveries attempted in parallel.")
    timeout: int = _opt(120, _int(1), "Seconds to wait for a remote server at each step.")

    def _check(self) -> None:
        if self.retry_max < self.retry_min:
            raise ConfigError("<code>", "retry_max", "must not be smaller than retry_min")


@dataclass(frozen=True)
class RetentionConfig(_Section):
    """The retention sweeper (one per server): expunges mail whose retention ran out."""

    sweep_seconds: int = _opt(3600, _int(1), "Seconds between two runs of the sweeper.")
    batch: int = _opt(
        10000, _int(1), "Messages one run expunges at most; the rest waits for the next run."
    )


RESERVED_USERNAMES = (
    "abuse", "admin", "administrator", "hostmaster", "info", "mailer-daemon", "noc",
    "no-reply", "noreply", "postmaster", "root", "security", "support", "webmaster", "www",
)


@dataclass(frozen=True)
class RegistrationConfig(_Section):
    """Self-service sign-up on the webmail (off by default)."""

    enabled: bool = _opt(False, _bool, "Show /webmail/register and let people create accounts.")
    domains: tuple[str, ...] = _opt(
        (), _list(_dns_name), "Domains people may register in (each must be a mail domain)."
    )
    min_password_length: int = _opt(10, _int(8, 1024), "Shortest password accepted at sign-up.")
    per_ip_per_hour: int = _opt(10, _int(1), "Sign-ups accepted per client address per hour.")
    reserved_names: tuple[str, ...] = _opt(
        RESERVED_USERNAMES, _list(_string), "User names nobody may register (role accounts)."
    )


@dataclass(frozen=True)
class WebmailConfig(_Section):
    """The webmail: sessions and registration."""

    session_idle_seconds: int = _opt(
        7200, _int(60), "A webmail session ends after this many seconds without a request."
    )
    session_max_seconds: int = _opt(
        604800, _int(60), "A webmail session ends this many seconds after login, in any case."
    )
    registration: RegistrationConfig = _section(RegistrationConfig, "Self-service sign-up.")


def _https_url(value: object) -> str:
    text = _string(value).strip()
    if not text.lower().startswith("https://") or len(text) <= len("https://"):
        raise _Invalid(f"expected an https:// URL, got {_show(value)}")
    return text


def _argon2_hash(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("$argon2id$"):
        raise _Invalid("expected an argon2id hash as printed by `rmail provision key`, got "
                       f"{_show(value)}")
    return value


@dataclass(frozen=True)
class ProvisioningConfig(_Section):
    """The mail controller's interfaces: the REST API keys and the fetched JSON document."""

    url: str | None = _opt(
        None, _optional(_https_url),
        "HTTPS URL of the provisioning document, fetched every `interval` seconds and applied; "
        "null: no periodic fetch.",
    )
    interval: int = _opt(300, _int(1), "Seconds between two fetches of `url`.")
    ca_file: Path | None = _opt(
        None, _optional(_path), "PEM CA bundle to verify `url` with (default: the system's).",
        path=True,
    )
    prune: bool = _opt(
        False, _bool, "Remove accounts and aliases the document created earlier and no longer "
        "lists (after delete_grace_days).",
    )
    api_keys: tuple[str, ...] = _opt(
        (), _list(_argon2_hash),
        "argon2id hashes of the controllers' API keys for /mail/account and /mail/alias "
        "(`rmail provision key` makes one).",
    )
    delete_grace_days: int = _opt(
        7, _int(0, 3650), "Days a deleted account's data is kept; `rmail user restore` brings "
        "it back meanwhile (0: removed at once).",
    )


@dataclass(frozen=True)
class Config(_Section):
    """The whole configuration of one rmail node."""

    hostname: str = _opt(
        _default_hostname,
        _dns_name,
        "Name this server uses in greetings, URLs and its certificate.",
    )
    mail_root: Path = _opt(
        "./mailstore",
        _path,
        "Data directory; relative paths are relative to the config file.",
        path=True,
    )
    domains: tuple[str, ...] = _opt(
        (), _list(_dns_name), "Mail domains created at startup if missing."
    )
    listeners: ListenersConfig = _section(ListenersConfig, "Listeners by name.")
    tls: TlsConfig = _section(TlsConfig, "TLS certificate.")
    exchange_api: ExchangeApiConfig = _section(ExchangeApiConfig, "JSON API tokens.")
    security: SecurityConfig = _section(SecurityConfig, "Lockout and rate limits.")
    smtp: SmtpConfig = _section(SmtpConfig, "SMTP, submission and LMTP limits.")
    pop3: Pop3Config = _section(Pop3Config, "POP3 limits.")
    relay: RelayConfig = _section(RelayConfig, "Outbound routing: static routes, smarthost.")
    queue: QueueConfig = _section(QueueConfig, "Outbound queue retries and lifetime.")
    webmail: WebmailConfig = _section(WebmailConfig, "Webmail sessions and registration.")
    provisioning: ProvisioningConfig = _section(
        ProvisioningConfig, "Mail controller: REST API keys, the fetched JSON document."
    )
    retention: RetentionConfig = _section(RetentionConfig, "Retention sweeper.")
    quota_mb_default: int = _opt(1024, _int(1, 1048576), "Quota of new users, in MB.")
    max_message_bytes: int = _opt(50 * 1024 * 1024, _int(1), "Largest message accepted, in bytes.")
    forwards_per_day: int = _opt(
        2000, _int(0, 1_000_000), "Recipients a user's mail may be forwarded to per 24 hours "
        "(forward list and filter targets) unless an admin set `forwards` on the user.",
    )
    workers: int | str = _opt(
        "auto",
        _workers,
        'Worker processes serving every listener: an integer, or "auto" = one per CPU; 1 = a '
        "single process with no supervisor.",
    )
    # Not a config key: where this config came from, for error messages.
    source: str = field(default="<code>", compare=False, metadata={"internal": True})

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        source: str = "<dict>",
        *,
        base_dir: str | Path | None = None,
    ) -> Config:
        """Decode a JSON object; relative paths resolve against ``base_dir`` (default: cwd)."""
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        config = _decode(cls, data, "", source, base, {})
        return dataclasses.replace(config, source=source)

    @property
    def worker_count(self) -> int:
        """`workers` resolved: "auto" is the number of CPUs this process may run on."""
        if isinstance(self.workers, int):
            return self.workers
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):
            return max(1, os.cpu_count() or 1)

    def with_overrides(self, **changes: Any) -> Config:
        """A copy with some values changed; a dict for a section changes only its given keys.

        ``config.with_overrides(listeners={"imap": {"enabled": True, "port": 0}})``
        """
        return _override(self, changes, "")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of this config (with the configured, not the effective, secret)."""
        return _encode(self)


# --- decoding --------------------------------------------------------------------------------


def _config_keys(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("internal")}


def _decode(
    cls: type,
    raw: object,
    prefix: str,
    source: str,
    base: Path,
    defaults: Mapping[str, Any],
) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(source, prefix, f"expected an object, got {_show(raw)}")
    known = _config_keys(cls)
    for key in raw:
        if key not in known:
            allowed = ", ".join(known)
            raise ConfigError(
                source, _join(prefix, str(key)), f"unknown key (expected one of: {allowed})"
            )
    kwargs: dict[str, Any] = dict(defaults)
    for name, f in known.items():
        if name in raw:
            value = raw[name]
            section = f.metadata.get("section")
            if section is not None:
                value = _decode(
                    section, value, _join(prefix, name), source, base, f.metadata["defaults"]
                )
            kwargs[name] = value
        if f.metadata.get("path"):
            value = kwargs.get(name, f.default)
            if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
                kwargs[name] = str(base / value)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise exc.located(source, prefix) from None


def _override(obj: Any, changes: Mapping[str, Any], prefix: str) -> Any:
    known = _config_keys(type(obj))
    replace: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in known:
            raise ConfigError("<overrides>", _join(prefix, name), "unknown key")
        current = getattr(obj, name)
        if known[name].metadata.get("section") is not None and isinstance(value, Mapping):
            value = _override(current, value, _join(prefix, name))
        replace[name] = value
    try:
        return dataclasses.replace(obj, **replace)
    except ConfigError as exc:
        raise exc.located("<overrides>", prefix) from None


def _encode(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _config_keys(type(obj)):
        value = getattr(obj, name)
        if dataclasses.is_dataclass(value):
            out[name] = _encode(value)
        elif isinstance(value, Mapping):
            out[name] = {k: _encode(v) if dataclasses.is_dataclass(v) else v
                         for k, v in value.items()}
        elif isinstance(value, tuple):
            out[name] = [str(v) for v in value]
        elif isinstance(value, Path):
            out[name] = str(value)
        else:
            out[name] = value
    return out


def config_path(path: str | Path | None = None) -> Path:
    """The config file to use: the argument, else ``$RMAIL_CONFIG``, else ``./config.json``."""
    if path is not None and str(path) != "":
        return Path(path)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path(DEFAULT_CONFIG_FILE)


def load_config(path: str | Path | None = None) -> Config:
    """Read and check a config file; any problem is a `ConfigError` naming file and key."""
    file = config_path(path)
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            source, "", f"file not found (pass --config or set {CONFIG_ENV})"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(source, "", f"cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            source, "", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    return Config.from_dict(data, source, base_dir=file.resolve().parent)
