"""SEARCH, SORT and THREAD answered from the folder's header cache (and remembered answers)
stay right as mail arrives, is expunged, or the cache file is lost."""

from __future__ import annotations

import os

from tests.imap.conftest import ImapServer
from tests.imap.test_fetch import selected


def _msg(n: int, subject: str, refs: str = "", cc: str = "x@example.org") -> bytes:
    head = (f"From: P{n} <p{n}@example.org>\r\nCc: {cc}\r\nSubject: {subject}\r\n"
            f"Message-ID: <m{n}@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:0{n} +0000\r\n")
    if refs:
        head += f"References: {refs}\r\n"
    return (head + "\r\nbody\r\n").encode()


def test_answers_follow_new_mail_expunges_and_a_lost_cache(imap: ImapServer) -> None:
    c = selected(imap, _msg(1, "apples"), _msg(2, "pears"), _msg(3, "Re: apples",
                                                                "<m1@example.org>"))
    assert c.cmd(b"a", b"THREAD REFERENCES UTF-8 ALL")[0] == b"* THREAD (1 3)(2)"
    assert c.cmd(b"b", b"SORT (SUBJECT) UTF-8 ALL")[0] == b"* SORT 1 3 2"
    imap.deliver(_msg(4, "Re: pears", "<m2@example.org>"))
    c.cmd(b"n", b"NOOP")
    assert c.cmd(b"c", b"THREAD REFERENCES UTF-8 ALL")[0] == b"* THREAD (1 3)(2 4)"
    assert c.cmd(b"d", b"UID SORT (REVERSE SUBJECT) UTF-8 ALL")[0] == b"* SORT 2 4 1 3"
    c.cmd(b"e", b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    c.cmd(b"f", b"EXPUNGE")
    assert c.cmd(b"g", b"THREAD REFERENCES UTF-8 ALL")[0] == b"* THREAD (1 3)(2)"
    assert c.cmd(b"h", b"UID THREAD REFERENCES UTF-8 ALL")[0] == b"* THREAD (2 4)(3)"
    os.unlink(imap.folder().layout.dir / "headers.jsonl")
    imap.folder().headers.forget()
    assert c.cmd(b"i", b"UID THREAD REFERENCES UTF-8 ALL")[0] == b"* THREAD (2 4)(3)"
    assert c.cmd(b"j", b"UID SEARCH HEADER Message-ID <m4@example.org>")[0] == b"* SEARCH 4"
    assert c.cmd(b"k", b"UID SEARCH FROM p3@example.org")[0] == b"* SEARCH 3"
    assert c.cmd(b"l", b'UID SEARCH SUBJECT "re: pears"')[0] == b"* SEARCH 4"


def test_another_users_identical_folder_gets_its_own_answer(imap: ImapServer) -> None:
    """Remembered answers are per folder directory: the same UIDs elsewhere differ."""
    from rmail.auth.passwords import hash_password
    from tests.imap.conftest import DOMAIN, PASSWORD

    imap.core.accounts.create(DOMAIN, "bob", hash_password(PASSWORD))
    bob_inbox = imap.core.mail.mailbox(DOMAIN, "bob").folder("INBOX")
    for m in (_msg(1, "b"), _msg(2, "a")):
        bob_inbox.append(m)
    c = selected(imap, _msg(1, "a"), _msg(2, "b"))
    assert c.cmd(b"a", b"SORT (SUBJECT) UTF-8 ALL")[0] == b"* SORT 1 2"
    bob = imap.raw()
    bob.cmd(b"l", b'LOGIN bob "' + PASSWORD.encode() + b'"')
    bob.cmd(b"s", b"SELECT INBOX")
    assert bob.cmd(b"a", b"SORT (SUBJECT) UTF-8 ALL")[0] == b"* SORT 2 1"
