"""SORT and THREAD kept up to date as mail arrives and leaves (`rmail.imap.sortindex`,
`rmail.imap.threadindex`): the answer after new mail or an expunge is the one a fresh
computation over the same messages gives."""

from __future__ import annotations

import random

from rmail.imap.sortindex import SortIndex
from rmail.imap.threadindex import ThreadIndex, build
from tests.imap.conftest import DOMAIN, USER, ImapServer, RawClient
from tests.imap.test_fetch import selected


def mail(mid: str, subject: str, day: int, refs: str = "") -> bytes:
    head = [f"From: Someone <s{day}@example.org>", f"To: {USER}@{DOMAIN}",
            f"Subject: {subject}", f"Message-ID: <{mid}@example.org>",
            f"Date: {day:02d} Jan 2024 10:00:00 +0000"]
    if refs:
        head.append("References: " + " ".join(f"<{r}@example.org>" for r in refs.split()))
    return ("\r\n".join(head) + "\r\n\r\nbody\r\n").encode()


def answer(c: RawClient, command: bytes) -> bytes:
    lines = c.cmd(b"t", command)
    assert lines[-1].startswith(b"t OK"), lines
    return lines[-2]


def test_thread_follows_new_mail_and_expunge(imap: ImapServer) -> None:
    c = selected(imap, mail("a", "Alpha", 1), mail("a2", "Re: Alpha", 2, "a"),
                 mail("b", "Beta", 3), mail("c2", "Re: Gamma", 4, "c"))
    assert answer(c, b"UID THREAD REFERENCES UTF-8 ALL") == b"* THREAD (1 2)(3)(4)"
    # a late reply to Alpha, the missing Gamma root itself, a reply joining Beta under Alpha
    imap.deliver(mail("a3", "Re: Alpha", 5, "a a2"))
    imap.deliver(mail("c", "Gamma", 6))
    imap.deliver(mail("b2", "Re: Beta", 7, "a b"))
    c.cmd(b"n", b"NOOP")
    assert answer(c, b"UID THREAD REFERENCES UTF-8 ALL") == \
        b"* THREAD (1 (2 5)(3 7))(6 4)"
    assert answer(c, b"THREAD REFERENCES UTF-8 ALL") == b"* THREAD (1 (2 5)(3 7))(6 4)"
    other = selected(imap)
    other.cmd(b"d", b"UID STORE 1 +FLAGS.SILENT (\\Deleted)")
    other.cmd(b"e", b"EXPUNGE")
    c.cmd(b"n", b"NOOP")
    assert answer(c, b"UID THREAD REFERENCES UTF-8 ALL") == b"* THREAD ((2 5)(3 7))(6 4)"
    assert answer(c, b"THREAD REFERENCES UTF-8 ALL") == b"* THREAD ((1 4)(2 6))(5 3)"
    # part of the folder: its own threads, the folder's kept for the next request
    assert answer(c, b"UID THREAD REFERENCES UTF-8 UID 3:7") == b"* THREAD ((3 7)(5))(6 4)"
    imap.deliver(mail("d", "Delta", 8, "zz"))
    c.cmd(b"n", b"NOOP")
    assert answer(c, b"UID THREAD REFERENCES UTF-8 ALL") == \
        b"* THREAD ((2 5)(3 7))(6 4)(8)"


def test_sort_follows_new_mail_and_expunge(imap: ImapServer) -> None:
    c = selected(imap, mail("m1", "delta", 4), mail("m2", "alpha", 9), mail("m3", "Re: charlie", 1))
    assert answer(c, b"UID SORT (SUBJECT) UTF-8 ALL") == b"* SORT 2 3 1"
    assert answer(c, b"UID SORT (REVERSE DATE) UTF-8 ALL") == b"* SORT 2 1 3"
    imap.deliver(mail("m4", "bravo", 5))
    imap.deliver(mail("m5", "alpha", 2))
    c.cmd(b"n", b"NOOP")
    assert answer(c, b"UID SORT (SUBJECT) UTF-8 ALL") == b"* SORT 2 5 4 3 1"
    assert answer(c, b"SORT (SUBJECT) UTF-8 ALL") == b"* SORT 2 5 4 3 1"
    assert answer(c, b"UID SORT (REVERSE DATE) UTF-8 ALL") == b"* SORT 2 4 1 5 3"
    c.cmd(b"d", b"UID STORE 2,3 +FLAGS.SILENT (\\Deleted)")
    c.cmd(b"e", b"EXPUNGE")
    assert answer(c, b"UID SORT (SUBJECT) UTF-8 ALL") == b"* SORT 5 4 1"
    assert answer(c, b"SORT (SUBJECT) UTF-8 ALL") == b"* SORT 3 2 1"
    assert answer(c, b"UID SORT (SUBJECT) UTF-8 UID 1:4") == b"* SORT 4 1"


