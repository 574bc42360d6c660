"""calendar-query (RFC 4791 §9.7) and addressbook-query (RFC 6352 §10.5) filters: parsed from
XML into typed objects, then evaluated against parsed objects. Pure: no I/O.

Time ranges are evaluated on the expanded instances (`rmail.ical.recur`), so a weekly meeting
matches a range that holds one of its occurrences, a moved override matches where it moved to,
and an EXDATE'd occurrence matches nothing.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from icalendar.cal import Component

from rmail.ical.alarms import alarm_times
from rmail.ical.recur import UTC, Expansion, overlaps, todo_matches
from rmail.ical.vcard import VCard
from rmail.web.caldav.errors import DavError
from rmail.web.caldav.xml import c, cr, elem

COLLATIONS = ("i;ascii-casemap", "i;octet", "i;unicode-casemap")


@dataclass(frozen=True)
class TimeRange:
    start: dt.datetime | None
    end: dt.datetime | None


@dataclass(frozen=True)
class TextMatch:
    text: str
    collation: str = "i;ascii-casemap"
    negate: bool = False
    match_type: str = "contains"   # CardDAV: equals, contains, starts-with, ends-with

    def matches(self, value: str) -> bool:
        if self.collation == "i;octet":
            a, b = value, self.text
        else:
            a, b = value.casefold(), self.text.casefold()
        if self.match_type == "equals":
            hit = a == b
        elif self.match_type == "starts-with":
            hit = a.startswith(b)
        elif self.match_type == "ends-with":
            hit = a.endswith(b)
        else:
            hit = b in a
        return hit != self.negate


@dataclass(frozen=True)
class ParamFilter:
    name: str
    is_not_defined: bool = False
    text_match: TextMatch | None = None


@dataclass(frozen=True)
class PropFilter:
    name: str
    is_not_defined: bool = False
    time_range: TimeRange | None = None
    text_matches: tuple[TextMatch, ...] = ()
    params: tuple[ParamFilter, ...] = ()
    any_of: bool = False   # CardDAV test="anyof"


@dataclass(frozen=True)
class CompFilter:
    name: str
    is_not_defined: bool = False
    time_range: TimeRange | None = None
    props: tuple[PropFilter, ...] = ()
    comps: tuple[CompFilter, ...] = field(default_factory=tuple)


# -- parsing -----------------------------------------------------------------------------------
def parse_utc(value: str | None) -> dt.datetime | None:
    """RFC 4791 §9.9: time-range attributes are UTC date-times (`20240101T000000Z`)."""
    if not value:
        return None
    text = value.strip().upper()
    try:
        if text.endswith("Z"):
            return dt.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if "T" in text:
            return dt.datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return dt.datetime.strptime(text, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        raise DavError(400, f"invalid time-range value {value!r} (want YYYYMMDDTHHMMSSZ)",
                       elem(c("valid-filter"))) from None


def parse_time_range(node: ET.Element | None) -> TimeRange | None:
    if node is None:
        return None
    start, end = parse_utc(node.get("start")), parse_utc(node.get("end"))
    if start is None and end is None:
        raise DavError(400, "time-range needs start or end", elem(c("valid-filter")))
    if start is not None and end is not None and end <= start:
        raise DavError(400, "time-range end must be after start", elem(c("valid-filter")))
    return TimeRange(start, end)


def _text_match(node: ET.Element, card: bool) -> TextMatch:
    collation = node.get("collation", "i;unicode-casemap" if card else "i;ascii-casemap")
    if collation not in COLLATIONS:
        tag = cr("supported-collation") if card else c("supported-collation")
        raise DavError(403, f"unsupported collation {collation!r}", elem(tag))
    negate = node.get("negate-condition", "no").lower() == "yes"
    return TextMatch(node.text or "", collation, negate, node.get("match-type", "contains"))


def parse_comp_filter(node: ET.Element) -> CompFilter:
    name = (node.get("name") or "").upper()
    if not name:
        raise DavError(400, "comp-filter without name", elem(c("valid-filter")))
    props = tuple(parse_prop_filter(p, card=False) for p in node.findall(c("prop-filter")))
    comps = tuple(parse_comp_filter(x) for x in node.findall(c("comp-filter")))
    return CompFilter(name, node.find(c("is-not-defined")) is not None,
                      parse_time_range(node.find(c("time-range"))), props, comps)


def parse_prop_filter(node: ET.Element, card: bool) -> PropFilter:
    ns = cr if card else c
    name = (node.get("name") or "").upper()
    if not name:
        raise DavError(400, "prop-filter without name", elem(ns("valid-filter")))
    matches = tuple(_text_match(t, card) for t in node.findall(ns("text-match")))
    params = []
    for p in node.findall(ns("param-filter")):
        tm = p.find(ns("text-match"))
        params.append(ParamFilter((p.get("name") or "").upper(),
                                  p.find(ns("is-not-defined")) is not None,
                                  _text_match(tm, card) if tm is not None else None))
    time_range = None if card else parse_time_range(node.find(c("time-range")))
    return PropFilter(name, node.find(ns("is-not-defined")) is not None, time_range, matches,
                      tuple(params), node.get("test", "anyof").lower() == "anyof")


def parse_calendar_filter(node: ET.Element | None) -> CompFilter:
    if node is None:
        raise DavError(400, "calendar-query needs a filter", elem(c("valid-filter")))
    top = node.find(c("comp-filter"))
    if top is None or (top.get("name") or "").upper() != "VCALENDAR":
        raise DavError(400, "the filter must start with comp-filter VCALENDAR",
                       elem(c("valid-filter")))
    return parse_comp_filter(top)


def outer_time_range(top: CompFilter) -> tuple[str | None, TimeRange | None]:
    """The component and time range the index can pre-filter on (VCALENDAR > VEVENT + range)."""
    if len(top.comps) == 1 and not top.comps[0].is_not_defined:
        inner = top.comps[0]
        return inner.name, inner.time_range
    return None, None


# -- evaluating calendar filters --------------------------------------------------------------
def _prop_values(comp: Component, name: str) -> list[object]:
    value = comp.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _prop_text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    to_ical = getattr(value, "to_ical", None)
    if callable(to_ical) and not isinstance(value, str):
        try:
            raw = to_ical()
            return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        except Exception:
            return str(value)
    return str(value)


def _prop_matches(comp: Component, pf: PropFilter) -> bool:
    values = _prop_values(comp, pf.name)
    if pf.is_not_defined:
        return not values
    if not values:
        return False
    for value in values:
        if pf.time_range is not None:
            when = getattr(value, "dt", None)
            if not isinstance(when, dt.date):
                continue
            from rmail.ical.recur import to_utc
            moment = to_utc(when)
            if not overlaps(moment, moment, pf.time_range.start, pf.time_range.end):
                continue
        if any(not tm.matches(_prop_text(value)) for tm in pf.text_matches):
            continue
        params = getattr(value, "params", {}) or {}
        ok = True
        for prm in pf.params:
            present = prm.name in params
            if prm.is_not_defined:
                ok = ok and not present
            elif not present:
                ok = False
            elif prm.text_match is not None:
                ok = ok and prm.text_match.matches(str(params[prm.name]))
        if ok:
            return True
    return False


def _component_matches(comp: Component, cf: CompFilter, window: TimeRange | None,
                       inst_start: dt.datetime | None = None) -> bool:
    """Props and sub-components (VALARM) of one component; time range done by the caller."""
    if not all(_prop_matches(comp, pf) for pf in cf.props):
        return False
    for sub in cf.comps:
        subs = [x for x in comp.subcomponents if x.name == sub.name]
        if sub.is_not_defined:
            if subs:
                return False
            continue
        if not any(_sub_matches(x, sub, comp, inst_start) for x in subs):
            return False
    return True


def _sub_matches(sub: Component, cf: CompFilter, parent: Component,
                 inst_start: dt.datetime | None) -> bool:
    if cf.time_range is not None and sub.name == "VALARM":
        times = alarm_times(sub, parent, inst_start)
        if not any(overlaps(t, t, cf.time_range.start, cf.time_range.end) for t in times):
            return False
    return _component_matches(sub, cf, None, inst_start)


def calendar_matches(components: list[Component], top: CompFilter,
                     expansions: dict[str, Expansion] | None = None) -> bool:
    """Does a calendar object (its components of one type, sharing a UID) match the filter?
    `expansions` (component name -> Expansion) lets a caller reuse expanded rule sets."""
    if top.is_not_defined:
        return False
    for cf in top.comps:
        mine = [x for x in components if x.name == cf.name]
        if cf.is_not_defined:
            if mine:
                return False
            continue
        if not mine or not _object_matches(mine, cf, expansions):
            return False
    return True


def is_simple_range(top: CompFilter) -> bool:
    """VCALENDAR > VEVENT with only a time-range: decidable from exact index bounds."""
    if top.is_not_defined or top.props or len(top.comps) != 1:
        return False
    inner = top.comps[0]
    return inner.name == "VEVENT" and not inner.is_not_defined and not inner.props \
        and not inner.comps


def _object_matches(comps: list[Component], cf: CompFilter,
                    expansions: dict[str, Expansion] | None = None) -> bool:
    tr = cf.time_range
    needs_instances = tr is not None or any(s.time_range is not None for s in cf.comps)
    if not needs_instances:
        return any(_component_matches(x, cf, None) for x in comps)
    exp = expansions.get(cf.name) if expansions is not None else None
    if exp is None:
        exp = Expansion(comps)
        if expansions is not None:
            expansions[cf.name] = exp
    lo = tr.start if tr is not None else None
    hi = tr.end if tr is not None else None
    if exp.start is None and exp.master is not None and not exp.overrides:
        if cf.name == "VTODO" and tr is not None:
            return _component_matches(exp.master, cf, tr)
        if tr is not None:
            return False
    for inst in exp.instances(lo, hi):
        if tr is not None:
            if inst.component.name == "VTODO":
                if not todo_matches(inst.component, inst, lo, hi):
                    continue
            elif not overlaps(inst.start, inst.end, lo, hi):
                continue
        if _component_matches(inst.component, cf, tr, inst.start):
            return True
    return False


# -- evaluating vCard filters -------------------------------------------------------------------
def card_matches(card: VCard, props: list[PropFilter], all_of: bool) -> bool:
    """RFC 6352 §10.5: filter test="anyof" (default) or "allof" over prop-filters."""
    if not props:
        return True
    results = (_card_prop_matches(card, pf) for pf in props)
    return all(results) if all_of else any(results)


def _card_prop_matches(card: VCard, pf: PropFilter) -> bool:
    found = card.get(pf.name)
    if pf.is_not_defined:
        return not found
    if not found:
        return False
    for prop in found:
        checks = [tm.matches(prop.value) for tm in pf.text_matches]
        for prm in pf.params:
            values = prop.params.get(prm.name)
            if prm.is_not_defined:
                checks.append(values is None)
            elif values is None:
                checks.append(False)
            elif prm.text_match is not None:
                checks.append(any(prm.text_match.matches(v) for v in values))
            else:
                checks.append(True)
        if not checks:
            return True
        if (any(checks) if pf.any_of else all(checks)):
            return True
    return False
