"""One failure lockout and request rate limit shared by every protocol.

N failed logins from one IP within `lockout_seconds` lock that IP out of IMAP, POP3, SMTP AUTH,
the API and webmail alike for `lockout_seconds`. Trusted networks (loopback by default) are
exempt; tests set `trusted_networks` to [] to exercise the lockout over loopback.

In a multi-process server every process keeps the same table: `forward` sends each local
failure and success to the others over the bus (`rmail.bus`), which apply it with
``propagate=False``; a (re)started worker receives the supervisor's table (`export_state`).
Requests counted against the rate limit are summed per IP and sent every tenth of a second
(`take_local_counts`), and drain the same IP's bucket in the other processes
(`consume_remote`), so a client cannot multiply its allowance by the number of workers.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_TRACKED_IPS = 100_000  # failure windows kept at most (a spray of addresses must not grow us)


def parse_networks(networks: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


class Lockout:
    """Failure counting, lockout and a per-minute rate limit, keyed by client IP."""

    def __init__(self, attempts: int = 5, seconds: float = 900, rate_per_minute: int = 600,
                 trusted: Iterable[str] = ("127.0.0.0/8", "::1/128")) -> None:
        self.attempts = attempts
        self.seconds = seconds
        self.rate_per_minute = rate_per_minute
        self.trusted = parse_networks(trusted)
        self._trusted_cache: dict[str, bool] = {}
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}
        self._requests: dict[str, tuple[float, float]] = {}  # ip -> (tokens, last time)
        self._lock = threading.Lock()
        # Set by `rmail.bus`: called with ("fail" | "ok", ip) for every local event.
        self.forward: Callable[[str, str], None] | None = None
        self._local_counts: dict[str, int] = {}  # requests per IP since the last broadcast

    @classmethod
    def from_config(cls, security: object) -> Lockout:
        return cls(getattr(security, "lockout_attempts", 5),
                   getattr(security, "lockout_seconds", 900),
                   getattr(security, "rate_limit_per_minute", 600),
                   getattr(security, "trusted_networks", ("127.0.0.0/8", "::1/128")))

    def is_trusted(self, ip: str | None) -> bool:
        """Asked on every request: answers are remembered per address string."""
        if not ip:
            return False
        known = self._trusted_cache.get(ip)
        if known is not None:
            return known
        trusted = self._is_trusted(ip)
        if len(self._trusted_cache) > 10_000:
            self._trusted_cache.clear()
        self._trusted_cache[ip] = trusted
        return trusted

    def _is_trusted(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.trusted)

    def is_locked(self, ip: str | None) -> bool:
        if ip is None or self.is_trusted(ip):
            return False
        with self._lock:
            until = self._locked_until.get(ip)
            if until is None:
                return False
            if until > time.monotonic():
                return True
            del self._locked_until[ip]
            return False

    def retry_after(self, ip: str) -> int:
        with self._lock:
            return max(0, int(self._locked_until.get(ip, 0) - time.monotonic()) + 1)

    def failure(self, ip: str | None, *, propagate: bool = True) -> bool:
        """Record a failed login; returns True when this failure locked the IP."""
        if ip is None or self.is_trusted(ip):
            return False
        forward = self.forward
        if propagate and forward is not None:
            forward("fail", ip)
        now = time.monotonic()
        with self._lock:
            window = self._failures.setdefault(ip, deque())
            window.append(now)
            while window and window[0] < now - self.seconds:
                window.popleft()
            if len(window) >= self.attempts:
                self._locked_until[ip] = now + self.seconds
                window.clear()
                return True
            if len(self._failures) > MAX_TRACKED_IPS:  # bound memory under a spray
                cutoff = now - self.seconds
                for key in [k for k, w in self._failures.items() if not w or w[-1] < cutoff]:
                    del self._failures[key]
                if len(self._failures) > MAX_TRACKED_IPS // 2:  # all recent: drop the oldest
                    for key in list(self._failures)[:len(self._failures) // 2]:
                        del self._failures[key]
            return False

    def success(self, ip: str | None, *, propagate: bool = True) -> None:
        if ip is None or ip not in self._failures:  # the common case needs no lock
            return
        forward = self.forward
        if propagate and forward is not None:
            forward("ok", ip)
        with self._lock:
            self._failures.pop(ip, None)

    # -- sharing with the other processes (rmail.bus) -----------------------------------------
    def export_state(self) -> dict[str, Any]:
        """Lockouts and failure windows as ages in seconds (monotonic clocks differ in meaning
        between machines, not between processes, but ages keep the format clock-free)."""
        now = time.monotonic()
        with self._lock:
            locked = {ip: until - now for ip, until in self._locked_until.items() if until > now}
            failures = {ip: [now - t for t in w] for ip, w in self._failures.items() if w}
        return {"locked": locked, "failures": failures}

    def import_state(self, state: dict[str, Any]) -> None:
        now = time.monotonic()
        with self._lock:
            for ip, left in state.get("locked", {}).items():
                self._locked_until[ip] = max(self._locked_until.get(ip, 0.0), now + float(left))
            for ip, ages in state.get("failures", {}).items():
                self._failures[ip] = deque(sorted(now - float(a) for a in ages))

    def take_local_counts(self) -> dict[str, int]:
        """Requests counted here since the last call (for the bus); resets the counts."""
        if not self._local_counts:
            return {}
        with self._lock:
            counts, self._local_counts = self._local_counts, {}
        return counts

    def consume_remote(self, counts: dict[str, int]) -> None:
        """Drain buckets by the requests other processes served (never denies by itself)."""
        if self.rate_per_minute <= 0:
            return
        now = time.monotonic()
        rate = self.rate_per_minute / 60.0
        full = float(self.rate_per_minute)
        with self._lock:
            for ip, n in counts.items():
                tokens, last = self._requests.get(ip, (full, now))
                tokens = min(full, tokens + (now - last) * rate)
                self._requests[ip] = (tokens - int(n), now)

    def allow_request(self, ip: str | None) -> bool:
        """Token bucket of `rate_per_minute` requests per IP; trusted networks are exempt."""
        if ip is None or self.rate_per_minute <= 0 or self.is_trusted(ip):
            return True
        now = time.monotonic()
        rate = self.rate_per_minute / 60.0
        with self._lock:
            tokens, last = self._requests.get(ip, (float(self.rate_per_minute), now))
            tokens = min(float(self.rate_per_minute), tokens + (now - last) * rate)
            if tokens < 1:
                self._requests[ip] = (tokens, now)
                return False
            self._requests[ip] = (tokens - 1, now)
            if len(self._requests) > 100_000:
                self._requests.clear()
            if self.forward is not None:
                self._local_counts[ip] = self._local_counts.get(ip, 0) + 1
            return True
