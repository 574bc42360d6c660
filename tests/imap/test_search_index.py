"""IMAP SEARCH BODY/TEXT through the full-text index (`rmail.imap.search`, `SCAN_LIMIT`): over
more candidates than the limit the index answers (words, the last a prefix), messages it has
not reached yet are read, and keys the index cannot answer fall back to reading; with few
candidates every message is read for an exact substring. Real sockets, imaplib and imapclient,
the shared MIME fixtures."""

from __future__ import annotations

import time

import imapclient

from rmail.imap.search import SCAN_LIMIT
from rmail.store.fsutil import locked
from rmail.store.searchindex import search_index
from tests.imap.conftest import PASSWORD, USER, ImapServer, message
from tests.mimefixtures import MIME_FIXTURES, needs_mime_fixtures

FIXTURES = MIME_FIXTURES
needs_fixtures = needs_mime_fixtures
SAMPLES = ("tnef-winmail-dat_koi8-r.eml", "utf-7_encoded-words_outlook.eml",
           "bad-charset_qp.eml", "iso-2022-jp_subject-and-body.eml")
COUNT = SCAN_LIMIT + 60  # messages of filler: beyond the limit, so the index answers


def body(i: int) -> str:
    words = [f"filler{i}", "routine"]
    if i % 100 == 7:
        words.append("ocelot sighting")
    if i % 250 == 3:
        words.append("Kühlschrank <-> pantry")
    return " ".join(words)


def fill(imap: ImapServer) -> dict[str, int]:
    """COUNT filler messages and the fixtures, indexed; returns fixture name -> UID."""
    folder = imap.folder()
    batch = [(message(i, body(i), subject=f"quillnote {i}"), (), None) for i in range(COUNT)]
    for start in range(0, len(batch), 256):
        folder.append_many(batch[start:start + 256])
    uids = {name: imap.deliver((FIXTURES / name).read_bytes()) for name in SAMPLES
            if (FIXTURES / name).is_file()}
    wait_indexed(imap, max(folder.uids()))
    return uids


def wait_indexed(imap: ImapServer, uid: int) -> None:
    """Until the server's indexer (not a search) has indexed the folder through `uid`."""
    folder = imap.folder()
    index = search_index(folder.owner)
    deadline = time.monotonic() + 60
    while (index.indexed_through(folder.id) or (0, 0))[1] < uid:
        assert time.monotonic() < deadline, "the indexer never caught up"
        time.sleep(0.05)


def client(imap: ImapServer) -> imapclient.IMAPClient:
    c = imapclient.IMAPClient(imap.host, port=imap.port, ssl=False, timeout=30)
    imap.clients.append(c)
    c.login(USER, PASSWORD)
    c.select_folder("INBOX")
    return c


def expected(word: str) -> list[int]:
    """UIDs of the filler messages whose body has `word` (UIDs start at 1)."""
    return [i + 1 for i in range(COUNT) if word in body(i).casefold()]


