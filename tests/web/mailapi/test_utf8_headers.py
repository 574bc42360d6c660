"""RFC 6532 messages (raw UTF-8 in header values, no encoded words) over real HTTP: the
parsed message's header list, the listing item and the search results all read the UTF-8,
never U+FFFD; a header that is not valid UTF-8 falls back to Latin-1."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.web.conftest import Api
from tests.web.mailapi.helpers import append, mailbox_id

SUBJECT = "Grüße aus Köln ✓ 日本"
RAW = (
    "From: Jörg Müller <jorg@example.net>\r\n"
    "To: Alice <alice@example.com>\r\n"
    f"Subject: {SUBJECT}\r\n"
    "X-Folded: première\r\n ligne\r\n"
    "Date: Sun, 13 Apr 2025 14:30:00 +0200\r\n"
    "Message-ID: <utf8@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Schöne Grüße aus dem Rheinland.\r\n"
).encode().replace(b"X-Folded:", b"X-Latin1: caf\xe9\r\nX-Folded:")


async def test_raw_utf8_headers_decode_everywhere(api: Api) -> None:
    uid = await append(api, "alice", "INBOX", RAW)
    inbox = await mailbox_id(api, "INBOX")
    reply = await api.call("GET", f"/users/me/mailboxes/{inbox}/messages/{uid}", user="alice")
    assert reply.status == 200, reply.body
    data = reply.json()
    assert "\ufffd" not in reply.body.decode("utf-8")
    assert data["subject"] == SUBJECT
    assert data["from"] == {"name": "Jörg Müller", "address": "jorg@example.net"}
    headers = {h["key"]: h["value"] for h in data["headers"]}
    assert headers["subject"] == SUBJECT
    assert headers["from"] == "Jörg Müller <jorg@example.net>"
    assert headers["x-folded"] == "première ligne"
    assert headers["x-latin1"] == "café"  # not UTF-8: read as Latin-1, one char per byte
    assert [h["key"] for h in data["headers"]][:3] == ["from", "to", "subject"]
    assert data["text"].startswith("Schöne Grüße")

    listing = await api.call("GET", f"/users/me/mailboxes/{inbox}/messages", user="alice")
    (item,) = listing.json()["results"]
    assert (item["subject"], item["from"]["name"]) == (SUBJECT, "Jörg Müller")
    assert item["intro"].startswith("Schöne Grüße")

    for q in ("Köln", "Müller", "Rheinland"):
        found = await api.call("GET", "/users/me/search?" + urlencode({"q": q}), user="alice")
        assert found.status == 200, found.body
        (hit,) = found.json()["results"]
        assert (hit["subject"], hit["from"]["name"]) == (SUBJECT, "Jörg Müller"), q
