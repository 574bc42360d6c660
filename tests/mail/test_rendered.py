"""`rmail.mail.rendered` on bytes alone: cid: placeholders filled per caller, one sanitiser
pass shared by body and text, remote content variants, and the checked round trip through
the saved document."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

import pytest

from rmail.mail.parse import parse_message
from rmail.mail.rendered import Rendered, render_message


def sample(extra: str = "") -> bytes:
    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = "a@x.example", "b@y.example", "Pic"
    msg.set_content("plain twin")
    msg.add_alternative(f'<p>Logo <img src="cid:logo@x"> <img src="https://t.example/p.gif">'
                        f"<script>bad()</script>{extra}</p>", subtype="html")
    msg.get_payload()[1].add_related(b"\x89PNG fake", "image", "png", cid="<logo@x>")
    return msg.as_bytes()


def test_placeholders_become_each_callers_urls() -> None:
    raw = sample()
    r = render_message(raw, parse_message(raw), allow_remote=True)
    assert r.cids == (0,) and "<script" not in r.parts[0]
    assert f"cid:{r.nonce}x00000" in r.parts[0]
    [html] = r.html(lambda i: f"/a/{i}?x=1&y=2")
    assert '<img src="/a/0?x=1&amp;y=2">' in html and r.nonce not in html
    assert r.html(lambda i: "/other")[0].count("/other") == 1
    assert r.text == "plain twin" and r.blocked == 0
    assert [a["id"] for a in r.attachments] == ["ATT00001"]


def test_a_message_cannot_spell_a_placeholder() -> None:
    raw = sample('<a href="cid:00000000000000000000000000000000x00000">x</a>')
    r = render_message(raw, parse_message(raw), allow_remote=True)
    [html] = r.html(lambda i: "/mine")
    assert "cid:00000000000000000000000000000000x00000" in html
    assert html.count("/mine") == 1
    assert render_message(raw, parse_message(raw), allow_remote=True).nonce != r.nonce


def test_remote_dropped_and_html_only_text() -> None:
    raw = (b"From: a@x\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n"
           b'<p>Hello <b>there</b><img src="https://t.example/p.gif"></p>\r\n')
    r = render_message(raw, parse_message(raw), allow_remote=False)
    assert r.blocked == 1 and "t.example" not in r.parts[0]
    assert r.text == "Hello there" and not r.allow_remote


def test_saved_document_round_trip_and_checks() -> None:
    raw = sample()
    r = render_message(raw, parse_message(raw), allow_remote=True)
    assert Rendered.from_doc(r.to_doc()) == r
    doc = r.to_doc()
    for bad in (None, [], {**doc, "nonce": "short"}, {**doc, "parts": [1]},
                {**doc, "cids": [-1]}, {**doc, "cids": [True]}, {**doc, "blocked": "1"},
                {**doc, "allowRemote": 1}, {**doc, "headers": ["x"]},
                {k: v for k, v in doc.items() if k != "text"}):
        with pytest.raises(ValueError):
            Rendered.from_doc(bad)
