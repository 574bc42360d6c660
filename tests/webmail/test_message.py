"""The detail page: selectors, \\Seen on open, sanitised HTML in a sandboxed frame, remote
images held back, cid: images, attachments with a safe Content-Disposition, an attached
message, view source, and the detail actions as IMAP would do them."""

from __future__ import annotations

import re
from email.message import EmailMessage

from tests.webmail.conftest import DOMAIN, Browser
from tests.webmail.test_list import assert_absolute, elements, with_class

HOSTILE = """<html><head><base href="https://evil.example/"><meta http-equiv="refresh"
content="0;url=https://evil.example/"><script>window.pwned=1</script>
<style>body{background:url(https://tracker.example/css.gif)}</style></head>
<body onload="window.pwned=2"><h1>Hello</h1><p style="color:red">red</p>
<img src="https://tracker.example/pixel.gif"><img src="cid:logo@x">
<a href="javascript:alert(1)">js</a><a href="https://example.org/ok">ok</a>
<form action="https://evil.example/"><input name="p"></form>
<iframe src="https://evil.example/"></iframe><svg onload="alert(1)"><script>1</script></svg>
<img src=x onerror="alert(1)"><a href="data:text/html,<script>alert(1)</script>">d</a>
</body></html>"""


def rich_message() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@example.net>"
    msg["To"] = "Alice <alice@example.com>"
    msg["Cc"] = "bob@example.com"
    msg["Subject"] = "Report & <plans>"
    msg["Date"] = "Sun, 13 Apr 2025 14:30:00 +0000"
    msg["Message-ID"] = "<rich@example.net>"
    msg.set_content("Plain version")
    msg.add_alternative(HOSTILE, subtype="html")
    html_part = msg.get_payload()[1]
    html_part.add_related(b"\x89PNG\r\n\x1a\nfake", maintype="image", subtype="png",
                          cid="<logo@x>")
    msg.add_attachment(b"%PDF-1.4 report", maintype="application", subtype="pdf",
                       filename='q3 "report"/../x.pdf')
    inner = EmailMessage()
    inner["From"] = "dave@example.org"
    inner["Subject"] = "Inner message"
    inner.set_content("The inner text")
    inner.add_attachment(b"inner file", maintype="application", subtype="octet-stream",
                         filename="inner.bin")
    msg.add_attachment(inner)
    return msg.as_bytes()


def store(browser: Browser, raw: bytes, folder: str = "INBOX", flags: tuple[str, ...] = ()
          ) -> int:
    mb = browser.services.mail.mailbox(DOMAIN, "alice")
    return mb.folder(folder).append(raw, list(flags)).uid


async def test_detail_selectors_and_seen(browser: Browser) -> None:
    uid = store(browser, rich_message())
    await browser.login()
    inbox = browser.services.mail.mailbox(DOMAIN, "alice").folder("INBOX")
    assert "\\Seen" not in inbox.record(uid).flags
    page = await browser.get(f"/webmail/message/INBOX/{uid}")
    assert page.status == 200
    assert "\\Seen" in inbox.record(uid).flags  # opening marks it read
    html = page.text
    (art,) = with_class(html, "article", "msg-detail")
    assert art["data-uid"] == str(uid) and art["data-folder"] == "INBOX"
    assert re.search(r'<h2 class="msg-subject">Report &amp; &lt;plans&gt;</h2>', html)
    assert re.search(r'<span class="message-from"[^>]*>Carol &lt;carol@example.net&gt;', html)
    assert re.search(r'<span class="message-to">Alice &lt;alice@example.com&gt;</span>', html)
    assert re.search(r'<span class="message-cc">bob@example.com</span>', html)
    assert re.search(r'<time class="message-date" datetime="2025-04-13T14:30:00\+00:00">'
                     r'Sun, 13 Apr 2025 14:30:00</time>', html)
    for tag, cls in (("header", "msg-header"), ("div", "msg-meta"), ("div", "msg-from"),
                     ("div", "msg-to"), ("div", "msg-cc"), ("div", "msg-date"),
                     ("div", "msg-body"), ("a", "action-reply"), ("a", "action-reply-all"),
                     ("a", "action-forward"), ("form", "action-delete"),
                     ("form", "action-move"), ("form", "action-toggle-read"),
                     ("form", "action-toggle-star"), ("form", "action-junk"),
                     ("a", "action-source"), ("a", "action-show-remote")):
        assert with_class(html, tag, cls), (tag, cls)
    (att,) = with_class(html, "section", "attachments")
    items = with_class(html, "span", "attachment-item")
    assert att["data-count"] == str(len(items)) == "2"
    assert items[0]["data-filename"] == 'q3 "report"/../x.pdf'
    links = with_class(html, "a", "attachment-link")
    assert all(a["href"].startswith(browser.base + "/webmail/message/INBOX/") for a in links)
    (frame,) = [a for t, a in elements(html) if t == "iframe"]
    assert "allow-scripts" not in frame["sandbox"] and "allow-forms" not in frame["sandbox"]
    assert_absolute(html, browser.base)
    assert "window.pwned" not in html and "tracker.example" not in html

    body = await browser.get(frame["src"])
    assert body.status == 200
    csp = body.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "script-src" not in csp and "default-src 'none'" in csp
    assert "https:" not in csp.split("img-src", 1)[1].split(";")[0]
    doc = body.text
    for bad in ("<script", "onload", "onerror", "javascript:", "<base", "http-equiv",
                "<form", "<iframe", "<svg", "pixel.gif", "data:text/html"):
        assert bad not in doc, bad
    assert "https://example.org/ok" in doc and "<h1>Hello</h1>" in doc
    cid = re.search(r'<img src="([^"]+)"', doc)
    assert cid and cid.group(1).startswith(browser.base + f"/webmail/message/INBOX/{uid}/part/")
    img = await browser.get(cid.group(1))
    assert img.status == 200 and img.headers["Content-Type"] == "image/png"
    remote = await browser.get(frame["src"] + "?remote=1")
    assert "pixel.gif" in remote.text and "https:" in remote.headers["Content-Security-Policy"]
    again = await browser.get(frame["src"])  # from the cache of sanitised bodies: the same
    assert again.text == doc and "pixel.gif" not in again.text
    inbox.store_flags([uid], "add", ["\\Deleted"])
    inbox.expunge([uid])
    assert (await browser.get(frame["src"])).status == 404  # gone is gone, cached or not


