"""Typed configuration: frozen dataclasses with defaults and help text.

`config.json` is decoded into a `Config`, and every value is checked before anything starts:
an unknown key, a wrong type or an out-of-range value is a `ConfigError` whose message names
the file and the dotted key, e.g. ``config.json: listeners.imap.port: expected an integer
0-65535, got "abc"``.

Validation lives in each section's ``__post_init__`` (the machinery, converters and decoding
are `rmail.configschema`; this module lists rmail's keys), so a config built in code (tests,
the CLI) is held to the same rules as one read from disk::

    config = Config(mail_root=tmp_path).with_overrides(listeners={"http": {"port": 0}})

Every field carries ``metadata["help"]``; README's configuration table is written from it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import secrets
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from rmail.configschema import (
    ConfigError,
    Invalid,
    IPNetwork,
    Section,
    abs_path,
    boolean,
    choice,
    decode,
    dns_name,
    encode,
    host_or_ip,
    integer,
    join_key,
    list_of,
    network,
    opt,
    optional,
    override,
    section,
    show,
    string,
)

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


# --- converters of rmail's own values (the generic ones are in rmail.configschema) ------------


def _token_secret(value: object) -> str:
    # PyJWT warns (an error under our test settings) on HS256 keys shorter than 32 bytes.
    if not isinstance(value, str) or len(value.encode()) < 32:
        raise Invalid(
            "expected a string of at least 32 characters (e.g. 64 hex digits), "
            f"got {show(value) if not isinstance(value, str) else f'{len(value)} characters'}"
        )
    return value


def _workers(value: object) -> int | str:
    if value == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
        raise Invalid(f'expected an integer 1-256 or "auto", got {show(value)}')
    return value


def _default_hostname() -> str:
    try:
        return dns_name(socket.getfqdn())
    except Invalid:
        return "localhost"


# --- sections --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenerConfig(Section):
    """One TCP listener."""

    enabled: bool = opt(True, boolean, "Start this listener.")
    host: str = opt("127.0.0.1", host_or_ip, "Address to bind (IP literal or host name).")
    port: int = opt(0, integer(0, 65535), "TCP port; 0 picks a free port (tests).")


@dataclass(frozen=True)
class HttpListenerConfig(ListenerConfig):
    """The HTTP listener (JSON API, CalDAV, drive, webmail)."""

    tls: bool = opt(True, boolean, "Serve HTTPS (true) or plain HTTP (false).")
    access_log: bool = opt(
        True, boolean, "Log one line per request (logger `rmail.http.access`, level INFO)."
    )


def _listener(port: int, help: str, cls: type[ListenerConfig] = ListenerConfig) -> Any:
    return section(partial(cls, port=port), help, port=port)


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
class ListenersConfig(Section):
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
class TlsConfig(Section):
    """Certificate for every TLS listener."""

    cert: Path | None = opt(
        None,
        optional(abs_path),
        "PEM certificate chain; null: a self-signed one is made in {mail_root}/tls/.",
        path=True,
    )
    key: Path | None = opt(
        None, optional(abs_path), "PEM private key for `cert` (null when cert is null).", path=True
    )

    def _check(self) -> None:
        if (self.cert is None) != (self.key is None):
            missing = "key" if self.key is None else "cert"
            raise ConfigError("<code>", missing, "cert and key must be given together")


@dataclass(frozen=True)
class ExchangeApiConfig(Section):
    """JSON API tokens (JWT, HS256)."""

    token_secret: str | None = opt(
        None,
        optional(_token_secret),
        "JWT signing secret (>= 32 characters); null: generated once and kept in "
        "{mail_root}/secrets/jwt.secret.",
        repr=False,
    )
    token_ttl: int = opt(3600, integer(1), "Token lifetime in seconds.")
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
class SecurityConfig(Section):
    """Login lockout and rate limiting, shared by every protocol."""

    lockout_attempts: int = opt(5, integer(1), "Failed logins from one IP before it is locked out.")
    lockout_seconds: int = opt(900, integer(1), "How long a locked-out IP stays locked.")
    rate_limit_per_minute: int = opt(600, integer(1), "HTTP requests per minute per IP.")
    trusted_networks: tuple[IPNetwork, ...] = opt(
        ("127.0.0.0/8", "::1/128"),
        list_of(network),
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
class Pop3Config(Section):
    """Limits of the POP3 listeners."""

    max_connections_per_ip: int = opt(
        50, integer(1),
        "Concurrent POP3 connections per client IP, as IMAP (trusted networks exempt).",
    )
    timeout: int = opt(
        600, integer(600), "Seconds without a command before a POP3 session is closed (RFC 1939: "
        "at least 600)."
    )


RELAY_TLS_MODES = ("opportunistic", "starttls", "implicit", "none")


@dataclass(frozen=True)
class SmtpConfig(Section):
    """Limits of the SMTP, submission and LMTP listeners."""

    max_connections_per_ip: int = opt(
        20, integer(1), "Concurrent SMTP/LMTP connections per client IP (trusted networks exempt)."
    )
    max_recipients: int = opt(1000, integer(1), "Recipients per message; more get 452 4.5.3.")
    timeout: int = opt(300, integer(1), "Seconds an idle SMTP/LMTP session is kept open.")
    auth_without_tls_trusted: bool = opt(
        False, boolean, "Allow AUTH before STARTTLS from security.trusted_networks."
    )


@dataclass(frozen=True)
class RelayHost(Section):
    """A next-hop SMTP server: the smarthost, or the target of a static route."""

    host: str | None = opt(None, optional(host_or_ip), "Host name or IP address (required).")
    port: int = opt(25, integer(1, 65535), "TCP port.")
    tls: str = opt(
        "opportunistic",
        lambda v: choice(v, RELAY_TLS_MODES),
        "opportunistic (STARTTLS when offered, unverified), starttls (required, verified), "
        "implicit (TLS from the start, verified) or none.",
    )
    username: str | None = opt(None, optional(string), "AUTH user (with password).")
    password: str | None = opt(None, optional(string), "AUTH password.", repr=False)

    def _check(self) -> None:
        if self.host is None:
            raise ConfigError("<code>", "host", "a relay host needs a host")
        if (self.username is None) != (self.password is None):
            missing = "password" if self.password is None else "username"
            raise ConfigError("<code>", missing, "username and password must be given together")


def _relay_host(value: object) -> RelayHost:
    """A `RelayHost` from an object, or from a ``"host"``/``"host:port"``/``"[v6]:port"``."""
    if isinstance(value, RelayHost):
        return value
    if isinstance(value, str):
        host, port = string(value).strip(), "25"
        if host.startswith("[") and "]" in host:
            host, _, rest = host[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else port
        elif host.count(":") == 1:
            host, port = host.split(":")
        if not port.isdigit():
            raise Invalid(f'expected "host" or "host:port", got {show(value)}')
        value = {"host": host, "port": int(port)}
    if not isinstance(value, Mapping):
        raise Invalid(f'expected an object or "host:port", got {show(value)}')
    try:
        relay: RelayHost = decode(RelayHost, value, "", "<code>", Path.cwd(), {})
    except ConfigError as exc:
        raise Invalid(exc.reason, exc.key) from None
    return relay


def _routes(value: object) -> dict[str, RelayHost]:
    if not isinstance(value, Mapping):
        raise Invalid(f"expected an object mapping domains to relay hosts, got {show(value)}")
    routes: dict[str, RelayHost] = {}
    for domain, target in value.items():
        try:
            name = dns_name(domain)
        except Invalid as exc:
            raise Invalid(exc.reason, str(domain)) from None
        try:
            routes[name] = _relay_host(target)
        except Invalid as exc:
            raise Invalid(exc.reason, join_key(name, exc.key)) from None
    return routes


@dataclass(frozen=True)
class RelayConfig(Section):
    """Where outbound mail goes: static routes first, then the smarthost, else MX lookup."""

    smarthost: RelayHost | None = opt(
        None,
        optional(_relay_host),
        'Send all remote mail through this server: "host:port" or an object with host, port, '
        "tls, username, password; null: deliver directly to each domain's MX.",
    )
    routes: dict[str, RelayHost] = opt(
        dict,
        _routes,
        'Static routes by recipient domain: {"example.net": "10.0.0.5:25"} or objects like '
        "smarthost; they win over the smarthost and DNS.",
    )


@dataclass(frozen=True)
class QueueConfig(Section):
    """The outbound queue: retries and lifetime."""

    lifetime: int = opt(
        5 * 24 * 3600, integer(1), "Seconds a message is retried before it is bounced (5 days)."
    )
    retry_min: int = opt(300, integer(1), "Seconds before the first retry; doubles per attempt.")
    retry_max: int = opt(14400, integer(1), "Longest wait between two attempts, in seconds.")
    concurrency: int = opt(8, integer(1, 256), "Remote deliveries attempted in parallel.")
    timeout: int = opt(120, integer(1), "Seconds to wait for a remote server at each step.")

    def _check(self) -> None:
        if self.retry_max < self.retry_min:
            raise ConfigError("<code>", "retry_max", "must not be smaller than retry_min")


@dataclass(frozen=True)
class RetentionConfig(Section):
    """The retention sweeper (one per server): expunges mail whose retention ran out."""

    sweep_seconds: int = opt(3600, integer(1), "Seconds between two runs of the sweeper.")
    batch: int = opt(
        10000, integer(1), "Messages one run expunges at most; the rest waits for the next run."
    )


RESERVED_USERNAMES = (
    "abuse", "admin", "administrator", "hostmaster", "info", "mailer-daemon", "noc",
    "no-reply", "noreply", "postmaster", "root", "security", "support", "webmaster", "www",
)


@dataclass(frozen=True)
class RegistrationConfig(Section):
    """Self-service sign-up on the webmail (off by default)."""

    enabled: bool = opt(False, boolean, "Show /webmail/register and let people create accounts.")
    domains: tuple[str, ...] = opt(
        (), list_of(dns_name), "Domains people may register in (each must be a mail domain)."
    )
    min_password_length: int = opt(10, integer(8, 1024), "Shortest password accepted at sign-up.")
    per_ip_per_hour: int = opt(10, integer(1), "Sign-ups accepted per client address per hour.")
    reserved_names: tuple[str, ...] = opt(
        RESERVED_USERNAMES, list_of(string), "User names nobody may register (role accounts)."
    )


@dataclass(frozen=True)
class WebmailConfig(Section):
    """The webmail: sessions and registration."""

    session_idle_seconds: int = opt(
        7200, integer(60), "A webmail session ends after this many seconds without a request."
    )
    session_max_seconds: int = opt(
        604800, integer(60), "A webmail session ends this many seconds after login, in any case."
    )
    registration: RegistrationConfig = section(RegistrationConfig, "Self-service sign-up.")


def _https_url(value: object) -> str:
    text = string(value).strip()
    if not text.lower().startswith("https://") or len(text) <= len("https://"):
        raise Invalid(f"expected an https:// URL, got {show(value)}")
    return text


def _argon2_hash(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("$argon2id$"):
        raise Invalid("expected an argon2id hash as printed by `rmail provision key`, got "
                       f"{show(value)}")
    return value


@dataclass(frozen=True)
class ProvisioningConfig(Section):
    """The mail controller's interfaces: the REST API keys and the fetched JSON document."""

    url: str | None = opt(
        None, optional(_https_url),
        "HTTPS URL of the provisioning document, fetched every `interval` seconds and applied; "
        "null: no periodic fetch.",
    )
    interval: int = opt(300, integer(1), "Seconds between two fetches of `url`.")
    ca_file: Path | None = opt(
        None, optional(abs_path), "PEM CA bundle to verify `url` with (default: the system's).",
        path=True,
    )
    prune: bool = opt(
        False, boolean, "Remove accounts and aliases the document created earlier and no longer "
        "lists (after delete_grace_days).",
    )
    api_keys: tuple[str, ...] = opt(
        (), list_of(_argon2_hash),
        "argon2id hashes of the controllers' API keys for /mail/account and /mail/alias "
        "(`rmail provision key` makes one).",
    )
    delete_grace_days: int = opt(
        7, integer(0, 3650), "Days a deleted account's data is kept; `rmail user restore` brings "
        "it back meanwhile (0: removed at once).",
    )


