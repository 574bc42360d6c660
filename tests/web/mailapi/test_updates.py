"""`GET /users/{user}/updates` (Server-Sent Events) over real HTTPS: every kind of event,
resume with Last-Event-ID without gaps (also across a server restart), RESYNC, the stream
ending when the password changes or the account is disabled, and bad input."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from yarl import URL

from rmail.config import Config
from rmail.server import Server
from rmail.services import build_services
from rmail.store.mailbox import MailStore
from rmail.tls import client_context_trusting
from tests.web.conftest import DOMAIN, Api
from tests.web.mailapi.helpers import append, mailboxes, message

WAIT = 60  # seconds: a bound against hanging, never a measured expectation


class Stream:
    """A reader of one event stream: events as (id, data), the last id seen."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.last_id: str | None = None

    async def frame(self) -> tuple[str | None, dict[str, Any] | None] | None:
        """The next frame with an id or data (None at the end of the stream)."""
        while True:
            ident: str | None = None
            data: list[bytes] = []
            while True:
                line = await asyncio.wait_for(self.response.content.readline(), WAIT)
                if not line:
                    return None
                line = line.rstrip(b"\r\n")
                if not line:
                    break
                if line.startswith(b"id: "):
                    ident = line[4:].decode()
                elif line.startswith(b"data: "):
                    data.append(line[6:])
            if ident is not None:
                self.last_id = ident
            if data:
                return ident, orjson.loads(b"\n".join(data))
            if ident is not None:
                return ident, None

    async def event(self) -> dict[str, Any]:
        while True:
            got = await self.frame()
            assert got is not None, "stream ended"
            if got[1] is not None:
                return got[1]

    async def events(self, n: int) -> list[dict[str, Any]]:
        return [await self.event() for _ in range(n)]


@asynccontextmanager
async def stream(api: Api, user: str = "alice", last_id: str | None = None,
                 who: str = "me") -> AsyncIterator[Stream]:
    headers = {"Authorization": f"Bearer {await api.token(user)}"}
    if last_id is not None:
        headers["Last-Event-ID"] = last_id
    url = URL(f"{api.base}/users/{who}/updates", encoded=True)
    async with api.session.get(url, headers=headers, ssl=api.ssl,
                               timeout=aiohttp.ClientTimeout(total=None)) as response:
        assert response.status == 200, await response.read()
        assert response.headers["Content-Type"].startswith("text/event-stream")
        s = Stream(response)
        if last_id is None:  # a fresh stream begins with its position alone
            first = await s.frame()
            assert first is not None and first[0] and first[1] is None
        yield s


