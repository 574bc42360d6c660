"""The owner's share API: create (defaults, validation), list, get, patch, revoke; records are
sharded on disk and listed per owner."""

from __future__ import annotations

import json

from tests.drive.conftest import Drive


async def test_create_get_list_patch_delete(drive: Drive) -> None:
    await drive.call("PUT", "/drive/docs/budget.xlsx", data=b"numbers")
    r = await drive.call("POST", "/drive/_share", json_body={
        "target_path": "docs/budget.xlsx", "name": "Q3 Budget", "permissions": "R",
        "expires": None})
    assert r.status == 201
    share = r.json()
    uid = share["uid"]
    assert len(uid) == 32 and set(uid) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert share["owner"] == "alice@example.com" and share["target_path"] == "docs/budget.xlsx"
    assert share["name"] == "Q3 Budget" and share["permissions"] == "R"
    assert share["expires"] is None and share["created"] > 0
    assert share["url"] == f"{drive.base}/drive/{uid}/Q3%20Budget"
    # on disk: sharded record + per-owner index of UIDs
    record = drive.config.mail_root / "shares" / uid[:2] / f"{uid}.json"
    assert json.loads(record.read_text())["target_path"] == "docs/budget.xlsx"
    owner_index = drive.files_dir().parent / "_shares.json"
    assert json.loads(owner_index.read_text())["uids"] == [uid]

    r = await drive.call("POST", "/drive/_share", json_body={"target_path": "docs",
                                                             "permissions": "cdr"})
    folder = r.json()
    assert r.status == 201 and folder["name"] == "docs" and folder["permissions"] == "RCD"

    r = await drive.call("GET", "/drive/_share")
    assert r.status == 200 and [s["uid"] for s in r.json()["shares"]] == [uid, folder["uid"]]
    r = await drive.call("GET", f"/drive/_share/{uid}")
    assert r.status == 200 and r.json()["name"] == "Q3 Budget"

    r = await drive.call("PATCH", f"/drive/_share/{uid}", json_body={
        "name": "Budget (final)", "permissions": "RU", "expires": "2099-01-01T00:00:00Z"})
    assert r.status == 200
    assert (r.json()["name"], r.json()["permissions"]) == ("Budget (final)", "RU")
    assert r.json()["expires"] == 4070908800.0

    r = await drive.call("DELETE", f"/drive/_share/{uid}")
    assert r.status == 204 and not record.exists()
    assert (await drive.call("GET", f"/drive/_share/{uid}")).status == 404
    assert [s["uid"] for s in (await drive.call("GET", "/drive/_share")).json()["shares"]] \
        == [folder["uid"]]
    assert (await drive.call("GET", f"/drive/{uid}/x", user=None)).status != 200


async def test_validation(drive: Drive) -> None:
    await drive.call("PUT", "/drive/r%C3%A9sum%C3%A9+v2.pdf", data=b"pdf")
    r = await drive.call("POST", "/drive/_share", json_body={"target_path": "résumé+v2.pdf"})
    assert r.status == 201 and r.json()["name"] == "r_sum__v2.pdf"  # default name made to fit
    cases = [
        {"target_path": ""}, {"target_path": "/"}, {"target_path": "../x"},
        {"target_path": "résumé+v2.pdf", "permissions": "RX"},
        {"target_path": "résumé+v2.pdf", "name": "a/b"},
        {"target_path": "résumé+v2.pdf", "name": ".."},
        {"target_path": "résumé+v2.pdf", "name": "x" * 129},
        {"target_path": "résumé+v2.pdf", "expires": "tomorrow"},
        {"target_path": "résumé+v2.pdf", "bogus": 1}, {},
    ]
    for body in cases:
        r = await drive.call("POST", "/drive/_share", json_body=body)
        assert r.status == 400, (body, r.status, r.body)
    assert (await drive.call("POST", "/drive/_share",
                             json_body={"target_path": "missing"})).status == 404
    r = await drive.call("POST", "/drive/_share", data=b"{not json",
                         headers={"Content-Type": "application/json"})
    assert r.status == 400


async def test_owner_only(drive: Drive) -> None:
    await drive.call("PUT", "/drive/f", data=b"1")
    uid = (await drive.call("POST", "/drive/_share", json_body={"target_path": "f"})).json()["uid"]
    for method in ("GET", "DELETE"):
        assert (await drive.call(method, f"/drive/_share/{uid}", user="bob")).status == 404
    assert (await drive.call("PATCH", f"/drive/_share/{uid}", user="bob",
                             json_body={"permissions": "RCUD"})).status == 404
    assert (await drive.call("GET", "/drive/_share", user="bob")).json()["shares"] == []
    assert (await drive.call("GET", "/drive/_share", user=None)).status == 401
