"""Shared by the `/users/{user}/...` mail API tests: messages to store and quick lookups."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

from tests.web.conftest import Api
from tests.web.test_folders import append

__all__ = ["append", "mailbox_id", "mailboxes", "message"]

def message(subject: str = "Hello", body: str = "Hi there.\n", *, attach: bool = False,
            html: str | None = None, msgid: str | None = None,
            references: str | None = None) -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Carol Example <carol@remote.test>"
    msg["To"] = "Alice <alice@example.com>"
    msg["Cc"] = "bob@example.com"
    msg["Subject"] = subject
    msg["Date"] = "Sun, 13 Apr 2025 14:30:00 +0200"
    msg["Message-ID"] = msgid or f"<{abs(hash(subject))}@remote.test>"
    if references:
        msg["In-Reply-To"] = references.split()[-1]
        msg["References"] = references
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if attach:
        msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf",
                           filename="report.pdf")
    return msg.as_bytes()


async def mailboxes(api: Api, user: str = "alice", who: str = "me") -> dict[str, Any]:
    """path -> mailbox item."""
    reply = await api.call("GET", f"/users/{who}/mailboxes?counters=true", user=user)
    assert reply.status == 200, reply.body
    data = reply.json()
    assert data["success"] is True
    return {m["path"]: m for m in data["results"]}


async def mailbox_id(api: Api, path: str, user: str = "alice") -> str:
    return str((await mailboxes(api, user))[path]["id"])
