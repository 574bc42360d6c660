"""METADATA (RFC 5464): server and mailbox annotations per user, in raw IMAP."""

from __future__ import annotations

from tests.imap.conftest import ImapServer
from tests.imap.test_fetch import logged_in


def test_server_and_mailbox_entries(imap: ImapServer) -> None:
    c = logged_in(imap)
    assert c.cmd(b"a", b'SETMETADATA "" (/private/comment "my server note")') == [
        b"a OK SETMETADATA completed"]
    assert c.cmd(b"b", b'GETMETADATA "" /private/comment') == [
        b'* METADATA "" (/private/comment "my server note")', b"b OK GETMETADATA completed"]
    c.cmd(b"c", b"CREATE Work")
    assert c.cmd(b"d", b"SETMETADATA Work (/shared/comment {5+}\r\nhello /private/x/y NIL "
                 b"/private/x/z ~{3+}\r\na\x00b)") == [b"d OK SETMETADATA completed"]
    assert c.cmd(b"e", b"GETMETADATA (DEPTH infinity) Work (/private/X /shared/comment)") == [
        b'* METADATA "Work" (/private/x NIL /shared/comment "hello" /private/x/z ~{3}\r\na\x00b)',
        b"e OK GETMETADATA completed"]
    assert c.cmd(b"f", b"GETMETADATA (MAXSIZE 4 DEPTH 1) Work (/shared/comment)") == [
        b"f OK [METADATA LONGENTRIES 5] GETMETADATA completed"]
    c.cmd(b"g", b"RENAME Work Jobs")  # entries follow the folder
    assert c.cmd(b"h", b"GETMETADATA Jobs /shared/comment")[0] == (
        b'* METADATA "Jobs" (/shared/comment "hello")')
    c.cmd(b"i", b"DELETE Jobs")
    c.cmd(b"j", b"CREATE Jobs")  # a new folder of the same name has none
    assert c.cmd(b"k", b"GETMETADATA Jobs /shared/comment")[0] == (
        b'* METADATA "Jobs" (/shared/comment NIL)')
    assert c.cmd(b"l", b'SETMETADATA "" (/shared/comment NIL)') == [
        b"l OK SETMETADATA completed"]
    other = imap.raw()  # another user sees nothing of alice's
    from rmail.auth.passwords import hash_password
    from tests.imap.conftest import DOMAIN, PASSWORD
    imap.core.accounts.create(DOMAIN, "bob", hash_password(PASSWORD))
    other.cmd(b"a", b'LOGIN bob "' + PASSWORD.encode() + b'"')
    assert other.cmd(b"b", b'GETMETADATA "" /private/comment')[0] == (
        b'* METADATA "" (/private/comment NIL)')


def test_errors_and_limits(imap: ImapServer) -> None:
    c = logged_in(imap)
    for bad in (b'SETMETADATA "" (/comment "x")', b'SETMETADATA "" (/private/a* "x")',
                b'SETMETADATA "" (/private/a/ "x")', b'SETMETADATA "" (/private//a "x")',
                b'GETMETADATA "" /vendor/x', b"GETMETADATA (DEPTH 2) \"\" /private/a",
                b'SETMETADATA "" ()'):
        assert c.cmd(b"a", bad)[0].startswith(b"a BAD"), bad
    assert c.cmd(b"b", b'GETMETADATA Nowhere /private/a')[0].startswith(b"b NO [NONEXISTENT]")
    big = b"x" * (64 * 1024 + 1)
    assert c.cmd(b"c", b'SETMETADATA "" (/private/big {%d+}\r\n' % len(big) + big + b")")[
        0].startswith(b"c NO [METADATA MAXSIZE 65536]")
    many = b" ".join(b"/private/e%d \"%d\"" % (i, i) for i in range(100))
    assert c.cmd(b"d", b'SETMETADATA "" (' + many + b")") == [b"d OK SETMETADATA completed"]
    many = b" ".join(b"/private/f%d \"%d\"" % (i, i) for i in range(100))
    assert c.cmd(b"e", b'SETMETADATA "" (' + many + b")") == [b"e OK SETMETADATA completed"]
    assert c.cmd(b"f", b'SETMETADATA "" (/private/g \"1\")')[0].startswith(
        b"f NO [METADATA TOOMANY]")
    assert c.cmd(b"g", b'GETMETADATA "" /private/e5')[0] == b'* METADATA "" (/private/e5 "5")'
