"""Recurrence expansion (RFC 5545 §3.8.5) with python-dateutil, and time-range matching
(RFC 4791 §9.9).

An object's instances are: every start the master's RRULE/RDATE produce minus its EXDATEs, each
replaced by the override whose RECURRENCE-ID names it (an override may move its instance
anywhere, even before the original slot), plus overrides that name no generated start (orphans,
or objects that only carry overrides). `RANGE=THISANDFUTURE` shifts the later instances too.

Times: values with a TZID are aware (icalendar resolves VTIMEZONE and Windows names); floating
times and all-day dates are read in `floating` (the calendar's zone, UTC by default), which is
why the index widens their bounds by `FLOATING_SLACK`. Rules are expanded in the DTSTART's own
frame (aware, naive or date), so a 09:00 weekly meeting stays at 09:00 across DST changes.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

from dateutil import rrule
from icalendar.cal import Component

UTC = dt.UTC
# Floating times can be anywhere from UTC-12 to UTC+14.
FLOATING_SLACK = dt.timedelta(hours=14)
# Expanding a finite rule for its last instance stops here (then treated as unbounded).
MAX_INSTANCES = 20_000
ZERO = dt.timedelta(0)


@dataclass(frozen=True)
class Instance:
    """One occurrence, times in UTC. `recurrence_id` is the original start as written in the
    master's frame (None for a non-recurring object)."""

    start: dt.datetime
    end: dt.datetime
    component: Component
    recurrence_id: dt.date | dt.datetime | None = None
    all_day: bool = False


def to_utc(value: dt.date | dt.datetime, floating: dt.tzinfo = UTC) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=floating)
    return value.astimezone(UTC)


def _value(comp: Component, name: str) -> dt.date | dt.datetime | None:
    prop = comp.get(name)
    if prop is None:
        return None
    value = getattr(prop, "dt", None)
    if isinstance(value, dt.date):
        return value
    return None


def _duration(comp: Component, start: dt.date | dt.datetime | None) -> dt.timedelta:
    """Nominal duration of a component (wall-clock for local and all-day times)."""
    if start is None:
        return ZERO
    end = _value(comp, "DTEND") if comp.name != "VTODO" else _value(comp, "DUE")
    if end is not None:
        if isinstance(start, dt.datetime) != isinstance(end, dt.datetime):
            end = _same_kind(end, start)
        try:
            delta = end - start  # same tzinfo: wall-clock difference, which is what we want
        except TypeError:
            delta = to_utc(end) - to_utc(start)
        return delta if delta > ZERO else ZERO
    dur = comp.get("DURATION")
    if dur is not None and isinstance(getattr(dur, "dt", None), dt.timedelta):
        return dur.dt if dur.dt > ZERO else ZERO
    if comp.name == "VEVENT" and not isinstance(start, dt.datetime):
        return dt.timedelta(days=1)  # RFC 5545 §3.6.1: an all-day event lasts the day
    if comp.name == "VJOURNAL" and not isinstance(start, dt.datetime):
        return dt.timedelta(days=1)
    return ZERO


def _same_kind(value: dt.date | dt.datetime, like: dt.date | dt.datetime) -> dt.date | dt.datetime:
    """Convert `value` to the value type/frame of `like` (date, naive or aware datetime)."""
    if isinstance(like, dt.datetime):
        if not isinstance(value, dt.datetime):
            value = dt.datetime.combine(value, like.timetz().replace(tzinfo=None))
            return value.replace(tzinfo=like.tzinfo) if like.tzinfo is not None else value
        if like.tzinfo is not None and value.tzinfo is None:
            return value.replace(tzinfo=like.tzinfo)
        if like.tzinfo is None and value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        if like.tzinfo is not None:
            return value.astimezone(like.tzinfo)
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    return value


def _key(value: dt.date | dt.datetime, floating: dt.tzinfo) -> str:
    if not isinstance(value, dt.datetime):
        return "D" + value.strftime("%Y%m%d")
    return to_utc(value, floating).strftime("%Y%m%dT%H%M%SZ")