async def test_big_html_body_is_saved_rendered(browser: Browser) -> None:
    """The frame of a large HTML mail is rendered once per remote choice and saved on disk
    (`rmail.store.rendercache`, shared by every worker and the JSON API); a later view reads
    it and fills in this page's part URLs."""
    raw = rich_message().replace(b"<h1>Hello</h1>", b"<h1>Hello</h1>" + b"<p>filler</p>" * 4000)
    uid = store(browser, raw)
    inbox = browser.services.mail.mailbox(DOMAIN, "alice").folder("INBOX")
    await browser.login()
    page = await browser.get(f"/webmail/message/INBOX/{uid}")
    (frame,) = [a for t, a in elements(page.text) if t == "iframe"]
    first = await browser.get(frame["src"])
    saved = inbox.layout.render_file(uid, False)
    assert first.status == 200 and saved.exists()
    assert not inbox.layout.render_file(uid, True).exists()
    stamp = saved.read_bytes()
    again = await browser.get(frame["src"])
    assert again.text == first.text and saved.read_bytes() == stamp  # read, not redone
    cid = re.search(r'<img src="([^"]+)"', again.text)
    assert cid and cid.group(1).startswith(browser.base + f"/webmail/message/INBOX/{uid}/part/")
    assert "pixel.gif" not in again.text and "<script" not in again.text
    remote = await browser.get(frame["src"] + "?remote=1")
    assert "pixel.gif" in remote.text and inbox.layout.render_file(uid, True).exists()


async def test_attachments_and_attached_message(browser: Browser) -> None:
    uid = store(browser, rich_message())
    await browser.login()
    page = await browser.get(f"/webmail/message/INBOX/{uid}")
    pdf = with_class(page.text, "a", "attachment-link")[0]["href"]
    r = await browser.get(pdf)
    assert r.status == 200 and r.text == "%PDF-1.4 report"
    cd = r.headers["Content-Disposition"]
    assert cd.startswith("attachment;") and "/" not in cd.split("filename*=")[0]
    assert '\\"' not in cd and cd.count('"') == 2
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    (opener,) = with_class(page.text, "a", "attachment-open")
    inner = await browser.get(opener["href"])
    assert inner.status == 200 and "Inner message" in inner.text
    assert "The inner text" in inner.text
    (nested,) = with_class(inner.text, "a", "attachment-link")
    assert re.search(r"/webmail/message/INBOX/\d+/part/\d+/part/0$", nested["href"])
    got = await browser.get(nested["href"])
    assert got.status == 200 and got.text == "inner file"
    assert "inner.bin" in got.headers["Content-Disposition"]
    assert (await browser.get(f"/webmail/message/INBOX/{uid}/part/99")).status == 404
    src = await browser.get(f"/webmail/message/INBOX/{uid}/source")
    assert src.status == 200 and src.headers["Content-Type"].startswith("text/plain")
    assert "Message-ID: <rich@example.net>" in src.text
    assert (await browser.get("/webmail/message/INBOX/9999")).status == 404
    assert (await browser.get("/webmail/message/Nope/1")).status == 404


async def test_plain_text_escaped_and_linked(browser: Browser) -> None:
    raw = (b"From: x@example.net\r\nTo: alice@example.com\r\nSubject: t\r\n\r\n"
           b"<script>alert(1)</script> see https://example.org/a?b=1&c=2 now\r\n")
    uid = store(browser, raw)
    await browser.login()
    page = await browser.get(f"/webmail/message/INBOX/{uid}")
    assert "<script>alert" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert re.search(r'<a href="https://example.org/a\?b=1&amp;c=2" rel="noopener noreferrer '
                     r'nofollow" target="_blank">', page.text)


