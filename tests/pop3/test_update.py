"""WildDuck's semantics: changes held in memory and applied at QUIT (RETR -> \\Seen, DELE ->
\\Seen and moved to Trash), nothing on a dropped connection, RSET undoes everything, TOP
marks nothing; fixed message numbers, mail arriving mid-session shows next time, stable UIDL
across restarts, one session per maildrop ([IN-USE])."""

from __future__ import annotations

import imaplib
import poplib
import socket
import time

import pytest

from tests.pop3.conftest import ADDRESS, PASSWORD, Pop3Server, StartPop3, message

SEEN = "\\Seen"


def _uidl(client: poplib.POP3) -> list[str]:
    return [line.decode().split()[1] for line in client.uidl()[1]]


def test_retr_and_dele_applied_at_quit(pop3: Pop3Server) -> None:
    uids = [pop3.deliver(message(i)) for i in range(1, 5)]
    client = pop3.login()
    client.retr(1)
    client.top(2, 5)
    client.dele(3)
    # nothing applied yet
    assert pop3.flags(uids[0]) == () and pop3.folder().uids() == uids
    client.quit()
    assert pop3.flags(uids[0]) == (SEEN,)
    assert pop3.flags(uids[1]) == ()  # TOP marks nothing
    assert pop3.folder().uids() == [uids[0], uids[1], uids[3]]
    trash = pop3.folder("Trash")
    moved = trash.uids()
    assert len(moved) == 1 and trash.record(moved[0]).flags == (SEEN,)
    assert trash.read_message(moved[0]) == message(3)


def test_dropped_connection_changes_nothing(pop3: Pop3Server) -> None:
    uids = [pop3.deliver(message(i)) for i in range(1, 4)]
    client = pop3.login()
    client.retr(1)
    client.dele(1)
    client.dele(2)
    client.sock.shutdown(socket.SHUT_RDWR)
    client.sock.close()
    # the next session sees everything as before, once the first one has let go
    again = _login_when_free(pop3)
    assert again.stat()[0] == 3
    assert pop3.folder().uids() == uids
    assert all(pop3.flags(u) == () for u in uids)
    assert pop3.folder("Trash").uids() == []
    again.quit()


def _login_when_free(pop3: Pop3Server) -> poplib.POP3:
    """The server notices a dropped connection a moment later; until then [IN-USE]."""
    for _ in range(200):
        client = pop3.connect()
        client.user(ADDRESS)
        try:
            client.pass_(PASSWORD)
            return client
        except poplib.error_proto as exc:
            assert b"[IN-USE]" in exc.args[0]
            client.quit()
            time.sleep(0.05)
    raise AssertionError("the maildrop stayed locked")


def test_rset_undoes_dele_and_seen(pop3: Pop3Server) -> None:
    uids = [pop3.deliver(message(i)) for i in range(1, 3)]
    client = pop3.login()
    client.retr(1)
    client.dele(2)
    assert client.stat()[0] == 1
    assert client.rset().startswith(b"+OK")
    assert client.stat()[0] == 2
    client.quit()
    assert pop3.folder().uids() == uids
    assert all(pop3.flags(u) == () for u in uids)


def test_message_numbers_fixed_and_new_mail_next_session(pop3: Pop3Server) -> None:
    first = pop3.deliver(message(1))
    client = pop3.login()
    before = _uidl(client)
    pop3.deliver(message(2))
    assert client.stat()[0] == 1
    assert _uidl(client) == before
    with pytest.raises(poplib.error_proto):
        client.retr(2)
    client.quit()
    client = pop3.login()
    assert client.stat()[0] == 2
    assert _uidl(client)[0] == before[0]
    client.quit()
    assert pop3.folder().uids()[0] == first


def test_message_expunged_elsewhere_during_session(pop3: Pop3Server) -> None:
    uids = [pop3.deliver(message(i)) for i in range(1, 3)]
    client = pop3.login()
    pop3.folder().expunge([uids[0]])
    with pytest.raises(poplib.error_proto, match="removed by another session"):
        client.retr(1)
    _, _lines, _ = client.retr(2)
    client.dele(1)
    client.quit()  # deleting what is already gone is not an error
    assert pop3.folder().uids() == [uids[1]]
    assert pop3.flags(uids[1]) == (SEEN,)


def test_in_use(pop3: Pop3Server) -> None:
    pop3.deliver(message(1))
    first = pop3.login()
    second = pop3.connect()
    second.user(ADDRESS)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_(PASSWORD)
    assert second.noop  # still connected, still in AUTHORIZATION
    with pytest.raises(poplib.error_proto, match="AUTHORIZATION"):
        second.stat()
    first.dele(1)
    first.quit()
    second.user(ADDRESS)
    second.pass_(PASSWORD)
    assert second.stat() == (0, 0)
    second.quit()


def test_two_users_concurrently(start_pop3: StartPop3) -> None:
    pop3 = start_pop3(users=("alice", "bob"))
    pop3.deliver(message(1))
    pop3.deliver(message(2), user="bob")
    pop3.deliver(message(3), user="bob")
    alice = pop3.login()
    bob = pop3.login("bob@example.com")
    assert alice.stat()[0] == 1 and bob.stat()[0] == 2
    bob.dele(1)
    alice.retr(1)
    bob.quit()
    alice.quit()
    assert len(pop3.folder(user="bob").uids()) == 1


def test_uidl_stable_across_restart(start_pop3: StartPop3, tmp_path) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path / "store"
    pop3 = start_pop3(mail_root=root)
    for i in range(1, 4):
        pop3.deliver(message(i))
    client = pop3.login()
    ids = _uidl(client)
    client.dele(2)
    client.quit()
    assert len(set(ids)) == 3
    start_pop3.stop(pop3)  # type: ignore[attr-defined]
    again = start_pop3(mail_root=root)
    again.deliver(message(4))
    client = again.login()
    after = _uidl(client)
    assert after[:2] == [ids[0], ids[2]]
    assert after[2] not in ids
    client.quit()


def test_imap_watcher_sees_the_update(pop3: Pop3Server) -> None:
    uids = [pop3.deliver(message(i)) for i in range(1, 4)]
    imap = imaplib.IMAP4("127.0.0.1", pop3.addr("imap")[1], timeout=30)
    pop3.clients.append(imap)
    imap.login(ADDRESS, PASSWORD)
    imap.select("INBOX")
    client = pop3.login()
    client.retr(1)
    client.dele(2)
    client.quit()
    _typ, _data = imap.noop()
    responses = imap.untagged_responses
    assert b"2" in responses.get("EXPUNGE", [])
    fetched = b" ".join(x for x in responses.get("FETCH", []) if isinstance(x, bytes))
    assert b"\\Seen" in fetched
    assert imap.uid("SEARCH", "ALL")[1] == [b"%d %d" % (uids[0], uids[2])]
    assert imap.uid("SEARCH", "SEEN")[1] == [b"%d" % uids[0]]
    imap.logout()
    assert pop3.folder().uids() == [uids[0], uids[2]]
