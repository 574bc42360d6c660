"""The outbound queue: durable spool, delivery worker with retries, routing (static routes,
smarthost, MX), DSNs and DKIM signing.

Reach it as ``services.queue`` (`OutboundQueue`): ``await queue.enqueue(raw, mail_from=...,
recipients=[...])`` returns a queue id once the message is durable; the worker (started with
the server) delivers it. ``rmail queue list|retry|delete`` manage the spool from the shell.
"""

from rmail.queue.worker import OutboundQueue

__all__ = ["OutboundQueue"]