def commands(events: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
    return [(e["command"], e.get("uid")) for e in events]


async def test_every_kind_of_event(api: Api) -> None:
    boxes = await mailboxes(api)
    inbox = boxes["INBOX"]["id"]
    async with stream(api) as s:
        uid = await append(api, "alice", "INBOX", message("live"))
        exists = await s.event()
        assert exists == {"command": "EXISTS", "mailbox": inbox, "message": uid, "uid": uid,
                          "modseq": exists["modseq"], "flags": []}
        await api.call("PUT", f"/users/me/mailboxes/{inbox}/messages/{uid}", user="alice",
                       json={"seen": True})
        flags = await s.event()
        assert (flags["command"], flags["uid"], flags["flags"]) == ("FLAGS", uid, ["\\Seen"])
        assert flags["modseq"] > exists["modseq"]
        await api.call("DELETE", f"/users/me/mailboxes/{inbox}/messages/{uid}", user="alice")
        assert commands([await s.event()]) == [("EXPUNGE", uid)]
        made = await api.call("POST", "/users/me/mailboxes", user="alice",
                              json={"path": "Projects"})
        mid = made.json()["id"]
        assert await s.event() == {"command": "CREATE", "mailbox": mid, "path": "Projects"}
        await api.call("PUT", f"/users/me/mailboxes/{mid}", user="alice",
                       json={"path": "Work"})
        assert await s.event() == {"command": "RENAME", "mailbox": mid, "path": "Work"}
        await api.call("DELETE", f"/users/me/mailboxes/{mid}", user="alice")
        assert await s.event() == {"command": "DELETE", "mailbox": mid}
        # mail delivered by another user arrives too
        sent = await api.call("POST", "/messages/send", user="bob",
                              json={"to": [f"alice@{DOMAIN}"], "subject": "hi", "body": "x"})
        assert sent.status == 200, sent.body
        delivered = await s.event()
        assert delivered["command"] == "EXISTS" and delivered["mailbox"] == inbox


async def test_resume_without_gaps(api: Api) -> None:
    async with stream(api) as s:
        first = await append(api, "alice", "INBOX", message("one"))
        assert commands([await s.event()]) == [("EXISTS", first)]
        position = s.last_id
    assert position
    # while away: new mail, a flag change, a removal
    uids = [await append(api, "alice", "INBOX", message(f"away {i}")) for i in range(3)]
    inbox = (await mailboxes(api))["INBOX"]["id"]
    await api.call("PUT", f"/users/me/mailboxes/{inbox}/messages", user="alice",
                   json={"message": [first, uids[0]], "flagged": True})
    await api.call("DELETE", f"/users/me/mailboxes/{inbox}/messages/{uids[1]}", user="alice")
    async with stream(api, last_id=position) as s:
        # by change: the new uids[2]; the flag change (first, and uids[0] still untold: new);
        # the removal of uids[1] is left out: the client never heard of it
        got = await s.events(3)
        assert commands(got) == [("EXISTS", uids[2]), ("FLAGS", first),
                                 ("EXISTS", uids[0])]
        assert got[1]["flags"] == ["\\Flagged"] and got[2]["flags"] == ["\\Flagged"]
        resumed = s.last_id
        # and it goes on live
        later = await append(api, "alice", "INBOX", message("later"))
        assert commands([await s.event()]) == [("EXISTS", later)]
        live = s.last_id
    # resuming from where a stream stopped sends nothing it already had
    async with stream(api, last_id=resumed) as s:
        newest = await append(api, "alice", "INBOX", message("newest"))
        assert commands(await s.events(2)) == [("EXISTS", later), ("EXISTS", newest)]
    async with stream(api, last_id=live) as s:
        last = await append(api, "alice", "INBOX", message("last"))
        assert commands(await s.events(2)) == [("EXISTS", newest), ("EXISTS", last)]


async def test_bad_position_and_auth(api: Api) -> None:
    async with stream(api, last_id="not-a-position") as s:
        got = await s.frame()
        assert got is not None and got[0] and got[1] == {"command": "RESYNC"}
    url = URL(f"{api.base}/users/me/updates", encoded=True)
    async with api.session.get(url, ssl=api.ssl) as response:
        assert response.status == 401
    token = await api.token("bob")
    async with api.session.get(URL(f"{api.base}/users/alice@{DOMAIN}/updates", encoded=True),
                               ssl=api.ssl, headers={"Authorization": f"Bearer {token}"}
                               ) as response:
        assert response.status == 403
    async with stream(api, "admin", who=f"alice@{DOMAIN}") as s:
        uid = await append(api, "alice", "INBOX", message("watched"))
        assert commands([await s.event()]) == [("EXISTS", uid)]


async def test_password_change_ends_the_stream(api: Api) -> None:
    async with stream(api) as s:
        reply = await api.call("PUT", f"/users/alice@{DOMAIN}", user="admin",
                               json={"password": "changed-pw"})
        assert reply.status == 200
        # the next change (mail from bob) finds the token dead and ends the stream
        await api.call("POST", "/messages/send", user="bob",
                       json={"to": [f"alice@{DOMAIN}"], "subject": "x", "body": "y"})
        while (got := await s.frame()) is not None:
            assert got[1] is None or got[1]["command"] != "EXISTS"


async def test_disabling_the_account_ends_the_stream_at_once(api: Api) -> None:
    """No mail change needed: the admin API's disable says so on the bus, and the stream
    checks its credentials then (a mail change alone no longer triggers the check)."""
    async with stream(api) as s:
        reply = await api.call("PATCH", f"/admin/users/alice?domain={DOMAIN}", user="admin",
                               json={"enabled": False})
        assert reply.status == 200
        assert await s.frame() is None  # the stream ended, nothing was sent


async def test_resume_across_a_restart(tmp_config: Config, template_store: Path) -> None:
    config = tmp_config.with_overrides(domains=[DOMAIN])
    shutil.copytree(template_store, config.mail_root)

    @asynccontextmanager
    async def server() -> AsyncIterator[Api]:
        srv = Server(config, services={"core": build_services(config)})
        await srv.start()
        assert srv.cert_path is not None
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        try:
            yield Api(srv.url().rstrip("/"), config, srv.services["core"], session,
                      client_context_trusting(srv.cert_path))
        finally:
            await session.close()
            await srv.stop()

    async with server() as api:
        async with stream(api) as s:
            uid = await append(api, "alice", "INBOX", message("before"))
            assert commands([await s.event()]) == [("EXISTS", uid)]
            position = s.last_id
        missed = await append(api, "alice", "INBOX", message("while away"))
    # the server is down: mail lands through the store (as `rmail` tools would)
    folder = MailStore(config.mail_root).mailbox(DOMAIN, "alice").folder("INBOX")
    offline = (await asyncio.to_thread(folder.append, message("offline"))).uid
    async with server() as api, stream(api, last_id=position) as s:
        assert commands(await s.events(2)) == [("EXISTS", missed), ("EXISTS", offline)]
        after = await append(api, "alice", "INBOX", message("after"))
        assert commands([await s.event()]) == [("EXISTS", after)]