async def test_detail_actions(browser: Browser) -> None:
    mb = browser.services.mail.mailbox(DOMAIN, "alice")
    inbox = mb.folder("INBOX")
    uid = store(browser, rich_message())
    page = await browser.follow(await browser.login())
    page = await browser.get(f"/webmail/message/INBOX/{uid}")
    r = await browser.submit(page, "action-toggle-star")
    assert r.status == 303 and "\\Flagged" in inbox.record(uid).flags
    r = await browser.submit(page, "action-toggle-read")  # it is read: now unread, to the list
    assert r.status == 303 and r.headers["Location"] == browser.base + "/webmail/INBOX"
    assert "\\Seen" not in inbox.record(uid).flags
    page = await browser.get(f"/webmail/message/INBOX/{uid}")
    r = await browser.submit(page, "action-move", target="Archive")
    assert r.status == 303 and uid not in inbox.uids()
    archive = mb.folder("Archive")
    (auid,) = archive.uids()
    page = await browser.get(f"/webmail/message/Archive/{auid}")
    r = await browser.submit(page, "action-junk")
    assert r.status == 303 and mb.folder("Junk").status().count == 1
    (juid,) = mb.folder("Junk").uids()
    page = await browser.get(f"/webmail/message/Junk/{juid}")
    r = await browser.submit(page, "action-delete")
    trash = mb.folder("Trash")
    assert r.status == 303 and trash.status().count == 1
    (tuid,) = trash.uids()
    page = await browser.get(f"/webmail/message/Trash/{tuid}")
    confirm = await browser.submit(page, "action-delete")
    assert confirm.status == 200 and trash.status().count == 1  # asks first
    r = await browser.submit(confirm, "confirm-form")
    assert r.status == 303 and trash.status().count == 0
    r = await browser.post(f"/webmail/message/INBOX/{uid}/explode",
                           data={"csrf": page.form("action-delete")["fields"]["csrf"]})
    assert r.status == 404


INVITE = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//test//EN
METHOD:REQUEST
BEGIN:VEVENT
UID:standup-42@example.net
DTSTAMP:20261201T090000Z
DTSTART:20261210T093000Z
DTEND:20261210T100000Z
SUMMARY:Team stand-up
LOCATION:Room 4
ORGANIZER:mailto:carol@example.net
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:alice@example.com
END:VEVENT
END:VCALENDAR
"""


async def test_invitation_offers_rsvp(browser: Browser) -> None:
    msg = EmailMessage()
    msg["From"] = "carol@example.net"
    msg["To"] = "alice@example.com"
    msg["Subject"] = "Invitation: Team stand-up"
    msg.set_content("You are invited.")
    msg.add_attachment(INVITE.encode(), maintype="text", subtype="calendar",
                       params={"method": "REQUEST"}, filename="invite.ics")
    uid = store(browser, msg.as_bytes())
    await browser.login()
    page = await browser.get(f"/webmail/message/INBOX/{uid}")
    (inv,) = with_class(page.text, "section", "invitation")
    assert inv["data-uid"] == "standup-42@example.net" and inv["data-method"] == "REQUEST"
    assert "Team stand-up" in page.text and "Room 4" in page.text
    form = page.form("rsvp-form")
    assert re.fullmatch(re.escape(browser.base) + r"/webmail/calendar/event/[^/]+/"
                        r"standup-42%40example.net/respond", form["action"])
    for value in ("ACCEPTED", "TENTATIVE", "DECLINED"):
        assert f'name="response" value="{value}"' in page.text


async def test_raw_utf8_headers_shown_decoded(browser: Browser) -> None:
    """RFC 6532: a Subject/From of raw UTF-8 bytes reads as UTF-8 on the detail page and in
    the list, never as U+FFFD (the same decoding as the JSON API)."""
    raw = ("From: Jörg Müller <jorg@example.net>\r\nTo: alice@example.com\r\n"
           "Subject: Grüße aus Köln ✓\r\nMessage-ID: <u8@example.net>\r\n\r\n"
           "Schöne Grüße\r\n").encode()
    uid = store(browser, raw)
    await browser.login()
    page = await browser.get(f"/webmail/message/INBOX/{uid}")
    assert page.status == 200 and "\ufffd" not in page.text
    assert re.search(r'<h2 class="msg-subject">Grüße aus Köln ✓</h2>', page.text)
    assert re.search(r'<span class="message-from"[^>]*>Jörg Müller &lt;jorg@example.net&gt;',
                     page.text)
    listing = await browser.get("/webmail/INBOX")
    assert "Grüße aus Köln ✓" in listing.text and "\ufffd" not in listing.text
