"""What a mail client needs to know, taken from the configuration: host, ports, security.

Only enabled listeners are offered, each with its configured port; the host is `hostname`.
Builders for each client format (`thunderbird`, `outlook`, `apple`) are pure functions of a
`ClientSettings`, tested on their output alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from rmail.config import Config

SSL, STARTTLS = "SSL", "STARTTLS"


@dataclass(frozen=True)
class Endpoint:
    protocol: str  # "imap", "pop3" or "smtp"
    port: int
    security: str  # SSL (implicit TLS) or STARTTLS


@dataclass(frozen=True)
class ClientSettings:
    hostname: str
    domain: str
    email: str | None  # the address asked about, when given
    endpoints: tuple[Endpoint, ...]

    def of(self, protocol: str) -> list[Endpoint]:
        return [e for e in self.endpoints if e.protocol == protocol]

    def preferred(self, protocol: str) -> Endpoint | None:
        """Implicit TLS first (RFC 8314 §3), else STARTTLS."""
        found = self.of(protocol)
        return found[0] if found else None


# (listener name, protocol, security) in the order clients should try them (RFC 8314 §3).
_LISTENERS = (
    ("imaps", "imap", SSL),
    ("imap", "imap", STARTTLS),
    ("pop3s", "pop3", SSL),
    ("pop3", "pop3", STARTTLS),
    ("submissions", "smtp", SSL),
    ("submission", "smtp", STARTTLS),
)


def client_settings(config: Config, domain: str, email: str | None = None) -> ClientSettings:
    endpoints = tuple(
        Endpoint(protocol, getattr(config.listeners, name).port, security)
        for name, protocol, security in _LISTENERS
        if getattr(config.listeners, name).enabled
    )
    return ClientSettings(config.hostname, domain, email, endpoints)
