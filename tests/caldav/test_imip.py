"""iMIP between two local users, end to end through CalDAV and the delivery pipeline:
REQUEST on PUT, REPLY when the attendee accepts, PARTSTAT updated in the organizer's copy,
CANCEL on DELETE; and the pure iTIP builders."""

from __future__ import annotations

import asyncio
import email
import email.policy

from rmail.ical import itip
from rmail.ical.parse import parse_object
from rmail.store.calendars import CalendarStore
from tests.caldav.conftest import event

MEETING = event("meet-1", start="20300105T100000Z", end="20300105T110000Z", summary="Plan",
                extra="ORGANIZER;CN=Alice:mailto:alice@example.com\r\n"
                      "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.com\r\n"
                      "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.com\r\n"
                      "SEQUENCE:0")


async def wait_for(check, timeout: float = 60.0):
    """Poll `check` (a blocking callable) until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.1)


def read_object(services, user: str, uid: str) -> bytes | None:
    home = CalendarStore(services.config.mail_root).home("example.com", user)
    found = home.find_uid(uid)
    if found is None:
        return None
    return home.get(found[0]).read(found[1])


def inbox_subjects(services, user: str) -> list[str]:
    folder = services.mail.mailbox("example.com", user).folder("INBOX")
    subjects = []
    for uid in folder.uids():
        msg = email.message_from_bytes(folder.read_message(uid), policy=email.policy.default)
        subjects.append(str(msg["Subject"]))
    return subjects


async def test_invitation_reply_cancel_between_local_users(dav, services) -> None:
    bob = dav.as_user("bob")
    await bob.propfind(bob.home)  # bob's calendars exist (first use)
    r = await dav.put(dav.cal() + "meet-1.ics", MEETING)
    assert r.status == 201

    # REQUEST: bob gets the mail and the event in his Schedule-Inbox
    got = await wait_for(lambda: read_object(services, "bob", "meet-1"))
    assert got is not None and b"SUMMARY:Plan" in got
    assert any(s.startswith("Invitation: Plan") for s in inbox_subjects(services, "bob"))
    assert b"METHOD" not in got

    # bob accepts in his client: PUT of his copy with PARTSTAT=ACCEPTED → REPLY to alice
    accepted = got.replace(b"PARTSTAT=NEEDS-ACTION;RSVP=TRUE", b"PARTSTAT=ACCEPTED")
    r = await bob.request("PUT", bob.cal("Schedule-Inbox") + "meet-1.ics", accepted,
                          {"Content-Type": "text/calendar"})
    assert r.status == 204, r.text

    def alice_sees_accept() -> bool:
        data = read_object(services, "alice", "meet-1") or b""
        obj = parse_object(data)
        att = itip.attendees_of(obj.master)["bob@example.com"]
        return att.params.get("PARTSTAT") == "ACCEPTED"

    assert await wait_for(alice_sees_accept)
    # the organizer's copy changed only in PARTSTAT: no new REQUEST went out
    await asyncio.sleep(0.2)
    assert sum(s.startswith("Invitation") for s in inbox_subjects(services, "bob")) == 1

    # alice cancels: DELETE → CANCEL → bob's copy is marked cancelled
    r = await dav.request("DELETE", dav.cal() + "meet-1.ics")
    assert r.status == 204

    def bob_cancelled() -> bool:
        return b"STATUS:CANCELLED" in (read_object(services, "bob", "meet-1") or b"")

    assert await wait_for(bob_cancelled)


async def test_removed_attendee_gets_cancel_and_update_gets_request(dav, services) -> None:
    await dav.as_user("bob").propfind("/caldav/bob/calendars/")
    assert (await dav.put(dav.cal() + "meet-1.ics", MEETING)).status == 201
    assert await wait_for(lambda: read_object(services, "bob", "meet-1"))
    moved = MEETING.replace("20300105T100000Z", "20300106T100000Z").replace(
        "SEQUENCE:0", "SEQUENCE:1")
    assert (await dav.put(dav.cal() + "meet-1.ics", moved)).status == 204
    assert await wait_for(lambda: b"20300106T100000Z" in (
        read_object(services, "bob", "meet-1") or b""))
    without_bob = "\r\n".join(line for line in moved.split("\r\n") if "bob@" not in line)
    assert (await dav.put(dav.cal() + "meet-1.ics", without_bob)).status == 204
    assert await wait_for(lambda: b"STATUS:CANCELLED" in (
        read_object(services, "bob", "meet-1") or b""))


def test_itip_builders_are_pure() -> None:
    new = parse_object(MEETING)
    own = {"alice@example.com"}
    out = itip.messages_for_change(None, new, own)
    assert [(o.method, o.recipients) for o in out] == [("REQUEST", ("bob@example.com",))]
    msg = email.message_from_bytes(out[0].message, policy=email.policy.default)
    part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REQUEST"
    assert "METHOD:REQUEST" in part.get_content()
    # no change → nothing; deletion → CANCEL
    assert itip.messages_for_change(new, parse_object(MEETING), own) == []
    assert [o.method for o in itip.messages_for_change(new, None, own)] == ["CANCEL"]
    # an attendee's PARTSTAT change → REPLY to the organizer
    accepted = parse_object(MEETING.replace("PARTSTAT=NEEDS-ACTION;RSVP=TRUE",
                                            "PARTSTAT=DECLINED"))
    reply = itip.messages_for_change(new, accepted, {"bob@example.com"})
    assert [(o.method, o.recipients) for o in reply] == [("REPLY", ("alice@example.com",))]
    assert b"Declined: Plan" in reply[0].message
    # events without attendees or organizer: nothing to send
    assert itip.messages_for_change(None, parse_object(event("x")), own) == []


async def test_remote_attendee_is_queued(dav, services) -> None:
    """An attendee of another domain gets the REQUEST through the outbound queue (the queue
    worker is not running in this test, so the message stays spooled)."""
    body = MEETING.replace("mailto:bob@example.com", "mailto:carol@remote.example")
    assert (await dav.put(dav.cal() + "meet-1.ics", body)).status == 201
    spool = services.queue.spool

    def queued() -> list[bytes]:
        return [spool.read_message(qid) for qid in spool.ids()]

    messages = await wait_for(queued)
    assert messages and any(b"METHOD:REQUEST" in m.replace(b"\r\n ", b"") for m in messages)
