"""CREATE (CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST (CHILDREN,
SPECIAL-USE, LIST-EXTENDED, LIST-STATUS), LSUB, STATUS, NAMESPACE, QUOTA, modified UTF-7."""

from __future__ import annotations

from tests.imap.conftest import PASSWORD, ImapServer, RawClient, message

DEFAULT_LIST = [
    b'* LIST (\\HasNoChildren) "/" "INBOX"',
    b'* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
    b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
    b'* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
    b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
    b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"',
]


def logged_in(imap: ImapServer) -> RawClient:
    c = imap.raw()
    c.cmd(b"L", b'LOGIN alice "' + PASSWORD.encode() + b'"')
    return c


def test_list_defaults_and_delimiter(imap: ImapServer) -> None:
    c = logged_in(imap)
    assert c.cmd(b"a", b'LIST "" "*"') == [*DEFAULT_LIST, b"a OK LIST completed"]
    assert c.cmd(b"b", b'LIST "" ""') == [b'* LIST (\\Noselect) "/" ""', b"b OK LIST completed"]
    assert c.cmd(b"c", b'LIST "" inbox') == [DEFAULT_LIST[0], b"c OK LIST completed"]


def test_create_hierarchy_and_children(imap: ImapServer) -> None:
    c = logged_in(imap)
    assert c.cmd(b"a", b"CREATE Projects/2024/")[0].startswith(b"a OK [MAILBOXID (")
    assert c.cmd(b"b", b'LIST "" Projects*') == [
        b'* LIST (\\HasChildren) "/" "Projects"',
        b'* LIST (\\HasNoChildren) "/" "Projects/2024"', b"b OK LIST completed"]
    assert c.cmd(b"c", b'LIST "Projects/" %') == [
        b'* LIST (\\HasNoChildren) "/" "Projects/2024"', b"c OK LIST completed"]
    assert c.cmd(b"d", b"CREATE Projects") == [
        b"d NO [ALREADYEXISTS] folder 'Projects' exists"]
    assert c.cmd(b"e", b"CREATE inbox") == [b"e NO [ALREADYEXISTS] INBOX always exists"]
    assert c.cmd(b"f", b'CREATE "a*b"')[0].startswith(b"f NO [CANNOT]")


def test_create_special_use(imap: ImapServer) -> None:
    c = logged_in(imap)
    assert c.cmd(b"a", b"CREATE Stars (USE (\\Flagged))")[0].startswith(b"a OK [MAILBOXID (")
    assert c.cmd(b"b", b'LIST (SPECIAL-USE) "" *') == [
        b'* LIST (\\HasNoChildren \\Archive) "/" "Archive"',
        b'* LIST (\\HasNoChildren \\Drafts) "/" "Drafts"',
        b'* LIST (\\HasNoChildren \\Junk) "/" "Junk"',
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
        b'* LIST (\\HasNoChildren \\Flagged) "/" "Stars"',
        b'* LIST (\\HasNoChildren \\Trash) "/" "Trash"', b"b OK LIST completed"]
    assert c.cmd(b"c", b"CREATE Other (USE (\\Sent))")[0].startswith(  # RFC 6154: several
        b"c OK [MAILBOXID (")
    assert c.cmd(b"e", b'LIST "" Other') == [b'* LIST (\\HasNoChildren \\Sent) "/" "Other"',
                                             b"e OK LIST completed"]
    assert c.cmd(b"d", b"CREATE Other (USE (\\Bogus))")[0].startswith(b"d NO [USEATTR]")


def test_delete_and_noselect_parent(imap: ImapServer) -> None:
    c = logged_in(imap)
    c.cmd(b"a", b"CREATE p/q")
    assert c.cmd(b"b", b"DELETE p") == [b"b OK DELETE completed"]
    assert c.cmd(b"c", b'LIST "" p*') == [
        b'* LIST (\\Noselect \\HasChildren) "/" "p"',
        b'* LIST (\\HasNoChildren) "/" "p/q"', b"c OK LIST completed"]
    assert c.cmd(b"d", b"SELECT p")[0].startswith(b"d NO [NONEXISTENT]")
    assert c.cmd(b"e", b"DELETE p/q") == [b"e OK DELETE completed"]
    assert c.cmd(b"f", b"DELETE nothere")[0].startswith(b"f NO [NONEXISTENT]")
    assert c.cmd(b"g", b"DELETE INBOX")[0].startswith(b"g NO [CANNOT]")


