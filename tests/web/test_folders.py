"""Folders and messages: listing, paging, append/fetch/delete/flags, names from URLs."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest

from tests.web.conftest import Api, MakeApi

RFC822 = {"Content-Type": "message/rfc822"}


def message(subject: str = "Hello", body: str = "Hi there.\n", attach: bool = False) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Carol Example <carol@remote.test>"
    msg["To"] = "Alice <alice@example.com>"
    msg["Cc"] = "bob@example.com"
    msg["Subject"] = subject
    msg["Date"] = "Sun, 13 Apr 2025 14:30:00 +0200"
    msg["Message-ID"] = f"<{abs(hash(subject))}@remote.test>"
    msg.set_content(body)
    if attach:
        msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf",
                           filename="report.pdf")
    return msg.as_bytes()


async def append(api: Api, user: str, folder: str, raw: bytes, query: str = "") -> int:
    reply = await api.call("POST", f"/folders/{folder}/messages{query}", user=user, data=raw,
                           headers=RFC822)
    assert reply.status == 201, reply.body
    return int(reply.json()["uid"])


async def test_list_folders(api: Api) -> None:
    reply = await api.call("GET", "/folders", user="alice")
    assert reply.status == 200
    folders = reply.json()["folders"]
    names = [f["name"] for f in folders]
    assert names[0] == "INBOX"
    assert set(names) == {"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"}
    inbox = folders[0]
    assert inbox == {"name": "INBOX", "total": 0, "unread": 0, "size": 0, "special_use": None,
                     "subscribed": True, "selectable": True}
    await append(api, "alice", "INBOX", message())
    await append(api, "alice", "INBOX", message("Seen"), "?flags=%5CSeen")
    inbox = (await api.call("GET", "/folders", user="alice")).json()["folders"][0]
    assert (inbox["total"], inbox["unread"]) == (2, 1)
    sent = next(f for f in folders if f["name"] == "Sent")
    assert sent["special_use"] == "\\Sent"


async def test_append_fetch_roundtrip_and_listing_fields(api: Api) -> None:
    raw = message("Quarterly report", "Numbers attached.\n", attach=True)
    reply = await api.call("POST", "/folders/INBOX/messages", user="alice", data=raw,
                           headers=RFC822)
    assert reply.status == 201
    assert reply.json() == {"folder": "INBOX", "uid": 1, "size": len(raw)}
    fetched = await api.call("GET", "/folders/INBOX/messages/1", user="alice")
    assert fetched.status == 200
    assert fetched.headers["Content-Type"] == "message/rfc822"
    assert fetched.body == raw
    head = await api.call("HEAD", "/folders/INBOX/messages/1", user="alice")
    assert (head.status, head.body) == (200, b"")
    assert int(head.headers["Content-Length"]) == len(raw)
    listing = await api.call("GET", "/folders/INBOX/messages", user="alice")
    assert listing.status == 200
    body = listing.json()
    assert {k: body[k] for k in ("folder", "total", "unread", "offset", "limit")} == {
        "folder": "INBOX", "total": 1, "unread": 1, "offset": 0, "limit": 100}
    (item,) = body["messages"]
    assert item["uid"] == 1
    assert item["flags"] == [] and item["seen"] is False
    assert item["size"] == len(raw)
    assert item["subject"] == "Quarterly report"
    assert item["from"] == {"name": "Carol Example", "address": "carol@remote.test"}
    assert item["to"] == [{"name": "Alice", "address": "alice@example.com"}]
    assert item["cc"] == [{"name": "", "address": "bob@example.com"}]
    assert item["date"] == "2025-04-13T14:30:00+02:00"
    assert item["internaldate"].endswith("+00:00")
    assert item["intro"].startswith("Numbers attached.")
    assert item["has_attachments"] is True
    assert item["message_id"].endswith("@remote.test>")
    assert item["in_reply_to"] is None
    assert isinstance(item["modseq"], int)


async def test_paging(api: Api) -> None:
    for i in range(5):
        await append(api, "alice", "INBOX", message(f"m{i}"))
    page = (await api.call("GET", "/folders/INBOX/messages?offset=1&limit=2",
                           user="alice")).json()
    assert [m["uid"] for m in page["messages"]] == [4, 3]  # newest first
    assert (page["offset"], page["limit"], page["total"]) == (1, 2, 5)
    last = (await api.call("GET", "/folders/INBOX/messages?offset=4&limit=1000",
                           user="alice")).json()
    assert [m["uid"] for m in last["messages"]] == [1]
    beyond = (await api.call("GET", "/folders/INBOX/messages?offset=50", user="alice")).json()
    assert beyond["messages"] == []


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=abc", "offset=-1",
                                   "offset=x", "limit=1.5"])
async def test_paging_validation(api: Api, query: str) -> None:
    reply = await api.call("GET", f"/folders/INBOX/messages?{query}", user="alice")
    assert reply.status == 400
    assert reply.error


async def test_append_errors(make_api: MakeApi) -> None:
    api = await make_api(max_message_bytes=2000)
    wrong_type = await api.call("POST", "/folders/INBOX/messages", user="alice",
                                data=message(), headers={"Content-Type": "text/plain"})
    assert wrong_type.status == 415 and wrong_type.error
    empty = await api.call("POST", "/folders/INBOX/messages", user="alice", data=b"",
                           headers=RFC822)
    assert empty.status == 400
    big = await api.call("POST", "/folders/INBOX/messages", user="alice",
                         data=message(body="x" * 3000), headers=RFC822)
    assert big.status == 413 and big.error
    missing = await api.call("POST", "/folders/Nope/messages", user="alice", data=message(),
                             headers=RFC822)
    assert missing.status == 404
    bad_flag = await api.call("POST", "/folders/INBOX/messages?flags=%5CRecent", user="alice",
                              data=message(), headers=RFC822)
    assert bad_flag.status == 400
    assert (await api.call("GET", "/folders/INBOX/messages", user="alice")).json()["total"] == 0


async def test_quota_exceeded_is_413(api: Api) -> None:
    reply = await api.call("PATCH", "/admin/users/alice", user="admin", json={"quota_mb": 1})
    assert reply.status == 200
    await append(api, "alice", "INBOX", message(body="a" * 600_000))
    over = await api.call("POST", "/folders/INBOX/messages", user="alice",
                          data=message(body="b" * 600_000), headers=RFC822)
    assert over.status == 413
    assert "quota" in over.error


async def test_delete_message(api: Api) -> None:
    uid = await append(api, "alice", "INBOX", message())
    reply = await api.call("DELETE", f"/folders/INBOX/messages/{uid}", user="alice")
    assert reply.status == 200
    assert reply.json() == {"folder": "INBOX", "uid": uid, "deleted": True}
    again = await api.call("DELETE", f"/folders/INBOX/messages/{uid}", user="alice")
    assert again.status == 404 and again.error
    assert (await api.call("GET", f"/folders/INBOX/messages/{uid}", user="alice")).status == 404
    huge = await api.call("GET", "/folders/INBOX/messages/99999999999999", user="alice")
    assert huge.status == 404


async def test_replace_flags(api: Api) -> None:
    uid = await append(api, "alice", "INBOX", message(), "?flags=%5CDraft")
    reply = await api.call("PATCH", f"/folders/INBOX/messages/{uid}/flags", user="alice",
                           json={"flags": ["\\seen", "\\Flagged", "$Label1"]})
    assert reply.status == 200
    body = reply.json()
    assert sorted(body["flags"]) == ["$Label1", "\\Flagged", "\\Seen"]  # \Draft replaced
    assert body["uid"] == uid and isinstance(body["modseq"], int)
    item = (await api.call("GET", "/folders/INBOX/messages", user="alice")).json()["messages"][0]
    assert item["seen"] is True
    for bad in ({"flags": "\\Seen"}, {"flags": ["\\Recent"]}, {"flags": ["two words"]},
                {"flags": [1]}, {}, {"flags": ["\\Seen"], "x": 1}):
        reply = await api.call("PATCH", f"/folders/INBOX/messages/{uid}/flags", user="alice",
                               json=bad)
        assert reply.status == 400, bad
    missing = await api.call("PATCH", "/folders/INBOX/messages/999/flags", user="alice",
                             json={"flags": []})
    assert missing.status == 404


async def test_folder_names_hierarchy_and_unicode(api: Api) -> None:
    created = await api.call("POST", "/folders", user="alice", json={"name": "Work/Kunden Ü"})
    assert created.status == 201
    assert created.json()["name"] == "Work/Kunden Ü"
    names = [f["name"] for f in (await api.call("GET", "/folders", user="alice")).json()["folders"]]
    assert "Work" in names and "Work/Kunden Ü" in names
    encoded = "Work%2FKunden%20%C3%9C"
    uid = await append(api, "alice", encoded, message("encoded"))
    literal = await api.call("GET", "/folders/Work/Kunden%20%C3%9C/messages", user="alice")
    assert literal.status == 200
    assert [m["uid"] for m in literal.json()["messages"]] == [uid]
    assert (await api.call("GET", f"/folders/{encoded}/messages/{uid}", user="alice")).status == 200
    # INBOX is case-insensitive (RFC 9051 §5.1)
    assert (await api.call("GET", "/folders/inbox/messages", user="alice")).status == 200
    renamed = await api.call("PATCH", "/folders?name=Work", user="alice", json={"name": "Jobs"})
    assert renamed.status == 200
    moved = await api.call("GET", "/folders/Jobs/Kunden%20%C3%9C/messages", user="alice")
    assert moved.json()["total"] == 1
    dup = await api.call("POST", "/folders", user="alice", json={"name": "Jobs"})
    assert dup.status == 409
    gone = await api.call("DELETE", "/folders?name=Jobs%2FKunden%20%C3%9C", user="alice")
    assert gone.json() == {"name": "Jobs/Kunden Ü", "deleted": True}
    assert (await api.call("DELETE", "/folders?name=INBOX", user="alice")).status == 409
    assert (await api.call("DELETE", "/folders?name=Nope", user="alice")).status == 404
    assert (await api.call("DELETE", "/folders", user="alice")).status == 400
    # a PATCH aimed at a message list is not a folder rename
    assert (await api.call("PATCH", "/folders/INBOX/messages", user="alice",
                           json={"name": "x"})).status == 405


@pytest.mark.parametrize("path", [
    "/folders/%2E%2E/messages",
    "/folders/..%2F..%2Fbob/messages",
    "/folders/INBOX%2F..%2F..%2Fbob%2Fmail/messages",
    "/folders/a%00b/messages",
    "/folders/a%2F%2Fb/messages",
    "/folders/%2Fetc%2Fpasswd/messages",
    "/folders/x%2A/messages",
])
async def test_traversal_and_bad_names_are_refused(api: Api, path: str) -> None:
    reply = await api.call("GET", path, user="alice")
    assert reply.status == 400, reply.body
    assert str(api.config.mail_root) not in reply.error


async def test_users_cannot_reach_each_other(api: Api) -> None:
    uid = await append(api, "bob", "INBOX", message("for bob only"))
    alice = await api.call("GET", "/folders/INBOX/messages", user="alice")
    assert alice.json()["messages"] == []
    assert (await api.call("GET", f"/folders/INBOX/messages/{uid}", user="alice")).status == 404
    assert (await api.call("DELETE", f"/folders/INBOX/messages/{uid}", user="alice")).status == 404
    assert (await api.call("GET", f"/folders/INBOX/messages/{uid}", user="bob")).status == 200
    for path in ("/folders/..%2Fbob%2FINBOX/messages", "/folders/%2E%2E%2F%2E%2E/messages"):
        assert (await api.call("GET", path, user="alice")).status == 400


async def test_folder_routes_need_auth(api: Api) -> None:
    for method, path in (("GET", "/folders"), ("GET", "/folders/INBOX/messages"),
                         ("POST", "/folders/INBOX/messages"),
                         ("GET", "/folders/INBOX/messages/1"),
                         ("DELETE", "/folders/INBOX/messages/1"),
                         ("PATCH", "/folders/INBOX/messages/1/flags")):
        reply = await api.call(method, path)
        assert reply.status == 401, (method, path)
        assert reply.error == "Authentication required"
