"""`/users/{user}/mailboxes/{mailbox}/messages[...]` over real HTTP: listing shapes, cursor
paging, the parsed message, raw and attachment downloads, updates, moves, deletes."""

from __future__ import annotations

import asyncio
import io
from urllib.parse import quote

from tests.web.conftest import Api
from tests.web.mailapi.helpers import append, mailbox_id, mailboxes, message

ITEM = {"id", "mailbox", "thread", "from", "to", "cc", "subject", "date", "idate", "intro",
        "attachments", "size", "seen", "deleted", "flagged", "draft", "answered"}
PAGE = {"success", "total", "page", "previousCursor", "nextCursor", "previous", "next",
        "results"}


async def test_listing_shapes(api: Api) -> None:
    await append(api, "alice", "INBOX", message("First", attach=True))
    await append(api, "alice", "INBOX", message("Second"), "?flags=%5CSeen%20%5CFlagged")
    inbox = await mailbox_id(api, "INBOX")
    reply = await api.call("GET", f"/users/me/mailboxes/{inbox}/messages", user="alice")
    assert reply.status == 200, reply.body
    data = reply.json()
    assert set(data) == PAGE
    assert (data["total"], data["page"]) == (2, 1)
    assert data["next"] is data["previous"] is data["nextCursor"] is False
    second, first = data["results"]
    assert set(first) == ITEM
    assert (first["id"], first["subject"], first["attachments"]) == (1, "First", True)
    assert first["from"] == {"name": "Carol Example", "address": "carol@remote.test"}
    assert first["to"] == [{"name": "Alice", "address": "alice@example.com"}]
    assert first["cc"] == [{"name": "", "address": "bob@example.com"}]
    assert first["intro"].startswith("Hi there")
    assert first["mailbox"] == inbox and first["thread"].startswith("T")
    assert (second["seen"], second["flagged"], second["deleted"]) == (True, True, False)
    assert (first["seen"], first["flagged"]) == (False, False)
    asc = await api.call("GET", f"/users/me/mailboxes/{inbox}/messages?order=asc",
                         user="alice")
    assert [m["id"] for m in asc.json()["results"]] == [1, 2]


async def test_threads_follow_references(api: Api) -> None:
    await append(api, "alice", "INBOX", message("Plan", msgid="<root@x>"))
    await append(api, "alice", "INBOX", message("Re: Plan", msgid="<r1@x>",
                                                references="<root@x>"))
    await append(api, "alice", "INBOX", message("Re: Re: Plan", msgid="<r2@x>",
                                                references="<root@x> <r1@x>"))
    await append(api, "alice", "INBOX", message("Other", msgid="<other@x>"))
    inbox = await mailbox_id(api, "INBOX")
    items = (await api.call("GET", f"/users/me/mailboxes/{inbox}/messages?order=asc",
                            user="alice")).json()["results"]
    threads = [m["thread"] for m in items]
    assert threads[0] == threads[1] == threads[2] != threads[3]
    # the thread across mailboxes: move the last reply to Archive
    archive = (await mailboxes(api))["Archive"]["id"]
    await api.call("PUT", f"/users/me/mailboxes/{inbox}/messages/3", user="alice",
                   json={"moveTo": archive})
    reply = await api.call("GET", f"/users/me/threads/{threads[0]}", user="alice")
    assert reply.status == 200, reply.body
    got = [(m["subject"], m["mailbox"]) for m in reply.json()["results"]]
    assert got == [("Plan", inbox), ("Re: Plan", inbox), ("Re: Re: Plan", archive)]
    other = await api.call("GET", f"/users/me/threads/{threads[3]}", user="alice")
    assert [m["subject"] for m in other.json()["results"]] == ["Other"]
    missing = await api.call("GET", "/users/me/threads/T" + "0" * 20, user="alice")
    assert missing.status == 404 and missing.error
    assert (await api.call("GET", f"/users/me/threads/{threads[0]}", user="bob")).status == 404


async def _walk(api: Api, inbox: str, order: str, limit: int,
                arrive: bool) -> list[int]:
    seen: list[int] = []
    url = f"/users/me/mailboxes/{inbox}/messages?order={order}&limit={limit}"
    pages = 0
    while url:
        reply = await api.call("GET", url, user="alice")
        assert reply.status == 200, reply.body
        data = reply.json()
        pages += 1
        assert data["page"] == pages
        seen.extend(m["id"] for m in data["results"])
        if arrive:  # new mail while paging
            await append(api, "alice", "INBOX", message(f"late {order} {pages}"))
        url = data["next"] or ""
        if url:
            assert data["nextCursor"] in url
    return seen