def _items(seed: int, n: int) -> list[tuple[int, str | None, list[str], float, str, bool]]:
    rnd = random.Random(seed)
    out = []
    for uid in range(1, n + 1):
        mid = rnd.choice([f"<{uid}@x>", f"<{uid}@x>", f"<{rnd.randint(1, n)}@x>", None])
        refs = [f"<{rnd.randint(1, n + 5)}@x>" for _ in range(rnd.choice([0, 0, 1, 2, 3]))]
        sent = rnd.choice([float(uid), float(rnd.randint(1, 5))])
        out.append((uid, mid, refs, sent, rnd.choice("ABCDE "), rnd.random() < 0.5))
    return out


def test_thread_index_built_bit_by_bit_equals_built_at_once() -> None:
    """Random Message-ID/References graphs (duplicates, cycles, missing parents, equal
    dates, shared subjects), asked for after every few messages."""
    for seed in range(300):
        items = _items(seed, random.Random(seed).randint(1, 40))
        index = ThreadIndex()
        rnd = random.Random(-seed)
        for k, item in enumerate(items, 1):
            index.add(*item)
            if rnd.random() < 0.3:
                assert index.text() == build(items[:k]).text(), seed
        assert index.text() == build(items).text(), seed


def test_sort_index_insertion_equals_sorting_everything() -> None:
    for seed in range(100):
        rnd = random.Random(seed)
        keys = (("SUBJECT", rnd.random() < 0.5), ("SIZE", rnd.random() < 0.5))
        values = {u: (rnd.choice("abc"), rnd.randint(1, 4)) for u in range(1, 200)}
        index = SortIndex(keys)
        index.add({u: values[u] for u in range(1, 150)})
        for u in range(150, 200):
            index.add({u: values[u]})
        whole = SortIndex(keys)
        whole.add(values)
        assert index.order == whole.order
        assert index.held == whole.held == sorted(values)
        expected = sorted(values)
        for i in (1, 0):
            expected.sort(key=lambda u, i=i: values[u][i], reverse=keys[i][1])
        assert index.order == expected


def test_live_sort_reports_positions(imap: ImapServer) -> None:
    """CONTEXT=SORT (RFC 5267 §4.3): messages joining or leaving a live SORT come with their
    position in the sorted result."""
    c = selected(imap, mail("m1", "delta", 1), mail("m2", "alpha", 2), mail("m3", "charlie", 3))
    assert c.cmd(b"t", b"UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNDELETED") == [
        b'* ESEARCH (TAG "t") UID ALL 2:3,1', b"t OK UID SORT completed"]
    assert c.cmd(b"s", b"SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 ALL") == [
        b'* ESEARCH (TAG "s")', b"s OK SORT completed"]
    imap.deliver(mail("m4", "bravo", 4))
    assert c.cmd(b"n", b"NOOP") == [
        b"* 4 EXISTS", b"* 4 RECENT", b'* ESEARCH (TAG "t") UID ADDTO (2 4)',
        b'* ESEARCH (TAG "s") ADDTO (3 4)', b"n OK NOOP completed"]
    assert c.cmd(b"d", b"STORE 3 +FLAGS.SILENT (\\Deleted)") == [
        b'* ESEARCH (TAG "t") UID REMOVEFROM (3 3)', b"d OK STORE completed"]
    assert c.cmd(b"e", b"EXPUNGE") == [
        b'* ESEARCH (TAG "s") REMOVEFROM (2 3)', b"* 3 EXPUNGE", b"* 3 RECENT",
        b"e OK EXPUNGE completed"]
    assert c.cmd(b"u", b"SORT RETURN (UPDATE PARTIAL 1:2) (SUBJECT) UTF-8 ALL")[-1] == \
        b'u NO [NOUPDATE "u"] UPDATE cannot be combined with PARTIAL or SAVE here'
    assert c.cmd(b"x", b"CANCELUPDATE \"t\" \"s\"") == [b"x OK CANCELUPDATE completed"]


def test_thread_index_after_removals_equals_built_at_once() -> None:
    """Expunges (`ThreadIndex.remove`) mixed with new mail on random graphs: after each, the
    answer is that of a build over the remaining messages, and trees the removal did not
    reach keep their prepared threads."""
    for seed in range(400):
        rnd = random.Random(seed)
        items = _items(seed, rnd.randint(2, 50))
        cut = rnd.randint(1, len(items))
        index = build(items[:cut])
        alive = list(items[:cut])
        index.text()
        for item in items[cut:] + [None] * 4:
            if item is not None and rnd.random() < 0.5:
                index.add(*item)
                alive.append(item)
            elif alive:
                gone = set(rnd.sample([i[0] for i in alive], rnd.randint(1, min(3, len(alive)))))
                index.remove(gone)
                alive = [i for i in alive if i[0] not in gone]
            assert index.uids == [i[0] for i in alive], seed
            assert index.text() == build(alive).text(), seed
