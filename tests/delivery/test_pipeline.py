"""The local delivery pipeline, called directly (no sockets): resolution, deduplication,
loops, quota, concurrency, and the failures it takes over."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from rmail.delivery import Delivery
from rmail.delivery.replies import (
    ALIAS_LOOP,
    DELIVERED,
    MAILBOX_DISABLED,
    MAILBOX_FULL,
    MESSAGE_OVER_QUOTA,
    NO_SUCH_USER,
    NOT_LOCAL,
)
from rmail.services import Services, build_services
from tests.mailenv import DOMAIN, body_of, mail_config, message, password_hash


@pytest.fixture
def core(tmp_path: Path) -> Services:
    services = build_services(mail_config(tmp_path / "mailstore"))
    services.accounts.add_domain(DOMAIN, exist_ok=True)
    for user in ("bob", "alice"):
        services.accounts.create(DOMAIN, user, password_hash())
    return services


def inbox(core: Services, user: str) -> list[bytes]:
    folder = core.mail.mailbox(DOMAIN, user).folder("INBOX")
    return [folder.read_message(uid) for uid in folder.uids()]


async def test_delivered_byte_for_byte_with_trace_fields(core: Services) -> None:
    delivery: Delivery = core.delivery
    raw = message("direct")
    received = delivery.received(protocol="ESMTP", helo="client.example.net",
                                 peer_ip="192.0.2.7")
    report = await delivery.deliver_local(raw, mail_from="<a@example.net>",
                                          recipients=[f"bob@{DOMAIN}"], received=received)
    assert report.ok and report.reply().code == 250
    assert report.outcomes[0].mailboxes == (f"bob@{DOMAIN}",)
    [stored] = inbox(core, "bob")
    assert stored == (b"Return-Path: <a@example.net>\r\nDelivered-To: bob@example.com\r\n"
                      + received + raw)
    assert b"from client.example.net ([192.0.2.7])" in received


async def test_one_copy_per_mailbox(core: Services) -> None:
    core.accounts.set_alias(DOMAIN, "both", "bob,alice")
    core.accounts.set_alias(DOMAIN, "again", "both,bob")
    raw = message("dedupe")
    rcpts = [f"bob@{DOMAIN}", f"Bob@{DOMAIN}", f"bob+x@{DOMAIN}", f"both@{DOMAIN}",
             f"again@{DOMAIN}", f"bob@{DOMAIN}"]
    report = await core.delivery.deliver_local(raw, mail_from="", recipients=rcpts)
    assert report.ok
    assert [o.recipient for o in report.outcomes] == list(dict.fromkeys(rcpts))
    assert [body_of(m) for m in inbox(core, "bob")] == [raw]
    assert [body_of(m) for m in inbox(core, "alice")] == [raw]


async def test_alias_loops(core: Services) -> None:
    core.accounts.set_alias(DOMAIN, "ping", "pong")
    core.accounts.set_alias(DOMAIN, "pong", "ping")
    core.accounts.set_alias(DOMAIN, "ring", "rang,bob")
    core.accounts.set_alias(DOMAIN, "rang", "ring")
    for i in range(12):  # a chain deeper than the resolver follows
        core.accounts.set_alias(DOMAIN, f"hop{i}", f"hop{i + 1}")
    core.accounts.set_alias(DOMAIN, "hop12", "alice")
    delivery = core.delivery
    assert await delivery.check_recipient(f"ping@{DOMAIN}") == NO_SUCH_USER
    assert (await delivery.check_recipient(f"ring@{DOMAIN}")).ok  # the loop still reaches bob
    assert await delivery.check_recipient(f"hop0@{DOMAIN}") == ALIAS_LOOP
    report = await delivery.deliver_local(message(), mail_from="", single_reply=False,
                                          recipients=[f"ping@{DOMAIN}", f"ring@{DOMAIN}"])
    assert [o.reply.code for o in report.outcomes] == [550, 250]
    assert len(inbox(core, "bob")) == 1


async def test_mail_loop_through_forwarding_is_stopped(core: Services) -> None:
    looped = b"Delivered-To: bob@example.com\r\n" + message("loop")
    report = await core.delivery.deliver_local(looped, mail_from="a@example.net",
                                               recipients=[f"bob@{DOMAIN}"])
    assert report.reply().status == "5.4.6"
    many_hops = b"Received: from x by y; date\r\n" * 51 + message("hops")
    report = await core.delivery.deliver_local(many_hops, mail_from="a@example.net",
                                               recipients=[f"alice@{DOMAIN}"])
    assert report.reply().status == "5.4.6"
    assert inbox(core, "bob") == inbox(core, "alice") == []


async def test_refusals(core: Services) -> None:
    core.accounts.update(DOMAIN, "alice", enabled=False)
    delivery = core.delivery
    assert await delivery.check_recipient("x@elsewhere.example") == NOT_LOCAL
    assert (await delivery.check_recipient("not an address")).status == "5.1.3"
    assert await delivery.check_recipient(f"alice@{DOMAIN}") == MAILBOX_DISABLED
    report = await delivery.deliver_local(message(), mail_from="", single_reply=False,
                                          recipients=["x@elsewhere.example", f"nobody@{DOMAIN}",
                                                      f"alice@{DOMAIN}"])
    assert [o.reply for o in report.outcomes] == [NOT_LOCAL, NO_SUCH_USER, MAILBOX_DISABLED]
    assert report.reply().code == 554


async def test_concurrent_deliveries_to_one_folder(core: Services) -> None:
    raws = [message(f"n{i}") for i in range(60)]
    reports = await asyncio.gather(*(
        core.delivery.deliver_local(raw, mail_from="a@example.net", recipients=[f"bob@{DOMAIN}"])
        for raw in raws))
    assert all(r.ok for r in reports)
    stored = sorted(body_of(m) for m in inbox(core, "bob"))
    assert stored == sorted(raws)
    uids = core.mail.mailbox(DOMAIN, "bob").folder("INBOX").uids()
    assert uids == list(range(1, 61))


async def test_concurrent_deliveries_to_several_mailboxes_share_batches(core: Services) -> None:
    """Deliveries arriving together are stored in batches (one group commit per INBOX): each
    still gets its own outcome, and every copy lands once, in order per sender."""
    core.accounts.set_alias(DOMAIN, "both", "bob,alice")
    targets = [[f"bob@{DOMAIN}"], [f"alice@{DOMAIN}"], [f"both@{DOMAIN}"],
               [f"bob@{DOMAIN}", f"nobody@{DOMAIN}"]]
    raws = [message(f"n{i}") for i in range(40)]
    reports = await asyncio.gather(*(
        core.delivery.deliver_local(raw, mail_from="a@example.net",
                                    recipients=targets[i % 4], single_reply=False)
        for i, raw in enumerate(raws)))
    for i, report in enumerate(reports):
        assert report.outcomes[0].ok
        if i % 4 == 3:
            assert report.outcomes[1].reply == NO_SUCH_USER
    to_bob = [raw for i, raw in enumerate(raws) if i % 4 != 1]
    to_alice = [raw for i, raw in enumerate(raws) if i % 4 in (1, 2)]
    assert sorted(body_of(m) for m in inbox(core, "bob")) == sorted(to_bob)
    assert sorted(body_of(m) for m in inbox(core, "alice")) == sorted(to_alice)


def test_quota_is_decided_per_message_within_a_batch(core: Services) -> None:
    """A batch of messages for an almost full mailbox (what deliveries arriving together
    become): those that fit are delivered in order, the rest refused, never all-or-nothing;
    a message larger than the whole quota gets its own reply."""
    core.accounts.update(DOMAIN, "bob", quota_mb=1)
    core.mail.mailbox(DOMAIN, "bob").folder("INBOX").append(b"x" * (1024 * 1024 - 300_000))
    account = core.accounts.get(DOMAIN, "bob")
    batch = [b"y" * 100_000, b"z" * 2_000_000, b"y" * 100_000, b"y" * 100_001, b"y" * 99_000]
    replies = core.delivery._append_many(account, [(b, "INBOX", ()) for b in batch])
    assert replies == [DELIVERED, MESSAGE_OVER_QUOTA, DELIVERED, MAILBOX_FULL, DELIVERED]
    assert len(inbox(core, "bob")) == 4


async def test_partial_failure_is_taken_over(core: Services) -> None:
    """Alias to a full and a healthy mailbox: 250; the full one is retried from the queue."""
    core.accounts.set_alias(DOMAIN, "team", "bob,alice")
    core.accounts.update(DOMAIN, "bob", quota_mb=1)
    core.mail.mailbox(DOMAIN, "bob").folder("INBOX").append(b"x" * (1024 * 1024 + 1))
    raw = message("partial")
    report = await core.delivery.deliver_local(raw, mail_from="a@example.net",
                                               recipients=[f"team@{DOMAIN}"])
    assert report.ok
    assert report.outcomes[0].mailboxes == (f"alice@{DOMAIN}",)
    assert [body_of(m) for m in inbox(core, "alice")] == [raw]
    [queued] = core.queue.messages()
    assert [(leg.local, [r.address for r in leg.recipients]) for leg in queued.legs] == \
        [(True, [f"bob@{DOMAIN}"])]
    assert queued.mail_from == "a@example.net"
    # Room is made; the queue delivers it.
    core.accounts.update(DOMAIN, "bob", quota_mb=10)
    await core.queue.start()
    try:
        for _ in range(200):
            if len(inbox(core, "bob")) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await core.queue.stop()
    assert body_of(inbox(core, "bob")[1]) == raw
    assert core.queue.messages() == []


async def test_temporary_failure_of_every_recipient_is_the_reply(core: Services) -> None:
    core.accounts.update(DOMAIN, "bob", quota_mb=1)
    core.mail.mailbox(DOMAIN, "bob").folder("INBOX").append(b"x" * (1024 * 1024 + 1))
    report = await core.delivery.deliver_local(message(), mail_from="a@example.net",
                                               recipients=[f"bob@{DOMAIN}"])
    assert report.reply() == MAILBOX_FULL
    assert core.queue.messages() == []  # the client keeps the responsibility


async def test_external_forwards_are_queued(core: Services) -> None:
    core.accounts.set_alias(DOMAIN, "fwd", "alice,friend@elsewhere.example")
    raw = message("fwd")
    report = await core.delivery.deliver_local(raw, mail_from="a@example.net",
                                               recipients=[f"fwd@{DOMAIN}"])
    assert report.ok
    outcome = report.outcomes[0]
    assert outcome.mailboxes == (f"alice@{DOMAIN}",) and outcome.queue_id
    [queued] = core.queue.messages()
    assert queued.id == outcome.queue_id
    assert [(leg.domain, leg.local) for leg in queued.legs] == [("elsewhere.example", False)]
    assert core.queue.spool.read_message(queued.id) == raw


async def test_recipient_checks_follow_account_changes(core: Services) -> None:
    """RCPT answers are cached, but never across an account or alias change."""
    delivery = core.delivery
    carol = f"carol@{DOMAIN}"
    assert await delivery.check_recipient(carol) == NO_SUCH_USER
    core.accounts.create(DOMAIN, "carol", password_hash())
    assert (await delivery.check_recipient(carol)).ok
    core.accounts.update(DOMAIN, "carol", enabled=False)
    assert await delivery.check_recipient(carol) == MAILBOX_DISABLED
    core.accounts.set_alias(DOMAIN, "helpdesk", "bob")
    assert (await delivery.check_recipient(f"helpdesk@{DOMAIN}")).ok
    report = await delivery.deliver_local(message(), mail_from="", recipients=[carol])
    assert report.reply() == MAILBOX_DISABLED


def test_a_batch_reads_each_accounts_rules_and_generation_once(core: Services) -> None:
    """A delivery batch (what concurrent deliveries become) reads each account's rules once
    and the accounts' generation once, and applies them to every message of the batch; a
    rule added afterwards applies to the next batch."""
    from rmail.delivery.pipeline import _Job
    from rmail.mail.filters import parse_filter

    delivery = core.delivery
    store = delivery.rules.store
    store.add_filter(DOMAIN, "bob", lambda fid: parse_filter(
        {"query": {"subject": "flagged"}, "action": {"flag": True}}, filter_id=fid))
    reads: list[tuple[str, str]] = []
    generations: list[object] = []
    real_get, real_generation = store.get, core.accounts._read_generation

    def counted_get(domain: str, username: str) -> Any:
        reads.append((domain, username))
        return real_get(domain, username)

    def counted_generation() -> Any:
        generations.append(None)
        return real_generation()

    store.get = counted_get  # type: ignore[method-assign]
    core.accounts._read_generation = counted_generation  # type: ignore[method-assign]
    try:
        jobs = [_Job([f"bob@{DOMAIN}", f"alice@{DOMAIN}"], message(f"flagged {i}"), "a@x.example",
                     set()) for i in range(3)]
        stored = delivery._plan_and_store(jobs)
    finally:
        del store.get, core.accounts._read_generation
    assert all(reply == DELIVERED for _, replies, _ in stored for reply in replies.values())
    assert sorted(reads) == [(DOMAIN, "alice"), (DOMAIN, "bob")]
    assert len(generations) == 1
    bob = core.mail.mailbox(DOMAIN, "bob").folder("INBOX")
    assert [r.flags for r in bob.records(0, 10, newest_first=False)] == [("\\Flagged",)] * 3
    store.add_filter(DOMAIN, "alice", lambda fid: parse_filter(
        {"query": {"subject": "flagged"}, "action": {"flag": True}}, filter_id=fid))
    delivery._plan_and_store([_Job([f"alice@{DOMAIN}"], message("flagged 4"), "", set())])
    alice = core.mail.mailbox(DOMAIN, "alice").folder("INBOX")
    assert [bool(r.flags) for r in alice.records(0, 10, newest_first=False)] == \
        [False, False, False, True]
