"""The change bus: delivery on the subscriber's loop, from the loop and from other threads."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from rmail.store.accounts import Accounts
from rmail.store.events import Change, EventBus, Subscription
from rmail.store.mailbox import MailStore

from .conftest import DOMAIN, USER, message

CHANGE = Change(DOMAIN, USER, "append", "1", 5, (3, 4))


async def test_publish_on_the_loop_is_delivered_at_once() -> None:
    bus = EventBus()
    sub = bus.subscribe(DOMAIN, USER)
    bus.publish(CHANGE)
    assert sub.queue.qsize() == 1
    assert await sub.get(timeout=1) == CHANGE


async def test_publish_from_another_thread() -> None:
    bus = EventBus()
    sub = bus.subscribe(DOMAIN, USER)
    thread = threading.Thread(target=bus.publish, args=(CHANGE,))
    thread.start()
    thread.join()
    assert await sub.get(timeout=5) == CHANGE


async def test_publish_is_per_user() -> None:
    bus = EventBus()
    mine, theirs = bus.subscribe(DOMAIN, USER), bus.subscribe(DOMAIN, "bob")
    also_mine = bus.subscribe(DOMAIN, USER)
    bus.publish(CHANGE)
    assert await mine.get(timeout=1) == CHANGE
    assert await also_mine.get(timeout=1) == CHANGE
    assert await theirs.get(timeout=0.01) is None


async def test_interest_is_announced_at_the_first_and_last_subscriber() -> None:
    bus = EventBus()
    said: list[tuple[tuple[str, str], bool, float]] = []
    bus.interest = lambda key, on, when: said.append((key, on, when))
    before = time.monotonic()
    first = bus.subscribe(DOMAIN, USER)
    second = bus.subscribe(DOMAIN, USER)
    other = bus.subscribe(DOMAIN, "bob")
    assert [(key, on) for key, on, _ in said] == [((DOMAIN, USER), True), ((DOMAIN, "bob"), True)]
    assert before <= said[0][2] <= time.monotonic()  # when it was made: a late relay replays
    assert set(bus.followed()) == {(DOMAIN, "bob"), (DOMAIN, USER)}
    first.close()
    assert len(said) == 2  # alice still has a subscriber
    second.close()
    second.close()  # twice: said once
    other.close()
    assert [(key, on) for key, on, _ in said[2:]] == [((DOMAIN, USER), False),
                                                      ((DOMAIN, "bob"), False)]
    assert bus.followed() == []


async def test_overflow_sets_flag_and_keeps_oldest() -> None:
    bus = EventBus()
    sub = bus.subscribe(DOMAIN, USER, maxsize=2)
    changes = [Change(DOMAIN, USER, "flags", "1", m) for m in (1, 2, 3)]
    for change in changes:
        bus.publish(change)
    assert sub.overflowed
    assert [await sub.get(timeout=1), await sub.get(timeout=1)] == changes[:2]


async def test_close_and_context_manager() -> None:
    bus = EventBus()
    sub = bus.subscribe(DOMAIN, USER)
    with bus.subscribe(DOMAIN, USER) as other:
        assert isinstance(other, Subscription)
        assert bus.subscriber_count() == 2
    assert bus.subscriber_count() == 1
    sub.close()
    sub.close()  # twice is harmless
    assert bus.subscriber_count() == 0
    bus.publish(CHANGE)
    assert sub.queue.empty() and other.queue.empty()


def test_publish_to_a_closed_loop_never_raises_and_drops_the_subscriber() -> None:
    """The store publishes after its commit: an error here would report a committed write as
    failed. A subscriber whose loop is gone is dropped, so it does not leak."""
    bus = EventBus()

    async def subscribe() -> Subscription:
        return bus.subscribe(DOMAIN, USER)

    loop = asyncio.new_event_loop()
    sub = loop.run_until_complete(subscribe())
    loop.close()
    bus.publish(CHANGE)
    assert sub.queue.empty()
    assert bus.subscriber_count() == 0


def test_store_write_succeeds_when_a_subscriber_loop_closed(mail_root: Path) -> None:
    Accounts(mail_root).create(DOMAIN, USER, "h")
    bus = EventBus()

    async def subscribe() -> Subscription:
        return bus.subscribe(DOMAIN, USER)

    loop = asyncio.new_event_loop()
    loop.run_until_complete(subscribe())
    loop.close()
    inbox = MailStore(mail_root, events=bus).mailbox(DOMAIN, USER).folder("INBOX")
    assert inbox.append(message(1)).uid == 1


async def test_store_publishes_committed_changes(mail_root: Path) -> None:
    Accounts(mail_root).create(DOMAIN, USER, "h")
    bus = EventBus()
    store = MailStore(mail_root, events=bus)
    mb = store.mailbox(DOMAIN, USER)
    inbox = mb.folder("INBOX")
    sub = bus.subscribe(DOMAIN, USER)
    await asyncio.to_thread(inbox.append_many, [(message(1), [], None), (message(2), [], None)])
    assert await sub.get(timeout=5) == Change(DOMAIN, USER, "append", inbox.id, 2, (1, 2))
    await asyncio.to_thread(inbox.store_flags, [2], "add", ["\\Seen"])
    assert await sub.get(timeout=5) == Change(DOMAIN, USER, "flags", inbox.id, 3, (2,))
    inbox.store_flags([2], "add", ["\\Seen"])  # nothing changes: nothing published
    inbox.expunge([1])
    assert await sub.get(timeout=5) == Change(DOMAIN, USER, "expunge", inbox.id, 4, (1,))
    mb.create_folder("New")
    assert await sub.get(timeout=5) == Change(DOMAIN, USER, "folders")
    assert sub.queue.empty()
