"""What happened to each recipient of one message."""

from __future__ import annotations

from dataclasses import dataclass

from rmail.delivery.replies import DELIVERED, QUEUED, Reply

__all__ = ["DeliveryReport", "Outcome", "SubmissionRefused"]


class SubmissionRefused(Exception):
    """The whole submission is refused before anything is delivered (submission disabled,
    sender not allowed, daily limit reached...). ``reply`` says why."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Outcome:
    """One recipient as the client gave it. ``reply.ok`` means rmail took responsibility:
    the message is in every mailbox it resolves to, or durably queued for the rest."""

    recipient: str
    reply: Reply
    mailboxes: tuple[str, ...] = ()   # local addresses (user@domain) it was stored for
    queue_id: str | None = None       # set when some of it went to the outbound queue

    @property
    def ok(self) -> bool:
        return self.reply.ok


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Per-recipient outcomes, in the order the recipients were given."""

    outcomes: tuple[Outcome, ...]

    @property
    def ok(self) -> bool:
        """Every recipient accepted."""
        return all(o.ok for o in self.outcomes)

    @property
    def accepted(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.ok)

    @property
    def refused(self) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    def reply(self) -> Reply:
        """One reply for protocols with one reply per message (SMTP DATA, the JSON API).

        Any accepted recipient makes it a success: failures of the others were then handed to
        the queue (retry) or bounced (see `Delivery`). With none accepted, a temporary failure
        wins over a permanent one, since a retry may succeed.
        """
        if not self.outcomes:
            return DELIVERED
        if any(o.ok for o in self.outcomes):
            queued = [o.queue_id for o in self.outcomes if o.queue_id]
            if queued and all(o.queue_id for o in self.outcomes if o.ok):
                return QUEUED.but(f"Queued as {queued[0]}")
            return DELIVERED
        for o in self.outcomes:
            if o.reply.temporary:
                return o.reply
        return self.outcomes[0].reply

    def get(self, recipient: str) -> Outcome | None:
        for o in self.outcomes:
            if o.recipient == recipient:
                return o
        return None
