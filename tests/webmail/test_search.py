"""The webmail search through the full-text index: message text anywhere in a message (not
only its opening), the search language's operators, Unicode folding, a refused query shown as
a form error, and the newest-first list with its total."""

from __future__ import annotations

from urllib.parse import urlencode

from tests.webmail.conftest import DOMAIN, Browser, message
from tests.webmail.test_list import with_class


async def hits(browser: Browser, q: str, scope: str = "all") -> list[tuple[str, str]]:
    r = await browser.get("/webmail/search?" + urlencode({"q": q, "scope": scope,
                                                           "folder": "INBOX"}))
    assert r.status == 200
    return [(x["data-folder"], x["data-uid"]) for x in with_class(r.text, "tr", "message-row")]


async def test_index_words_operators_and_errors(browser: Browser) -> None:
    mb = browser.services.mail.mailbox(DOMAIN, "alice")
    inbox, archive = mb.folder("INBOX"), mb.folder("Archive")
    filler = "lorem ipsum " * 3000  # the word lies far beyond any opening text
    inbox.append(message(1, subject="Plans", body=filler + "the Kühlschrank is full"))
    inbox.append(message(2, sender="Carol <carol@example.net>", subject="Kühlschrank?",
                         body="nothing else"), ("\\Flagged",))
    archive.append(message(3, subject="Old", body="Kuhlschrank from the archive"))
    await browser.login()
    assert sorted(await hits(browser, "kuhlschrank")) == [("Archive", "1"), ("INBOX", "1"),
                                                          ("INBOX", "2")]
    assert sorted(await hits(browser, "KÜHLSCHRANK", scope="folder")) == [("INBOX", "1"),
                                                                          ("INBOX", "2")]
    assert await hits(browser, "kuhlschrank from:carol") == [("INBOX", "2")]
    assert await hits(browser, "kuhlschrank is:flagged") == [("INBOX", "2")]
    assert await hits(browser, '"is full"') == [("INBOX", "1")]
    assert await hits(browser, '"full is"') == []
    r = await browser.get("/webmail/search?q=is%3Aweird&scope=all")
    assert r.status == 200 and r.has('class="form-error"')
    assert not with_class(r.text, "tr", "message-row")
    (section,) = with_class((await browser.get(
        "/webmail/search?q=kuhlschrank&scope=all")).text, "section", "message-list")
    assert section["data-total"] == "3"
