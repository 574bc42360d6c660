"""`GET /webmail/events`: a server-sent event stream (text/event-stream) fed by the store's
change bus, so new mail and flag changes show without a reload.

Events say only that something changed; the stream answers with the counts of every folder
(`event: folders`, `data: {"folders": [{"name", "total", "unread"}]}`), read from the index,
so a dropped or coalesced change loses nothing. Changes arriving within `COALESCE` seconds are
sent once. The bus is per process: a change made by another worker (or the CLI) is found by
re-reading the counts every `POLL` seconds without news (a few `stat`s), and sent when they
differ. A comment line every `HEARTBEAT` seconds keeps proxies from closing the stream, and
the session is checked then too: a logout or expiry ends the stream.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from rmail.web.auth import session_principal
from rmail.web.webmail.context import Page, view
from rmail.web.webmail.folders import sidebar_sync
from rmail.web.webmail.headers import security_headers

__all__ = ["routes"]

routes = web.RouteTableDef()
HEARTBEAT = 25.0
POLL = 5.0
COALESCE = 0.25


def _payload(page: Page) -> bytes:
    folders = [{"name": f.name, "total": f.total, "unread": f.unread}
               for f in sidebar_sync(page.mailbox) if f.selectable]
    return b"event: folders\ndata: " + orjson.dumps({"folders": folders}) + b"\n\n"


@routes.get("/webmail/events")
@view()
async def events(page: Page) -> web.StreamResponse:
    request = page.request
    user = page.user
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    security_headers(response)
    await response.prepare(request)
    with page.services.events.subscribe(user.domain, user.username, maxsize=100) as sub:
        try:
            last = await page.run(_payload, page)
            await response.write(b"retry: 5000\n\n" + last)
            quiet = 0.0
            while True:
                change = await sub.get(timeout=POLL)
                if change is None:
                    quiet += POLL
                    if quiet >= HEARTBEAT:
                        quiet = 0.0
                        if session_principal(request) is None:
                            break
                        await response.write(b": keep-alive\n\n")
                else:
                    await asyncio.sleep(COALESCE)  # let a burst arrive, then send once
                    while not sub.queue.empty():
                        sub.queue.get_nowait()
                payload = await page.run(_payload, page)
                if payload != last:
                    last = payload
                    await response.write(payload)
            await response.write_eof()
        except ConnectionError:  # the browser went away
            pass
    return response
