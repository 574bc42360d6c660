"""The shared failure lockout and request rate limit."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from rmail.auth import lockout as lockout_module
from rmail.auth.lockout import Lockout

IP, OTHER = "203.0.113.5", "198.51.100.7"


def test_locks_after_n_failures_and_only_that_ip() -> None:
    lock = Lockout(attempts=3, seconds=60)
    assert lock.failure(IP) is False
    assert lock.failure(IP) is False
    assert not lock.is_locked(IP)
    assert lock.failure(IP) is True
    assert lock.is_locked(IP)
    assert 1 <= lock.retry_after(IP) <= 61
    assert not lock.is_locked(OTHER)
    assert lock.retry_after(OTHER) == 0


def test_success_resets_the_count() -> None:
    lock = Lockout(attempts=3, seconds=60)
    lock.failure(IP)
    lock.failure(IP)
    lock.success(IP)
    lock.failure(IP)
    lock.failure(IP)
    assert not lock.is_locked(IP)
    assert lock.failure(IP) is True


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"])
def test_trusted_networks_are_exempt(ip: str) -> None:
    lock = Lockout(attempts=1, seconds=60)
    assert lock.is_trusted(ip)
    assert lock.failure(ip) is False
    assert not lock.is_locked(ip)


def test_trusted_networks_configurable() -> None:
    lock = Lockout(attempts=1, trusted=[])
    assert not lock.is_trusted("127.0.0.1")
    assert lock.failure("127.0.0.1") is True
    lock = Lockout(attempts=1, trusted=["10.0.0.0/8", "fd00::/8"])
    assert lock.is_trusted("10.1.2.3") and lock.is_trusted("fd00::1")
    assert not lock.is_trusted("127.0.0.1")


@pytest.mark.parametrize("ip", [None, "", "not-an-ip", "fe80::1%eth0"])
def test_odd_addresses(ip: str | None) -> None:
    lock = Lockout(attempts=1)
    assert not lock.is_trusted(ip)
    lock.failure(ip)
    assert lock.is_locked(ip) is (ip is not None)


def test_failures_outside_the_window_are_forgotten() -> None:
    lock = Lockout(attempts=2, seconds=0.1)
    lock.failure(IP)
    time.sleep(0.15)
    assert lock.failure(IP) is False
    assert lock.failure(IP) is True


def test_lock_expires() -> None:
    lock = Lockout(attempts=1, seconds=0.1)
    lock.failure(IP)
    assert lock.is_locked(IP)
    time.sleep(0.15)
    assert not lock.is_locked(IP)


def test_failure_memory_is_bounded_under_a_spray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lockout_module, "MAX_TRACKED_IPS", 100)
    lock = Lockout(attempts=5, seconds=60)
    for i in range(1000):
        lock.failure(f"198.18.{i // 256}.{i % 256}")
    assert len(lock._failures) <= 101
    lock.failure(IP)
    assert IP in lock._failures  # the newest are kept


def test_rate_limit() -> None:
    lock = Lockout(rate_per_minute=3)
    assert [lock.allow_request(IP) for _ in range(4)] == [True, True, True, False]
    assert lock.allow_request(OTHER)
    assert all(lock.allow_request("127.0.0.1") for _ in range(10))
    assert lock.allow_request(None)
    unlimited = Lockout(rate_per_minute=0)
    assert all(unlimited.allow_request(IP) for _ in range(100))


def test_rate_limit_refills() -> None:
    lock = Lockout(rate_per_minute=1200)  # 20 a second
    while lock.allow_request(IP):
        pass
    assert not lock.allow_request(IP)
    time.sleep(0.1)
    assert lock.allow_request(IP)


def test_from_config() -> None:
    security = SimpleNamespace(lockout_attempts=2, lockout_seconds=30, rate_limit_per_minute=7,
                               trusted_networks=["192.0.2.0/24"])
    lock = Lockout.from_config(security)
    assert (lock.attempts, lock.seconds, lock.rate_per_minute) == (2, 30, 7)
    assert lock.is_trusted("192.0.2.9") and not lock.is_trusted("127.0.0.1")
