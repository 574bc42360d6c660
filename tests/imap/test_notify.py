"""NOTIFY (RFC 5465) over raw IMAP: events for the selected and other mailboxes arrive without
the client asking (no IDLE, no NOOP), from deliveries in the store and from other sessions
(with RMAIL_TEST_WORKERS=2 those may sit in another worker process: the change bus carries
the event)."""

from __future__ import annotations

from tests.imap.conftest import ImapServer, RawClient, message
from tests.imap.test_mailboxes import logged_in


def ok(c: RawClient, command: bytes) -> list[bytes]:
    lines = c.cmd(b"n", command)
    assert lines[-1].startswith(b"n OK"), lines
    return lines[:-1]


def test_notify_syntax_and_unsupported_events(imap: ImapServer) -> None:
    c = logged_in(imap)
    assert c.cmd(b"a", b"NOTIFY SET (selected (MessageNew))")[-1].startswith(b"a BAD")
    assert c.cmd(b"b", b"NOTIFY SET (personal (MessageNew (UID)))")[-1].startswith(b"b BAD")
    assert c.cmd(b"c", b"NOTIFY SET (nowhere (MessageNew))")[-1].startswith(b"c BAD")
    assert c.cmd(b"d", b"NOTIFY SET (personal MessageNew)")[-1].startswith(b"d BAD")
    assert c.cmd(b"e", b"NOTIFY SET (personal (AnnotationChange))")[-1] == (
        b"e NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName "
        b"SubscriptionChange)] unsupported event ANNOTATIONCHANGE")
    assert c.cmd(b"f", b"NOTIFY")[-1].startswith(b"f BAD")
    assert c.cmd(b"g", b"NOTIFY NONE") == [b"g OK NOTIFY completed"]
    assert b"NOTIFY" in c.cmd(b"h", b"CAPABILITY")[0].split()


def test_status_indicator_reports_watched_mailboxes(imap: ImapServer) -> None:
    c = logged_in(imap)
    ok(c, b"CREATE Work")
    imap.deliver(message(1), folder="Work")
    v = imap.folder("Work").status().uidvalidity
    hms = imap.folder("Work").status().highestmodseq
    assert ok(c, b"NOTIFY SET STATUS (mailboxes Work (MessageExpunge))") == [
        b'* STATUS "Work" (MESSAGES 1)']
    assert ok(c, b"NOTIFY SET STATUS (mailboxes Work (MessageNew))") == [
        b'* STATUS "Work" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY %d)' % v]
    assert ok(c, b"NOTIFY SET STATUS (mailboxes Work (FlagChange))") == [
        b'* STATUS "Work" (UIDVALIDITY %d HIGHESTMODSEQ %d)' % (v, hms)]
    assert ok(c, b"NOTIFY SET (mailboxes Work (MessageNew MessageExpunge FlagChange))") == []
    # the selected mailbox is never reported by STATUS
    ok(c, b"SELECT Work")
    assert ok(c, b"NOTIFY SET STATUS (inboxes (MessageNew)) (mailboxes Work (MessageNew))") == [
        b'* STATUS "INBOX" (MESSAGES 0 UIDNEXT 1 UIDVALIDITY %d)'
        % imap.folder().status().uidvalidity]


def test_other_mailboxes_told_without_a_command(imap: ImapServer) -> None:
    c = logged_in(imap)
    ok(c, b"CREATE Work")
    ok(c, b"SELECT INBOX")
    ok(c, b"NOTIFY SET (subtree Work (MessageNew MessageExpunge)) (inboxes NONE)")
    v = imap.folder("Work").status().uidvalidity
    imap.deliver(message(1), folder="Work")  # a delivery: the store's change event
    assert c.line() == b'* STATUS "Work" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY %d)' % v
    other = logged_in(imap)  # another session (maybe another worker) expunges it
    ok(other, b"SELECT Work")
    ok(other, b"STORE 1 +FLAGS.SILENT (\\Deleted)")
    ok(other, b"EXPUNGE")
    assert c.line() == b'* STATUS "Work" (MESSAGES 0)'
    imap.deliver(message(2))  # INBOX is selected, and not watched: nothing
    assert ok(c, b"NOOP") == [b"* 1 EXISTS", b"* 1 RECENT"]


def test_selected_mailbox_new_mail_with_fetch_attributes(imap: ImapServer) -> None:
    c = logged_in(imap)
    ok(c, b"SELECT INBOX")
    ok(c, b"NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange))")
    imap.deliver(message(1), flags=("\\Flagged",))
    assert c.line() == b"* 1 EXISTS"
    line = c.line()
    if line == b"* 1 RECENT":
        line = c.line()
    assert line == b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))"
    imap.folder().store_flags([1], "add", ["\\Seen"])
    assert c.line() == b"* 1 FETCH (UID 1 FLAGS (\\Flagged \\Seen \\Recent))"
    imap.folder().expunge([1])
    assert c.line() == b"* 1 EXPUNGE"


def test_mailbox_name_and_subscription_changes(imap: ImapServer) -> None:
    c = logged_in(imap)
    ok(c, b"NOTIFY SET (personal (MailboxName SubscriptionChange))")
    other = logged_in(imap)
    ok(other, b"CREATE Lists")
    assert c.line() == b'* LIST () "/" "Lists"'
    ok(other, b"RENAME Lists Groups")
    assert c.line() == b'* LIST () "/" "Groups" ("OLDNAME" ("Lists"))'
    ok(other, b"SUBSCRIBE Groups")
    assert c.line() == b'* LIST (\\Subscribed) "/" "Groups"'
    ok(other, b"UNSUBSCRIBE Groups")
    assert c.line() == b'* LIST () "/" "Groups"'
    ok(other, b"DELETE Groups")
    assert c.line() == b'* LIST (\\NonExistent) "/" "Groups"'
    assert ok(c, b"NOTIFY NONE") == []
    ok(other, b"CREATE Quiet")
    assert ok(c, b"NOOP") == []
