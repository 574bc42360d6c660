"""Who is asking and what they are asking about: authentication, URL resolution, body reading.

URL space (the reference manual's `/caldav/{username}/calendars/...`):

```
/caldav/                                   root (current-user-principal for discovery)
/caldav/{user}/                            principal
/caldav/{user}/calendars/                  calendar home
/caldav/{user}/calendars/{cal}/            calendar
/caldav/{user}/calendars/{cal}/{name}      calendar object
/caldav/{user}/contacts/                   address book home
/caldav/{user}/contacts/{book}/            address book
/caldav/{user}/contacts/{book}/{name}      vCard
```

`{user}` is the caller's username (or one of their addresses): a user reaches only their own
collections, anything else is 403 before the store is touched. Every collection and resource
name passes `rmail.store.davstore.check_name` (the one gate) when the store is asked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from aiohttp import web

from rmail.auth import Principal
from rmail.services import Services
from rmail.store.calendars import CalendarHome, CalendarStore
from rmail.store.contacts import ContactHome, ContactStore
from rmail.store.davstore import Collection, check_name
from rmail.store.errors import UnsafeName
from rmail.web.auth import BASIC_CHALLENGE
from rmail.web.auth import authenticate as front_door
from rmail.web.caldav.errors import DavError
from rmail.web.keys import CORE_KEY

PREFIX = "/caldav"
CAL_SEGMENT = "calendars"
BOOK_SEGMENT = "contacts"
MAX_BODY_BYTES = 10 * 1024 * 1024
_SAFE = "@:+-._~!$&'()*,;="

T = TypeVar("T")


@dataclass(frozen=True)
class DavStores:
    calendars: CalendarStore
    contacts: ContactStore


DAV_KEY = web.AppKey("caldav", DavStores)


# Resource kinds
ROOT, PRINCIPAL, CAL_HOME, CALENDAR, EVENT, BOOK_HOME, BOOK, CARD = (
    "root", "principal", "cal-home", "calendar", "event", "book-home", "book", "card")
COLLECTION_KINDS = {ROOT, PRINCIPAL, CAL_HOME, CALENDAR, BOOK_HOME, BOOK}


@dataclass(frozen=True)
class Target:
    kind: str
    collection: str | None = None
    name: str | None = None

    @property
    def is_calendar_side(self) -> bool:
        return self.kind in (CAL_HOME, CALENDAR, EVENT)


def quote_segment(name: str) -> str:
    return quote(name, safe=_SAFE)


class DavContext:
    """One authenticated DAV request."""

    def __init__(self, request: web.Request, principal: Principal, target: Target) -> None:
        self.request = request
        self.principal = principal
        self.target = target
        self.core: Services = request.app[CORE_KEY]
        stores = request.app[DAV_KEY]
        self.calendars: CalendarHome = stores.calendars.home(principal.domain,
                                                             principal.username)
        self.contacts: ContactHome = stores.contacts.home(principal.domain, principal.username)

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Store calls block on fsync: run them on the process's store pool
        (`Services.run`)."""
        return await self.core.run(fn, *args, **kwargs)

    # -- hrefs ---------------------------------------------------------------------------------
    @property
    def principal_href(self) -> str:
        return f"{PREFIX}/{quote_segment(self.principal.username)}/"

    @property
    def cal_home_href(self) -> str:
        return f"{self.principal_href}{CAL_SEGMENT}/"

    @property
    def book_home_href(self) -> str:
        return f"{self.principal_href}{BOOK_SEGMENT}/"

    def calendar_href(self, cal: str) -> str:
        return f"{self.cal_home_href}{quote_segment(cal)}/"

    def event_href(self, cal: str, name: str) -> str:
        return f"{self.calendar_href(cal)}{quote_segment(name)}"

    def book_href(self, book: str) -> str:
        return f"{self.book_home_href}{quote_segment(book)}/"

    def card_href(self, book: str, name: str) -> str:
        return f"{self.book_href(book)}{quote_segment(name)}"

    def href_for(self, target: Target) -> str:
        if target.kind == ROOT:
            return f"{PREFIX}/"
        if target.kind == PRINCIPAL:
            return self.principal_href
        if target.kind == CAL_HOME:
            return self.cal_home_href
        if target.kind == BOOK_HOME:
            return self.book_home_href
        assert target.collection is not None
        if target.kind == CALENDAR:
            return self.calendar_href(target.collection)
        if target.kind == BOOK:
            return self.book_href(target.collection)
        assert target.name is not None
        if target.kind == EVENT:
            return self.event_href(target.collection, target.name)
        return self.card_href(target.collection, target.name)

    # -- store access --------------------------------------------------------------------------
    def collection(self, target: Target | None = None) -> Collection:
        t = target or self.target
        if t.collection is None:
            raise DavError(405, "not a calendar or address book")
        home = self.calendars if t.is_calendar_side else self.contacts
        return home.get(t.collection)

    async def ensure_defaults(self) -> None:
        await self.run(self.calendars.ensure_defaults)
        await self.run(self.contacts.ensure_defaults)

    def resolve_href(self, href: str) -> Target:
        """A href from a request body or a Destination header, as a target of this user."""
        path = urlsplit(href.strip()).path
        return parse_path(path, self.principal)

    async def body(self, limit: int = MAX_BODY_BYTES) -> bytes:
        length = self.request.content_length
        if length is not None and length > limit:
            raise DavError(413, f"request body larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await self.request.content.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise DavError(413, f"request body larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def depth(self, default: str = "infinity") -> str:
        value = self.request.headers.get("Depth", default).strip().lower()
        if value not in ("0", "1", "infinity"):
            raise DavError(400, f"invalid Depth header {value!r}")
        return value


def _owner_matches(segment: str, principal: Principal) -> bool:
    seg = segment.lower()
    if seg == principal.username:
        return True
    return seg in (a.lower() for a in principal.account.addresses) or \
        seg == f"{principal.username}@{principal.domain}"


def parse_path(path: str, principal: Principal) -> Target:
    """Map a request path to a target; refuses other users' paths (403) and unsafe names."""
    if not (path == PREFIX or path.startswith(PREFIX + "/")):
        raise DavError(404, "not a CalDAV/CardDAV path")
    parts = [unquote(p, errors="strict") for p in path[len(PREFIX):].split("/")]
    if parts and parts[0] == "":
        parts = parts[1:]
    if parts and parts[-1] == "":
        parts = parts[:-1]
    if any(p == "" for p in parts):
        raise DavError(404, "empty path segment")
    if not parts:
        return Target(ROOT)
    if not _owner_matches(parts[0], principal):
        raise DavError(403, "you can only reach your own calendars and address books")
    if len(parts) == 1:
        return Target(PRINCIPAL)
    section, rest = parts[1], parts[2:]
    if section == CAL_SEGMENT:
        kinds = (CAL_HOME, CALENDAR, EVENT)
    elif section == BOOK_SEGMENT:
        kinds = (BOOK_HOME, BOOK, CARD)
    else:
        raise DavError(404, f"no such resource {section!r}")
    if len(rest) > 2:
        raise DavError(404, "path too deep")
    try:
        for i, part in enumerate(rest):
            check_name(part, "collection name" if i == 0 else "resource name")
    except UnsafeName as exc:
        raise DavError(400, str(exc)) from None
    if not rest:
        return Target(kinds[0])
    if len(rest) == 1:
        return Target(kinds[1], rest[0])
    return Target(kinds[2], rest[0], rest[1])


# -- authentication --------------------------------------------------------------------------
async def authenticate(request: web.Request) -> Principal:
    """Basic (`user@domain:password`, app passwords) or Bearer JWT through the one front door
    (`rmail.web.auth`); a 401 carries the Basic challenge (RFC 4791 clients prompt on it)."""
    return await front_door(request, challenge=BASIC_CHALLENGE, scope="caldav")
