"""`/users/{user}/mailboxes[/{mailbox}]` over real HTTP: shapes, create/rename/delete rules,
stable ids, who may see whose mailboxes, bad input."""

from __future__ import annotations

import io

from tests.web.conftest import Api
from tests.web.mailapi.helpers import append, mailbox_id, mailboxes, message

FIELDS = {"id", "name", "path", "specialUse", "modifyIndex", "subscribed"}


async def test_list_shapes_and_counters(api: Api) -> None:
    plain = await api.call("GET", "/users/me/mailboxes", user="alice")
    assert plain.status == 200
    results = plain.json()["results"]
    assert results[0]["path"] == "INBOX"
    assert {m["path"] for m in results} == {"INBOX", "Drafts", "Sent", "Trash", "Junk",
                                            "Archive"}
    for m in results:
        assert set(m) == FIELDS
        assert m["id"].startswith("F") and len(m["id"]) == 25
    assert {m["path"]: m["specialUse"] for m in results}["Sent"] == "\\Sent"
    await append(api, "alice", "INBOX", message("one"))
    await append(api, "alice", "INBOX", message("two"), "?flags=%5CSeen")
    inbox = (await mailboxes(api))["INBOX"]
    assert set(inbox) == FIELDS | {"total", "unseen", "size"}
    assert (inbox["total"], inbox["unseen"]) == (2, 1)
    assert inbox["size"] > 0 and inbox["modifyIndex"] >= 2
    # by address too, and the same ids
    by_address = await mailboxes(api, "alice", "alice@example.com")
    assert by_address["INBOX"]["id"] == inbox["id"]


async def test_create_nested_rename_keeps_id_delete(api: Api) -> None:
    created = await api.call("POST", "/users/me/mailboxes", user="alice",
                             json={"path": "Work/Clients/ACME"})
    assert created.status == 200, created.body
    mid = created.json()["id"]
    boxes = await mailboxes(api)
    assert {"Work", "Work/Clients", "Work/Clients/ACME"} <= set(boxes)
    assert boxes["Work/Clients/ACME"]["name"] == "ACME"
    assert boxes["Work/Clients/ACME"]["subscribed"] is True
    again = await api.call("POST", "/users/me/mailboxes", user="alice",
                           json={"path": "Work/Clients/ACME"})
    assert again.status == 409 and again.error
    one = await api.call("GET", f"/users/me/mailboxes/{mid}", user="alice")
    assert one.status == 200 and one.json()["path"] == "Work/Clients/ACME"
    assert one.json()["total"] == 0
    renamed = await api.call("PUT", f"/users/me/mailboxes/{mid}", user="alice",
                             json={"path": "Customers/ACME", "subscribed": False})
    assert renamed.status == 200 and renamed.json() == {"success": True}
    one = (await api.call("GET", f"/users/me/mailboxes/{mid}", user="alice")).json()
    assert (one["id"], one["path"], one["subscribed"]) == (mid, "Customers/ACME", False)
    deleted = await api.call("DELETE", f"/users/me/mailboxes/{mid}", user="alice")
    assert deleted.status == 200 and deleted.json() == {"success": True}
    gone = await api.call("GET", f"/users/me/mailboxes/{mid}", user="alice")
    assert gone.status == 404 and gone.error
    # a folder made again under the same path gets a new id
    remade = await api.call("POST", "/users/me/mailboxes", user="alice",
                            json={"path": "Customers/ACME"})
    assert remade.json()["id"] != mid


async def test_inbox_and_special_use_rules(api: Api) -> None:
    boxes = await mailboxes(api)
    inbox, trash = boxes["INBOX"]["id"], boxes["Trash"]["id"]
    for method, body in (("PUT", {"path": "Old"}), ("DELETE", None)):
        reply = await api.call(method, f"/users/me/mailboxes/{inbox}", user="alice",
                               **({"json": body} if body else {}))
        assert reply.status == 409 and reply.error
    reply = await api.call("DELETE", f"/users/me/mailboxes/{trash}", user="alice")
    assert reply.status == 409 and "cannot be deleted" in reply.error
    # renaming a special-use folder is allowed and keeps its role
    reply = await api.call("PUT", f"/users/me/mailboxes/{trash}", user="alice",
                           json={"path": "Bin"})
    assert reply.status == 200
    assert (await mailboxes(api))["Bin"]["specialUse"] == "\\Trash"
    # INBOX subscription may change
    reply = await api.call("PUT", f"/users/me/mailboxes/{inbox}", user="alice",
                           json={"subscribed": True})
    assert reply.status == 200


async def test_scope_and_auth(api: Api) -> None:
    inbox = await mailbox_id(api, "INBOX", "alice")
    assert (await api.call("GET", "/users/me/mailboxes")).status == 401
    other = await api.call("GET", "/users/alice@example.com/mailboxes", user="bob")
    assert other.status == 403 and other.error
    # bob cannot reach alice's mailbox through his own account either
    assert (await api.call("GET", f"/users/me/mailboxes/{inbox}", user="bob")).status == 404
    admin = await api.call("GET", "/users/alice@example.com/mailboxes", user="admin")
    assert admin.status == 200
    missing = await api.call("GET", "/users/nobody@example.com/mailboxes", user="admin")
    assert missing.status == 404 and missing.error
    bad = await api.call("GET", "/users/not-an-address/mailboxes", user="admin")
    assert bad.status == 400 and bad.error


async def test_bad_input(api: Api) -> None:
    inbox = await mailbox_id(api, "INBOX")
    cases = [
        ("POST", "/users/me/mailboxes", {"path": "../x"}),
        ("POST", "/users/me/mailboxes", {"path": 5}),
        ("POST", "/users/me/mailboxes", {"nope": "x"}),
        ("POST", "/users/me/mailboxes", {}),
        ("PUT", f"/users/me/mailboxes/{inbox}", {"subscribed": "yes"}),
    ]
    for method, path, body in cases:
        reply = await api.call(method, path, user="alice", json=body)
        assert reply.status == 400, (path, body, reply.body)
        assert reply.error
    reply = await api.call("POST", "/users/me/mailboxes", user="alice", data=b"{",
                           headers={"Content-Type": "application/json"})
    assert reply.status == 400
    huge = await api.call("POST", "/users/me/mailboxes", user="alice",
                          data=io.BytesIO(b'{"path": "' + b"a" * (2 * 1024 * 1024) + b'"}'),
                          headers={"Content-Type": "application/json"})
    assert huge.status == 413
    assert (await api.call("GET", "/users/me/mailboxes?counters=maybe",
                           user="alice")).status == 400
    assert (await api.call("GET", "/users/me/mailboxes/Fzz", user="alice")).status == 404
    assert (await api.call("GET", "/users/me/mailboxes/" + "F" + "0" * 24,
                           user="alice")).status == 404
