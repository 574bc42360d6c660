"""CardDAV (RFC 6352): address book home, MKCOL, vCard PUT/GET/DELETE, multiget, query, sync."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.caldav.conftest import FIXTURES, response_hrefs

CR = "{urn:ietf:params:xml:ns:carddav}"


def card(uid: str, fn: str, email: str = "", version: str = "3.0") -> str:
    lines = ["BEGIN:VCARD", f"VERSION:{version}", f"UID:{uid}", f"FN:{fn}", f"N:{fn};;;;"]
    if email:
        lines.append(f"EMAIL;TYPE=work:{email}")
    return "\r\n".join([*lines, "END:VCARD", ""])


def book(dav, name: str = "default") -> str:
    return f"/caldav/{dav.user}/contacts/{name}/"


async def put_card(dav, path: str, body: str | bytes, **headers: str):
    hdrs = {"Content-Type": "text/vcard; charset=utf-8"}
    hdrs.update({k.replace("_", "-"): v for k, v in headers.items()})
    return await dav.request("PUT", path, body, hdrs)


async def test_home_and_mkcol(dav) -> None:
    r = await dav.propfind("/caldav/alice/contacts/", depth="1")
    assert book(dav) in response_hrefs(r)
    body = """<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>
      <D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>
      <D:displayname>Friends</D:displayname>
      <CR:addressbook-description>People</CR:addressbook-description></D:prop></D:set></D:mkcol>"""
    r = await dav.request("MKCOL", book(dav, "friends"), body)
    assert r.status == 201
    r = await dav.propfind(book(dav, "friends"), """<D:propfind xmlns:D="DAV:"
      xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:resourcetype/><D:displayname/>
      <CR:addressbook-description/><CR:supported-address-data/></D:prop></D:propfind>""")
    root = ET.fromstring(r.body)
    assert root.find(f".//{{DAV:}}resourcetype/{CR}addressbook") is not None
    assert root.findtext(".//{DAV:}displayname") == "Friends"
    assert root.findtext(f".//{CR}addressbook-description") == "People"
    assert (await dav.request("MKCOL", book(dav, "friends"))).status == 405
    assert (await dav.request("MKCOL", book(dav, "plain"))).status == 201
    r = await dav.request("MKCOL", book(dav, "wrong"), body.replace("<CR:addressbook/>", ""))
    assert r.status == 403


async def test_vcard_put_get_delete(dav) -> None:
    path = book(dav) + "carol.vcf"
    r = await put_card(dav, path, card("carol", "Carol", "carol@x.org"), If_None_Match="*")
    assert r.status == 201
    etag = r.headers["ETag"]
    r = await dav.request("GET", path)
    assert r.status == 200 and "FN:Carol" in r.text and r.headers["ETag"] == etag
    assert r.headers["Content-Type"].startswith("text/vcard")
    assert (await put_card(dav, path, card("carol", "Carol"), If_None_Match="*")).status == 412
    assert (await put_card(dav, path, card("carol", "C2"), If_Match='"x"')).status == 412
    assert (await put_card(dav, path, card("carol", "C2"), If_Match=etag)).status == 204
    r = await put_card(dav, book(dav) + "dup.vcf", card("carol", "Dup"))
    assert r.status == 403 and b"no-uid-conflict" in r.body
    r = await put_card(dav, book(dav) + "bad.vcf", "BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n")
    assert r.status == 400 and b"valid-address-data" in r.body
    r = await put_card(dav, book(dav) + "bad.vcf", "hello")
    assert r.status == 400
    assert (await dav.request("DELETE", path)).status == 204
    assert (await dav.request("GET", path)).status == 404


async def test_multiget_query_sync(dav) -> None:
    for uid, fn, email in (("a", "Alice Doe", "alice@x.org"), ("b", "Bob Roe", "bob@y.org"),
                           ("c", "Carla Doe", "")):
        assert (await put_card(dav, book(dav) + f"{uid}.vcf", card(uid, fn, email))).status \
            == 201
    r = await dav.report(book(dav), f"""<CR:addressbook-multiget xmlns:D="DAV:"
      xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><CR:address-data/></D:prop>
      <D:href>{book(dav)}a.vcf</D:href><D:href>{book(dav)}zz.vcf</D:href>
      </CR:addressbook-multiget>""")
    assert r.status == 207 and "FN:Alice Doe" in r.text and "404" in r.text

    async def query(filt: str, limit: str = "") -> set[str]:
        r = await dav.report(book(dav), f"""<CR:addressbook-query xmlns:D="DAV:"
          xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop>
          {filt}{limit}</CR:addressbook-query>""")
        assert r.status == 207, r.text
        return {h.rsplit("/", 1)[1] for h in response_hrefs(r)}

    assert await query('<CR:filter><CR:prop-filter name="FN"><CR:text-match '
                       'match-type="contains">doe</CR:text-match></CR:prop-filter></CR:filter>') \
        == {"a.vcf", "c.vcf"}
    assert await query('<CR:filter><CR:prop-filter name="EMAIL"><CR:text-match '
                       'match-type="ends-with">y.org</CR:text-match></CR:prop-filter>'
                       '</CR:filter>') == {"b.vcf"}
    assert await query('<CR:filter><CR:prop-filter name="EMAIL"><CR:is-not-defined/>'
                       '</CR:prop-filter></CR:filter>') == {"c.vcf"}
    assert await query('<CR:filter test="allof"><CR:prop-filter name="FN"><CR:text-match '
                       'match-type="starts-with">alice</CR:text-match></CR:prop-filter>'
                       '<CR:prop-filter name="EMAIL"><CR:param-filter name="TYPE">'
                       '<CR:text-match match-type="equals">work</CR:text-match>'
                       '</CR:param-filter></CR:prop-filter></CR:filter>') == {"a.vcf"}
    assert len(await query("<CR:filter/>", "<CR:limit><CR:nresults>2</CR:nresults></CR:limit>")) \
        == 2

    sync = """<D:sync-collection xmlns:D="DAV:"><D:sync-token>{}</D:sync-token>
      <D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"""
    r = await dav.report(book(dav), sync.format(""))
    token = ET.fromstring(r.body).findtext("{DAV:}sync-token")
    await dav.request("DELETE", book(dav) + "b.vcf")
    r = await dav.report(book(dav), sync.format(token))
    assert r.status == 207 and "b.vcf" in r.text and "404" in r.text


VCARD_FIXTURES = sorted((FIXTURES / "vcard").glob("*.vcf")) if (FIXTURES / "vcard").is_dir() \
    else []


@pytest.mark.skipif(not VCARD_FIXTURES, reason=f"fixture folder {FIXTURES / 'vcard'} absent")
async def test_vcard_fixtures_import(dav) -> None:
    """Every real-world vCard in the shared corpus can be stored (one card per resource)."""
    from rmail.ical.vcard import fallback_uid, parse_vcards

    stored = 0
    for path in VCARD_FIXTURES:
        data = Path(path).read_bytes()
        cards = parse_vcards(data)
        assert cards, path.name
        text = data.decode("utf-8", "replace").replace("\r\r\n", "\r\n")
        blocks = [b for b in text.split("END:VCARD") if "BEGIN:VCARD" in b]
        for i, block in enumerate(blocks):
            body = block[block.index("BEGIN:VCARD"):].rstrip() + "\r\nEND:VCARD\r\n"
            if "\nUID" not in body.upper().replace("\r", ""):
                body = body.replace("\r\nEND:VCARD", f"\r\nUID:{fallback_uid(body)}"
                                    "\r\nEND:VCARD")
            name = f"{path.stem}-{i}.vcf"
            r = await put_card(dav, book(dav) + name, body)
            assert r.status == 201, (path.name, r.text)
            stored += 1
    assert stored >= len(VCARD_FIXTURES)
