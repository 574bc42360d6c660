"""Send iMIP messages produced by `rmail.ical.itip` as the organizer (or replying attendee).

Through `services.delivery.submit` when the delivery pipeline is there: local attendees are
delivered at once, remote ones queued. When the pipeline does not import iTIP itself
(`Delivery.imports_itip` absent), local recipients' calendars are updated here, so two local
users can schedule with each other either way.
"""

from __future__ import annotations

import logging
from typing import Any

from rmail.auth import Principal
from rmail.ical.itip import Outgoing
from rmail.scheduling.imip import import_itip, local_owner

log = logging.getLogger("rmail.scheduling.send")


async def send_all(services: Any, messages: list[Outgoing]) -> None:
    for out in messages:
        try:
            await send_one(services, out)
        except Exception:
            log.exception("sending iMIP %s from %s failed", out.method, out.sender)


async def send_one(services: Any, out: Outgoing) -> None:
    delivery = getattr(services, "delivery", None)
    owner = local_owner(services, out.sender)
    if delivery is not None and owner is not None:
        account = await services.run(services.accounts.get, *owner)
        await delivery.submit(out.message, principal=Principal(account), mail_from=out.sender,
                              recipients=list(out.recipients))
        if getattr(delivery, "imports_itip", False):
            return
        local = [r for r in out.recipients if local_owner(services, r) is not None]
    else:
        local = [r for r in out.recipients if local_owner(services, r) is not None]
        for rcpt in local:
            domain, username = local_owner(services, rcpt) or ("", "")
            mailbox = services.mail.mailbox(domain, username)
            await services.run(mailbox.folder("INBOX").append, out.message)
    for rcpt in local:
        await services.run(import_itip, services, rcpt, out.message)
