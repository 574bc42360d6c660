"""The imapclient library end to end: what a typical Python client does, parsed its way."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from imapclient import IMAPClient

from tests.imap.conftest import PASSWORD, TIMEOUT, USER, ImapServer, message


@pytest.fixture
def client(imap: ImapServer) -> Iterator[IMAPClient]:
    c = IMAPClient(imap.host, port=imap.port, ssl=False, timeout=TIMEOUT)
    imap.clients.append(c)
    c.login(USER, PASSWORD)
    yield c


def test_capabilities_and_id(client: IMAPClient) -> None:
    for cap in ("IDLE", "UIDPLUS", "MOVE", "CONDSTORE", "QRESYNC", "ESEARCH", "SORT",
                "THREAD=REFERENCES", "SPECIAL-USE", "NAMESPACE", "ENABLE", "ID"):
        assert client.has_capability(cap), cap
    assert client.id_({"name": "test"})[0][:2] == (b"name", b"rmail")
    assert client.namespace().personal == (("", "/"),)


def test_folders(client: IMAPClient) -> None:
    client.create_folder("Work/Reports")
    names = [name for _, _, name in client.list_folders()]
    assert names == ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash", "Work",
                     "Work/Reports"]
    assert client.find_special_folder(b"\\Sent") == "Sent"
    assert client.folder_exists("Work/Reports")
    client.rename_folder("Work", "Job")
    client.subscribe_folder("Job/Reports")
    assert ("Job/Reports" in [n for _, _, n in client.list_sub_folders()])
    client.delete_folder("Job/Reports")
    assert not client.folder_exists("Job/Reports")
    status = client.folder_status("INBOX", ["MESSAGES", "UIDNEXT", "UNSEEN"])
    assert status == {b"MESSAGES": 0, b"UIDNEXT": 1, b"UNSEEN": 0}
    client.create_folder("Grüße")
    assert "Grüße" in [n for _, _, n in client.list_folders()]


def test_messages(imap: ImapServer, client: IMAPClient) -> None:
    client.append("INBOX", message(1), flags=[b"\\Seen"])
    hello = message(2, subject="Hello there")
    client.append("INBOX", hello)
    info = client.select_folder("INBOX")
    assert info[b"EXISTS"] == 2 and info[b"UIDNEXT"] == 3
    assert client.search(["UNSEEN"]) == [2]
    assert client.search(["SUBJECT", "hello"]) == [2]
    data = client.fetch([1, 2], ["FLAGS", "RFC822.SIZE", "ENVELOPE", "BODY.PEEK[HEADER]"])
    assert data[1][b"FLAGS"] == (b"\\Seen", b"\\Recent")  # appended before the first SELECT
    assert data[2][b"ENVELOPE"].subject == b"Hello there"
    assert data[2][b"ENVELOPE"].from_[0].mailbox == b"sender2"
    assert data[2][b"RFC822.SIZE"] == len(hello)
    assert data[2][b"BODY[HEADER]"] == hello.split(b"\r\n\r\n")[0] + b"\r\n\r\n"
    flags = (b"\\Flagged", b"custom", b"\\Recent")
    assert client.add_flags([2], [b"\\Flagged", b"custom"]) == {2: flags}
    assert client.get_flags([2]) == {2: flags}
    assert client.sort(["SUBJECT"]) == [2, 1]
    assert client.thread() == ((1,), (2,))
    client.copy([1], "Archive")
    client.move([2], "Trash")
    assert client.search() == [1]
    client.delete_messages([1])
    client.expunge()
    assert client.search() == []
    client.unselect_folder()
    assert imap.folder("Trash").status().count == 1


def test_condstore(imap: ImapServer, client: IMAPClient) -> None:
    client.append("INBOX", message(1))
    client.enable("CONDSTORE")
    info = client.select_folder("INBOX")
    modseq = info[b"HIGHESTMODSEQ"]
    client.add_flags([1], [b"\\Answered"])
    data = client.fetch([1], ["FLAGS"], modifiers=[f"CHANGEDSINCE {modseq}"])
    assert data[1][b"MODSEQ"] == (modseq + 1,)


def test_quota(client: IMAPClient) -> None:
    roots, quotas = client.get_quota_root("INBOX")
    assert roots.quota_roots == [""]
    assert quotas[0].resource == "STORAGE" and quotas[0].limit == 1024 * 1024
