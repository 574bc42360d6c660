"""The OpenAPI description of the WildDuck-style mail routes under `/users/{user}/...`
(`rmail.web.api.mailboxes`, `messages`, `search`, `updates`), merged into `/docs/openapi.json`
by `rmail.web.docs.openapi.build_spec`. Keep in step with those handlers.
"""

from __future__ import annotations

from typing import Any

from rmail.store.retention import MAX_RETENTION_MS

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
TRUE: Schema = {"const": True}
CURSOR_OR_FALSE: Schema = {"oneOf": [STR, {"const": False}]}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False}


_MAILBOX_FIELDS: dict[str, Schema] = {
    "id": {"type": "string", "description": "MAILBOXID (RFC 8474): stable across renames"},
    "name": {"type": "string", "description": "Last level of the path"},
    "path": {"type": "string", "description": "Full name, levels separated by `/`"},
    "specialUse": {"type": ["string", "null"], "description": r"e.g. `\Sent`"},
    "modifyIndex": {"type": "integer", "description": "The folder's highest modseq"},
    "subscribed": BOOL,
}
_COUNTERS: dict[str, Schema] = {"total": INT, "unseen": INT,
                                "size": {"type": "integer", "description": "Bytes"}}
_FLAG_FIELDS = ("seen", "deleted", "flagged", "draft", "answered")
_EXPIRES: Schema = {"oneOf": [{"type": "string", "format": "date-time"},
                              {"type": "string", "format": "date"}, {"const": False}],
                    "description": "When the retention sweeper expunges the message (UTC "
                                   "unless given); false: never by its own date"}
_ITEM: dict[str, Schema] = {
    "id": {"type": "integer", "description": "The message's IMAP UID in its mailbox"},
    "mailbox": {"type": "string", "description": "Mailbox id"},
    "thread": {"type": "string", "description": "Thread id (References chain root)"},
    "from": {"oneOf": [_ref("MailAddress"), {"type": "null"}]},
    "to": {"type": "array", "items": _ref("MailAddress")},
    "cc": {"type": "array", "items": _ref("MailAddress")},
    "subject": STR,
    "date": {"type": "string", "description": "Date header (ISO 8601), else arrival"},
    "idate": {"type": "string", "description": "Arrival (IMAP INTERNALDATE), ISO 8601"},
    "intro": {"type": "string", "description": "First ~200 characters of the text"},
    "size": {"type": "integer", "description": "Bytes of the raw message"},
    **{name: BOOL for name in _FLAG_FIELDS},
}

SCHEMAS: dict[str, Schema] = {
    "Success": _obj({"success": TRUE}),
    "MailAddress": _obj({"name": STR, "address": STR}),
    "MailboxItem": _obj({**_MAILBOX_FIELDS, **_COUNTERS}, list(_MAILBOX_FIELDS)),
    "MailboxItemList": _obj({"success": TRUE,
                             "results": {"type": "array", "items": _ref("MailboxItem")}}),
    "MailboxInfo": _obj({"success": TRUE, **_MAILBOX_FIELDS, **_COUNTERS}),
    "MailboxCreate": _obj({"path": {"type": "string", "minLength": 1, "maxLength": 1000},
                           "subscribed": BOOL}, ["path"]),
    "MailboxCreated": _obj({"success": TRUE, "id": STR}),
    "MailboxUpdate": _obj({"path": {"type": "string", "minLength": 1, "maxLength": 1000},
                           "subscribed": BOOL,
                           "retention": {"type": "integer", "minimum": 0,
                                         "maximum": MAX_RETENTION_MS,
                                         "description": "Milliseconds messages arriving from "
                                                        "now on are kept (0: the user's)"}},
                          []),
    "MailMessageItem": _obj({**_ITEM, "attachments": {
        "type": "boolean", "description": "Has attachments (inline images not counted)"}}),
    "MailMessageItemList": _obj({"success": TRUE, "results": {
        "type": "array", "items": _ref("MailMessageItem")}}),
    "MailMessagePage": _obj({
        "success": TRUE, "total": INT, "page": INT,
        "previousCursor": CURSOR_OR_FALSE, "nextCursor": CURSOR_OR_FALSE,
        "previous": {"oneOf": [STR, {"const": False}], "description": "URL of the page"},
        "next": {"oneOf": [STR, {"const": False}], "description": "URL of the page"},
        "results": {"type": "array", "items": _ref("MailMessageItem")},
    }),
    "MailSearchPage": _obj({
        "success": TRUE, "page": INT,
        "previousCursor": {"const": False}, "nextCursor": CURSOR_OR_FALSE,
        "previous": {"const": False},
        "next": {"oneOf": [STR, {"const": False}], "description": "URL of the next page"},
        "results": {"type": "array", "items": _ref("MailMessageItem")},
    }),
    "MailAttachment": _obj({
        "id": {"type": "string", "description": "`ATT00001`..."},
        "filename": STR, "contentType": STR,
        "size": {"type": "integer", "description": "Decoded bytes"},
        "disposition": {"enum": ["inline", "attachment"]},
        "related": {"type": "boolean", "description": "An image the HTML shows by cid:"},
        "contentId": {"type": ["string", "null"]},
    }),
    "MailHeader": _obj({"key": {"type": "string", "description": "Lowercased name"},
                        "value": {"type": "string", "description": "Decoded value"}}),
    "MailMessage": _obj({
        "success": TRUE, **_ITEM,
        "emailId": {"type": ["string", "null"], "description": "EMAILID (RFC 8474)"},
        "flags": {"type": "array", "items": STR},
        "bcc": {"type": "array", "items": _ref("MailAddress")},
        "replyTo": {"type": "array", "items": _ref("MailAddress")},
        "messageId": {"type": ["string", "null"]},
        "inReplyTo": {"type": ["string", "null"]},
        "references": {"type": "array", "items": STR},
        "headers": {"type": "array", "items": _ref("MailHeader")},
        "html": {"type": "array", "items": STR,
                 "description": "Sanitised HTML of the shown parts; cid: links rewritten"},
        "text": STR,
        "attachments": {"type": "array", "items": _ref("MailAttachment")},
    }),
    "MailMessageUpdate": _obj({"moveTo": {"type": "string", "description": "Mailbox id"},
                               **{name: BOOL for name in _FLAG_FIELDS},
                               "expires": _EXPIRES}, []),
    "MailMessageUpdated": _obj({"success": TRUE, "id": INT, "mailbox": STR}),
    "MailMessagesUpdate": _obj({
        "message": {"oneOf": [
            {"type": "array", "items": {"type": "integer", "minimum": 1,
                                        "maximum": 2**32 - 1}, "maxItems": 10_000},
            {"type": "string", "minLength": 1, "maxLength": 1000,
             "description": "UID range(s): `1:100`, `5:*`, `1,4,9:12`"}]},
        "moveTo": {"type": "string", "description": "Mailbox id"},
        **{name: BOOL for name in _FLAG_FIELDS}, "expires": _EXPIRES}, ["message"]),
    "MailMessagesUpdated": _obj({
        "success": TRUE, "updated": INT, "mailbox": STR,
        "id": {"type": "array", "items": {"type": "array", "items": INT},
               "description": "[old UID, new UID] pairs of moved messages"}},
        ["success", "updated", "mailbox"]),
}

