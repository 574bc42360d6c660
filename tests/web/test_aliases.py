"""Alias rules (regex) and plain multi-target aliases."""

from __future__ import annotations

from tests.web.conftest import DOMAIN, Api


async def test_rules_lifecycle(api: Api) -> None:
    empty = await api.call("GET", "/aliases", user="alice")
    assert empty.status == 200
    assert empty.json() == {"domain": DOMAIN, "aliases": [], "plain": []}
    created = await api.call("POST", "/aliases", user="admin",
                             json={"pattern": "sales-.*", "target": "bob"})
    assert created.status == 201
    assert created.json() == {"domain": DOMAIN, "pattern": "sales-.*",
                              "target": f"bob@{DOMAIN}"}
    listed = (await api.call("GET", "/aliases", user="alice")).json()
    assert listed["aliases"] == [{"pattern": "sales-.*", "target": f"bob@{DOMAIN}"}]
    assert api.services.accounts.resolve(f"sales-eu@{DOMAIN}").users == ((DOMAIN, "bob"),)
    dup = await api.call("POST", "/aliases", user="admin",
                         json={"pattern": "sales-.*", "target": "alice"})
    assert dup.status == 409
    # DELETE /aliases/{pattern}: the pattern URL-encoded
    deleted = await api.call("DELETE", "/aliases/sales-.%2A", user="admin")
    assert deleted.status == 200
    assert deleted.json() == {"domain": DOMAIN, "pattern": "sales-.*", "deleted": True}
    assert (await api.call("DELETE", "/aliases/sales-.%2A", user="admin")).status == 404
    assert (await api.call("GET", "/aliases", user="alice")).json()["aliases"] == []


async def test_pattern_with_slash_and_percent(api: Api) -> None:
    for pattern, encoded in (("a/b", "a%2Fb"), ("100%", "100%25"), ("x y", "x%20y")):
        assert (await api.call("POST", "/aliases", user="admin",
                               json={"pattern": pattern, "target": "bob"})).status == 201
        reply = await api.call("DELETE", f"/aliases/{encoded}", user="admin")
        assert reply.status == 200, pattern
        assert reply.json()["pattern"] == pattern


async def test_rule_validation(api: Api) -> None:
    for body in ({"pattern": "([", "target": "bob"}, {"pattern": "", "target": "bob"},
                 {"pattern": "x" * 300, "target": "bob"}, {"pattern": "ok"},
                 {"pattern": "ok", "target": "Not Valid!"}, {"target": "bob"},
                 {"pattern": "ok", "target": "bob", "name": "x"}, {},
                 {"pattern": 1, "target": "bob"}):
        reply = await api.call("POST", "/aliases", user="admin", json=body)
        assert reply.status == 400, body
        assert reply.error


async def test_plain_aliases(api: Api) -> None:
    created = await api.call("POST", "/aliases", user="admin",
                             json={"name": "Team", "targets": ["alice", "bob@example.com"]})
    assert created.status == 201
    assert created.json() == {"domain": DOMAIN, "name": "team", "address": f"team@{DOMAIN}",
                              "targets": [f"alice@{DOMAIN}", f"bob@{DOMAIN}"]}
    comma = await api.call("POST", "/aliases", user="admin",
                           json={"name": "ops", "targets": "alice, bob"})
    assert comma.status == 201
    plain = (await api.call("GET", "/aliases", user="bob")).json()["plain"]
    assert [p["name"] for p in plain] == ["ops", "team"]
    resolved = api.services.accounts.resolve(f"team@{DOMAIN}").users
    assert set(resolved) == {(DOMAIN, "alice"), (DOMAIN, "bob")}
    taken = await api.call("POST", "/aliases", user="admin",
                           json={"name": "alice", "targets": ["bob"]})
    assert taken.status == 409
    assert (await api.call("POST", "/aliases", user="admin",
                           json={"name": "x", "targets": []})).status == 400
    assert (await api.call("DELETE", "/aliases/team?kind=rule", user="admin")).status == 404
    assert (await api.call("DELETE", "/aliases/team?kind=plain", user="admin")).status == 200
    assert (await api.call("DELETE", "/aliases/ops", user="admin")).status == 200
    assert (await api.call("DELETE", "/aliases/x?kind=other", user="admin")).status == 400


async def test_writes_need_admin_and_domains_are_scoped(api: Api) -> None:
    body = {"pattern": "x.*", "target": "bob"}
    assert (await api.call("POST", "/aliases", user="alice", json=body)).status == 403
    assert (await api.call("POST", "/aliases", json=body)).status == 401
    assert (await api.call("DELETE", "/aliases/x", user="alice")).status == 403
    assert (await api.call("GET", "/aliases")).status == 401
    other = await api.call("GET", "/aliases?domain=other.test", user="alice")
    assert other.status == 403
    # an admin may manage another hosted domain, and gets 404 for an unknown one
    assert (await api.call("GET", "/aliases?domain=other.test", user="admin")).status == 404
    api.services.accounts.add_domain("other.test")
    reply = await api.call("POST", "/aliases", user="admin",
                           json={"pattern": "x.*", "target": "bob@example.com",
                                 "domain": "other.test"})
    assert reply.status == 201 and reply.json()["domain"] == "other.test"
    listed = await api.call("GET", "/aliases?domain=other.test", user="admin")
    assert listed.json()["aliases"] == [{"pattern": "x.*", "target": "bob@example.com"}]
    assert (await api.call("GET", "/aliases", user="admin")).json()["aliases"] == []
