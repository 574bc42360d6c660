"""The message list: the manual's selectors field by field, pagination, absolute links (from
the origin the browser used), reserved folder names and bulk actions as IMAP would do them."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.webmail.conftest import DOMAIN, Browser, message


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    c = _Collect()
    c.feed(html)
    return c.elements


def with_class(html: str, tag: str, cls: str) -> list[dict[str, str]]:
    return [a for t, a in elements(html) if t == tag and cls in a.get("class", "").split()]


def fill(browser: Browser, n: int, folder: str = "INBOX") -> None:
    mb = browser.services.mail.mailbox(DOMAIN, "alice")
    f = mb.folder(folder)
    batch = []
    for i in range(n):
        flags = ["\\Seen"] if i % 2 else []
        if i % 5 == 0:
            flags.append("\\Flagged")
        batch.append((message(i, subject=f"Subject {i}"), flags, None))
    f.append_many(batch)


def assert_absolute(html: str, origin: str) -> None:
    for tag, attrs in elements(html):
        for name in ("href", "action", "src"):
            if name in attrs:
                assert attrs[name].startswith(origin + "/"), (tag, name, attrs[name])


async def test_list_selectors_and_pagination(browser: Browser) -> None:
    fill(browser, 120)
    await browser.login()
    page = await browser.get("/webmail/INBOX")
    assert page.status == 200
    html = page.text
    for tag, cls in (("aside", "sidebar"), ("main", "content"), ("span", "current-user"),
                     ("section", "message-list"), ("form", "bulk-actions"),
                     ("nav", "pagination"), ("span", "page-info")):
        assert with_class(html, tag, cls), (tag, cls)
    (section,) = with_class(html, "section", "message-list")
    assert section["data-folder"] == "INBOX" and section["data-total"] == "120"
    inbox = [a for a in with_class(html, "li", "folder-item") if a["data-folder"] == "INBOX"]
    assert inbox[0]["data-total"] == "120" and inbox[0]["data-unread"] == "60"
    assert "active" in inbox[0]["class"].split()
    rows = with_class(html, "tr", "message-row")
    assert len(rows) == 50
    assert [int(r["data-uid"]) for r in rows] == list(range(120, 70, -1))  # newest first
    top = rows[0]  # uid 120 = message 119: odd -> seen, not flagged
    assert top["data-folder"] == "INBOX" and top["data-flags"] == "\\Seen"
    assert "unread" not in top["class"].split()
    fifth = next(r for r in rows if r["data-uid"] == "116")  # message 115: flagged, seen
    assert set(fifth["data-flags"].split()) == {"\\Flagged", "\\Seen"}
    assert "flagged" in fifth["class"].split()
    assert "unread" in next(r for r in rows if r["data-uid"] == "119")["class"].split()
    assert re.search(r'<td class="col-from"><span class="message-from"[^>]*>Bob</span>', html)
    assert re.search(r'<span class="message-subject">Subject 119</span>', html)
    assert re.search(r'<time class="message-date" datetime="2026-12-05T10:59:00\+00:00">', html)
    links = with_class(html, "a", "message-link")
    assert links[0]["href"] == browser.base + "/webmail/message/INBOX/120"
    assert len(with_class(html, "input", "row-check")) == 50
    (info,) = with_class(html, "span", "page-info")
    assert (info["data-total"], info["data-offset"], info["data-limit"]) == ("120", "0", "50")
    assert "1–50 of 120" in html
    (nxt,) = with_class(html, "a", "pagination-next")
    assert nxt["href"] == browser.base + "/webmail/INBOX?offset=50"
    assert not with_class(html, "a", "pagination-prev")
    for cls in ("action-delete", "action-move", "action-mark-read", "action-mark-unread",
                "action-star"):
        assert with_class(html, "button", cls), cls
    assert_absolute(html, browser.base)

    last = await browser.get("/webmail/INBOX?offset=100")
    rows = with_class(last.text, "tr", "message-row")
    assert [r["data-uid"] for r in rows] == [str(u) for u in range(20, 0, -1)]
    assert "101–120 of 120" in last.text
    (prev,) = with_class(last.text, "a", "pagination-prev")
    assert prev["href"] == browser.base + "/webmail/INBOX?offset=50"
    assert not with_class(last.text, "a", "pagination-next")
    assert (await browser.get("/webmail/INBOX?offset=abc")).status == 400


async def test_origin_of_links(browser: Browser) -> None:
    await browser.login()
    port = browser.base.rsplit(":", 1)[1]
    page = await browser.get("/webmail/INBOX", headers={"Host": f"localhost:{port}"})
    assert_absolute(page.text, f"http://localhost:{port}")
    page = await browser.get("/webmail/INBOX", headers={"Host": "evil.example"})
    assert_absolute(page.text, f"http://{browser.config.hostname}:{port}")
    assert "evil.example" not in page.text


async def test_nested_and_reserved_folders(browser: Browser) -> None:
    mb = browser.services.mail.mailbox(DOMAIN, "alice")
    mb.create_folder("Work/Clients")
    mb.create_folder("Settings/Old")
    fill(browser, 3, "Work/Clients")
    await browser.login()
    page = await browser.get("/webmail/Work/Clients")
    assert page.status == 200
    (section,) = with_class(page.text, "section", "message-list")
    assert section["data-folder"] == "Work/Clients" and section["data-total"] == "3"
    items = {a["data-folder"]: a for a in with_class(page.text, "li", "folder-item")}
    assert "depth-1" in items["Work/Clients"]["class"]
    hrefs = dict(re.findall(r'data-folder="([^"]+)"[^>]*><a href="([^"]+)"', page.text))
    assert hrefs["Settings/Old"] == browser.base + "/webmail/folder/Settings/Old"
    assert (await browser.get("/webmail/folder/Settings/Old")).status == 200
    r = await browser.get("/webmail/settings/Old")
    assert r.status in (404, 405) or "message-list" not in r.text  # never the folder
    assert (await browser.get("/webmail/No/Such")).status == 404


async def test_bulk_actions_change_the_store_like_imap(browser: Browser) -> None:
    fill(browser, 6)
    page = await browser.follow(await browser.login())
    form = page.form("bulk-actions")
    mb = browser.services.mail.mailbox(DOMAIN, "alice")
    inbox = mb.folder("INBOX")

    async def bulk(action: str, uids: list[int], **extra: str) -> None:
        data = [("csrf", form["fields"]["csrf"]), ("return", "/webmail/INBOX"),
                ("action", action), *(("msg", f"INBOX/{u}") for u in uids), *extra.items()]
        r = await browser.post(form["action"], data=data)
        assert r.status == 303, r.text[:300]

    await bulk("mark-read", [1, 3])
    assert "\\Seen" in inbox.record(1).flags and "\\Seen" in inbox.record(3).flags
    await bulk("mark-unread", [2])
    assert "\\Seen" not in inbox.record(2).flags
    await bulk("star", [4])
    assert "\\Flagged" in inbox.record(4).flags
    await bulk("move", [5], target="Archive")
    assert 5 not in inbox.uids() and mb.folder("Archive").status().count == 1
    await bulk("delete", [6])
    trash = mb.folder("Trash")
    assert 6 not in inbox.uids() and trash.status().count == 1
    # in Trash: a confirmation page first (works without JavaScript), then gone for good
    (uid,) = trash.uids()
    r = await browser.post(form["action"], data=[("csrf", form["fields"]["csrf"]),
                                                 ("action", "delete"), ("msg", f"Trash/{uid}")])
    assert r.status == 200 and trash.status().count == 1
    r = await browser.submit(r, "confirm-form")
    assert r.status == 303 and trash.status().count == 0
    # the star of a row toggles (a button of form#star-form)
    page = await browser.get("/webmail/INBOX")
    star = page.form("star-form")
    assert star["fields"]["action"] == "toggle-star"
    assert 'form="star-form" name="msg" value="INBOX/1"' in page.text
    before = "\\Flagged" in inbox.record(1).flags
    r = await browser.post(star["action"], data={**star["fields"], "msg": "INBOX/1"})
    assert r.status == 303 and ("\\Flagged" in inbox.record(1).flags) != before
    r = await browser.post(star["action"], data={**star["fields"], "msg": "INBOX/1"})
    assert ("\\Flagged" in inbox.record(1).flags) == before
    # CSRF refused: nothing changes
    before = inbox.status().count
    r = await browser.post(form["action"], data=[("action", "delete"), ("msg", "INBOX/1")])
    assert r.status == 403 and inbox.status().count == before
    r = await browser.post(form["action"], data=[("csrf", form["fields"]["csrf"]),
                                                 ("action", "delete"), ("msg", "INBOX/x")])
    assert r.status == 400
