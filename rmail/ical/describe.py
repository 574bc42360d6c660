"""Recurrence in words for the event page: "Every 2 weeks on Monday and Wednesday, 10 times",
"Monthly on the last Friday until 31 March 2027", "Yearly on 5 March". What the words cannot
say (BYSETPOS lists, BYHOUR...) falls back to the rule itself, so nothing is hidden. Pure."""

from __future__ import annotations

import datetime as dt

from icalendar.cal import Component

DAY_NAMES = {"MO": "Monday", "TU": "Tuesday", "WE": "Wednesday", "TH": "Thursday",
             "FR": "Friday", "SA": "Saturday", "SU": "Sunday"}
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
UNITS = {"DAILY": ("Daily", "day"), "WEEKLY": ("Weekly", "week"),
         "MONTHLY": ("Monthly", "month"), "YEARLY": ("Yearly", "year"),
         "HOURLY": ("Hourly", "hour"), "MINUTELY": ("Every minute", "minute"),
         "SECONDLY": ("Every second", "second")}
KNOWN = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "WKST"}


def _list(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _ordinal(n: int) -> str:
    if n == -1:
        return "last"
    if n < 0:
        return f"{_ordinal(-n)} to last"
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _day(token: str) -> str:
    token = token.strip().upper()
    name = DAY_NAMES.get(token[-2:], token)
    prefix = token[:-2]
    if prefix and prefix.lstrip("+-").isdigit():
        return f"the {_ordinal(int(prefix))} {name}"
    return name


def _date_words(value: dt.date | dt.datetime) -> str:
    text = f"{value.day} {MONTHS[value.month - 1]} {value.year}"
    if isinstance(value, dt.datetime):
        text += value.strftime(" %H:%M") + (" UTC" if value.tzinfo is not None and
                                             value.utcoffset() == dt.timedelta(0) else "")
    return text


def _values(rule: dict[str, list[object]], key: str) -> list[str]:
    return [str(v) for v in rule.get(key, [])]


def rule_in_words(rule: dict[str, list[object]]) -> str:
    """One RRULE (icalendar's `vRecur`, a dict of lists) in English."""
    freq = (_values(rule, "FREQ") or ["?"])[0].upper()
    interval = int((_values(rule, "INTERVAL") or ["1"])[0] or 1)
    adverb, unit = UNITS.get(freq, (freq.title(), freq.lower()))
    text = adverb if interval == 1 else f"Every {interval} {unit}s"
    days = _values(rule, "BYDAY")
    monthdays = _values(rule, "BYMONTHDAY")
    months = [MONTHS[int(m) - 1] for m in _values(rule, "BYMONTH")
              if m.lstrip("-").isdigit() and 1 <= int(m) <= 12]
    if freq == "WEEKLY" and days:
        if sorted(d.upper() for d in days) == sorted(["MO", "TU", "WE", "TH", "FR"]):
            text += " on weekdays"
        else:
            text += " on " + _list([_day(d) for d in days])
    elif days:
        text += " on " + _list([_day(d) for d in days])
    if monthdays:
        text += " on day " + _list([_ordinal(int(d)) if d.startswith("-") else d
                                    for d in monthdays if d.lstrip("-").isdigit()])
    if months:
        text += " in " + _list(months)
    count = _values(rule, "COUNT")
    until = rule.get("UNTIL")
    if count:
        text += ", once" if count[0] == "1" else f", {count[0]} times"
    elif until:
        value = until[0]
        if isinstance(value, dt.date):
            text += " until " + _date_words(value)
    unknown = sorted(set(rule) - KNOWN)
    if unknown:
        text += " (" + "; ".join(f"{k}={','.join(str(v) for v in rule[k])}" for k in unknown) \
            + ")"
    return text


def recurrence_in_words(master: Component | None) -> str:
    """The series' rules, extra dates and exceptions in words; '' for a single event."""
    if master is None:
        return ""
    parts: list[str] = []
    rules = master.get("RRULE")
    for rule in (rules if isinstance(rules, list) else [rules] if rules is not None else []):
        parts.append(rule_in_words(rule))
    rdates = _count_dates(master, "RDATE")
    exdates = _count_dates(master, "EXDATE")
    if rdates:
        parts.append(f"plus {rdates} extra date{'s' if rdates != 1 else ''}")
    if exdates and parts:
        parts.append(f"except {exdates} date{'s' if exdates != 1 else ''}")
    return "; ".join(parts)


def _count_dates(comp: Component, name: str) -> int:
    values = comp.get(name)
    items = values if isinstance(values, list) else [values] if values is not None else []
    return sum(len(getattr(v, "dts", [])) for v in items)
