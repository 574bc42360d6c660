"""Local delivery and submission: the one pipeline every front end delivers mail through.

Reach it as ``services.delivery`` (`rmail.services.Services`). All entry points are
coroutines; none blocks the event loop, and each returns only after what it reports as
delivered is durable (fsynced message and index entry) or durably queued.

Receiving (MX, LMTP, importing into INBOX)::

    report = await delivery.deliver_local(raw, mail_from="a@example.net",
                                          recipients=["bob@example.com"],
                                          received=delivery.received(protocol="ESMTP", ...))
    report.reply()            # one Reply for the whole message (SMTP DATA, an HTTP status)
    report.outcomes           # one Outcome per recipient (LMTP, per-recipient API results)

Sending as a logged-in user (submission, ``POST /messages/send``, webmail)::

    try:
        report = await delivery.submit(raw, principal=principal, mail_from=principal.address,
                                       recipients=["carol@example.org", "bob@example.com"])
    except SubmissionRefused as exc:
        exc.reply             # e.g. 553 5.7.1 Sender address is not one of yours

Local recipients are delivered at once; remote ones are queued (DKIM-signed) and delivered by
`rmail.queue`. ``Reply`` carries ``code``, ``status`` (RFC 3463) and ``text``; ``reply.ok``,
``.temporary`` and ``.permanent`` classify it. RCPT-time checks for front ends that talk to a
client recipient by recipient: `Delivery.check_recipient`, `Delivery.check_sender`,
`Delivery.check_submission_recipient`.
"""

from rmail.delivery.outcome import DeliveryReport, Outcome, SubmissionRefused
from rmail.delivery.pipeline import Delivery
from rmail.delivery.replies import Reply

__all__ = ["Delivery", "DeliveryReport", "Outcome", "Reply", "SubmissionRefused"]
