"""OBJECTID (RFC 8474): MAILBOXID kept through RENAME and new for a recreated mailbox;
EMAILID shared by COPY/MOVE and different for other messages; THREADID shared by a thread's
messages wherever they are; SEARCH by id."""

from __future__ import annotations

import re

from tests.imap.conftest import ImapServer, message
from tests.imap.test_fetch import logged_in

_ID = rb"\(([A-Za-z0-9_-]{1,255})\)"


def _mailboxid(line: bytes) -> bytes:
    m = re.search(rb"MAILBOXID " + _ID, line)
    assert m is not None, line
    return m.group(1)


def test_mailboxid(imap: ImapServer) -> None:
    c = logged_in(imap)
    created = _mailboxid(c.cmd(b"a", b"CREATE Work")[0])
    assert _mailboxid(c.cmd(b"b", b"STATUS Work (MAILBOXID MESSAGES)")[0]) == created
    assert any(_mailboxid(x) == created for x in c.cmd(b"c", b"SELECT Work") if b"MAILBOXID" in x)
    c.cmd(b"d", b"UNSELECT")
    c.cmd(b"e", b"RENAME Work Jobs")
    assert _mailboxid(c.cmd(b"f", b"STATUS Jobs (MAILBOXID)")[0]) == created
    c.cmd(b"g", b"DELETE Jobs")
    again = _mailboxid(c.cmd(b"h", b"CREATE Jobs")[0])
    assert again != created
    inbox = _mailboxid(c.cmd(b"i", b"STATUS INBOX (MAILBOXID)")[0])
    assert inbox not in (created, again)
    assert c.cmd(b"j", b'LIST "" Jobs RETURN (STATUS (MAILBOXID))')[1] == (
        b'* STATUS "Jobs" (MAILBOXID (' + again + b"))")


def test_emailid_threadid_and_search(imap: ImapServer) -> None:
    imap.deliver(message(1))
    imap.deliver(message(1))  # the same bytes delivered twice are two messages
    c = logged_in(imap)
    c.cmd(b"s", b"SELECT INBOX")
    lines = c.cmd(b"a", b"FETCH 1:2 (EMAILID THREADID)")
    ids = [re.search(rb"EMAILID " + _ID, x).group(1) for x in lines[:2]]  # type: ignore[union-attr]
    assert ids[0] != ids[1]
    threads = [re.search(rb"THREADID " + _ID, x).group(1)  # type: ignore[union-attr]
               for x in lines[:2]]
    assert threads[0] == threads[1]  # the same Message-ID: one thread
    c.cmd(b"b", b"COPY 1 Archive")
    c.cmd(b"c", b"MOVE 2 Trash")
    for folder in (b"Archive", b"Trash"):
        c.cmd(b"d", b"SELECT " + folder)
        got = re.search(rb"EMAILID " + _ID, c.cmd(b"e", b"FETCH 1 (EMAILID)")[0])
        assert got is not None and got.group(1) == ids[0 if folder == b"Archive" else 1]
    c.cmd(b"f", b"SELECT INBOX")
    assert c.cmd(b"g", b"UID SEARCH EMAILID " + ids[0]) == [b"* SEARCH 1",
                                                            b"g OK UID SEARCH completed"]
    assert c.cmd(b"h", b"SEARCH THREADID T1")[0] == b"* SEARCH"
    assert c.cmd(b"j", b"SEARCH THREADID " + threads[0])[0] == b"* SEARCH 1"
    assert c.cmd(b"i", b"SEARCH EMAILID bad/id")[0].startswith(b"i BAD")


def test_threadid_follows_the_thread(imap: ImapServer) -> None:
    """Messages that THREAD REFERENCES puts in one thread share a THREADID, also a reply that
    came before its thread's first message, and a copy in another mailbox keeps it."""
    def mail(mid: str, refs: str = "") -> bytes:
        head = f"Subject: s {mid}\r\nMessage-ID: <{mid}@x>\r\n"
        if refs:
            head += "References: " + " ".join(f"<{r}@x>" for r in refs.split()) + "\r\n"
        return (head + "\r\nbody\r\n").encode()

    for raw in (mail("late", "root2"), mail("root"), mail("a", "root"), mail("b", "root a"),
                mail("other"), mail("root2")):
        imap.deliver(raw)
    c = logged_in(imap)
    c.cmd(b"s", b"SELECT INBOX")
    lines = c.cmd(b"a", b"FETCH 1:6 (THREADID)")[:6]
    tid = [re.search(rb"THREADID " + _ID, x).group(1) for x in lines]  # type: ignore[union-attr]
    assert tid[1] == tid[2] == tid[3] and tid[0] == tid[5]
    assert len({tid[1], tid[4], tid[5]}) == 3
    assert c.cmd(b"t", b"THREAD REFERENCES UTF-8 ALL")[0] == b"* THREAD (2 3 4)(5)(6 1)"
    assert c.cmd(b"u", b"SEARCH THREADID " + tid[2])[0] == b"* SEARCH 2 3 4"
    c.cmd(b"c", b"COPY 3 Archive")
    c.cmd(b"d", b"SELECT Archive")
    assert c.cmd(b"e", b"FETCH 1 (THREADID)")[0] == b"* 1 FETCH (THREADID (" + tid[2] + b"))"
