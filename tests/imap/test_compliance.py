"""Regression tests, in raw IMAP, for the defects Dovecot's imaptest found (issue 15): each one
pins the answer Dovecot 2.3 gives and the RFC asks for."""

from __future__ import annotations

import base64

from tests.imap.conftest import ImapServer, RawClient
from tests.imap.test_fetch import logged_in, selected


def _append_literal8(c: RawClient, tag: bytes, mailbox: bytes, raw: bytes) -> list[bytes]:
    c.send(tag + b" APPEND " + mailbox + b" ~{%d+}\r\n" % len(raw) + raw + b"\r\n")
    return c.until_tagged(tag)


BINARY_MESSAGE = (b"From: user@domain.org\r\nDate: Sat, 24 Mar 2007 23:00:00 +0200\r\n"
                  b"Mime-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\n\r\n\n")


def test_binary_append_never_puts_nul_in_an_ordinary_literal(imap: ImapServer) -> None:
    c = logged_in(imap)
    assert _append_literal8(c, b"a", b"INBOX", BINARY_MESSAGE)[-1].startswith(b"a OK")
    c.cmd(b"b", b"SELECT INBOX")
    for item in (b"BODY.PEEK[1]", b"RFC822", b"RFC822.TEXT", b"BODY.PEEK[]"):
        lines = c.cmd(b"c", b"FETCH 1 (" + item + b")")
        assert lines[-1] == b"c OK FETCH completed"
        assert b"\x00" not in b"".join(lines) and b"~{" not in b"".join(lines), item
    body = c.cmd(b"d", b"FETCH 1 (BODY.PEEK[1])")[0]
    encoded = body.split(b"}\r\n", 1)[1].rsplit(b")", 1)[0]
    assert base64.b64decode(encoded) == b"\x00-\xe4\n\r\n\n"  # the content, base64-encoded
    assert c.cmd(b"e", b"FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])") == [
        b"* 1 FETCH (BINARY.SIZE[1] 7 BINARY[1] ~{7}\r\n\x00-\xe4\n\r\n\n)",
        b"e OK FETCH completed"]


QP_MESSAGE = (b"From: user@domain.org\r\nMime-Version: 1.0\r\n"
              b"Content-Type: multipart/mixed; boundary=\"foo\"\r\n\r\n--foo\r\n"
              b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
              b"hello  \r\nbar=\r\n\r\nfoo\t=\r\nbar\r\nfoo\t \t= \r\n=62\r\nfoo = \t\r\nbar\r\n"
              b"foo =\r\n=62\r\nfoo  \r\nbar=\r\n\r\nfoo_bar\r\n\r\n--foo--\r\n")
QP_DECODED = (b"hello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\nfoo b\r\nfoo\r\nbar\r\n"
              b"foo_bar\r\n")


def test_binary_decodes_quoted_printable_per_rfc_2045(imap: ImapServer) -> None:
    c = selected(imap, QP_MESSAGE)
    assert c.cmd(b"a", b"FETCH 1 (BINARY.SIZE[1])") == [
        b"* 1 FETCH (BINARY.SIZE[1] 65)", b"a OK FETCH completed"]
    assert c.cmd(b"b", b"FETCH 1 (BINARY.PEEK[1])")[0] == (
        b"* 1 FETCH (BINARY[1] {65}\r\n" + QP_DECODED + b")")
    assert c.cmd(b"c", b"FETCH 1 (BINARY.PEEK[1]<10.10>)")[0] == (
        b"* 1 FETCH (BINARY[1]<10> {10}\r\n" + QP_DECODED[10:20] + b")")


