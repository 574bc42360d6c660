"""VALARM trigger times (RFC 5545 §3.6.6, §3.8.6.3): relative to the start or end of each
instance, or absolute; REPEAT/DURATION add further firings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from icalendar.cal import Component

from rmail.ical.recur import UTC, Expansion, Instance, to_utc


@dataclass(frozen=True)
class Firing:
    """One alarm firing for one instance."""

    at: dt.datetime                  # UTC
    instance: Instance
    alarm: Component
    number: int                      # index of the VALARM inside its component
    repeat: int                      # 0 for the first firing, then 1..REPEAT

    @property
    def key(self) -> str:
        """Stable identity across restarts: instance start + alarm index + repetition."""
        rid = self.instance.recurrence_id
        ident = to_utc(rid).strftime("%Y%m%dT%H%M%SZ") if rid is not None else "-"
        return f"{ident}/{self.number}/{self.repeat}"


def alarm_times(alarm: Component, parent: Component,
                inst_start: dt.datetime | None = None,
                inst_end: dt.datetime | None = None) -> list[dt.datetime]:
    """Every firing time of `alarm` for one instance of `parent` (UTC)."""
    trigger = alarm.get("TRIGGER")
    if trigger is None:
        return []
    value = getattr(trigger, "dt", None)
    first: dt.datetime | None
    if isinstance(value, dt.timedelta):
        related = str(getattr(trigger, "params", {}).get("RELATED", "START")).upper()
        if related == "END":
            base = inst_end or _component_time(parent, "DTEND") or _component_time(parent, "DUE")
        else:
            base = inst_start or _component_time(parent, "DTSTART")
        first = base + value if base is not None else None
    elif isinstance(value, dt.date):
        first = to_utc(value)
    else:
        return []
    if first is None:
        return []
    times = [first]
    repeat = alarm.get("REPEAT")
    duration = alarm.get("DURATION")
    step = getattr(duration, "dt", None)
    try:
        count = min(int(repeat), 100) if repeat is not None else 0
    except (TypeError, ValueError):
        count = 0
    if count and isinstance(step, dt.timedelta) and step > dt.timedelta(0):
        times.extend(first + step * i for i in range(1, count + 1))
    return times


def _component_time(comp: Component, name: str) -> dt.datetime | None:
    value = getattr(comp.get(name), "dt", None)
    return to_utc(value) if isinstance(value, dt.date) else None


def firings(components: list[Component], lo: dt.datetime, hi: dt.datetime,
            floating: dt.tzinfo = UTC) -> Iterator[Firing]:
    """Alarm firings in [lo, hi) over every instance of an object."""
    exp = Expansion(components, floating)
    # An alarm can fire long before its instance (TRIGGER:-P7D): look a little ahead.
    horizon = dt.timedelta(days=31)
    absolute_seen: set[tuple[int, int, dt.datetime]] = set()
    for inst in exp.instances(lo - horizon, hi + horizon):
        alarms = [s for s in inst.component.subcomponents if s.name == "VALARM"]
        for number, alarm in enumerate(alarms):
            absolute = not isinstance(getattr(alarm.get("TRIGGER"), "dt", None), dt.timedelta)
            for repeat, at in enumerate(alarm_times(alarm, inst.component, inst.start,
                                                    inst.end)):
                if not lo <= at < hi:
                    continue
                if absolute:  # an absolute trigger fires once, not once per instance
                    if (number, repeat, at) in absolute_seen:
                        continue
                    absolute_seen.add((number, repeat, at))
                yield Firing(at, inst, alarm, number, repeat)