def test_rename_keeps_messages_and_inbox_rename(imap: ImapServer) -> None:
    imap.deliver(message(1))
    c = logged_in(imap)
    c.cmd(b"a", b"CREATE old/child")
    assert c.cmd(b"b", b"RENAME old new") == [b"b OK RENAME completed"]
    assert c.cmd(b"c", b'LIST "" new*') == [
        b'* LIST (\\HasChildren) "/" "new"',
        b'* LIST (\\HasNoChildren) "/" "new/child"', b"c OK LIST completed"]
    assert c.cmd(b"d", b"RENAME INBOX saved") == [b"d OK RENAME completed"]
    assert c.cmd(b"e", b"STATUS saved (MESSAGES)") == [
        b'* STATUS "saved" (MESSAGES 1)', b"e OK STATUS completed"]
    assert c.cmd(b"f", b"STATUS INBOX (MESSAGES)") == [
        b'* STATUS "INBOX" (MESSAGES 0)', b"f OK STATUS completed"]
    assert c.cmd(b"g", b"RENAME nothere x")[0].startswith(b"g NO [NONEXISTENT]")
    assert c.cmd(b"h", b"RENAME new saved")[0].startswith(b"h NO [ALREADYEXISTS]")


def test_subscribe_lsub_and_list_subscribed(imap: ImapServer) -> None:
    c = logged_in(imap)
    c.cmd(b"a", b"CREATE x/y")
    for name in (b"Archive", b"Drafts", b"Junk", b"Sent", b"Trash"):
        c.cmd(b"u", b"UNSUBSCRIBE " + name)
    assert c.cmd(b"b", b"SUBSCRIBE x/y") == [b"b OK SUBSCRIBE completed"]
    assert c.cmd(b"c", b"SUBSCRIBE gone") == [b"c OK SUBSCRIBE completed"]
    assert c.cmd(b"d", b'LSUB "" *') == [
        b'* LSUB () "/" "INBOX"', b'* LSUB () "/" "gone"', b'* LSUB () "/" "x/y"',
        b"d OK LSUB completed"]
    assert c.cmd(b"e", b'LSUB "" %') == [
        b'* LSUB () "/" "INBOX"', b'* LSUB () "/" "gone"', b'* LSUB (\\Noselect) "/" "x"',
        b"e OK LSUB completed"]
    assert c.cmd(b"f", b'LIST (SUBSCRIBED) "" *') == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"',
        b'* LIST (\\NonExistent \\Subscribed) "/" "gone"',
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "x/y"', b"f OK LIST completed"]
    assert c.cmd(b"g", b'LIST (SUBSCRIBED RECURSIVEMATCH) "" %') == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"',
        b'* LIST (\\NonExistent \\Subscribed) "/" "gone"',
        b'* LIST (\\HasChildren) "/" "x" ("CHILDINFO" ("SUBSCRIBED"))', b"g OK LIST completed"]
    assert c.cmd(b"h", b'LIST "" (x "INBOX") RETURN (SUBSCRIBED CHILDREN)') == [
        b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"',
        b'* LIST (\\HasChildren) "/" "x"', b"h OK LIST completed"]
    assert c.cmd(b"i", b"UNSUBSCRIBE gone") == [b"i OK UNSUBSCRIBE completed"]


def test_list_status(imap: ImapServer) -> None:
    imap.deliver(message(1))
    imap.deliver(message(2), flags=("\\Seen",))
    c = logged_in(imap)
    assert c.cmd(b"a", b'LIST "" (INBOX Sent) RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))') == [
        DEFAULT_LIST[0], b'* STATUS "INBOX" (MESSAGES 2 UNSEEN 1 UIDNEXT 3)',
        DEFAULT_LIST[4], b'* STATUS "Sent" (MESSAGES 0 UNSEEN 0 UIDNEXT 1)',
        b"a OK LIST completed"]