def _as_rule_dt(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime(value.year, value.month, value.day)


def _from_rule_dt(value: dt.datetime, like: dt.date | dt.datetime) -> dt.date | dt.datetime:
    return value if isinstance(like, dt.datetime) else value.date()


_UNTIL_RE = re.compile(r"UNTIL=([0-9TZ]+)", re.IGNORECASE)


def _rule_text(prop: object, dtstart: dt.datetime) -> str:
    """The RRULE as dateutil wants it: UNTIL in DTSTART's frame, no spaces."""
    raw = prop.to_ical().decode() if hasattr(prop, "to_ical") else str(prop)
    raw = raw.replace(" ", "")
    match = _UNTIL_RE.search(raw)
    if match:
        text = match.group(1).upper()
        if "T" in text:
            until = dt.datetime.strptime(text.rstrip("Z"), "%Y%m%dT%H%M%S")
            if text.endswith("Z"):
                until = until.replace(tzinfo=UTC)
        else:  # a date: the whole day counts
            until = dt.datetime.strptime(text, "%Y%m%d") + dt.timedelta(days=1, seconds=-1)
        if dtstart.tzinfo is not None:
            until = (until.replace(tzinfo=dtstart.tzinfo) if until.tzinfo is None else until)
            new = until.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        else:
            if until.tzinfo is not None:
                until = until.astimezone(UTC).replace(tzinfo=None)
            new = until.strftime("%Y%m%dT%H%M%S")
        raw = raw[:match.start(1)] + new + raw[match.end(1):]
    return raw


def _props(comp: Component, name: str) -> list[object]:
    value = comp.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _dates(comp: Component, name: str) -> list[object]:
    out: list[object] = []
    for prop in _props(comp, name):
        for item in getattr(prop, "dts", []):
            out.append(item.dt)
    return out


class Expansion:
    """The instances of one calendar object (all components sharing one UID)."""

    def __init__(self, components: list[Component], floating: dt.tzinfo = UTC) -> None:
        self.floating = floating
        self.master: Component | None = None
        self.overrides: dict[str, Component] = {}
        self.date_overrides: dict[dt.date, Component] = {}
        self.future: list[tuple[dt.datetime, dt.timedelta, dt.timedelta | None]] = []
        for comp in components:
            rid = _value(comp, "RECURRENCE-ID")
            if rid is None:
                if self.master is None:
                    self.master = comp
                continue
            self.overrides[_key(rid, floating)] = comp
            if not isinstance(rid, dt.datetime):
                self.date_overrides[rid] = comp
        self.start = _value(self.master, "DTSTART") if self.master is not None else None
        if self.master is not None and self.start is None and self.master.name == "VTODO":
            self.start = _value(self.master, "DUE")
        self.duration = _duration(self.master, self.start) if self.master is not None else ZERO
        self.ruleset, self.unbounded, self.periods = self._build_rules()
        self._thisandfuture()

    # -- rules ---------------------------------------------------------------------------------
    @property
    def recurring(self) -> bool:
        return self.ruleset is not None

    def _build_rules(self) -> tuple[rrule.rruleset | None, bool, dict[dt.datetime, dt.timedelta]]:
        master, start = self.master, self.start
        periods: dict[dt.datetime, dt.timedelta] = {}
        if master is None or start is None:
            return None, False, periods
        rules = _props(master, "RRULE")
        rdates = _dates(master, "RDATE")
        if not rules and not rdates:
            return None, False, periods
        dtstart = _as_rule_dt(start)
        rset = rrule.rruleset()
        self._rules: list[rrule.rrule] = []
        self._rdates: list[dt.datetime] = [dtstart]
        self._exdates: list[dt.datetime] = []
        unbounded = False
        has_rule = False
        for prop in rules:
            try:
                text = _rule_text(prop, dtstart)
                rule = rrule.rrulestr(text, dtstart=dtstart, forceset=False)
            except (ValueError, TypeError, KeyError):
                continue  # e.g. RSCALE: keep the first instance rather than fail
            if not isinstance(rule, rrule.rrule):
                continue
            has_rule = True
            rset.rrule(rule)
            self._rules.append(rule)
            if rule._count is None and rule._until is None:
                unbounded = True
        for value in rdates:
            if isinstance(value, tuple):  # PERIOD: (start, end | duration)
                pstart, other = value
                length = other if isinstance(other, dt.timedelta) else other - pstart
                pstart = _as_rule_dt(_same_kind(pstart, start))
                periods[pstart] = length
                rset.rdate(pstart)
                self._rdates.append(pstart)
            elif isinstance(value, dt.date):
                rset.rdate(_as_rule_dt(_same_kind(value, start)))
                self._rdates.append(_as_rule_dt(_same_kind(value, start)))
        if not has_rule and not rdates:
            return None, False, periods
        rset.rdate(dtstart)  # DTSTART is always the first instance (RFC 5545 §3.8.5.3)
        for value in _dates(master, "EXDATE"):
            if isinstance(value, dt.date):
                rset.exdate(_as_rule_dt(_same_kind(value, start)))
                self._exdates.append(_as_rule_dt(_same_kind(value, start)))
        return rset, unbounded, periods

    def _ruleset_from(self, lo: dt.datetime) -> rrule.rruleset:
        """The rule set with DAILY/WEEKLY rules (without COUNT) moved forward to whole periods
        just before `lo`: a query years after DTSTART does not walk every earlier instance.
        Whole periods keep the weekday and the wall-clock time, so the instances are the same."""
        assert self.ruleset is not None
        moved = False
        rules = []
        for rule in self._rules:
            step_days = {rrule.DAILY: 1, rrule.WEEKLY: 7}.get(rule._freq)
            start = rule._dtstart
            if step_days is None or rule._count is not None:
                rules.append(rule)
                continue
            try:
                gap_days = (lo - start).days - 1
            except TypeError:
                rules.append(rule)
                continue
            period = step_days * rule._interval
            if gap_days <= period:
                rules.append(rule)
                continue
            rules.append(rule.replace(dtstart=start + dt.timedelta(days=gap_days // period
                                                                    * period)))
            moved = True
        if not moved:
            return self.ruleset
        rset = rrule.rruleset()
        for rule in rules:
            rset.rrule(rule)
        for value in self._rdates:
            rset.rdate(value)
        for value in self._exdates:
            rset.exdate(value)
        return rset

    def _thisandfuture(self) -> None:
        for comp in self.overrides.values():
            prop = comp.get("RECURRENCE-ID")
            if prop is None or str(prop.params.get("RANGE", "")).upper() != "THISANDFUTURE":
                continue
            rid, new = _value(comp, "RECURRENCE-ID"), _value(comp, "DTSTART")
            if rid is None or new is None:
                continue
            shift = to_utc(new, self.floating) - to_utc(rid, self.floating)
            self.future.append((to_utc(rid, self.floating), shift,
                                _duration(comp, new) if "DTEND" in comp or "DURATION" in comp
                                else None))
        self.future.sort(key=lambda item: item[0])

    # -- instances -----------------------------------------------------------------------------
    def _instance(self, comp: Component, start: dt.date | dt.datetime,
                  duration: dt.timedelta, rid: dt.date | dt.datetime | None) -> Instance:
        all_day = not isinstance(start, dt.datetime)
        if isinstance(start, dt.datetime) and start.tzinfo is not None:
            end_local = start + duration  # wall-clock addition in the event's zone
            s, e = start.astimezone(UTC), end_local.astimezone(UTC)
        else:
            s = to_utc(start, self.floating)
            e = to_utc(_as_rule_dt(start) + duration, self.floating)
        return Instance(s, e, comp, rid, all_day)

    def _from_override(self, comp: Component, rid: dt.date | dt.datetime | None) -> Instance:
        start = _value(comp, "DTSTART") or (rid if rid is not None else None)
        if start is None:
            start = _value(comp, "DUE") or dt.date(1970, 1, 1)
        return self._instance(comp, start, _duration(comp, start), rid)

    def _generated(self, after: dt.datetime | None, before: dt.datetime | None
                   ) -> Iterator[dt.datetime]:
        """Raw starts from the rule set, in the rule frame, within an approximate window."""
        assert self.ruleset is not None and self.start is not None
        if after is None and before is None:
            yield from self.ruleset
            return
        start = self.start
        aware = isinstance(start, dt.datetime) and start.tzinfo is not None

        def frame(value: dt.datetime) -> dt.datetime:
            return value if aware else value.astimezone(self.floating).replace(tzinfo=None)

        lo = frame(after) if after is not None else None
        hi = frame(before) if before is not None else None
        ruleset = self._ruleset_from(lo) if lo is not None else self.ruleset
        for value in ruleset:
            if hi is not None and value > hi:
                return
            if lo is not None and value < lo:
                continue
            yield value

    def instances(self, after: dt.datetime | None = None, before: dt.datetime | None = None
                  ) -> Iterator[Instance]:
        """Instances that may overlap [after, before) (UTC); callers still test exactly.
        Without bounds, every instance (capped at MAX_INSTANCES for unbounded rules)."""
        master = self.master
        used: set[str] = set()
        if master is not None and self.start is not None and self.ruleset is None:
            yield self._instance(master, self.start, self.duration, None)
        elif master is not None and self.ruleset is not None:
            slack = self.duration + FLOATING_SLACK + dt.timedelta(days=1)
            lo = after - slack if after is not None else None
            hi = before + FLOATING_SLACK + dt.timedelta(days=1) if before is not None else None
            if self.future and lo is not None:
                lo = lo - max(abs(shift) for _, shift, _ in self.future)
                if hi is not None:
                    hi = hi + max(abs(shift) for _, shift, _ in self.future)
            first = self.start
            assert first is not None
            count = 0
            for raw in self._generated(lo, hi):
                count += 1
                if count > MAX_INSTANCES and (after is None or before is None):
                    return
                rid = _from_rule_dt(raw, first)
                if isinstance(rid, dt.datetime) and isinstance(self.start, dt.datetime) \
                        and self.start.tzinfo is not None and rid.tzinfo is None:
                    rid = rid.replace(tzinfo=self.start.tzinfo)
                key = _key(rid, self.floating)
                override = self.overrides.get(key)
                if override is None and self.date_overrides and isinstance(rid, dt.datetime):
                    override = self.date_overrides.get(rid.date())
                    if override is not None:
                        key = _key(rid.date(), self.floating)
                if override is not None:
                    used.add(key)
                    yield self._from_override(override, rid)
                    continue
                duration = self.periods.get(raw, self.duration)
                inst = self._instance(master, rid, duration, rid)
                if self.future:
                    inst = self._shift(inst)
                yield inst
        for key, comp in self.overrides.items():
            if key in used:
                continue
            # Not generated in the searched window (moved from outside it), or an orphan whose
            # RECURRENCE-ID names no instance: kept rather than lose data; callers filter.
            yield self._from_override(comp, _value(comp, "RECURRENCE-ID"))

    def _shift(self, inst: Instance) -> Instance:
        shift = ZERO
        duration: dt.timedelta | None = None
        for since, delta, dur in self.future:
            if inst.start >= since:
                shift, duration = delta, dur
        if shift == ZERO and duration is None:
            return inst
        start = inst.start + shift
        end = start + (duration if duration is not None else inst.end - inst.start)
        return Instance(start, end, inst.component, inst.recurrence_id, inst.all_day)

    # -- bounds for the index ------------------------------------------------------------------
    def bounds(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """(first start, last end) in UTC; end None = unbounded; both None = no time."""
        first: dt.datetime | None = None
        last: dt.datetime | None = None
        if self.unbounded:  # the first generated start, and any override moved before it
            for inst in self.instances():
                first = inst.start if first is None or inst.start < first else first
                if not inst.recurrence_id or "RECURRENCE-ID" not in inst.component:
                    break
            for comp in self.overrides.values():
                inst = self._from_override(comp, _value(comp, "RECURRENCE-ID"))
                first = inst.start if first is None or inst.start < first else first
            return first, None
        for count, inst in enumerate(self.instances(), 1):
            first = inst.start if first is None or inst.start < first else first
            last = inst.end if last is None or inst.end > last else last
            if count >= MAX_INSTANCES:
                return first, None
        if self.unbounded:
            return first, None
        return first, last


def overlaps(start: dt.datetime, end: dt.datetime, lo: dt.datetime | None,
             hi: dt.datetime | None) -> bool:
    """RFC 4791 §9.9: a zero-length instance matches when lo <= start < hi."""
    if end > start:
        return (lo is None or lo < end) and (hi is None or hi > start)
    return (lo is None or lo <= start) and (hi is None or hi > start)


def todo_matches(comp: Component, inst: Instance, lo: dt.datetime | None,
                 hi: dt.datetime | None) -> bool:
    """RFC 4791 §9.9 for VTODO, simplified: a to-do without DTSTART or DUE always matches."""
    if "DTSTART" not in comp and "DUE" not in comp:
        return True
    return overlaps(inst.start, max(inst.end, inst.start), lo, hi) or \
        (inst.end == inst.start and lo is not None and hi is not None and lo <= inst.start < hi)
