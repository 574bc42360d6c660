"""The header values SEARCH, SORT and THREAD look at, computed once per message from its parse
(`parse.py`'s envelope and summary) and kept in each folder's header cache
(`rmail.store.headercache`), so those commands never open a message or read its meta.

A record is a list (it is stored as a JSON array); `F_*` name its slots:

- `F_MESSAGE_ID`, `F_SUBJECT`, `F_DATE`, `F_IN_REPLY_TO`: the header value, RFC 2047 words
  decoded, None when the field is absent (HEADER search on these fields, SUBJECT search);
- `F_FROM` .. `F_BCC`: the address list written out again (`Name <local@host>`, groups as
  `name: ...;`), None when absent: what SEARCH FROM/TO/CC/BCC match, as in Dovecot, so
  comments and routes inside an address do not hide it;
- `F_SENT` (epoch seconds) and `F_SENT_DAY` (proleptic ordinal in the Date's own zone), None
  without a usable Date: SORT DATE, THREAD and SENTBEFORE/SENTON/SENTSINCE;
- `F_BASE` (RFC 5256 §2.1 base subject, upper-cased for i;ascii-casemap) and `F_REPLY`;
- `F_SORT_FROM`, `F_SORT_TO`, `F_SORT_CC`: the first address's mailbox, upper-cased (a group
  counts with its name); `F_DISPLAY_FROM`, `F_DISPLAY_TO` (RFC 5957);
- `F_THREAD_ID` and `F_REFERENCES` (References, else In-Reply-To) for THREAD=REFERENCES.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rmail.mail.headers import decode_words

VERSION = 1  # bump when the meaning of a slot changes: caches are rebuilt

(F_UID, F_MESSAGE_ID, F_SUBJECT, F_DATE, F_IN_REPLY_TO, F_FROM, F_TO, F_CC, F_BCC, F_SENT,
 F_SENT_DAY, F_BASE, F_REPLY, F_SORT_FROM, F_SORT_TO, F_SORT_CC, F_DISPLAY_FROM, F_DISPLAY_TO,
 F_THREAD_ID, F_REFERENCES) = range(20)
FIELDS = 20

# HEADER <name> searches answered from the record (other names read the message header)
HEADER_SLOTS = {"message-id": F_MESSAGE_ID, "subject": F_SUBJECT, "date": F_DATE,
                "in-reply-to": F_IN_REPLY_TO}
ADDRESS_SLOTS = {"FROM": F_FROM, "TO": F_TO, "CC": F_CC, "BCC": F_BCC}
SORT_SLOTS = {"FROM": F_SORT_FROM, "TO": F_SORT_TO, "CC": F_SORT_CC,
              "DISPLAYFROM": F_DISPLAY_FROM, "DISPLAYTO": F_DISPLAY_TO}

Address = list[str | None]


def address_text(addresses: list[Address] | None) -> str | None:
    """An address list as SEARCH FROM/TO/CC/BCC sees it: `Name <local@host>` (or
    `local@host`) per address, `name:` and `;` around a group, joined by ", "."""
    if addresses is None:
        return None
    out: list[str] = []
    for name, _adl, mailbox, host in addresses:
        if host is None:
            out.append(f"{mailbox}:" if mailbox is not None else ";")
            continue
        spec = f"{mailbox or ''}@{host}" if host else mailbox or ""
        out.append(f"{decode_words(name)} <{spec}>" if name else spec)
    return ", ".join(out)


def first_address(addresses: list[Address] | None) -> Address | None:
    """The first address, where a group's start (`[None, None, name, None]`) counts with its
    name as the mailbox, as in Dovecot; a group's end marker is skipped."""
    for a in addresses or ():
        if a[2] is not None or a[3] is not None:
            return a
    return None


def _decoded(value: str | None) -> str | None:
    return None if value is None else decode_words(value)


def thread_root(rec: list[Any]) -> str | None:
    """The Message-ID that names a message's thread (THREADID, RFC 8474 §5.2): the first of
    its References, which RFC 5322 §3.6.4 makes the thread's first message, else its
    In-Reply-To, else its own Message-ID; None when it has none of them."""
    refs = rec[F_REFERENCES]
    return refs[0] if refs else rec[F_THREAD_ID]


def header_record(uid: int, meta: dict[str, Any] | None) -> list[Any]:
    """The record of message `uid` from its parse (None: an unparseable message, all empty)."""
    env = (meta or {}).get("envelope") or {}
    summ = (meta or {}).get("summary") or {}
    sent: float | None = None
    sent_day: int | None = None
    if summ.get("date"):
        try:
            when = dt.datetime.fromisoformat(summ["date"])
            sent, sent_day = when.timestamp(), when.date().toordinal()
        except (ValueError, OverflowError, TypeError):
            pass
    subject = " ".join((summ.get("subject") or "").split())
    base = summ.get("base_subject") or ""
    refs = list(summ.get("references") or [])
    if not refs and summ.get("in_reply_to"):
        refs = [summ["in_reply_to"]]
    sort: dict[str, str] = {}
    for key, name in (("FROM", "from"), ("TO", "to"), ("CC", "cc")):
        a = first_address(env.get(name))
        sort[key] = (a[2] or "").upper() if a else ""
        if key != "CC":
            display = decode_words(a[0]).strip() if a and a[0] else ""
            spec = f"{a[2] or ''}@{a[3]}" if a and a[3] else (a[2] or "" if a else "")
            sort["DISPLAY" + key] = (display or spec).upper()
    return [uid, _decoded(env.get("message_id")), _decoded(env.get("subject")),
            _decoded(env.get("date")), _decoded(env.get("in_reply_to")),
            address_text(env.get("from")), address_text(env.get("to")),
            address_text(env.get("cc")), address_text(env.get("bcc")), sent, sent_day,
            base.upper(), base != subject and bool(subject), sort["FROM"], sort["TO"],
            sort["CC"], sort["DISPLAYFROM"], sort["DISPLAYTO"], summ.get("message_id"), refs]
