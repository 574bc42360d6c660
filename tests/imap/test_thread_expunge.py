"""THREAD REFERENCES (RFC 5256) before and after EXPUNGE, through imaplib: the answer after
an expunge is the RFC's answer for the messages that remain (the folder's kept thread
index, which an expunge edits instead of rebuilding, must not show a gone message nor lose
the links its References carried)."""

from __future__ import annotations

import imaplib

from tests.imap.conftest import ImapServer
from tests.imap.test_sort_thread_incremental import mail


def thread(c: imaplib.IMAP4, uid: bool = False) -> bytes:
    args = ("REFERENCES", "UTF-8", "ALL")
    typ, data = c.uid("THREAD", *args) if uid else c.thread(*args)
    assert typ == "OK", data
    return data[-1] or b""


def expunge(c: imaplib.IMAP4, seqs: str) -> None:
    assert c.store(seqs, "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
    assert c.expunge()[0] == "OK"


def test_thread_after_expunge_in_the_middle(imap: ImapServer) -> None:
    for m in (mail("a", "Plan", 1), mail("b", "Re: Plan", 2, "a"),
              mail("c", "Re: Plan", 3, "a b"), mail("d", "Re: Plan", 4, "a b c"),
              mail("x", "Other", 5), mail("e", "Re: Plan", 6, "a b")):
        imap.deliver(m)
    c = imap.login()
    c.select("INBOX")
    assert thread(c) == b"(1 2 (3 4)(6))(5)"
    assert thread(c, uid=True) == b"(1 2 (3 4)(6))(5)"
    expunge(c, "2")  # b: its children keep their place under a (RFC 5256 step 4 prunes b)
    assert thread(c) == b"(1 (2 3)(5))(4)"
    assert thread(c, uid=True) == b"(1 (3 4)(6))(5)"
    expunge(c, "1")  # the root: a dummy keeps its two children together
    assert thread(c) == b"((1 2)(4))(3)"
    assert thread(c, uid=True) == b"((3 4)(6))(5)"
    expunge(c, "1")  # c: d has no parent left among the messages but a dummy: two threads
    assert thread(c, uid=True) == b"((4)(6))(5)"


def test_thread_after_another_session_expunges(imap: ImapServer) -> None:
    for m in (mail("a", "Plan", 1), mail("b", "Re: Plan", 2, "a"),
              mail("c", "Re: Plan", 3, "a b"), mail("x", "Other", 4)):
        imap.deliver(m)
    c = imap.login()
    c.select("INBOX")
    assert thread(c) == b"(1 2 3)(4)"
    other = imap.login()
    other.select("INBOX")
    expunge(other, "2")
    other.logout()
    assert c.noop()[0] == "OK"
    assert thread(c) == b"(1 2)(3)"
    assert thread(c, uid=True) == b"(1 3)(4)"
    imap.deliver(mail("f", "Re: Plan", 5, "a b"))
    assert c.noop()[0] == "OK"
    assert thread(c, uid=True) == b"(1 (3)(5))(4)"
