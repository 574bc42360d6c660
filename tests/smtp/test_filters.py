"""Filters at delivery: mail arriving over SMTP (smtplib, swaks) and LMTP is filed, flagged,
dropped and forwarded by the recipient's filters, written to disk by this process and
applied by whichever worker takes the connection."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from typing import Any

import pytest

from rmail.mail.filters import Filter, parse_filter
from tests.mailenv import DOMAIN, MailEnv, body_of, in_thread, message

BOB = f"bob@{DOMAIN}"


def add_filter(env: MailEnv, user: str, doc: dict[str, Any]) -> Filter:
    store = env.core.delivery.rules.store
    return store.add_filter(DOMAIN, user, lambda fid: parse_filter(doc, filter_id=fid))


def folder_messages(env: MailEnv, user: str, name: str) -> list[tuple[bytes, frozenset[str]]]:
    folder = env.core.mail.mailbox(DOMAIN, user).folder(name)
    return [(folder.read_message(r.uid), frozenset(r.flags))
            for r in folder.records(0, 1000, newest_first=False)]


def mailbox_id(env: MailEnv, user: str, name: str) -> str:
    return env.core.mail.mailbox(DOMAIN, user).folder(name).mailbox_id()


async def wait_folder(env: MailEnv, user: str, name: str, count: int,
                      timeout: float = 30.0) -> list[tuple[bytes, frozenset[str]]]:
    deadline = time.monotonic() + timeout
    while True:
        found = folder_messages(env, user, name)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def send(env: MailEnv, listener: str, raw: bytes, rcpts: list[str],
         sender: str = "someone@example.net") -> dict[str, tuple[int, bytes]]:
    client = env.smtp(listener)  # smtplib.LMTP for "lmtp": LHLO, a reply per recipient
    try:
        return client.sendmail(sender, rcpts, raw)
    finally:
        client.quit()


async def test_filters_file_flag_drop_and_stop_over_smtp(env: MailEnv) -> None:
    archive = mailbox_id(env, "bob", "Archive")
    add_filter(env, "bob", {"name": "lists", "query": {"listId": "dev.lists.example"},
                            "action": {"flag": True, "stop": True}})
    add_filter(env, "bob", {"query": {"subject": "Invoice"},
                            "action": {"mailbox": archive, "seen": True}})
    add_filter(env, "bob", {"query": {"from": "spammer@"}, "action": {"spam": True}})
    add_filter(env, "bob", {"query": {"subject": "drop me"}, "action": {"delete": True}})
    add_filter(env, "bob", {"query": {"subject": "never"}, "action": {"delete": True},
                            "disabled": True})

    invoice = message("Your INVOICE 42")
    spam = message("buy now", sender="Spammer@junk.example")
    dropped = message("please drop me")
    listmail = b"List-Id: Dev <dev.lists.example>\r\n" + message("invoice on the list")
    plain = message("never mind")
    for raw in (invoice, spam, dropped, listmail, plain):
        refused = await in_thread(send, env, "smtp", raw, [BOB])
        assert refused == {}

    archived = folder_messages(env, "bob", "Archive")
    assert [(body_of(m), f) for m, f in archived] == [(invoice, frozenset({"\\Seen"}))]
    assert [body_of(m) for m, _ in folder_messages(env, "bob", "Junk")] == [spam]
    inbox = folder_messages(env, "bob", "INBOX")
    # The list message stopped at the first filter: flagged, not filed as an invoice.
    assert [(body_of(m), f) for m, f in inbox] == [(listmail, frozenset({"\\Flagged"})),
                                                   (plain, frozenset())]
    assert all(body_of(m) != dropped for folder in ("INBOX", "Archive", "Junk", "Trash")
               for m, _ in folder_messages(env, "bob", folder))


async def test_filters_apply_per_recipient_over_lmtp(env: MailEnv) -> None:
    add_filter(env, "bob", {"query": {"text": "grüße", "hasAttachment": False},
                            "action": {"mailbox": mailbox_id(env, "bob", "Archive")}})
    add_filter(env, "alice", {"query": {"size": -100}, "action": {"flag": True}})
    raw = (b"From: a@example.net\r\nTo: bob@example.com\r\nSubject: hi\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
           b"<p>Viele Gr=C3=BC=C3=9Fe</p>\r\n")
    refused = await in_thread(send, env, "lmtp", raw, [BOB, f"alice@{DOMAIN}"])
    assert refused == {}
    assert [body_of(m) for m, _ in folder_messages(env, "bob", "Archive")] == [raw]
    assert folder_messages(env, "bob", "INBOX") == []
    # alice's filter wants messages under 100 bytes: this one is larger, so plain INBOX.
    [(stored, flags)] = folder_messages(env, "alice", "INBOX")
    assert body_of(stored) == raw and flags == frozenset()


async def test_filter_forwards_a_copy_to_a_local_user(env: MailEnv) -> None:
    add_filter(env, "bob", {"query": {"subject": "for alice"},
                            "action": {"targets": [f"alice@{DOMAIN}"]}})
    raw = message("this is for alice")
    assert await in_thread(send, env, "smtp", raw, [BOB]) == {}
    assert [body_of(m) for m in env.inbox("bob")] == [raw]  # kept: no delete
    [copy] = await env.wait_inbox("alice", 1)
    assert body_of(copy) == raw
    assert b"Delivered-To: bob@example.com" in copy  # so a forward cycle is seen


async def test_forward_cycle_between_local_users_ends(env: MailEnv) -> None:
    rules = env.core.delivery.rules.store
    rules.set_forwarding(DOMAIN, "bob", forward=(f"alice@{DOMAIN}",), keep=True)
    rules.set_forwarding(DOMAIN, "alice", forward=(BOB,), keep=True)
    raw = message("round and round")
    assert await in_thread(send, env, "smtp", raw, [BOB]) == {}
    await env.wait_inbox("alice", 1)
    await asyncio.sleep(1.5)  # the queue's local retries would show a loop by now
    assert len(env.inbox("bob")) == 1 and len(env.inbox("alice")) == 1


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
async def test_swaks_message_is_filtered(env: MailEnv) -> None:
    add_filter(env, "bob", {"query": {"to": "bob@"}, "action": {"seen": True}})
    host, port = env.addr("smtp")
    result = await in_thread(lambda: subprocess.run(
        ["swaks", "--server", host, "--port", str(port), "--from", "x@example.net",
         "--to", BOB, "--header", "Subject: swaks filtered", "--body", "hi"],
        capture_output=True, timeout=60))
    assert result.returncode == 0, result.stdout.decode(errors="replace")
    [(stored, flags)] = folder_messages(env, "bob", "INBOX")
    assert b"Subject: swaks filtered" in stored and flags == frozenset({"\\Seen"})
