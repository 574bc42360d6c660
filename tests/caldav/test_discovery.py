"""Discovery (RFC 6764), OPTIONS, principal properties, authentication and isolation."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rmail.auth.tokens import issue_token
from tests.caldav.conftest import basic

PRINCIPAL_PROPS = """<?xml version="1.0"?>
<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"
            xmlns:CR="urn:ietf:params:xml:ns:carddav">
  <D:prop><D:current-user-principal/><C:calendar-home-set/><C:calendar-user-address-set/>
  <D:principal-URL/><D:displayname/><CR:addressbook-home-set/><D:resourcetype/></D:prop>
</D:propfind>"""


async def test_well_known_redirects(dav) -> None:
    r = await dav.request("GET", "/.well-known/caldav", auth=False)
    assert r.status == 301 and r.headers["Location"] == "/caldav/"
    r = await dav.request("PROPFIND", "/.well-known/caldav")
    assert r.status == 301 and r.headers["Location"] == "/caldav/alice/"
    r = await dav.request("GET", "/.well-known/carddav", auth=False)
    assert r.status == 301


async def test_options(dav) -> None:
    r = await dav.request("OPTIONS", "/caldav/alice/calendars/default/", auth=False)
    assert r.status == 200
    dav_header = [x.strip() for x in r.headers["DAV"].split(",")]
    for cls in ("1", "2", "3", "calendar-access", "calendar-schedule", "addressbook"):
        assert cls in dav_header
    allow = r.headers["Allow"]
    for method in ("OPTIONS", "PROPFIND", "REPORT", "GET", "PUT", "DELETE", "MKCALENDAR",
                   "PROPPATCH", "MKCOL", "MOVE", "COPY"):
        assert method in allow


async def test_root_gives_current_user_principal(dav) -> None:
    r = await dav.propfind("/caldav/", PRINCIPAL_PROPS)
    assert r.status == 207
    root = ET.fromstring(r.body)
    assert root.findtext(".//{DAV:}current-user-principal/{DAV:}href") == "/caldav/alice/"


async def test_principal_properties(dav, services) -> None:
    await __import__("asyncio").to_thread(services.accounts.update, "example.com", "alice",
                                          addresses=("alice@example.com", "a.smith@example.com"))
    r = await dav.propfind("/caldav/alice/", PRINCIPAL_PROPS)
    assert r.status == 207
    root = ET.fromstring(r.body)
    cal = "{urn:ietf:params:xml:ns:caldav}"
    assert root.findtext(f".//{cal}calendar-home-set/{{DAV:}}href") == "/caldav/alice/calendars/"
    addrs = [h.text for h in root.findall(f".//{cal}calendar-user-address-set/{{DAV:}}href")]
    assert "mailto:alice@example.com" in addrs and "mailto:a.smith@example.com" in addrs
    assert root.findtext(".//{DAV:}principal-URL/{DAV:}href") == "/caldav/alice/"
    assert root.findtext(".//{DAV:}displayname")
    assert root.findtext(".//{urn:ietf:params:xml:ns:carddav}addressbook-home-set/{DAV:}href") \
        == "/caldav/alice/contacts/"
    assert root.find(".//{DAV:}resourcetype/{DAV:}principal") is not None


async def test_default_collections_exist(dav) -> None:
    r = await dav.propfind(dav.home, depth="1")
    assert "/caldav/alice/calendars/default/" in r.text
    assert "/caldav/alice/calendars/Schedule-Inbox/" in r.text
    r = await dav.propfind("/caldav/alice/contacts/", depth="1")
    assert "/caldav/alice/contacts/default/" in r.text


async def test_auth_required(dav) -> None:
    r = await dav.request("PROPFIND", dav.home, auth=False)
    assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
    r = await dav.request("PROPFIND", dav.home, headers={"Authorization":
                                                         basic("alice", "wrong")})
    assert r.status == 401
    r = await dav.request("PROPFIND", dav.home, headers={"Authorization": "Basic !!!"})
    assert r.status == 401


async def test_bearer_token(dav, services) -> None:
    secret = services.config.exchange_api.secret
    token = issue_token(secret, "alice", "example.com")
    r = await dav.request("PROPFIND", dav.home, headers={"Authorization": f"Bearer {token}",
                                                         "Depth": "0"})
    assert r.status == 207
    stale = issue_token(secret, "alice", "example.com", epoch=7)
    r = await dav.request("PROPFIND", dav.home, headers={"Authorization": f"Bearer {stale}"})
    assert r.status == 401
    r = await dav.request("PROPFIND", dav.home, headers={"Authorization": "Bearer junk"})
    assert r.status == 401


async def test_other_users_collections_are_unreachable(dav) -> None:
    bob = dav.as_user("bob")
    assert (await bob.put(bob.cal() + "b.ics", __import__(
        "tests.caldav.conftest", fromlist=["event"]).event("b"))).status == 201
    for method, path in (("PROPFIND", "/caldav/bob/"), ("PROPFIND", "/caldav/bob/calendars/"),
                         ("GET", "/caldav/bob/calendars/default/b.ics"),
                         ("DELETE", "/caldav/bob/calendars/default/b.ics"),
                         ("PUT", "/caldav/bob/calendars/default/x.ics"),
                         ("MKCALENDAR", "/caldav/bob/calendars/evil/"),
                         ("REPORT", "/caldav/bob/calendars/default/"),
                         ("PROPFIND", "/caldav/bob@example.com/calendars/")):
        r = await dav.request(method, path, "<x/>" if method == "REPORT" else None)
        assert r.status == 403, (method, path, r.status)
    # a multiget naming bob's event from alice's calendar gets 404, never the data
    r = await dav.report(dav.cal(), """<C:calendar-multiget xmlns:D="DAV:"
        xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop>
        <D:href>/caldav/bob/calendars/default/b.ics</D:href></C:calendar-multiget>""")
    assert r.status == 207 and "BEGIN:VCALENDAR" not in r.text and "404" in r.text
    # alice may use one of her addresses as the principal segment
    r = await dav.propfind("/caldav/alice@example.com/calendars/")
    assert r.status == 207