@dataclass(frozen=True)
class Config(Section):
    """The whole configuration of one rmail node."""

    hostname: str = opt(
        _default_hostname,
        dns_name,
        "Name this server uses in greetings, URLs and its certificate.",
    )
    mail_root: Path = opt(
        "./mailstore",
        abs_path,
        "Data directory; relative paths are relative to the config file.",
        path=True,
    )
    domains: tuple[str, ...] = opt(
        (), list_of(dns_name), "Mail domains created at startup if missing."
    )
    listeners: ListenersConfig = section(ListenersConfig, "Listeners by name.")
    tls: TlsConfig = section(TlsConfig, "TLS certificate.")
    exchange_api: ExchangeApiConfig = section(ExchangeApiConfig, "JSON API tokens.")
    security: SecurityConfig = section(SecurityConfig, "Lockout and rate limits.")
    smtp: SmtpConfig = section(SmtpConfig, "SMTP, submission and LMTP limits.")
    pop3: Pop3Config = section(Pop3Config, "POP3 limits.")
    relay: RelayConfig = section(RelayConfig, "Outbound routing: static routes, smarthost.")
    queue: QueueConfig = section(QueueConfig, "Outbound queue retries and lifetime.")
    webmail: WebmailConfig = section(WebmailConfig, "Webmail sessions and registration.")
    provisioning: ProvisioningConfig = section(
        ProvisioningConfig, "Mail controller: REST API keys, the fetched JSON document."
    )
    retention: RetentionConfig = section(RetentionConfig, "Retention sweeper.")
    quota_mb_default: int = opt(1024, integer(1, 1048576), "Quota of new users, in MB.")
    max_message_bytes: int = opt(
        50 * 1024 * 1024, integer(1), "Largest message accepted, in bytes."
    )
    forwards_per_day: int = opt(
        2000, integer(0, 1_000_000), "Recipients a user's mail may be forwarded to per 24 hours "
        "(forward list and filter targets) unless an admin set `forwards` on the user.",
    )
    workers: int | str = opt(
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
        config = decode(cls, data, "", source, base, {})
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
        return override(self, changes, "")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of this config (with the configured, not the effective, secret)."""
        return encode(self)


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