@needs_fixtures
def test_body_and_text_from_the_index(imap: ImapServer) -> None:
    fixtures = fill(imap)
    c = client(imap)
    ocelots = expected("ocelot")
    assert c.search(["BODY", "ocelot"]) == ocelots
    assert c.search(["BODY", "OCELOT sight"]) == ocelots      # phrase, last word a prefix
    assert c.search(["BODY", "ocel"]) == ocelots              # a word's prefix
    assert c.search(["BODY", "sighting ocelot"]) == []        # a phrase keeps its order
    assert c.search(["BODY", "celot"]) == []                  # mid-word: as Dovecot's FTS
    # the subject through the index; the last word a prefix ("17" also finds "170")
    assert c.search(["TEXT", "quillnote 17"]) == [18, *range(171, 181)]
    assert c.search(["BODY", "quillnote"]) == []                 # BODY is not the subject
    assert c.search(["BODY", "kuhlschrank"], charset="UTF-8") == expected("kühlschrank")
    assert c.search(["BODY", "KÜHLSCHRANK"], charset="UTF-8") == expected("kühlschrank")
    # combined with other keys, NOT, OR and UID sets
    assert c.search(["NOT", "BODY", "ocelot"]) == sorted(
        set(c.search(["ALL"])) - set(ocelots))
    assert c.search(["OR", "BODY", "ocelot", "BODY", "kuhlschrank"], charset="UTF-8") == \
        sorted(set(ocelots) | set(expected("kühlschrank")))
    c.add_flags(ocelots[:3], ["\\Flagged"])
    assert c.search(["FLAGGED", "BODY", "ocelot"]) == ocelots[:3]
    # few candidates: every one is read, an exact substring (RFC 3501), mid-word too
    assert c.search(["UID", "1:500", "BODY", "celot"]) == [u for u in ocelots if u <= 500]
    assert c.search(["UID", "1:500", "TEXT", "sender17@"]) == [18]  # any header field
    # a string without a word to index is looked for in every message
    assert c.search(["BODY", "<->"]) == expected("<->")
    # the shared fixtures: found by the index and by reading alike
    for name, word in (("tnef-winmail-dat_koi8-r.eml", "шостий"),
                       ("utf-7_encoded-words_outlook.eml", "Raubtiere"),
                       ("bad-charset_qp.eml", "Matterhörn"),
                       ("iso-2022-jp_subject-and-body.eml", "正常に")):
        uid = fixtures[name]
        assert c.search(["BODY", word], charset="UTF-8") == [uid], name
        assert c.search(["UID", f"{uid}:*", "BODY", word], charset="UTF-8") == [uid], name
    # CJK characters are a phrase of one-character words, whatever line breaks lie between
    japanese = fixtures["iso-2022-jp_subject-and-body.eml"]
    assert c.search(["BODY", "正常に送れている"], charset="UTF-8") == [japanese]
    # ESEARCH and CONDSTORE paths
    raw = imap.raw()
    raw.cmd(b"a", f'LOGIN {USER} "{PASSWORD}"'.encode())
    raw.cmd(b"b", b"SELECT INBOX")
    lines = raw.cmd(b"c", b"UID SEARCH RETURN (COUNT MIN) BODY ocelot")
    assert lines[0] == b'* ESEARCH (TAG "c") UID MIN %d COUNT %d' % (ocelots[0], len(ocelots))
    modseq = c.search(["MODSEQ", "1", "BODY", "ocelot"])
    assert list(modseq) == ocelots


def test_messages_the_index_has_not_reached_are_read(imap: ImapServer) -> None:
    folder = imap.folder()
    batch = [(message(i, body(i)), (), None) for i in range(COUNT)]
    for start in range(0, len(batch), 256):
        folder.append_many(batch[start:start + 256])
    wait_indexed(imap, COUNT)
    index = search_index(folder.owner)
    with locked(index.lock_path):  # the indexer cannot write: these stay unindexed
        late = [imap.deliver(message(COUNT + k, "a late ocelot")) for k in range(2)]
        assert (index.indexed_through(folder.id) or (0, 0))[1] == COUNT
        c = client(imap)
        assert c.search(["BODY", "ocelot"]) == expected("ocelot") + late
        # an expunged message is gone whether or not the index knows yet
        c.delete_messages([late[0]])
        c.expunge()
        assert c.search(["BODY", "ocelot"]) == expected("ocelot") + late[1:]
    wait_indexed(imap, late[1])
    assert c.search(["BODY", "ocelot"]) == expected("ocelot") + late[1:]


def test_small_folder_keeps_substrings(imap: ImapServer) -> None:
    """Below the limit nothing changes: ImapTest's substring cases."""
    imap.deliver(message(1, "asdfghjkl zxcvbnm"))
    imap.deliver(message(2, "zxcvbnm qwertyuiop", X_Header="qwertyuiop"))
    c = client(imap)
    assert c.search(["BODY", "sdfghjk"]) == [1]
    assert c.search(["TEXT", "wertyuio"]) == [2]
    assert c.search(["BODY", "xcvbn"]) == [1, 2]
