"""Reminders: every 60 s, find VALARM firings due before the next scan and deliver a reminder
message to the user's INBOX through the mail store.

Exactly once per firing, also across restarts: each firing has a stable key (calendar,
resource, instance, alarm number, repetition) and the keys sent are kept in
`calendars/reminders.json` (written after the INBOX append is durable; entries older than the
look-back are pruned). Firings missed while the server was down are caught up for `LOOKBACK`.
Only objects whose index entry says `alarm` are opened, and only when their bounds can reach
the window.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Any

from rmail.ical.alarms import Firing, firings
from rmail.ical.parse import InvalidCalendar, parse_object
from rmail.store.errors import StoreError

log = logging.getLogger("rmail.scheduling.reminders")

INTERVAL = 60.0
LOOKBACK = dt.timedelta(hours=6)
AHEAD = dt.timedelta(seconds=60)
ALARM_HORIZON = dt.timedelta(days=32)


def reminder_message(address: str, firing: Firing, calendar: str) -> bytes:
    comp = firing.instance.component
    summary = str(comp.get("SUMMARY", "")) or "(no title)"
    start = firing.instance.start
    when = start.strftime("%Y-%m-%d %H:%M UTC") if not firing.instance.all_day \
        else start.strftime("%Y-%m-%d")
    msg = EmailMessage(policy=SMTP)
    domain = address.rpartition("@")[2] or "localhost"
    msg["From"] = f"Calendar reminders <calendar@{domain}>"
    msg["To"] = address
    msg["Subject"] = f"Reminder: {summary} ({when})"
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-generated"
    lines = [f"{summary}", f"When: {when}", f"Calendar: {calendar}"]
    for label, name in (("Where", "LOCATION"), ("Notes", "DESCRIPTION")):
        if comp.get(name):
            lines.append(f"{label}: {comp.get(name)}")
    description = firing.alarm.get("DESCRIPTION")
    if description and str(description) != summary:
        lines.append(f"Alarm: {description}")
    msg.set_content("\n".join(lines) + "\n")
    return msg.as_bytes()


def scan_user(services: Any, domain: str, username: str, now: dt.datetime) -> int:
    """Deliver this user's due reminders; returns how many were delivered."""
    home = services.calendars.home(domain, username)
    if not home.dir.is_dir():
        return 0
    sent = home.reminders_sent()
    lo, hi = now - LOOKBACK, now + AHEAD
    delivered = 0
    account = services.accounts.get(domain, username)
    for cal in home.names():
        try:
            candidates = [n for n, e in home.candidates(cal, lo, hi + ALARM_HORIZON)
                          if e.get("alarm")]
            coll = home.get(cal)
        except StoreError:
            continue
        for name, _entry, data in coll.read_many(candidates):
            try:
                obj = parse_object(data)
            except InvalidCalendar:
                continue
            for firing in firings(obj.components, lo, hi):
                if str(firing.alarm.get("ACTION", "DISPLAY")).upper() == "NONE":
                    continue
                key = f"{cal}/{name}/{firing.key}"
                if key in sent:
                    continue
                raw = reminder_message(account.address, firing, cal)
                services.mail.mailbox(domain, username).folder("INBOX").append(raw)
                sent[key] = int(firing.at.timestamp())
                home.save_reminders_sent(sent)  # after the append is durable: at most one resend
                delivered += 1
    cutoff = int((now - LOOKBACK - dt.timedelta(days=1)).timestamp())
    stale = [k for k, at in sent.items() if at < cutoff]
    if stale:
        for key in stale:
            del sent[key]
        home.save_reminders_sent(sent)
    return delivered


def scan_once(services: Any, now: dt.datetime | None = None) -> int:
    now = now or dt.datetime.now(dt.UTC)
    total = 0
    for domain in services.accounts.domains():
        for account in services.accounts.users(domain):
            if not account.enabled:
                continue
            try:
                total += scan_user(services, domain, account.username, now)
            except Exception:
                log.exception("reminder scan for %s failed", account.address)
    return total


async def run_forever(services: Any, interval: float = INTERVAL) -> None:
    while True:
        try:
            await services.run(scan_once, services)
        except Exception:
            log.exception("reminder scan failed")
        await asyncio.sleep(interval)
