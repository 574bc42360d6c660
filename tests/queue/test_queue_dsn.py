"""RFC 3464 reports, parsed back with the stdlib."""

from __future__ import annotations

import email
import email.policy

from rmail.delivery.replies import Reply
from rmail.queue.dsn import DsnRecipient, build_dsn

ORIGINAL = b"From: a@example.com\r\nSubject: hi\r\n\r\n" + b"big body\r\n" * 1000


def test_report_structure() -> None:
    raw = build_dsn(hostname="mx.example.com", sender="a@example.com", original=ORIGINAL,
                    recipients=[DsnRecipient("b@x.test", Reply(550, "5.1.1", "no such user"),
                                             "mx.x.test"),
                                DsnRecipient("c@x.test", Reply(451, "4.4.7", "expired"))],
                    queue_id="q1", arrival=0.0, now=100.0)
    assert b"\n" not in raw.replace(b"\r\n", b"")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == "a@example.com"
    assert msg["From"].addresses[0].addr_spec == "MAILER-DAEMON@mx.example.com"
    assert msg.get_content_type() == "multipart/report"
    human, status, headers = msg.get_payload()
    text = status.as_bytes().decode()
    blocks = text.split("\n\n")
    assert "Reporting-MTA: dns; mx.example.com" in text and "X-Rmail-Queue-ID: q1" in text
    assert "Final-Recipient: rfc822; b@x.test" in text and "Status: 5.1.1" in text
    assert "Remote-MTA: dns; mx.x.test" in text
    assert "Final-Recipient: rfc822; c@x.test" in text and "Status: 4.4.7" in text
    assert len(blocks) >= 3
    assert headers.get_content_type() == "text/rfc822-headers"
    assert b"big body" not in raw  # only the header section goes back
    assert "b@x.test" in human.get_content()


def test_internationalised_recipient() -> None:
    raw = build_dsn(hostname="mx.example.com", sender="a@example.com", original=ORIGINAL,
                    recipients=[DsnRecipient("jörg@x.test", Reply(550, "5.1.1", "unknown"))])
    assert b"message/global-delivery-status" in raw
    assert "Final-Recipient: utf-8; jörg@x.test".encode() in raw
