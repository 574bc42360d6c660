"""Address books: the storage core for CardDAV (RFC 6352), beside calendars in the same style
(`rmail.store.davstore`):

```
contacts/
  default/
    addressbook.json     display name, description, dead properties
    index.json           ctag, sync_token, per-card metadata (uid, fn, emails), tombstones
    cards/{uid}.vcf
```
"""

from __future__ import annotations

import os
from typing import Any

from rmail.ical.vcard import InvalidVCard, VCard, parse_vcard
from rmail.store.davstore import HOME_LOCK, Collection, Home, Kind, notifier
from rmail.store.events import EventBus
from rmail.store.layout import Layout

DEFAULT_ADDRESSBOOK = "default"
ADDRESSBOOK_KIND = Kind("addressbook.json", "cards", "address book")
MAX_CARD_BYTES = 4 * 1024 * 1024

__all__ = ["DEFAULT_ADDRESSBOOK", "ContactHome", "ContactStore", "InvalidVCard"]


def card_meta(card: VCard) -> dict[str, Any]:
    meta: dict[str, Any] = {"uid": card.uid or "", "version": card.version}
    fn = card.first("FN")
    if fn:
        meta["fn"] = fn[:200]
    emails = [p.value.strip().lower() for p in card.get("EMAIL") if p.value.strip()]
    if emails:
        meta["emails"] = emails[:20]
    return meta


class ContactHome(Home):
    """One user's address books."""

    def ensure_defaults(self) -> None:
        if (self.dir / HOME_LOCK).exists():
            return
        self.create(DEFAULT_ADDRESSBOOK, {"displayname": "Contacts", "description": ""},
                    exist_ok=True)

    def create_addressbook(self, name: str, *, displayname: str | None = None,
                           description: str | None = None,
                           props: dict[str, str] | None = None) -> Collection:
        meta: dict[str, Any] = {"displayname": displayname if displayname is not None else name,
                                "description": description or ""}
        if props:
            meta["props"] = dict(props)
        return self.create(name, meta)

    def put_card(self, book: str, name: str, data: bytes, *, if_match: str | None = None,
                 if_none_match: str | None = None) -> tuple[str, bool, VCard]:
        if len(data) > MAX_CARD_BYTES:
            raise InvalidVCard(f"vCard larger than {MAX_CARD_BYTES} bytes")
        coll = self.get(book)
        card = parse_vcard(data)
        etag, created = coll.put(name, data, card_meta(card), if_match=if_match,
                                 if_none_match=if_none_match)
        return etag, created, card


class ContactStore:
    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.layout = Layout(mail_root)
        self.events: EventBus | None = None  # set by `Services`: writes are published

    def home(self, domain: str, username: str) -> ContactHome:
        return ContactHome(self.layout.contacts_dir(domain, username), ADDRESSBOOK_KIND,
                            notifier(self.events, domain, username, "contacts"))
