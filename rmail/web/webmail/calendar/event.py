"""One event: detail (`.event-detail`), the form to create or edit it (`form.event-form`,
one occurrence or the whole series), delete (with CANCEL to attendees when the user organizes
it) and the RSVP (`respond`: PARTSTAT and a REPLY to the organizer; the mail view's invitation
buttons post here too).

```
GET|POST /webmail/calendar/event/new
GET      /webmail/calendar/event/{calendar}/{uid}            ?rid= one occurrence
GET|POST /webmail/calendar/event/{calendar}/{uid}/edit       ?rid= / scope=occurrence|series
POST     /webmail/calendar/event/{calendar}/{uid}/delete     rid + scope=occurrence: only it
POST     /webmail/calendar/event/{calendar}/{uid}/respond    response=ACCEPTED|DECLINED|TENTATIVE
```

Every write carries the ETag the page was made from: a change made meanwhile by a CalDAV
client (or another window) is refused with a message, never overwritten.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from rmail.ical import itip
from rmail.ical.describe import recurrence_in_words
from rmail.ical.eventform import (
    PARTSTATS,
    WEEKDAYS,
    FormError,
    form_values,
    new_event,
    override_occurrence,
    parse_fields,
    remove_occurrence,
    set_partstat,
    update_event,
)
from rmail.ical.occurrences import rid_text
from rmail.ical.parse import CalendarObject
from rmail.ical.recur import Expansion
from rmail.scheduling import events
from rmail.store.errors import NotFound, PreconditionFailed
from rmail.web.errors import HttpError
from rmail.web.webmail import format as fmt
from rmail.web.webmail.calendar import data
from rmail.web.webmail.calendar.common import (
    actor,
    calendar_list,
    chrome,
    event_path,
    home,
    today,
    uid_from_path,
)
from rmail.web.webmail.context import Page, view

routes = web.RouteTableDef()

CONFLICT = ("This event was changed elsewhere (by a calendar app or another window) after "
            "you opened it, so your changes were not saved. Open the event again to see the "
            "current version.")
WEEKDAY_LABELS = dict(zip(WEEKDAYS, ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
                          strict=True))


def _timezone_name(page: Page) -> str:
    name = page.preferences().get("timezone")
    return name if isinstance(name, str) and fmt.zone(name) is not dt.UTC else "UTC"


async def _load(page: Page) -> tuple[str, str, str, str, CalendarObject]:
    calendar, uid = uid_from_path(page)
    try:
        name, etag, obj = await page.run(events.load, home(page), calendar, uid)
    except NotFound:
        raise HttpError(404, "No such event in this calendar") from None
    return calendar, uid, name, etag, obj


def _occurrence(obj: CalendarObject, rid: str, tz: dt.tzinfo) -> tuple[Any, dt.datetime,
                                                                       dt.datetime, bool] | None:
    """(component, local start, local end, all-day) of one occurrence, or of the event."""
    exp = Expansion(obj.components, floating=tz)
    if rid:
        try:
            value = dt.datetime.strptime(rid[:8], "%Y%m%d").replace(tzinfo=dt.UTC)
        except ValueError:
            raise HttpError(404, "No such occurrence") from None
        window = exp.instances(value - dt.timedelta(days=3), value + dt.timedelta(days=3))
        for inst in window:
            if rid_text(inst.recurrence_id) == rid:
                return (inst.component, inst.start.astimezone(tz), inst.end.astimezone(tz),
                        inst.all_day)
        raise HttpError(404, "No such occurrence")
    for inst in exp.instances():
        return inst.component, inst.start.astimezone(tz), inst.end.astimezone(tz), inst.all_day
    return None


def when_text(start: dt.datetime, end: dt.datetime, all_day: bool) -> str:
    if all_day:
        last = (end - dt.timedelta(days=1)).date() if end > start else start.date()
        if last == start.date():
            return start.strftime("%A %-d %B %Y") + ", all day"
        return f"{start.strftime('%a %-d %b %Y')} – {last.strftime('%a %-d %b %Y')}, all day"
    if start.date() == end.date():
        return f"{start.strftime('%A %-d %B %Y, %H:%M')}–{end.strftime('%H:%M')}"
    return f"{start.strftime('%a %-d %b %Y %H:%M')} – {end.strftime('%a %-d %b %Y %H:%M')}"


def _people(comp: Any) -> tuple[dict[str, str] | None, list[dict[str, str]]]:
    organizer = None
    if "ORGANIZER" in comp:
        prop = comp["ORGANIZER"]
        organizer = {"address": itip.address_of(prop),
                     "name": str(getattr(prop, "params", {}).get("CN", ""))}
    attendees = []
    for address, att in itip.attendees_of(comp).items():
        params = getattr(att, "params", {})
        attendees.append({"address": address, "name": str(params.get("CN", "")),
                          "partstat": str(params.get("PARTSTAT", "NEEDS-ACTION")).upper(),
                          "role": str(params.get("ROLE", "REQ-PARTICIPANT")).upper()})
    return organizer, attendees


@routes.get("/webmail/calendar/event/new")
@view()
async def new_form(page: Page) -> web.StreamResponse:
    tzname = _timezone_name(page)
    try:
        day = dt.date.fromisoformat(page.request.query.get("date", "")[:10])
    except ValueError:
        day = today(page)
    values: dict[str, Any] = {
        "summary": "", "location": "", "description": "", "timezone": tzname,
        "start": f"{day.isoformat()}T09:00", "end": f"{day.isoformat()}T10:00",
        "all_day": False, "rrule": "none", "interval": "1", "byday": [], "ends": "never",
        "count": "", "until": "", "attendees": "", "alarm": "", "rid": "", "scope": "",
        "calendar": page.request.query.get("calendar", "default")}
    return await _render_form(page, values, mode="new")


async def _render_form(page: Page, values: dict[str, Any], *, mode: str, error: str = "",
                       field: str = "", calendar: str = "", uid: str = "", etag: str = "",
                       status: int = 200) -> web.StreamResponse:
    infos = await calendar_list(page)
    action = "/webmail/calendar/event/new" if mode == "new" else event_path(calendar, uid,
                                                                            "edit")
    return await page.render("calendar/form.html", status=status,
                             title="New event" if mode == "new" else "Edit event",
                             values=values, mode=mode, error=error, error_field=field,
                             action=action, calendar=calendar, uid=uid, etag=etag,
                             timezones=fmt.timezones(), weekdays=WEEKDAY_LABELS,
                             writable=[c for c in infos if c.events], **chrome(page, infos))


def _values_from_form(page: Page) -> dict[str, Any]:
    form = page.form
    values: dict[str, Any] = {k: str(form.get(k, "")) for k in (
        "summary", "location", "description", "timezone", "start", "end", "rrule", "interval",
        "ends", "count", "until", "attendees", "alarm", "rid", "calendar", "scope")}
    values["all_day"] = str(form.get("all_day", "")).lower() in ("1", "on", "true", "yes")
    values["byday"] = [str(v) for v in form.getall("byday", [])]
    return values


def _done(page: Page, calendar: str, uid: str, outcome: events.Outcome, rid: str = ""
          ) -> web.HTTPSeeOther:
    sent = sum(len(m.recipients) for m in outcome.sent)
    return page.redirect(event_path(calendar, uid), rid=rid or None, saved=1,
                         sent=sent or None, failed=len(outcome.failed) or None)


@routes.post("/webmail/calendar/event/new")
@view()
async def create(page: Page) -> web.StreamResponse:
    values = _values_from_form(page)
    calendar = values["calendar"] or "default"
    infos = {c.name: c for c in await calendar_list(page)}
    user = page.user
    try:
        if calendar not in infos or not infos[calendar].events:
            raise FormError("calendar", "choose a calendar that holds events")
        fields = parse_fields(page.form, _timezone_name(page))
        uid = events.new_uid(user.domain)
        cal = new_event(fields, uid, organizer=user.address,
                        organizer_name=user.account.display_name)
        outcome = await events.save(page.services, home(page), actor(page), calendar, cal)
    except FormError as exc:
        return await _render_form(page, values, mode="new", error=exc.message,
                                  field=exc.field, status=400)
    raise _done(page, calendar, uid, outcome)


@routes.get("/webmail/calendar/event/{calendar}/{uid}/edit")
@view()
async def edit_form(page: Page) -> web.StreamResponse:
    calendar, uid, _name, etag, obj = await _load(page)
    rid = page.request.query.get("rid", "")
    tzname = _timezone_name(page)
    found = _occurrence(obj, rid, page.tz) if rid else None
    if rid and found is not None:
        comp, start, end, all_day = found
        values = form_values(comp, tzname, rid=rid)
        if all_day:
            values["start"] = start.date().isoformat()
            values["end"] = (end - dt.timedelta(days=1)).date().isoformat()
        elif "RECURRENCE-ID" not in comp:  # a generated occurrence: its own times
            zone = fmt.zone(values["timezone"])
            values["start"] = start.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
            values["end"] = end.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        values["scope"] = "occurrence"
    else:
        master = obj.master or obj.components[0]
        values = form_values(master, tzname)
        values["scope"] = "series"
    values["calendar"] = calendar
    return await _render_form(page, values, mode="edit", calendar=calendar, uid=uid, etag=etag)


@routes.post("/webmail/calendar/event/{calendar}/{uid}/edit")
@view()
async def save_edit(page: Page) -> web.StreamResponse:
    calendar, uid, name, etag, obj = await _load(page)
    values = _values_from_form(page)
    values["calendar"] = calendar
    sent_etag = str(page.form.get("etag", "")) or None
    rid = values["rid"] if values.get("scope") == "occurrence" else ""
    user = page.user
    try:
        if sent_etag is not None and sent_etag != etag:
            raise PreconditionFailed(CONFLICT)
        fields = parse_fields(page.form, _timezone_name(page))
        if rid:
            cal = override_occurrence(obj, rid, fields, organizer=user.address,
                                      organizer_name=user.account.display_name)
        else:
            cal = update_event(obj, fields, organizer=user.address,
                               organizer_name=user.account.display_name)
        outcome = await events.save(page.services, home(page), actor(page), calendar, cal,
                                    old=obj, name=name, if_match=sent_etag or etag)
    except FormError as exc:
        return await _render_form(page, values, mode="edit", error=exc.message,
                                  field=exc.field, calendar=calendar, uid=uid, etag=etag,
                                  status=400)
    except PreconditionFailed:
        return await _render_form(page, values, mode="edit", error=CONFLICT, field="etag",
                                  calendar=calendar, uid=uid, etag=sent_etag or etag,
                                  status=409)
    raise _done(page, calendar, uid, outcome, rid)


@routes.post("/webmail/calendar/event/{calendar}/{uid}/delete")
@view()
async def delete(page: Page) -> web.StreamResponse:
    calendar, uid, name, etag, obj = await _load(page)
    sent_etag = str(page.form.get("etag", "")) or None
    if sent_etag is not None and sent_etag != etag:
        raise HttpError(409, CONFLICT)
    rid = str(page.form.get("rid", ""))
    if rid and str(page.form.get("scope", "occurrence")) == "occurrence":
        try:
            cal = remove_occurrence(obj, rid)
        except FormError as exc:
            raise HttpError(400, exc.message) from None
        await events.save(page.services, home(page), actor(page), calendar, cal, old=obj,
                          name=name, if_match=etag)
    else:
        await events.delete(page.services, home(page), actor(page), calendar, uid,
                            if_match=etag)
    raise page.redirect("/webmail/calendar")


async def _load_anywhere(page: Page) -> tuple[str, str, str, str, CalendarObject]:
    """Like `_load`, but an invitation answered from the mail view may name a calendar the
    user has since moved it out of: then the calendar that holds the UID."""
    try:
        return await _load(page)
    except HttpError:
        _, uid = uid_from_path(page)
        found = await page.run(home(page).find_uid, uid)
        if found is None:
            raise
        name, etag, obj = await page.run(events.load, home(page), found[0], uid)
        return found[0], uid, name, etag, obj


@routes.post("/webmail/calendar/event/{calendar}/{uid}/respond")
@view()
async def respond(page: Page) -> web.StreamResponse:
    """The user's answer to an invitation; `return` (a /webmail/ path, e.g. the message the
    invitation came in) is where the browser goes next."""
    calendar, uid, name, etag, obj = await _load_anywhere(page)
    who = actor(page)
    try:
        cal = set_partstat(obj, who.addresses, str(page.form.get("response", "")))
    except FormError as exc:
        raise HttpError(400, exc.message) from None
    outcome = await events.save(page.services, home(page), who, calendar, cal, old=obj,
                                name=name, if_match=etag)
    back = str(page.form.get("return", ""))
    if back.startswith("/webmail/") and "//" not in back and len(back) < 500:
        raise page.redirect(back)
    raise _done(page, calendar, uid, outcome, str(page.form.get("rid", "")))


@routes.get("/webmail/calendar/event/{calendar}/{uid}")
@view()
async def detail(page: Page) -> web.StreamResponse:
    calendar, uid, _name, etag, obj = await _load(page)
    rid = page.request.query.get("rid", "")
    found = _occurrence(obj, rid, page.tz)
    comp = found[0] if found else (obj.master or obj.components[0])
    organizer, attendees = _people(comp)
    own = actor(page).addresses
    mine = next((a for a in attendees if a["address"] in own), None)
    organizing = organizer is None or organizer["address"] in own
    infos = await calendar_list(page)
    info = next((c for c in infos if c.name == calendar), None)
    query = page.request.query
    notice = ""
    if query.get("saved"):
        notice = "Saved."
        if query.get("sent", "").isdigit():
            notice += f" Mail sent to {query['sent']} recipient(s)."
        if query.get("failed", "").isdigit():
            notice += f" {query['failed']} message(s) could not be sent."
    return await page.render(
        "calendar/event.html", title=str(comp.get("SUMMARY", "Event")),
        comp=comp, uid=uid, calendar=calendar, etag=etag, rid=rid,
        calendar_info=info or data.CalendarInfo(calendar, calendar, data.DEFAULT_COLOR, True,
                                                ("VEVENT",), False, False),
        when=when_text(found[1], found[2], found[3]) if found else "",
        recurrence=recurrence_in_words(obj.master),
        recurring=bool(obj.master is not None and ("RRULE" in obj.master or
                                                   "RDATE" in obj.master)),
        organizer=organizer, attendees=attendees, mine=mine, organizing=organizing,
        event_status=str(comp.get("STATUS", "")).upper(), partstats=PARTSTATS, notice=notice,
        **chrome(page, infos))
