"""POST /messages/send: composition, local delivery, Sent copy, Bcc, attachments, refusals."""

from __future__ import annotations

import base64
import email
from email import policy
from email.message import EmailMessage

import pytest

from tests.web.conftest import DOMAIN, Api


@pytest.fixture(autouse=True)
def needs_delivery(api: Api) -> None:
    assert api.services.delivery is not None, "services.delivery must be wired in"


async def inbox(api: Api, user: str, folder: str = "INBOX") -> list[EmailMessage]:
    listing = (await api.call("GET", f"/folders/{folder}/messages", user=user)).json()
    out = []
    for item in listing["messages"]:
        raw = (await api.call("GET", f"/folders/{folder}/messages/{item['uid']}",
                              user=user)).body
        out.append(email.message_from_bytes(raw, policy=policy.default))
    return out  # type: ignore[return-value]


async def test_send_to_local_user_with_sent_copy(api: Api) -> None:
    reply = await api.call("POST", "/messages/send", user="alice",
                           json={"to": ["bob@example.com"], "subject": "Hello",
                                 "body": "Message body."})
    assert reply.status == 200, reply.body
    result = reply.json()
    assert result["delivered"] == ["bob@example.com"]
    assert result["queued"] == [] and result["failed"] == []
    assert result["message_id"].startswith("<") and result["message_id"].endswith(">")
    (received,) = await inbox(api, "bob")
    assert received["From"] == f"alice@{DOMAIN}"
    assert received["To"] == "bob@example.com"
    assert received["Subject"] == "Hello"
    assert received["Message-ID"] == result["message_id"]
    assert received["Date"]
    assert received.get_content().strip() == "Message body."
    (copy,) = await inbox(api, "alice", "Sent")
    assert copy["Message-ID"] == result["message_id"]
    sent = (await api.call("GET", "/folders/Sent/messages", user="alice")).json()
    assert sent["messages"][0]["uid"] == result["sent_uid"]
    assert "\\Seen" in sent["messages"][0]["flags"]


async def test_cc_bcc_html_reply_and_attachments(api: Api) -> None:
    pdf = b"%PDF-1.4 not really"
    reply = await api.call("POST", "/messages/send", user="alice", json={
        "to": ["Bob <bob@example.com>"], "cc": ["admin@example.com"],
        "bcc": ["alice@example.com"], "subject": "Grüße", "body": "plain text",
        "html": "<p>html <b>text</b></p>", "in_reply_to": "<parent@example.org>",
        "references": ["<root@example.org>"],
        "attachments": [{"filename": "report.pdf", "content_type": "application/pdf",
                         "content": base64.b64encode(pdf).decode()}]})
    assert reply.status == 200, reply.body
    assert sorted(reply.json()["delivered"]) == ["admin@example.com", "alice@example.com",
                                                 "bob@example.com"]
    (msg,) = await inbox(api, "bob")
    assert msg["Subject"] == "Grüße"
    assert msg["Cc"] == "admin@example.com"
    assert "Bcc" not in msg
    assert msg["In-Reply-To"] == "<parent@example.org>"
    assert msg["References"] == "<root@example.org> <parent@example.org>"
    body = msg.get_body(("html",))
    assert body is not None and "<b>text</b>" in body.get_content()
    plain = msg.get_body(("plain",))
    assert plain is not None and plain.get_content().strip() == "plain text"
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "report.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == pdf
    listing = (await api.call("GET", "/folders/INBOX/messages", user="bob")).json()
    assert listing["messages"][0]["has_attachments"] is True
    # the Bcc recipient got it, and only the sender's Sent copy names them
    bcc_copy = [m for m in await inbox(api, "alice") if m["Subject"] == "Grüße"]
    assert bcc_copy and "Bcc" not in bcc_copy[0]
    (sent,) = await inbox(api, "alice", "Sent")
    assert sent["Bcc"] == "alice@example.com"


@pytest.mark.parametrize("body", [
    {},
    {"to": []},
    {"to": "bob@example.com"},
    {"to": ["not an address"]},
    {"to": ["a@example.com, b@example.com"]},
    {"to": ["bob@example.com"], "subject": "line\r\nBcc: evil@example.org"},
    {"to": ["bob@example.com"], "subject": 5},
    {"to": ["bob@example.com"], "in_reply_to": "no id"},
    {"to": ["bob@example.com"], "attachments": [{"filename": "a", "content": "!!"}]},
    {"to": ["bob@example.com"], "attachments": [{"filename": "a", "content": "",
                                                  "content_type": "nope"}]},
    {"to": ["bob@example.com"], "attachments": [{"filename": "../x", "content": ""}]},
    {"to": ["bob@example.com"], "attachments": "x"},
    {"to": ["bob@example.com"], "from": "admin@example.com"},
])
async def test_validation(api: Api, body: dict[str, object]) -> None:
    reply = await api.call("POST", "/messages/send", user="alice", json=body)
    assert reply.status == 400, (body, reply.body)
    assert reply.error
    assert await inbox(api, "bob") == []


async def test_oversized_message_is_413(make_api: object) -> None:
    api = await make_api(max_message_bytes=5000)  # type: ignore[operator]
    reply = await api.call("POST", "/messages/send", user="alice",
                           json={"to": ["bob@example.com"], "body": "x" * 6000})
    assert reply.status == 413


async def test_sender_checks_apply(api: Api) -> None:
    await api.call("PATCH", "/admin/users/alice", user="admin",
                   json={"submission_enabled": False})
    reply = await api.call("POST", "/messages/send", user="alice",
                           json={"to": ["bob@example.com"], "body": "x"})
    assert reply.status == 403
    assert reply.error
    assert await inbox(api, "bob") == []


async def test_unknown_local_recipient_is_refused(api: Api) -> None:
    reply = await api.call("POST", "/messages/send", user="alice",
                           json={"to": ["nobody@example.com"], "body": "x"})
    assert reply.status in (403, 400, 503)
    mixed = await api.call("POST", "/messages/send", user="alice",
                           json={"to": ["nobody@example.com", "bob@example.com"]})
    assert mixed.status == 200
    body = mixed.json()
    assert body["delivered"] == ["bob@example.com"]
    assert [f["recipient"] for f in body["failed"]] == ["nobody@example.com"]


async def test_remote_recipient_is_queued(api: Api) -> None:
    reply = await api.call("POST", "/messages/send", user="alice",
                           json={"to": ["carol@remote.test"], "body": "x"})
    assert reply.status == 200, reply.body
    assert reply.json()["queued"] == ["carol@remote.test"]


async def test_send_needs_auth(api: Api) -> None:
    assert (await api.call("POST", "/messages/send", json={"to": ["bob@example.com"]})
            ).status == 401