async def test_cursor_paging_5000_while_mail_arrives(api: Api) -> None:
    folder = api.services.mail.mailbox("example.com", "alice").folder("INBOX")
    raws = [message(f"bulk {i}") for i in range(5000)]

    def fill() -> None:
        for start in range(0, len(raws), 250):
            folder.append_many([(r, (), None) for r in raws[start:start + 250]])

    await asyncio.to_thread(fill)
    inbox = await mailbox_id(api, "INBOX")
    desc = await _walk(api, inbox, "desc", 250, arrive=True)
    assert len(desc) == len(set(desc))
    assert desc[:5000] == list(range(5000, 0, -1))  # each once, newest first; none arrived
    assert len(desc) == 5000
    asc = await _walk(api, inbox, "asc", 199, arrive=True)
    assert len(asc) == len(set(asc))
    assert asc[:5000] == list(range(1, 5001))
    assert asc == sorted(asc) and len(asc) > 5000  # the late ones show at the end
    # going back: previous cursors walk the same pages in reverse
    url = f"/users/me/mailboxes/{inbox}/messages?order=desc&limit=100"
    first = (await api.call("GET", url, user="alice")).json()
    second = (await api.call("GET", first["next"], user="alice")).json()
    assert second["page"] == 2 and second["previous"]
    back = (await api.call("GET", second["previous"], user="alice")).json()
    assert [m["id"] for m in back["results"]] == [m["id"] for m in first["results"]]
    assert back["page"] == 1 and back["previous"] is False


async def test_bad_paging_input(api: Api) -> None:
    inbox = await mailbox_id(api, "INBOX")
    await append(api, "alice", "INBOX", message())
    base = f"/users/me/mailboxes/{inbox}/messages"
    for query in ("order=up", "limit=0", "limit=100000", "next=%%%", "next=abc",
                  "previous=" + "A" * 300, "next=a&previous=b"):
        reply = await api.call("GET", f"{base}?{query}", user="alice")
        assert reply.status == 400, query
        assert reply.error
    # a cursor of one order is refused by the other
    cursor = (await api.call("GET", f"{base}?limit=1", user="alice")).json()
    await append(api, "alice", "INBOX", message("more"))
    cursor = (await api.call("GET", f"{base}?limit=1", user="alice")).json()["nextCursor"]
    reply = await api.call("GET", f"{base}?order=asc&next={cursor}", user="alice")
    assert reply.status == 400


async def test_message_json_attachments_and_raw(api: Api) -> None:
    html = ('<p>Hello <b>there</b><script>alert(1)</script>'
            '<img src="cid:logo@x"><a href="javascript:alert(2)">x</a></p>')
    raw = message("Report", "Plain version.\n", html=html, attach=True)
    uid = await append(api, "alice", "INBOX", raw)
    inbox = await mailbox_id(api, "INBOX")
    url = f"/users/me/mailboxes/{inbox}/messages/{uid}"
    reply = await api.call("GET", url, user="alice")
    assert reply.status == 200, reply.body
    msg = reply.json()
    assert msg["success"] is True and msg["id"] == uid and msg["subject"] == "Report"
    assert msg["seen"] is False  # not without markAsSeen
    assert msg["messageId"].startswith("<") and msg["references"] == []
    assert msg["text"].strip() == "Plain version."
    assert len(msg["html"]) == 1
    assert "<b>there</b>" in msg["html"][0]
    assert "script" not in msg["html"][0] and "javascript" not in msg["html"][0]
    keys = [h["key"] for h in msg["headers"]]
    assert "subject" in keys and "message-id" in keys
    [att] = msg["attachments"]
    assert att == {"id": "ATT00001", "filename": "report.pdf", "contentType": "application/pdf",
                   "size": len(b"%PDF-1.4 fake"), "disposition": "attachment",
                   "related": False, "contentId": None}
    assert msg["emailId"].startswith("M")
    got = await api.call("GET", f"{url}/attachments/ATT00001", user="alice")
    assert got.status == 200 and got.body == b"%PDF-1.4 fake"
    assert got.headers["Content-Type"] == "application/pdf"
    assert got.headers["Content-Disposition"].startswith('attachment; filename="report.pdf"')
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    for missing in ("ATT00002", "ATT00000", "ATT999999"):
        assert (await api.call("GET", f"{url}/attachments/{missing}",
                               user="alice")).status == 404
    eml = await api.call("GET", f"{url}/message.eml", user="alice")
    assert eml.status == 200 and eml.body == raw
    assert eml.headers["Content-Type"] == "message/rfc822"
    seen = await api.call("GET", f"{url}?markAsSeen=true", user="alice")
    assert seen.json()["seen"] is True
    assert (await api.call("GET", f"{url}?markAsSeen=maybe", user="alice")).status == 400
    for bad in ("0", "99", "4294967296"):
        reply = await api.call("GET", f"/users/me/mailboxes/{inbox}/messages/{bad}",
                               user="alice")
        assert reply.status == 404 and reply.error


