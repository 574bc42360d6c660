"""`GET /users/{user}/search` over real HTTP, on the shared MIME fixtures (HTML-only,
quoted-printable, base64, German, Russian, Japanese) and on messages made here."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

from tests.mimefixtures import MIME_FIXTURES, needs_mime_fixtures
from tests.web.conftest import Api
from tests.web.mailapi.helpers import append, mailboxes, message

FIXTURES = MIME_FIXTURES
needs_fixtures = needs_mime_fixtures
SAMPLES = ("iso-2022-jp_subject-and-body.eml", "tnef-winmail-dat_koi8-r.eml",
           "rfc2231-quoted-extended-filename_pine.eml", "utf-7_encoded-words_outlook.eml",
           "bad-charset_qp.eml", "nodemailer_rfc2231-continuation_emoji-headers.eml",
           "long-line-1030_8bit-no-charset_spam.eml")

HTML_ONLY = (b"From: Web Shop <shop@remote.test>\r\nTo: alice@example.com\r\n"
             b"Subject: Your order\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
             b"\r\n" + base64.encodebytes(
                 "<html><head><style>.zebra{}</style></head><body><p>Your <b>Kühlschrank"
                 "</b> ships Tuesday</p></body></html>".encode()) + b"\r\n")


async def search(api: Api, q: str, user: str = "alice", **params: str) -> list[str]:
    """Subjects of the hits."""
    from urllib.parse import urlencode

    reply = await api.call("GET", "/users/me/search?" + urlencode({"q": q, **params}),
                           user=user)
    assert reply.status == 200, (q, reply.body)
    data = reply.json()
    assert data["success"] is True
    return [m["subject"] for m in data["results"]]


@needs_fixtures
async def test_fixtures_are_found(api: Api) -> None:
    for name in SAMPLES:
        await append(api, "alice", "INBOX", (FIXTURES / name).read_bytes())
    await append(api, "alice", "INBOX", HTML_ONLY)
    japanese = "日本語メールテスト (testing Japanese emails)"
    assert await search(api, "日本語") == [japanese]          # CJK subject and body
    assert await search(api, "正常に送れている") == [japanese]  # body only, ISO-2022-JP
    assert await search(api, "шостий") == ["rr test 7"]         # Russian, KOI8-R
    assert await search(api, "ШОСТИЙ") == ["rr test 7"]         # case folded
    german = {"Die Hasen und die Frösche",
              "Die Hasen und die Frösche (Microsoft Outlook 00)"}
    assert set(await search(api, "frosche")) == german          # diacritics folded
    assert set(await search(api, "Raubtiere")) == german        # base64 text attachment, UTF-7
    assert await search(api, "matterhorn") == [                 # quoted-printable, cp1252
        "plaintext + HMTL, both with a bad charset"]
    assert await search(api, "kuhlschrank") == ["Your order"]   # HTML-only, base64
    assert await search(api, "zebra") == []                     # markup and styles are not text
    assert await search(api, "HTML mode") == [
        "Control your dog's bad habits from a distance"]
    assert await search(api, '"Tuesday ships"') == []           # a phrase keeps its order
    assert await search(api, '"ships Tuesday"') == ["Your order"]


async def test_operators(api: Api) -> None:
    await append(api, "alice", "INBOX", message("Quarterly numbers", "budget figures\n",
                                                attach=True))
    await append(api, "alice", "INBOX", message("Lunch", "budget for lunch\n"),
                 "?flags=%5CSeen%20%5CFlagged")
    await append(api, "alice", "Archive", message("Old budget", "budget archive\n"))
    await append(api, "alice", "Trash", message("Binned budget", "budget trash\n"))
    assert await search(api, "budget") == ["Old budget", "Lunch", "Quarterly numbers"]
    assert "Binned budget" in await search(api, "budget", includeTrash="true")
    archive = (await mailboxes(api))["Archive"]["id"]
    assert await search(api, "budget", mailbox=archive) == ["Old budget"]
    assert await search(api, "budget has:attachment") == ["Quarterly numbers"]
    assert await search(api, "budget is:unread") == ["Old budget", "Quarterly numbers"]
    assert await search(api, "budget is:read") == ["Lunch"]
    assert await search(api, "is:flagged") == ["Lunch"]
    assert await search(api, "subject:lunch") == ["Lunch"]
    assert await search(api, "subject:budget") == ["Old budget"]
    assert len(await search(api, "from:carol budget")) == 3
    assert await search(api, "from:bob budget") == []
    assert len(await search(api, "to:alice@example.com budget")) == 3
    assert await search(api, "budget larger:1M") == []
    assert len(await search(api, "budget larger:100 smaller:10M")) == 3
    assert len(await search(api, "budget after:2000-01-01")) == 3
    assert await search(api, "budget before:2000-01-01") == []


async def test_index_follows_changes_and_pages(api: Api) -> None:
    for i in range(7):
        await append(api, "alice", "INBOX", message(f"Report {i}", "weekly report\n"))
    assert len(await search(api, "weekly")) == 7
    boxes = await mailboxes(api)
    inbox, archive = boxes["INBOX"]["id"], boxes["Archive"]["id"]
    # expunged and moved messages follow at the next search
    assert (await api.call("DELETE", f"/users/me/mailboxes/{inbox}/messages/1",
                           user="alice")).status == 200
    moved = await api.call("PUT", f"/users/me/mailboxes/{inbox}/messages/2", user="alice",
                           json={"moveTo": archive})
    assert moved.status == 200
    found = await search(api, "weekly")
    assert len(found) == 6 and "Report 0" not in found
    assert await search(api, "weekly", mailbox=archive) == ["Report 1"]
    # paging: every hit once
    subjects: list[str] = []
    url = "/users/me/search?q=weekly&limit=4"
    pages = 0
    while url:
        data = (await api.call("GET", url, user="alice")).json()
        pages += 1
        assert data["page"] == pages
        subjects += [m["subject"] for m in data["results"]]
        url = data["next"] or ""
    assert sorted(subjects) == sorted(found) and pages == 2
    # a lost index is rebuilt
    index_file = api.config.mail_root / "domains/example.com/users/alice/mail/search.sqlite"
    assert index_file.exists()
    from rmail.store.searchindex import search_index

    search_index(api.services.mail.mailbox("example.com", "alice")).close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(index_file) + suffix).unlink(missing_ok=True)
    assert len(await search(api, "weekly")) == 6


async def test_bad_queries_and_scope(api: Api) -> None:
    await append(api, "alice", "INBOX", message("Secret", "classified plans\n"))
    for query in ("", "q=", "q=is:weird", "q=before:2025-13-01", "q=after:yesterday",
                  "q=larger:lots", "q=has:pets", "q=x&limit=0", "q=x&next=zzz",
                  "q=x&includeTrash=maybe", "q=" + "x" * 1001):
        reply = await api.call("GET", f"/users/me/search?{query}", user="alice")
        assert reply.status == 400, query
        assert reply.error
    reply = await api.call("GET", "/users/me/search?q=x&mailbox=F" + "0" * 24, user="alice")
    assert reply.status == 404
    # odd input is text, not FTS5 syntax
    for odd in ("a OR b", "NEAR(a b)", "x*", "-y", "col:umn"):
        assert await search(api, odd) == [], odd
    for nothing in ('"', "(", "^ ."):  # no word to look for
        reply = await api.call("GET", f"/users/me/search?q={quote(nothing)}", user="alice")
        assert reply.status == 400, nothing
    assert await search(api, "classified", user="bob") == []
    reply = await api.call("GET", "/users/alice@example.com/search?q=classified", user="bob")
    assert reply.status == 403
    admin = await api.call("GET", "/users/alice@example.com/search?q=classified",
                           user="admin")
    assert [m["subject"] for m in admin.json()["results"]] == ["Secret"]