def _message(n: int, **headers: str) -> bytes:
    lines = [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    lines.append(f"Message-ID: <{n}@example.org>")
    return ("\r\n".join(lines) + "\r\n\r\nbody\r\n").encode()


def test_esearch_min_max_modseq_is_that_of_the_returned_messages(imap: ImapServer) -> None:
    c = selected(imap, *(_message(i, Subject=f"m{i}") for i in range(1, 5)))
    c.cmd(b"x", b"FETCH 1 (MODSEQ)")  # CONDSTORE on: STORE reports modseqs
    modseqs = {}
    for seq in (1, 3, 2, 4):
        line = c.cmd(b"s", b"STORE %d +FLAGS (\\Seen)" % seq)[0]
        modseqs[seq] = int(line.rsplit(b"MODSEQ (", 1)[1].split(b")")[0])
    assert c.cmd(b"a", b'SEARCH RETURN (MIN) 1:3 MODSEQ "/flags/\\\\seen" all 1')[0] == (
        b'* ESEARCH (TAG "a") MIN 1 MODSEQ %d' % modseqs[1])
    assert c.cmd(b"b", b'SEARCH RETURN (MAX) 1:3 MODSEQ "/flags/\\\\seen" all 1')[0] == (
        b'* ESEARCH (TAG "b") MAX 3 MODSEQ %d' % modseqs[3])
    assert c.cmd(b"c", b'SEARCH RETURN (MIN MAX) 2:3 MODSEQ 1')[0] == (
        b'* ESEARCH (TAG "c") MIN 2 MAX 3 MODSEQ %d' % max(modseqs[2], modseqs[3]))
    assert c.cmd(b"d", b'SEARCH RETURN () 1:3 MODSEQ 1')[0] == (
        b'* ESEARCH (TAG "d") ALL 1:3 MODSEQ %d' % max(modseqs[i] for i in (1, 2, 3)))


def test_list_recursivematch_childinfo_only_for_children_not_listed(imap: ImapServer) -> None:
    c = logged_in(imap)
    for name in (b"p", b"p/c", b"q", b"q/c", b"q/d"):
        c.cmd(b"a", b"CREATE " + name)
    c.cmd(b"b", b"SUBSCRIBE p/c")
    c.cmd(b"b", b"SUBSCRIBE q/d")
    assert c.cmd(b"c", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" (p p/c)') == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "p/c"', b"c OK LIST completed"]
    assert c.cmd(b"d", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" (p)') == [
        b'* LIST (\\HasChildren) "/" "p" ("CHILDINFO" ("SUBSCRIBED"))', b"d OK LIST completed"]
    assert c.cmd(b"e", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" (q q/c)') == [
        b'* LIST (\\HasChildren) "/" "q" ("CHILDINFO" ("SUBSCRIBED"))', b"e OK LIST completed"]


def test_examine_reports_the_recent_count_select_would(imap: ImapServer) -> None:
    imap.deliver(_message(1))
    imap.deliver(_message(2))
    c = logged_in(imap)
    lines = c.cmd(b"a", b"EXAMINE INBOX")
    assert b"* 2 RECENT" in lines and lines[-1].startswith(b"a OK [READ-ONLY]")
    c.cmd(b"b", b"CLOSE")
    assert c.cmd(b"c", b"STATUS INBOX (RECENT)")[0] == b'* STATUS "INBOX" (RECENT 2)'
    assert b"* 2 RECENT" in c.cmd(b"d", b"SELECT INBOX")
    c.cmd(b"e", b"CLOSE")
    assert b"* 0 RECENT" in c.cmd(b"f", b"EXAMINE INBOX")


def test_invalid_modified_utf7_name_is_no_not_bad(imap: ImapServer) -> None:
    c = logged_in(imap)
    name = b"!#$&'+,-.0123456789:;<=>?@^_`|[}"
    assert c.cmd(b"a", b"SELECT " + name)[0].startswith(b"a NO ")
    assert c.cmd(b"b", b'LIST "" ' + name + b"%*") == [b"b OK LIST completed"]
    assert c.cmd(b"c", b'CREATE "a&Jjo"')[0].startswith(b"c NO ")
    assert c.cmd(b"d", b"NOOP") == [b"d OK NOOP completed"]  # the session goes on


def test_move_into_the_selected_mailbox(imap: ImapServer) -> None:
    c = selected(imap, _message(1), _message(2))
    v = imap.folder().status().uidvalidity
    lines = c.cmd(b"a", b"MOVE 1 INBOX")
    assert lines[0] == b"* OK [COPYUID %d 1 3] Moved" % v
    assert lines[1] == b"* 1 EXPUNGE" and b"* 2 EXISTS" in lines
    assert lines[-1] == b"a OK MOVE completed"
    assert c.cmd(b"b", b"UID FETCH 1:* (UID)")[:-1] == [b"* 1 FETCH (UID 2)",
                                                      b"* 2 FETCH (UID 3)"]


def test_search_from_matches_parsed_addresses(imap: ImapServer) -> None:
    c = selected(imap, _message(1, From="<user-from (comment)@ (comment) domain.org>"),
                 _message(2, From="user-from@domain.org (RealFrom)"),
                 _message(3, From="user-from1@domain.org, user-from2@domain.org"),
                 _message(4, From="RealFrom <user-from@domain.org>"))
    assert c.cmd(b"a", b"SEARCH FROM user-from@domain.org")[0] == b"* SEARCH 1 2 4"
    assert c.cmd(b"b", b"SEARCH FROM realfrom")[0] == b"* SEARCH 2 4"
    assert c.cmd(b"c", b"SEARCH FROM comment")[0] == b"* SEARCH"
    env = c.cmd(b"d", b"FETCH 1:2 (ENVELOPE)")
    assert b'((NIL NIL "user-from" "domain.org"))' in env[0]
    assert b'(("RealFrom" NIL "user-from" "domain.org"))' in env[1]


def test_sort_cc_uses_a_group_name(imap: ImapServer) -> None:
    for n, cc in enumerate(("user2@domain2.org (foo bar)", "user2: blah@domain1.org;",
                            "user1@domain1.org")):
        imap.folder().append(_message(n, Cc=cc), (), 1_700_000_000 + n)
    c = selected(imap)
    assert c.cmd(b"a", b"SORT (CC) US-ASCII ALL")[0] == b"* SORT 3 1 2"
    assert c.cmd(b"b", b"SORT (REVERSE CC) US-ASCII ALL")[0] == b"* SORT 1 2 3"
    assert c.cmd(b"c", b"SORT (CC REVERSE ARRIVAL) US-ASCII ALL")[0] == b"* SORT 3 2 1"


def test_fetch_modseq_enabling_condstore_sends_highestmodseq(imap: ImapServer) -> None:
    c = selected(imap, _message(1))
    highest = imap.folder().status().highestmodseq
    assert c.cmd(b"a", b"FETCH 1 (MODSEQ)") == [
        b"* OK [HIGHESTMODSEQ %d] Highest" % highest,
        b"* 1 FETCH (UID 1 MODSEQ (%d))" % highest, b"a OK FETCH completed"]
    assert c.cmd(b"b", b"FETCH 1 (MODSEQ)") == [  # only the enabling command says it
        b"* 1 FETCH (UID 1 MODSEQ (%d))" % highest, b"b OK FETCH completed"]


def test_fetch_announces_a_keyword_another_session_added(imap: ImapServer) -> None:
    """imaptest stress: "Keyword used without being in FLAGS". A keyword stored by another
    session must reach this one's `* FLAGS` before a FETCH row shows it (RFC 3501 §7.2.6)."""
    watcher = selected(imap, _message(1, Subject="k"))
    writer = logged_in(imap)
    writer.cmd(b"S", b"SELECT INBOX")
    assert writer.cmd(b"a", b"STORE 1 +FLAGS.SILENT ($Stress)")[-1].startswith(b"a OK")
    lines = watcher.cmd(b"b", b"FETCH 1 (FLAGS)")
    assert lines[-1].startswith(b"b OK")
    shown = [i for i, line in enumerate(lines) if b"FETCH" in line and b"$Stress" in line]
    announced = [i for i, line in enumerate(lines)
                 if line.startswith(b"* FLAGS") and b"$Stress" in line]
    assert shown and announced and announced[0] < shown[0], lines
