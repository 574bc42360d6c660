"""The saved renderings behind `GET .../messages/{id}` and the webmail's body frame
(`rmail.store.rendercache`) over real HTTP: written on the first read, read by another
process, never serving an expunged message, rewritten when damaged or made by another
renderer, removed with the message and by `rmail check`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson

from rmail.store import rendercache
from rmail.store.check import check_store
from rmail.store.mailbox import Folder
from tests.web.conftest import DOMAIN, Api
from tests.web.mailapi.helpers import append, mailbox_id, message

REPO = Path(__file__).resolve().parents[3]


def big_html(tag: str) -> bytes:
    """An HTML mail above `rendercache.MIN_BYTES`, with a remote image, a cid: image and a
    script the sanitiser must take out."""
    rows = "".join(f'<tr><td style="color:#333">{tag} row {i}</td>'
                   f'<td><a href="https://example.com/{i}">link</a></td></tr>\n'
                   for i in range(1500))
    html = (f'<p>Logo <img src="cid:logo@x"> <img src="https://tracker.example/p.gif">'
            f"<script>alert(1)</script></p><table>{rows}</table>")
    from email.message import EmailMessage
    from email.policy import SMTP

    msg = EmailMessage(policy=SMTP)
    msg["From"], msg["To"], msg["Subject"] = "news@x.example", f"alice@{DOMAIN}", tag
    msg.set_content(f"{tag} plain version")
    msg.add_alternative(html, subtype="html")
    msg.get_payload()[1].add_related(b"\x89PNG fake", "image", "png", cid="<logo@x>")
    raw = msg.as_bytes()
    assert len(raw) > rendercache.MIN_BYTES
    return raw


def inbox(api: Api) -> Folder:
    return api.services.mail.mailbox(DOMAIN, "alice").folder("INBOX")


def saved(api: Api, uid: int, remote: bool = True) -> dict[str, object]:
    path = inbox(api).layout.render_file(uid, remote)
    doc = orjson.loads(path.read_bytes())
    assert isinstance(doc, dict)
    return doc


async def get(api: Api, uid: int) -> dict[str, object]:
    mid = await mailbox_id(api, "INBOX")
    reply = await api.call("GET", f"/users/me/mailboxes/{mid}/messages/{uid}", user="alice")
    assert reply.status == 200, reply.body
    data = reply.json()
    assert isinstance(data, dict)
    return data


async def test_first_read_saves_and_another_process_reads_it(api: Api) -> None:
    uid = await append(api, "alice", "INBOX", big_html("shared"))
    mid = await mailbox_id(api, "INBOX")
    first = await get(api, uid)
    html = first["html"][0]  # type: ignore[index]
    assert "<script" not in html and "tracker.example/p.gif" in html  # remote kept (API)
    link = f"/users/me/mailboxes/{mid}/messages/{uid}/attachments/ATT00001"
    assert f'src="{link}"' in html and "cid:" not in html.split("<a ")[0]
    assert first["text"] == "shared plain version"
    assert [h["key"] for h in first["headers"]][:3] == ["from", "to", "subject"]  # type: ignore
    doc = saved(api, uid)
    nonce = doc["rendered"]["nonce"]  # type: ignore[index]
    assert (await get(api, uid))["html"] == first["html"]  # from the file: same bytes out
    assert saved(api, uid)["rendered"]["nonce"] == nonce  # type: ignore[index]

    # Another process (as another worker would) reads the file rather than rendering again:
    # a fresh rendering would carry a new random nonce and rewrite the file.
    folder = inbox(api)
    script = ("import sys; from rmail.store.mailbox import MailStore; "
              "from rmail.store import rendercache; "
              f"f = MailStore(sys.argv[1]).mailbox({DOMAIN!r}, 'alice').folder('INBOX'); "
              f"print(rendercache.rendered(f, {uid}, allow_remote=True).nonce)")
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", script, str(api.config.mail_root)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == nonce
    assert saved(api, uid)["rendered"]["nonce"] == nonce  # type: ignore[index]
    # The user's address instead of `me`: the same rendering, other attachment links.
    other = await api.call("GET", f"/users/alice@{DOMAIN}/mailboxes/{mid}/messages/{uid}",
                           user="alice")
    assert f'src="/users/alice@{DOMAIN}/mailboxes/{mid}/messages/{uid}/attachments/ATT00001"' \
        in other.json()["html"][0]
    assert folder.layout.render_file(uid, True).exists()


async def test_expunged_message_is_never_served(api: Api) -> None:
    uid = await append(api, "alice", "INBOX", big_html("doomed"))
    mid = await mailbox_id(api, "INBOX")
    await get(api, uid)
    path = inbox(api).layout.render_file(uid, True)
    kept = path.read_bytes()
    reply = await api.call("DELETE", f"/users/me/mailboxes/{mid}/messages/{uid}", user="alice")
    assert reply.status == 200
    for _ in range(200):  # the server's reaper thread removes it with the message file
        if not path.exists():
            break
        await asyncio.sleep(0.05)
    assert not path.exists()
    path.write_bytes(kept)  # as if a crash had left it behind
    gone = await api.call("GET", f"/users/me/mailboxes/{mid}/messages/{uid}", user="alice")
    assert gone.status == 404
    report = await asyncio.to_thread(check_store, api.config.mail_root)
    assert any("rendering of a message not in the index" in line for line in report.lines)
    assert not path.exists()


async def test_damaged_or_foreign_files_are_rendered_again(api: Api) -> None:
    uid = await append(api, "alice", "INBOX", big_html("damaged"))
    good = await get(api, uid)
    path = inbox(api).layout.render_file(uid, True)
    doc = saved(api, uid)
    variants: list[bytes] = [
        b"", b"{not json", path.read_bytes()[:1000], b"[]",
        orjson.dumps({**doc, "renderer": "0/old-sanitiser"}),
        orjson.dumps({**doc, "version": 99}),
        orjson.dumps({**doc, "message": [1, 2, 3]}),
        orjson.dumps({**doc, "rendered": {**doc["rendered"],  # type: ignore[dict-item]
                                          "parts": ["<script>alert(1)</script>"],
                                          "nonce": "x"}}),
    ]
    for bad in variants:
        path.write_bytes(bad)
        again = await get(api, uid)
        assert again["html"] == good["html"] and again["text"] == good["text"], bad[:40]
        fresh = saved(api, uid)
        assert fresh["renderer"] == doc["renderer"] and fresh["message"] == doc["message"]


async def test_small_messages_are_not_saved(api: Api) -> None:
    uid = await append(api, "alice", "INBOX", message("small", html="<p>hi</p>"))
    data = await get(api, uid)
    assert data["html"][0].startswith("<p>hi</p>")  # type: ignore[index]
    assert not inbox(api).layout.render_file(uid, True).exists()


async def test_remote_variants_and_folder_delete(api: Api) -> None:
    """Remote content kept (the API) and dropped (the webmail's default) are two files; a
    deleted folder takes them with its directory."""
    reply = await api.call("POST", "/users/me/mailboxes", user="alice", json={"path": "News"})
    assert reply.status == 200, reply.body
    uid = await append(api, "alice", "News", big_html("variants"))
    folder = api.services.mail.mailbox(DOMAIN, "alice").folder("News")
    kept = await asyncio.to_thread(rendercache.rendered, folder, uid, allow_remote=True)
    dropped = await asyncio.to_thread(rendercache.rendered, folder, uid, allow_remote=False)
    assert (kept.blocked, dropped.blocked) == (0, 1)
    assert "tracker.example" in kept.parts[0] and "tracker.example" not in dropped.parts[0]
    assert kept.text == dropped.text == "variants plain version"
    paths = [folder.layout.render_file(uid, remote) for remote in (True, False)]
    assert all(p.exists() for p in paths)
    gone = await api.call("DELETE", f"/users/me/mailboxes/{reply.json()['id']}", user="alice")
    assert gone.status == 200, gone.body
    assert not any(p.exists() for p in paths)