def test_status_items(imap: ImapServer) -> None:
    imap.deliver(message(1), flags=("\\Deleted",))
    imap.deliver(message(2), flags=("\\Seen",))
    c = logged_in(imap)
    uidvalidity = imap.folder().status().uidvalidity
    size = imap.folder().status().bytes
    assert c.cmd(b"a", b"STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ "
                       b"SIZE DELETED APPENDLIMIT)") == [
        b'* STATUS "INBOX" (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY %d UNSEEN 1 '
        b"HIGHESTMODSEQ 2 SIZE %d DELETED 1 APPENDLIMIT 52428800)" % (uidvalidity, size),
        b"a OK STATUS completed"]
    assert c.cmd(b"b", b"STATUS nothere (MESSAGES)")[0].startswith(b"b NO [NONEXISTENT]")
    assert c.cmd(b"c", b"STATUS INBOX (BOGUS)")[0].startswith(b"c BAD unknown STATUS item")


def test_namespace_and_quota(imap: ImapServer) -> None:
    imap.deliver(message(1, body="x" * 3000))
    c = logged_in(imap)
    assert c.cmd(b"a", b"NAMESPACE") == [b'* NAMESPACE (("" "/")) NIL NIL',
                                          b"a OK NAMESPACE completed"]
    assert c.cmd(b"b", b"GETQUOTAROOT INBOX") == [
        b'* QUOTAROOT "INBOX" ""', b'* QUOTA "" (STORAGE 4 1048576)',
        b"b OK GETQUOTAROOT completed"]
    assert c.cmd(b"c", b'GETQUOTA ""') == [b'* QUOTA "" (STORAGE 4 1048576)',
                                           b"c OK GETQUOTA completed"]
    assert c.cmd(b"d", b'GETQUOTA "other"')[0].startswith(b"d NO [NONEXISTENT]")
    assert c.cmd(b"e", b'SETQUOTA "" (STORAGE 10)') == [
        b"e NO [NOPERM] quotas are set by the administrator"]


def test_international_names(imap: ImapServer) -> None:
    c = logged_in(imap)
    assert c.cmd(b"a", b"CREATE &ZeVnLIqe-/&AOQ-")[0].startswith(b"a OK [MAILBOXID (")
    assert imap.core.mail.mailbox("example.com", "alice").entry("日本語/ä").name == "日本語/ä"
    assert c.cmd(b"b", b'LIST "" &ZeVnLIqe-*') == [
        b'* LIST (\\HasChildren) "/" "&ZeVnLIqe-"',
        b'* LIST (\\HasNoChildren) "/" "&ZeVnLIqe-/&AOQ-"', b"b OK LIST completed"]
    assert c.cmd(b"c", b"CREATE &-and&-")[0].startswith(b"c OK [MAILBOXID (")
    assert c.cmd(b"d", b'LIST "" "&-*"') == [b'* LIST (\\HasNoChildren) "/" "&-and&-"',
                                             b"d OK LIST completed"]
    assert c.cmd(b"e", b"ENABLE UTF8=ACCEPT") == [b"* ENABLED UTF8=ACCEPT",
                                                  b"e OK ENABLE completed"]
    assert c.cmd(b"f", 'LIST "" "日本語*"'.encode()) == [
        '* LIST (\\HasChildren) "/" "日本語"'.encode(),
        '* LIST (\\HasNoChildren) "/" "日本語/ä"'.encode(), b"f OK LIST completed"]


def test_bad_modified_utf7_is_no(imap: ImapServer) -> None:
    """A name that is not valid modified UTF-7 names no mailbox: NO, as Dovecot answers
    (clients treat BAD as fatal)."""
    c = logged_in(imap)
    for i, name in enumerate((b"&AOQ", b"&;;;-", b"&AGE-", b"&Jjo!-", b'"\xc3\xa4"')):
        tag = b"t%d" % i
        line = c.cmd(tag, b"CREATE " + name)
        assert len(line) == 1 and line[0].startswith(tag + b" NO "), line
