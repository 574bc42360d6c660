"""How values look on the pages: sizes, dates in the user's time zone, people, counts.
Pure functions, registered as Jinja2 filters (`FILTERS`)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = ["FILTERS", "filesize", "list_date", "long_date", "person", "timezones", "zone"]

UTC = dt.UTC


@functools.lru_cache(maxsize=256)
def zone(name: object) -> dt.tzinfo:
    """A time zone by IANA name; UTC for None or an unknown name."""
    if not isinstance(name, str) or not name or len(name) > 64:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@functools.lru_cache(maxsize=1)
def timezones() -> tuple[str, ...]:
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


def filesize(n: int) -> str:
    """1.2 MB, 340 KB, 12 bytes (decimal units, as file managers show them)."""
    if n < 1000:
        return f"{n} byte" + ("" if n == 1 else "s")
    for unit in ("KB", "MB", "GB", "TB"):
        n /= 1000  # type: ignore[assignment]
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if n < 10 else f"{n:.0f} {unit}"
    return f"{n} bytes"


def to_datetime(value: Any, tz: dt.tzinfo) -> dt.datetime | None:
    """An ISO string or epoch seconds, in `tz`."""
    if isinstance(value, int | float):
        when = dt.datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str) and value:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    else:
        return None
    return when.astimezone(tz)


def list_date(when: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """14:30 today, Apr 13 this year, 2024-04-13 before."""
    if when is None:
        return ""
    now = (now or dt.datetime.now(UTC)).astimezone(when.tzinfo)
    if when.date() == now.date():
        return when.strftime("%H:%M")
    if when.year == now.year:
        return when.strftime("%b %d").replace(" 0", " ")
    return when.strftime("%Y-%m-%d")


def long_date(when: dt.datetime | None) -> str:
    """Sun, 13 Apr 2025 14:30:00 (the manual's detail-page form)."""
    return when.strftime("%a, %d %b %Y %H:%M:%S") if when is not None else ""


def person(addr: dict[str, str] | None) -> str:
    """Display name, else the address."""
    if not addr:
        return ""
    return addr.get("name") or addr.get("address") or ""


def person_full(addr: dict[str, str] | None) -> str:
    """"Name <address>" or the address."""
    if not addr:
        return ""
    name, address = addr.get("name") or "", addr.get("address") or ""
    return f"{name} <{address}>" if name and address else name or address


def thousands(n: int) -> str:
    return f"{n:,}"


FILTERS: dict[str, Callable[..., Any]] = {
    "filesize": filesize,
    "person": person,
    "person_full": person_full,
    "thousands": thousands,
    "long_date": long_date,
    "list_date": list_date,
}