async def test_cid_images_point_at_attachments(api: Api) -> None:
    from email.message import EmailMessage
    from email.policy import SMTP

    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = "a@x", "alice@example.com", "Pic"
    msg.set_content("see picture")
    msg.add_alternative('<p>Logo: <img src="cid:logo@x"></p>', subtype="html")
    msg.get_payload()[1].add_related(b"\x89PNG fake", "image", "png", cid="<logo@x>")
    uid = await append(api, "alice", "INBOX", msg.as_bytes())
    inbox = await mailbox_id(api, "INBOX")
    data = (await api.call("GET", f"/users/me/mailboxes/{inbox}/messages/{uid}",
                           user="alice")).json()
    [att] = data["attachments"]
    assert att["related"] is True and att["disposition"] == "inline"
    link = f"/users/me/mailboxes/{inbox}/messages/{uid}/attachments/{att['id']}"
    assert f'src="{link}"' in data["html"][0]
    assert (await api.call("GET", link, user="alice")).body == b"\x89PNG fake"


async def test_update_move_delete(api: Api) -> None:
    uid = await append(api, "alice", "INBOX", message("Move me"))
    boxes = await mailboxes(api)
    inbox, archive = boxes["INBOX"]["id"], boxes["Archive"]["id"]
    url = f"/users/me/mailboxes/{inbox}/messages/{uid}"
    reply = await api.call("PUT", url, user="alice",
                           json={"seen": True, "flagged": True, "answered": True})
    assert reply.status == 200 and reply.json() == {"success": True, "id": uid,
                                                    "mailbox": inbox}
    msg = (await api.call("GET", url, user="alice")).json()
    assert (msg["seen"], msg["flagged"], msg["answered"], msg["draft"]) == (
        True, True, True, False)
    reply = await api.call("PUT", url, user="alice", json={"flagged": False,
                                                           "moveTo": archive})
    assert reply.status == 200, reply.body
    moved = reply.json()
    assert moved["mailbox"] == archive and moved["id"] == 1
    assert (await api.call("GET", url, user="alice")).status == 404
    new_url = f"/users/me/mailboxes/{archive}/messages/{moved['id']}"
    msg = (await api.call("GET", new_url, user="alice")).json()
    assert (msg["seen"], msg["flagged"], msg["subject"]) == (True, False, "Move me")
    # IMAP view agrees: the store shows it in Archive, not INBOX
    mb = api.services.mail.mailbox("example.com", "alice")
    assert mb.folder("INBOX").status().count == 0 and mb.folder("Archive").status().count == 1
    assert (await api.call("DELETE", new_url, user="alice")).json() == {"success": True}
    assert (await api.call("DELETE", new_url, user="alice")).status == 404
    assert mb.folder("Archive").status().count == 0
    for body in ({"seen": "yes"}, {"moveTo": 5}, {"colour": "red"}, {"moveTo": "Fxx"}):
        reply = await api.call("PUT", url.replace(str(uid), "1"), user="alice", json=body)
        assert reply.status in (400, 404), body
        assert reply.error
    reply = await api.call("PUT", url, user="alice",
                           data=io.BytesIO(b"x" * (2 * 1024 * 1024)),
                           headers={"Content-Type": "application/json"})
    assert reply.status == 413


async def test_bulk_update(api: Api) -> None:
    for i in range(6):
        await append(api, "alice", "INBOX", message(f"bulk {i}"))
    boxes = await mailboxes(api)
    inbox, trash = boxes["INBOX"]["id"], boxes["Trash"]["id"]
    url = f"/users/me/mailboxes/{inbox}/messages"
    reply = await api.call("PUT", url, user="alice", json={"message": "1:3", "seen": True})
    assert reply.json() == {"success": True, "updated": 3, "mailbox": inbox}
    reply = await api.call("PUT", url, user="alice", json={"message": [5, 6, 77],
                                                           "moveTo": trash})
    data = reply.json()
    assert data["updated"] == 2 and data["mailbox"] == trash and data["id"] == [[5, 1], [6, 2]]
    inbox_now = (await mailboxes(api))["INBOX"]
    assert (inbox_now["total"], inbox_now["unseen"]) == (4, 1)
    reply = await api.call("PUT", url, user="alice", json={"message": "4:*", "deleted": True})
    assert reply.json()["updated"] == 1
    for body in ({"seen": True}, {"message": "a:b"}, {"message": [0]}, {"message": [True]},
                 {"message": list(range(1, 20000))}, {"message": "1:2", "seen": 1}):
        reply = await api.call("PUT", url, user="alice", json=body)
        assert reply.status == 400, body


async def test_other_users_messages(api: Api) -> None:
    uid = await append(api, "alice", "INBOX", message("private"))
    inbox = await mailbox_id(api, "INBOX")
    url = f"/users/alice@example.com/mailboxes/{inbox}/messages/{uid}"
    assert (await api.call("GET", url, user="bob")).status == 403
    assert (await api.call("PUT", url, user="bob", json={"seen": True})).status == 403
    assert (await api.call("GET", url, user="admin")).status == 200
    assert (await api.call("GET", url.replace("alice@", quote("alice@")),
                           user="alice")).status == 200
