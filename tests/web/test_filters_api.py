"""`/users/{user}/filters...`, the forwarding fields of `PUT /users/{user}` and
`POST /users/{user}/quota/reset` over real HTTPS: shapes, scope, bad input, concurrent
writers, dry-run and apply; a filter written over HTTP applies to the next delivery."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from tests.web.conftest import DOMAIN, Api, MakeApi

ALICE = f"alice@{DOMAIN}"


def mailbox_id(api: Api, user: str, name: str) -> str:
    return api.services.mail.mailbox(DOMAIN, user).folder(name).mailbox_id()


async def deliver(api: Api, user: str, subject: str, body: str = "hello") -> None:
    raw = (f"From: sender@example.net\r\nTo: {user}@{DOMAIN}\r\nSubject: {subject}\r\n\r\n"
           f"{body}\r\n").encode()
    report = await api.services.delivery.deliver_local(
        raw, mail_from="sender@example.net", recipients=[f"{user}@{DOMAIN}"])
    assert report.ok


def subjects(api: Api, user: str, folder: str) -> list[str]:
    f = api.services.mail.mailbox(DOMAIN, user).folder(folder)
    out = []
    for uid in f.uids():
        raw = f.read_message(uid)
        line = next(ln for ln in raw.split(b"\r\n") if ln.startswith(b"Subject: "))
        out.append(line[9:].decode())
    return out


async def test_crud_round_trip(api: Api) -> None:
    archive = mailbox_id(api, "alice", "Archive")
    body = {"name": "invoices", "query": {"subject": "invoice", "size": 10},
            "action": {"mailbox": archive, "seen": True}}
    created = await api.call("POST", "/users/me/filters", user="alice", json=body)
    assert created.status == 201, created.body
    doc = created.json()
    assert doc["success"] is True and len(doc["id"]) == 24
    fid = doc["id"]
    assert doc["filter"]["query"] == body["query"] and doc["filter"]["action"] == body["action"]

    listed = (await api.call("GET", f"/users/{ALICE}/filters", user="alice")).json()
    assert listed["success"] is True and [f["id"] for f in listed["results"]] == [fid]
    one = (await api.call("GET", f"/users/me/filters/{fid}", user="alice")).json()
    assert one["name"] == "invoices" and one["disabled"] is False and one["created"]

    changed = await api.call("PUT", f"/users/me/filters/{fid}", user="alice",
                             json={"disabled": True, "action": {"flag": True}})
    assert changed.status == 200, changed.body
    assert changed.json()["filter"]["action"] == {"flag": True}
    assert changed.json()["filter"]["query"] == body["query"]  # untouched

    second = (await api.call("POST", "/users/me/filters", user="alice",
                             json={"query": {}, "action": {"seen": True}})).json()["id"]
    order = [f["id"] for f in (await api.call("GET", "/users/me/filters",
                                              user="alice")).json()["results"]]
    assert order == [fid, second]

    gone = await api.call("DELETE", f"/users/me/filters/{fid}", user="alice")
    assert gone.status == 200 and gone.json() == {"success": True}
    assert (await api.call("GET", f"/users/me/filters/{fid}", user="alice")).status == 404
    assert (await api.call("DELETE", f"/users/me/filters/{fid}", user="alice")).status == 404


async def test_filter_written_over_http_applies_to_the_next_delivery(api: Api) -> None:
    junk = (await api.call("POST", "/users/me/filters", user="alice",
                           json={"query": {"from": "sender@"}, "action": {"spam": True}}))
    assert junk.status == 201
    await deliver(api, "alice", "cheap pills")
    assert subjects(api, "alice", "Junk") == ["cheap pills"]
    assert subjects(api, "alice", "INBOX") == []


async def test_bad_input_is_a_clear_400(api: Api) -> None:
    cases: list[tuple[Any, str]] = [
        ({"query": {"subject": "x"}, "action": {"mailbox": "Fdoesnotexist"}}, "no mailbox"),
        ({"query": {"subject": "x"}}, "needs an action"),
        ({"query": {"bogus": 1}, "action": {"seen": True}}, "unknown criterion"),
        ({"query": {"size": "big"}, "action": {"seen": True}}, "query.size"),
        ({"query": {}, "action": {"targets": ["not an address"]}}, "not an e-mail address"),
        ({"query": {}, "action": {"targets": [ALICE]}}, "forward loop"),
        ({"query": {}, "action": {"targets": ["ALICE@example.com"]}}, "forward loop"),
        ({"query": {}, "action": {"delete": True, "spam": True}}, "cannot be combined"),
        ({"query": {}, "action": {"seen": True}, "id": "x"}, "Unknown field"),
        ([], "JSON object"),
    ]
    for body, error in cases:
        reply = await api.call("POST", "/users/me/filters", user="alice", json=body)
        assert reply.status == 400, (body, reply.body)
        assert error in reply.error, (body, reply.error)
    reply = await api.call("POST", "/users/me/filters", user="alice", data=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert reply.status == 400
    big = await api.call("POST", "/users/me/filters", user="alice",
                         data=io.BytesIO(b"x" * (2 << 20)),
                         headers={"Content-Type": "application/json"})
    assert big.status == 413
    for path in ("/users/me/filters/nothex", "/users/me/filters/..%2F..%2Fetc",
                 "/users/me/filters/" + "a" * 24):
        assert (await api.call("GET", path, user="alice")).status == 404, path
    put = await api.call("PUT", "/users/me/filters/" + "a" * 24, user="alice",
                         json={"disabled": True})
    assert put.status == 404


async def test_scope_and_auth(api: Api) -> None:
    assert (await api.call("GET", "/users/me/filters")).status == 401
    assert (await api.call("GET", "/users/me/filters",
                           headers={"Authorization": "Bearer junk"})).status == 401
    assert (await api.call("GET", f"/users/bob@{DOMAIN}/filters", user="alice")).status == 403
    made = await api.call("POST", f"/users/bob@{DOMAIN}/filters", user="admin",
                          json={"query": {}, "action": {"flag": True}})
    assert made.status == 201  # an admin manages others' filters
    fid = made.json()["id"]
    assert (await api.call("GET", f"/users/me/filters/{fid}", user="alice")).status == 404
    assert (await api.call("DELETE", f"/users/bob@{DOMAIN}/filters/{fid}",
                           user="alice")).status == 403


async def test_concurrent_writers_lose_nothing(api: Api) -> None:
    async def add(i: int) -> int:
        reply = await api.call("POST", "/users/me/filters", user="alice",
                               json={"name": f"f{i}", "query": {"subject": f"s{i}"},
                                     "action": {"flag": True}})
        return reply.status

    statuses = await asyncio.gather(*(add(i) for i in range(20)))
    assert statuses == [201] * 20
    names = {f["name"] for f in (await api.call("GET", "/users/me/filters",
                                                user="alice")).json()["results"]}
    assert names == {f"f{i}" for i in range(20)}


async def test_dry_run_and_apply(api: Api) -> None:
    for subject in ("invoice 1", "hello", "invoice 2", "news"):
        await deliver(api, "alice", subject)
    archive = mailbox_id(api, "alice", "Archive")
    fid = (await api.call("POST", "/users/me/filters", user="alice",
                          json={"query": {"subject": "invoice"},
                                "action": {"mailbox": archive, "seen": True}})).json()["id"]
    dry = await api.call("POST", f"/users/me/filters/{fid}/dry-run?limit=3", user="alice")
    assert dry.status == 200, dry.body
    doc = dry.json()
    assert doc["checked"] == 3 and doc["matched"] == 1  # the newest three: news, invoice 2, hello
    assert [r["subject"] for r in doc["results"]] == ["invoice 2"]
    assert subjects(api, "alice", "Archive") == []  # a dry run changes nothing

    applied = await api.call("POST", f"/users/me/filters/{fid}/apply", user="alice")
    assert applied.status == 200, applied.body
    assert applied.json() == {"success": True, "checked": 4, "matched": 2, "flagged": 2,
                              "moved": 2, "mailboxes": 4}  # every folder but Trash and Junk
    assert sorted(subjects(api, "alice", "Archive")) == ["invoice 1", "invoice 2"]
    assert subjects(api, "alice", "INBOX") == ["hello", "news"]
    for bad in ("limit=0", "limit=abc", "limit=100000"):
        reply = await api.call("POST", f"/users/me/filters/{fid}/dry-run?{bad}", user="alice")
        assert reply.status == 400, bad
    missing = await api.call("POST", f"/users/me/filters/{fid}/apply?mailbox=Fnope",
                             user="alice")
    assert missing.status == 404


def store_at(api: Api, folder: str, subject: str, when: int) -> int:
    raw = (f"From: shop@example.net\r\nTo: alice@{DOMAIN}\r\nSubject: {subject}\r\n\r\n"
           "hello\r\n").encode()
    mb = api.services.mail.mailbox(DOMAIN, "alice")
    return mb.folder(folder).append(raw, internaldate=when).uid


async def test_dry_run_and_apply_cover_the_account(api: Api) -> None:
    """The newest N messages across every folder but Trash and Junk (`includeTrash=true`
    widens, `mailbox=` narrows); apply moves from each folder and counts them all."""
    mb = api.services.mail.mailbox(DOMAIN, "alice")
    mb.create_folder("Shop/Orders")
    day = 86_400
    placed = [("INBOX", "receipt old", 1 * day), ("Shop/Orders", "receipt a", 5 * day),
              ("Sent", "receipt sent", 6 * day), ("INBOX", "other", 7 * day),
              ("Trash", "receipt binned", 8 * day), ("Junk", "receipt spam", 9 * day),
              ("Shop/Orders", "receipt b", 10 * day), ("Archive", "unrelated", 11 * day)]
    for folder, subject, when in placed:
        store_at(api, folder, subject, 1_700_000_000 + when)
    archive = mailbox_id(api, "alice", "Archive")
    fid = (await api.call("POST", "/users/me/filters", user="alice",
                          json={"query": {"subject": "receipt"},
                                "action": {"mailbox": archive, "flag": True}})).json()["id"]
    url = f"/users/me/filters/{fid}"

    dry = (await api.call("POST", f"{url}/dry-run?limit=5", user="alice")).json()
    # newest five outside Trash and Junk: unrelated, receipt b, other, receipt sent, receipt a
    assert (dry["checked"], dry["matched"], dry["mailboxes"]) == (5, 3, 6)
    assert [(r["path"], r["subject"]) for r in dry["results"]] == [
        ("Shop/Orders", "receipt b"), ("Sent", "receipt sent"), ("Shop/Orders", "receipt a")]
    assert dry["results"][0]["mailbox"] == mailbox_id(api, "alice", "Shop/Orders")
    wide = (await api.call("POST", f"{url}/dry-run?limit=5&includeTrash=true",
                           user="alice")).json()
    # newest five of all: unrelated, receipt b, receipt spam, receipt binned, other
    assert [r["subject"] for r in wide["results"]] == [
        "receipt b", "receipt spam", "receipt binned"]
    assert wide["mailboxes"] == 8
    one = (await api.call("POST", f"{url}/dry-run?mailbox={mailbox_id(api, 'alice', 'Junk')}",
                          user="alice")).json()
    assert [r["subject"] for r in one["results"]] == ["receipt spam"] and one["mailboxes"] == 1
    assert subjects(api, "alice", "Archive") == ["unrelated"]  # dry runs change nothing

    applied = await api.call("POST", f"{url}/apply?limit=100", user="alice")
    assert applied.status == 200, applied.body
    assert applied.json() == {"success": True, "checked": 6, "matched": 4, "flagged": 4,
                              "moved": 4, "mailboxes": 6}
    assert sorted(subjects(api, "alice", "Archive")) == [
        "receipt a", "receipt b", "receipt old", "receipt sent", "unrelated"]
    assert subjects(api, "alice", "Shop/Orders") == [] and subjects(api, "alice", "INBOX") == [
        "other"]
    assert subjects(api, "alice", "Trash") == ["receipt binned"]  # left alone
    assert subjects(api, "alice", "Junk") == ["receipt spam"]
    flags = [r.flags for r in mb.folder("Archive").records(0, 10)]
    assert flags.count(("\\Flagged",)) == 4

    for bad in ("includeTrash=maybe", "limit=0", "limit=-1", "limit=1001", "limit=x"):
        reply = await api.call("POST", f"{url}/dry-run?{bad}", user="alice")
        assert reply.status == 400 and reply.error, bad
    assert (await api.call("POST", f"{url}/apply?limit=10001", user="alice")).status == 400
    assert (await api.call("POST", f"{url}/apply?mailbox=Fnope", user="alice")).status == 404
    assert (await api.call("POST", f"/users/bob@{DOMAIN}/filters/{fid}/apply",
                           user="alice")).status == 403
    assert (await api.call("POST", f"/users/me/filters/{fid}/apply",
                           user="bob")).status == 404  # bob has no such filter


async def test_forwarding_fields_of_put_user(api: Api) -> None:
    ok = await api.call("PUT", "/users/me", user="alice",
                        json={"forward": ["Someone@Remote.Example"], "forwardKeep": False})
    assert ok.status == 200, ok.body
    rules = api.services.delivery.rules.store.get(DOMAIN, "alice")
    assert rules.forward == ("someone@remote.example",) and rules.forward_keep is False
    shown = (await api.call("GET", "/users/me", user="alice")).json()
    assert (shown["forward"], shown["forwardKeep"], shown["forwards"], shown["retention"]) == (
        ["someone@remote.example"], False, 2000, 0)
    # alice may not raise her own limit; an admin may.
    assert (await api.call("PUT", "/users/me", user="alice",
                           json={"forwards": 5})).status == 403
    assert (await api.call("PUT", f"/users/{ALICE}", user="admin",
                           json={"forwards": 5})).status == 200
    assert api.services.delivery.rules.store.get(DOMAIN, "alice").forwards == 5
    for body, error in (({"forward": [ALICE]}, "forward loop"),
                        ({"forward": "x@y.example"}, "list"),
                        ({"forward": [f"x{i}@y.example" for i in range(21)]}, "more than"),
                        ({"forwardKeep": "no"}, "true or false")):
        reply = await api.call("PUT", "/users/me", user="alice", json=body)
        assert reply.status == 400 and error in reply.error, (body, reply.body)
    assert (await api.call("PUT", f"/users/{ALICE}", user="admin",
                           json={"forwards": -1})).status == 400
    # bob forwarding to alice, who forwards to bob: a loop, refused.
    await api.call("PUT", "/users/me", user="alice", json={"forward": [f"bob@{DOMAIN}"]})
    loop = await api.call("PUT", "/users/me", user="bob", json={"forward": [ALICE]})
    assert loop.status == 400 and "forwards back" in loop.error


async def test_quota_reset(api: Api) -> None:
    await deliver(api, "alice", "one", body="x" * 5000)
    reply = await api.call("POST", "/users/me/quota/reset", user="alice")
    assert reply.status == 200, reply.body
    used = reply.json()["storageUsed"]
    folder = api.services.mail.mailbox(DOMAIN, "alice").folder("INBOX")
    assert used == folder.status().bytes > 5000
    assert (await api.call("POST", f"/users/bob@{DOMAIN}/quota/reset",
                           user="alice")).status == 403
    assert (await api.call("POST", f"/users/{ALICE}/quota/reset",
                           user="admin")).json()["storageUsed"] == used


async def test_retention_fields(api: Api) -> None:
    ok = await api.call("PUT", "/users/me", user="alice", json={"retention": 86_400_000})
    assert ok.status == 200, ok.body
    doc = api.services.retention.get(DOMAIN, "alice")
    assert [u["ms"] for u in doc["user"]] == [86_400_000]
    archive = mailbox_id(api, "alice", "Archive")
    reply = await api.call("PUT", f"/users/me/mailboxes/{archive}", user="alice",
                           json={"retention": 60_000})
    assert reply.status == 200, reply.body
    folder = api.services.mail.mailbox(DOMAIN, "alice").folder("Archive")
    assert api.services.retention.mailbox_retention(DOMAIN, "alice", folder) == 60_000
    for bad in (-1, "1d", 1.5, True, 10**20):
        for path in ("/users/me", f"/users/me/mailboxes/{archive}"):
            reply = await api.call("PUT", path, user="alice", json={"retention": bad})
            assert reply.status == 400 and "retention" in reply.error, (path, bad)


async def test_message_expires_reaches_the_sweeper(api: Api) -> None:
    await deliver(api, "alice", "short lived")
    await deliver(api, "alice", "kept")
    inbox = api.services.mail.mailbox(DOMAIN, "alice").folder("INBOX")
    first, second = inbox.uids()
    mid = inbox.mailbox_id()
    path = f"/users/me/mailboxes/{mid}/messages/{first}"
    for bad in ("tomorrow", 5, True, "2027-13-01"):
        reply = await api.call("PUT", path, user="alice", json={"expires": bad})
        assert reply.status == 400 and "expires" in reply.error, bad
    ok = await api.call("PUT", path, user="alice", json={"expires": "2000-01-01T00:00:00Z"})
    assert ok.status == 200, ok.body
    keep = await api.call("PUT", f"/users/me/mailboxes/{mid}/messages/{second}", user="alice",
                          json={"expires": "2000-01-01"})
    assert keep.status == 200
    cleared = await api.call("PUT", f"/users/me/mailboxes/{mid}/messages/{second}",
                             user="alice", json={"expires": False})
    assert cleared.status == 200
    result = await asyncio.to_thread(api.services.retention.sweep, [(DOMAIN, "alice")], 100)
    assert result.expunged == 1 and inbox.uids() == [second]


async def test_bulk_expires(api: Api) -> None:
    """`expires` in the bulk `PUT .../messages`: set on a range, cleared on one, carried to
    the new UIDs of a move; the sweeper then expunges exactly those."""
    for i in range(5):
        await deliver(api, "alice", f"bulk {i}")
    mailbox = api.services.mail.mailbox(DOMAIN, "alice")
    inbox, archive = mailbox.folder("INBOX"), mailbox.folder("Archive")
    url = f"/users/me/mailboxes/{inbox.mailbox_id()}/messages"
    for bad in ("tomorrow", 5, True, None, "2027-13-01", "x" * 100):
        reply = await api.call("PUT", url, user="alice", json={"message": "1:2",
                                                               "expires": bad})
        assert reply.status == 400 and "expires" in reply.error, bad
    assert api.services.retention.get(DOMAIN, "alice")["expires"] == {}  # nothing written
    reply = await api.call("PUT", url, user="alice",
                           json={"message": "1:3", "expires": "2000-01-01T00:00:00Z"})
    assert reply.json() == {"success": True, "updated": 3, "mailbox": inbox.mailbox_id()}
    cleared = await api.call("PUT", url, user="alice", json={"message": [2, 99],
                                                             "expires": False})
    assert cleared.json()["updated"] == 1
    moved = await api.call("PUT", url, user="alice",
                           json={"message": [4, 5], "moveTo": archive.mailbox_id(),
                                 "expires": "2001-01-01"})
    assert moved.status == 200, moved.body
    assert moved.json()["id"] == [[4, 1], [5, 2]]
    doc = api.services.retention.get(DOMAIN, "alice")["expires"]
    assert sorted(doc[inbox.id]) == ["1", "3"] and sorted(doc[archive.id]) == ["1", "2"]
    result = await asyncio.to_thread(api.services.retention.sweep, [(DOMAIN, "alice")], 100)
    assert result.expunged == 4
    assert inbox.uids() == [2] and archive.uids() == []


async def test_filters_apply_to_the_json_api_send(api: Api) -> None:
    made = await api.call("POST", "/users/me/filters", user="bob",
                          json={"query": {"from": "alice@"}, "action": {"flag": True,
                                                                         "spam": True}})
    assert made.status == 201
    reply = await api.call("POST", "/messages/send", user="alice",
                           json={"to": [f"bob@{DOMAIN}"], "subject": "from the API",
                                 "body": "hello bob"})
    assert reply.status == 200, reply.body
    assert subjects(api, "bob", "Junk") == ["from the API"]
    junk = api.services.mail.mailbox(DOMAIN, "bob").folder("Junk")
    assert [r.flags for r in junk.records(0, 10)] == [("\\Flagged",)]


async def test_forwards_default_is_the_config_key(make_api: MakeApi) -> None:
    api = await make_api(forwards_per_day=7)
    shown = (await api.call("GET", "/users/me", user="alice")).json()
    assert shown["forwards"] == 7
    assert (await api.call("PUT", f"/users/{ALICE}", user="admin",
                           json={"forwards": 3})).status == 200
    assert (await api.call("GET", "/users/me", user="alice")).json()["forwards"] == 3
    assert api.services.delivery.rules.forwards_per_day == 7