MAILBOX = {"name": "mailbox", "in": "path", "required": True,
           "schema": {"type": "string", "pattern": "^F[0-9a-f]{24}$"},
           "description": "Mailbox id"}
MESSAGE = {"name": "message", "in": "path", "required": True,
           "schema": {"type": "integer", "minimum": 1, "maximum": 2**32 - 1},
           "description": "Message UID"}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def mailapi_paths() -> dict[str, dict[str, Any]]:
    from rmail.web.api.messages import DEFAULT_LIMIT, MAX_LIMIT
    from rmail.web.docs.openapi import _op  # the shared operation builder (lazy: no cycle)
    from rmail.web.docs.openapi_users import USER

    user_errors = (400, 403, 404)
    binary = {"type": "string", "format": "binary"}
    listing = [
        USER, MAILBOX,
        _query("order", {"enum": ["asc", "desc"], "default": "desc"}, "By UID"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                         "default": DEFAULT_LIMIT}, "Messages per page"),
        _query("next", STR, "A `nextCursor`"),
        _query("previous", STR, "A `previousCursor`"),
    ]
    paths: dict[str, dict[str, Any]] = {
        "/users/{user}/mailboxes": {
            "get": _op("List mailboxes", "Mailboxes",
                       {200: ("Mailboxes, INBOX first", _ref("MailboxItemList"))},
                       errors=user_errors, params=[USER, _query(
                           "counters", {"enum": ["true", "false"]},
                           "Add total, unseen and size")],
                       description="The webmail's pages read their folder counts here with "
                                   "the session cookie (own account, same origin only)."),
            "post": _op("Create a mailbox (and missing parents)", "Mailboxes",
                        {200: ("Created", _ref("MailboxCreated"))},
                        errors=(*user_errors, 409), params=[USER],
                        body=_ref("MailboxCreate")),
        },
        "/users/{user}/mailboxes/{mailbox}": {
            "get": _op("One mailbox with counters", "Mailboxes",
                       {200: ("The mailbox", _ref("MailboxInfo"))}, errors=user_errors,
                       params=[USER, MAILBOX]),
            "put": _op("Rename and/or (un)subscribe", "Mailboxes",
                       {200: ("Updated", _ref("Success"))}, errors=(*user_errors, 409),
                       params=[USER, MAILBOX], body=_ref("MailboxUpdate"),
                       description="INBOX cannot be renamed (409)."),
            "delete": _op("Delete a mailbox and its messages", "Mailboxes",
                          {200: ("Deleted", _ref("Success"))}, errors=(*user_errors, 409),
                          params=[USER, MAILBOX],
                          description="INBOX and special-use mailboxes cannot be deleted "
                                      "(409)."),
        },
        "/users/{user}/mailboxes/{mailbox}/messages": {
            "get": _op("List messages with cursor paging", "Messages",
                       {200: ("One page", _ref("MailMessagePage"))}, errors=user_errors,
                       params=listing),
            "put": _op("Update or move several messages", "Messages",
                       {200: ("Updated", _ref("MailMessagesUpdated"))},
                       errors=user_errors, params=[USER, MAILBOX],
                       body=_ref("MailMessagesUpdate")),
        },
        "/users/{user}/mailboxes/{mailbox}/messages/{message}": {
            "get": _op("The parsed message", "Messages",
                       {200: ("The message", _ref("MailMessage"))}, errors=user_errors,
                       params=[USER, MAILBOX, MESSAGE, _query(
                           "markAsSeen", {"enum": ["true", "false"]}, r"Set \Seen")]),
            "put": _op("Change flags and/or move", "Messages",
                       {200: ("Updated; after a move, the new mailbox and UID",
                              _ref("MailMessageUpdated"))},
                       errors=user_errors, params=[USER, MAILBOX, MESSAGE],
                       body=_ref("MailMessageUpdate")),
            "delete": _op("Delete the message for good", "Messages",
                          {200: ("Deleted", _ref("Success"))}, errors=user_errors,
                          params=[USER, MAILBOX, MESSAGE]),
        },
        "/users/{user}/mailboxes/{mailbox}/messages/{message}/message.eml": {
            "get": _op("The raw message", "Messages", {200: ("As stored", None)},
                       errors=user_errors, params=[USER, MAILBOX, MESSAGE]),
        },
        "/users/{user}/mailboxes/{mailbox}/messages/{message}/attachments/{attachment}": {
            "get": _op("An attachment's decoded bytes (a download)", "Messages",
                       {200: ("The bytes", None)}, errors=user_errors,
                       params=[USER, MAILBOX, MESSAGE, {
                           "name": "attachment", "in": "path", "required": True,
                           "schema": {"type": "string", "pattern": "^ATT[0-9]{5}$"},
                           "description": "Attachment id"}]),
        },
    }
    paths["/users/{user}/search"] = {"get": _op(
        "Search every mailbox (not Trash or Junk unless asked)", "Messages",
        {200: ("Matches, newest first", _ref("MailSearchPage"))}, errors=user_errors,
        params=[USER, {**_query("q", {"type": "string", "minLength": 1, "maxLength": 1000},
                                "Words, \"phrases\", from: to: subject: has:attachment "
                                "is:unread|read|flagged before:/after:YYYY-MM-DD "
                                "larger:/smaller:N[k|M]"), "required": True},
                _query("mailbox", STR, "Only this mailbox (id)"),
                _query("includeTrash", {"enum": ["true", "false"]}, "Search Trash and Junk"),
                _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                 "default": DEFAULT_LIMIT}, "Messages per page"),
                _query("next", STR, "A `nextCursor`")])}
    paths["/users/{user}/threads/{thread}"] = {"get": _op(
        "Every message of a thread, oldest first", "Messages",
        {200: ("The thread's messages", _ref("MailMessageItemList"))}, errors=user_errors,
        params=[USER, {"name": "thread", "in": "path", "required": True,
                       "schema": {"type": "string", "pattern": "^T[0-9a-f]{20}$"},
                       "description": "A message's `thread`"}])}
    paths["/users/{user}/updates"] = {"get": _op(
        "Live changes as Server-Sent Events", "Messages", {200: ("The stream", None)},
        errors=user_errors, params=[USER, {
            "name": "Last-Event-ID", "in": "header", "required": False, "schema": STR,
            "description": "Resume after this event (sent by EventSource on reconnect)"}],
        description="`text/event-stream`: each event an `id:` (an opaque position) and a "
                    "`data:` JSON object `{command: EXISTS|EXPUNGE|FLAGS|CREATE|RENAME|"
                    "DELETE|RESYNC, mailbox, message, uid, modseq, flags, path}`; a comment "
                    "line every 30 s. Reconnecting with `Last-Event-ID` resumes without gaps; "
                    "RESYNC when the position is too old. A logout or password change "
                    "ends the stream. The webmail session cookie is accepted too (own "
                    "account, same origin only: 403 otherwise).")}
    paths["/users/{user}/updates"]["get"]["responses"]["200"]["content"] = {
        "text/event-stream": {"schema": STR}}
    eml = paths["/users/{user}/mailboxes/{mailbox}/messages/{message}/message.eml"]
    eml["get"]["responses"]["200"]["content"] = {"message/rfc822": {"schema": binary}}
    att = paths["/users/{user}/mailboxes/{mailbox}/messages/{message}/attachments/{attachment}"]
    att["get"]["responses"]["200"]["content"] = {"*/*": {"schema": binary}}
    return paths
