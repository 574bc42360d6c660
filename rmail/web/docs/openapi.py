"""The OpenAPI 3.1 description of the JSON API, served at `/docs/openapi.json`.

Written by hand next to the handlers it describes; `tests/web/test_docs.py` checks that every
JSON API route is described and nothing else is, and schemathesis checks the responses
against it. Keep field lists in step with `rmail.web.api`.
"""

from __future__ import annotations

from typing import Any

from rmail import __version__
from rmail.store.accounts import PASSWORD_MAX_BYTES, QUOTA_MAX_MB, QUOTA_MIN_MB
from rmail.store.folders import SPECIAL_USES
from rmail.web.api.folders import DEFAULT_LIMIT, MAX_LIMIT, MAX_UID
from rmail.web.docs.openapi_mailapi import SCHEMAS as MAILAPI_SCHEMAS
from rmail.web.docs.openapi_mailapi import mailapi_paths
from rmail.web.docs.openapi_provisioning import SCHEMAS as PROVISIONING_SCHEMAS
from rmail.web.docs.openapi_provisioning import provisioning_paths

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], required: list[str] | None = None, *,
        closed: bool = True, description: str | None = None) -> Schema:
    schema: Schema = {"type": "object", "properties": properties,
                      "required": required if required is not None else list(properties)}
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
NULLABLE_STR: Schema = {"type": ["string", "null"]}
STR_LIST: Schema = {"type": "array", "items": STR}

ERRORS = {
    400: "Bad request: invalid JSON, unknown field or failed validation",
    401: "Missing, invalid or expired credentials",
    403: "Admin privileges required",
    404: "Not found",
    405: "Method not allowed on this path",
    409: "Conflicts with the current state (exists already, your own account, INBOX)",
    413: "Payload too large, or the mailbox quota would be exceeded",
    415: "Wrong Content-Type",
    503: "Temporarily unavailable: try again later",
    429: "Rate limit exceeded, or this IP is locked out after failed logins",
}

SCHEMAS: dict[str, Schema] = {
    "Error": obj({"error": STR}, description='Every error: `{"error": "..."}`.'),
    "LoginRequest": obj({
        "username": {"type": "string", "minLength": 1,
                     "description": "Username, or an address user@domain"},
        "password": {"type": "string", "description": "Account password"},
        "domain": {"type": "string", "description": "Domain; inferred from username@ "
                                                    "or the first configured domain"},
    }, ["username", "password"]),
    "LoginResponse": obj({"token": STR, "username": STR, "domain": STR,
                          "expires_in": {"type": "integer", "description": "Seconds"}}),
    "Folder": obj({
        "name": {"type": "string", "description": "Full name, levels separated by `/`"},
        "total": INT, "unread": INT,
        "size": {"type": "integer", "description": "Bytes of all messages"},
        "special_use": {"type": ["string", "null"], "description": r"e.g. `\Sent`"},
        "subscribed": BOOL,
        "selectable": {"type": "boolean",
                       "description": "false for a placeholder parent of other folders"},
    }),
    "FolderList": obj({"folders": {"type": "array", "items": ref("Folder")}}),
    "FolderCreate": obj({"name": {"type": "string", "minLength": 1},
                         "special_use": {"enum": list(SPECIAL_USES)}}, ["name"]),
    "FolderRename": obj({"name": {"type": "string", "minLength": 1}}),
    "FolderDeleted": obj({"name": STR, "deleted": {"const": True}}),
    "Address": obj({"name": {"type": "string", "description": "Decoded display name"},
                    "address": STR}),
    "MessageSummary": obj({
        "uid": {"type": "integer", "description": "IMAP UID"},
        "flags": {**STR_LIST, "description": r"IMAP flags and keywords, e.g. `\Seen`"},
        "seen": BOOL,
        "size": {"type": "integer", "description": "Bytes of the raw message"},
        "modseq": INT,
        "internaldate": {"type": "string", "format": "date-time",
                         "description": "When the server received the message"},
        "date": {"type": ["string", "null"], "description": "Date header (ISO 8601)"},
        "from": {"oneOf": [ref("Address"), {"type": "null"}]},
        "to": {"type": "array", "items": ref("Address")},
        "cc": {"type": "array", "items": ref("Address")},
        "subject": STR,
        "intro": {"type": "string", "description": "First ~200 characters of the text"},
        "has_attachments": BOOL,
        "message_id": NULLABLE_STR,
        "in_reply_to": NULLABLE_STR,
    }),
    "MessageList": obj({
        "folder": STR, "total": INT, "unread": INT, "offset": INT, "limit": INT,
        "messages": {"type": "array", "items": ref("MessageSummary"),
                     "description": "Newest first"},
    }),
    "AppendResult": obj({"folder": STR, "uid": INT, "size": INT}),
    "MessageDeleted": obj({"folder": STR, "uid": INT, "deleted": {"const": True}}),
    "FlagsRequest": obj({"flags": {"type": "array", "maxItems": 100, "items": STR}}),
    "FlagsResult": obj({"folder": STR, "uid": INT, "flags": STR_LIST, "modseq": INT}),
    "Attachment": obj({
        "filename": {"type": "string", "minLength": 1},
        "content_type": {"type": "string", "description": "default application/octet-stream"},
        "content": {"type": "string", "contentEncoding": "base64"},
    }, ["filename", "content"]),
    "SendRequest": obj({
        "to": {"type": "array", "items": STR, "minItems": 1,
               "description": "Recipient addresses"},
        "cc": {"type": "array", "items": STR},
        "bcc": {"type": "array", "items": STR, "description": "Not shown in the headers"},
        "subject": STR,
        "body": {"type": "string", "description": "Plain text body"},
        "html": {"type": "string", "description": "HTML alternative of the body"},
        "in_reply_to": {"type": "string", "description": "Message-ID being answered"},
        "references": {"type": "array", "items": STR},
        "attachments": {"type": "array", "items": ref("Attachment")},
    }, ["to"]),
    "SendResult": obj({
        "message_id": STR,
        "delivered": {**STR_LIST, "description": "Local recipients, delivered"},
        "queued": {**STR_LIST, "description": "Remote recipients, queued for delivery"},
        "failed": {"type": "array", "items": obj({"recipient": STR, "error": STR})},
        "sent_uid": {"type": ["integer", "null"],
                     "description": "UID of the copy in Sent"},
    }),
    "AliasRule": obj({"pattern": {"type": "string",
                                  "description": "Regex, matched against the whole local part"},
                      "target": STR}),
    "PlainAlias": obj({"name": STR, "address": STR, "targets": STR_LIST}),
    "AliasList": obj({"domain": STR,
                      "aliases": {"type": "array", "items": ref("AliasRule"),
                                  "description": "Regex rules"},
                      "plain": {"type": "array", "items": ref("PlainAlias")}}),
    "AliasRuleCreate": obj({"pattern": {"type": "string", "minLength": 1, "maxLength": 256},
                            "target": {"type": "string", "minLength": 1},
                            "domain": STR}, ["pattern", "target"]),
    "PlainAliasCreate": obj({"name": {"type": "string", "minLength": 1},
                             "targets": {"oneOf": [
                                 {"type": "array", "items": STR, "minItems": 1},
                                 {"type": "string", "description": "comma-separated"}]},
                             "domain": STR}, ["name", "targets"]),
    "AliasRuleCreated": obj({"domain": STR, "pattern": STR, "target": STR}),
    "PlainAliasCreated": obj({"domain": STR, "name": STR, "address": STR,
                              "targets": STR_LIST}),
    "AliasDeleted": {"oneOf": [obj({"domain": STR, "pattern": STR, "deleted": {"const": True}}),
                               obj({"domain": STR, "name": STR, "deleted": {"const": True}})]},
    "User": obj({
        "username": STR, "domain": STR, "enabled": BOOL, "admin": BOOL,
        "quota_mb": INT, "created": {"type": "string", "format": "date-time"},
        "display_name": STR, "addresses": STR_LIST, "submission_enabled": BOOL,
        "pop3_enabled": BOOL, "sender_whitelist": STR_LIST, "recipients_per_day": INT,
        "admin_domains": STR_LIST,
    }),
    "UserList": obj({"users": {"type": "array", "items": ref("User")}}),
    "UserCreate": obj({
        "username": {"type": "string", "pattern": "^[a-z0-9._-]{1,64}$",
                     "description": "Lowercase a-z0-9._-"},
        "password": {"type": "string", "minLength": 1,
                     "description": f"1-{PASSWORD_MAX_BYTES} bytes"},
        "domain": {"type": "string", "description": "Default: the admin's own domain"},
        "admin": {"type": "boolean", "default": False},
        "quota_mb": {"type": "integer", "minimum": QUOTA_MIN_MB, "maximum": QUOTA_MAX_MB,
                     "default": 1024},
        "display_name": STR,
    }, ["username", "password"]),
    "UserPatch": obj({
        "enabled": BOOL, "admin": BOOL,
        "quota_mb": {"type": "integer", "minimum": QUOTA_MIN_MB, "maximum": QUOTA_MAX_MB},
        "display_name": STR, "submission_enabled": BOOL, "pop3_enabled": BOOL,
        "addresses": {**STR_LIST, "description": "Extra addresses (the main one stays)"},
        "sender_whitelist": {**STR_LIST,
                             "description": "Addresses, @domain or * the user may send as"},
        "admin_domains": {**STR_LIST, "description": "Domains the user administers "
                                                     "(global admins only)"},
    }, []),
    "PasswordChange": obj({"password": {"type": "string", "minLength": 1}}),
    "PasswordChanged": obj({"username": STR, "domain": STR, "password_changed": {"const": True}}),
    "UserDeleted": obj({"username": STR, "domain": STR, "deleted": {"const": True}}),
}


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _op(summary: str, tag: str, responses: dict[int, tuple[str, Schema | None]], *,
        auth: str | None = "user", errors: tuple[int, ...] = (), params: list[Schema] | None
        = None, body: Schema | None = None, body_type: str = "application/json",
        description: str | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": {}}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {body_type: {"schema": body}}}
    if auth is None:
        op["security"] = []
    codes = set(errors) | {429}
    if auth is not None:
        codes.add(401)
    if auth == "admin":
        codes.add(403)
    if body is not None:
        codes |= {400, 413}
    for status, (text, schema) in sorted(responses.items()):
        entry: dict[str, Any] = {"description": text}
        if schema is not None:
            entry["content"] = _json(schema)
        op["responses"][str(status)] = entry
    for status in sorted(codes - set(responses)):
        op["responses"][str(status)] = {"description": ERRORS[status],
                                        "content": _json(ref("Error"))}
    return op


def _path_param(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema,
            "description": description}


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


FOLDER = _path_param("folder", {"type": "string", "minLength": 1},
                     "Folder name, percent-encoded; levels separated by `/` (or `%2F`)")
FOLDER_Q = {**_query("name", {"type": "string", "minLength": 1}, "The folder's full name"),
            "required": True}
UID = _path_param("uid", {"type": "integer", "minimum": 1, "maximum": MAX_UID}, "Message UID")
USERNAME = _path_param("username", {"type": "string", "pattern": "^[a-z0-9._-]{1,64}$"},
                       "Username (without @domain)")
DOMAIN_Q = _query("domain", STR, "Domain; default: the caller's own")


def build_spec() -> dict[str, Any]:
    """The whole document (a fresh dict each call)."""
    paths: dict[str, dict[str, Any]] = {
        "/auth/login": {"post": _op(
            "Authenticate, returns a JWT", "Authentication",
            {200: ("Token issued", ref("LoginResponse"))}, auth=None, errors=(400, 401),
            body=ref("LoginRequest"),
            description="Failed logins count toward the per-IP lockout (429 once locked).")},
        "/folders": {
            "get": _op("List folders with counts", "Mail",
                       {200: ("Folders, INBOX first", ref("FolderList"))}),
            "post": _op("Create a folder (and missing parents)", "Mail",
                        {201: ("Created", ref("Folder"))}, errors=(409,),
                        body=ref("FolderCreate")),
            "patch": _op("Rename a folder (children move along)", "Mail",
                         {200: ("Renamed", ref("Folder"))}, errors=(400, 404, 409),
                         params=[FOLDER_Q], body=ref("FolderRename")),
            "delete": _op("Delete a folder and its messages", "Mail",
                          {200: ("Deleted", ref("FolderDeleted"))}, errors=(400, 404, 409),
                          params=[FOLDER_Q]),
        },
        "/folders/{folder}/messages": {
            "get": _op("List messages, newest first", "Mail",
                       {200: ("One page of messages", ref("MessageList"))},
                       errors=(400, 404), params=[
                           FOLDER,
                           _query("offset", {"type": "integer", "minimum": 0,
                                             "maximum": 2**31 - 1, "default": 0},
                                  "Skip the newest N messages"),
                           _query("limit", {"type": "integer", "minimum": 1,
                                            "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
                                  f"Max messages to return (1-{MAX_LIMIT})")]),
            "post": _op("Append a raw RFC 822 message", "Mail",
                        {201: ("Stored", ref("AppendResult"))}, errors=(404, 415),
                        params=[FOLDER, _query("flags", STR,
                                               r"Space-separated flags, e.g. `\Seen \Draft`")],
                        body={"type": "string", "format": "binary"},
                        body_type="message/rfc822",
                        description="The body is the message bytes, not JSON. 413 when "
                                    "larger than `max_message_bytes` or over quota."),
        },
        "/folders/{folder}/messages/{uid}": {
            "get": _op("Fetch the raw message", "Mail", {200: (
                "The message exactly as stored",
                None)}, errors=(400, 404), params=[FOLDER, UID]),
            "delete": _op("Delete the message permanently", "Mail",
                          {200: ("Deleted", ref("MessageDeleted"))}, errors=(400, 404),
                          params=[FOLDER, UID]),
        },
        "/folders/{folder}/messages/{uid}/flags": {"patch": _op(
            "Replace the message's flags", "Mail", {200: ("New flags", ref("FlagsResult"))},
            errors=(404,), params=[FOLDER, UID], body=ref("FlagsRequest"))},
        "/messages/send": {"post": _op(
            "Compose and send", "Mail", {200: ("Sent", ref("SendResult"))},
            errors=(403, 503), body=ref("SendRequest"),
            description="From is the caller's main address. Local recipients are delivered, "
                        "remote ones queued; a copy is saved to Sent. 403 when submission "
                        "policy refuses the sender, 503 when delivery is unavailable.")},
        "/aliases": {
            "get": _op("List the domain's aliases", "Aliases",
                       {200: ("Regex rules and plain aliases", ref("AliasList"))},
                       errors=(400, 403, 404), params=[DOMAIN_Q]),
            "post": _op("Add a regex rule or a plain alias", "Aliases", {201: (
                "Created", {"oneOf": [ref("AliasRuleCreated"), ref("PlainAliasCreated")]})},
                auth="admin", errors=(404, 409),
                body={"oneOf": [ref("AliasRuleCreate"), ref("PlainAliasCreate")]}),
        },
        "/aliases/{pattern}": {"delete": _op(
            "Remove an alias rule (or plain alias)", "Aliases",
            {200: ("Removed", ref("AliasDeleted"))}, auth="admin", errors=(400, 404),
            params=[_path_param("pattern", {"type": "string", "minLength": 1},
                                "The rule's pattern (or the plain alias name), URL-encoded"),
                    DOMAIN_Q,
                    _query("kind", {"enum": ["rule", "plain"]}, "Which kind to remove")])},
        "/admin/users": {
            "get": _op("List users", "Admin", {200: ("Users", ref("UserList"))},
                       auth="admin", errors=(400, 404), params=[DOMAIN_Q]),
            "post": _op("Create a user", "Admin", {201: ("Created", ref("User"))},
                        auth="admin", errors=(404, 409), body=ref("UserCreate")),
        },
        "/admin/users/{username}": {
            "get": _op("Get a user", "Admin", {200: ("The user", ref("User"))},
                       auth="admin", errors=(400, 404), params=[USERNAME, DOMAIN_Q]),
            "patch": _op("Update a user (only given fields)", "Admin",
                         {200: ("Updated", ref("User"))}, auth="admin",
                         errors=(404, 409), params=[USERNAME, DOMAIN_Q],
                         body=ref("UserPatch")),
            "delete": _op("Delete a user and all their data", "Admin",
                          {200: ("Deleted", ref("UserDeleted"))}, auth="admin",
                          errors=(400, 404, 409), params=[USERNAME, DOMAIN_Q]),
        },
        "/admin/users/{username}/password": {"put": _op(
            "Change a user's password (their tokens stop working)", "Admin",
            {200: ("Changed", ref("PasswordChanged"))}, auth="admin", errors=(404,),
            params=[USERNAME, DOMAIN_Q], body=ref("PasswordChange"))},
    }
    paths.update(provisioning_paths())
    from rmail.web.docs.openapi_users import users_paths, users_schemas  # it imports this module

    paths.update(users_paths())
    paths.update(mailapi_paths())
    from rmail.web.docs import openapi_filters  # it imports this module too

    paths.update(openapi_filters.filters_paths())
    paths["/folders/{folder}/messages/{uid}"]["get"]["responses"]["200"]["content"] = {
        "message/rfc822": {"schema": {"type": "string", "format": "binary"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "rmail JSON API", "version": __version__,
                 "description": "Exchange-style JSON API of rmail. Errors are "
                                '`{"error": "..."}`; CORS headers are on every response.'},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"basic": []}],
        "tags": [{"name": t} for t in ("Authentication", "Mail", "Aliases", "Admin",
                                       "Provisioning", "Users", "Mailboxes", "Messages",
                                       "Filters")],
        "paths": paths,
        "components": {
            "schemas": openapi_filters.with_user_fields(
                {**SCHEMAS, **PROVISIONING_SCHEMAS, **users_schemas(), **MAILAPI_SCHEMAS,
                 **openapi_filters.filters_schemas()}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "Token from POST /auth/login"},
                "basic": {"type": "http", "scheme": "basic",
                          "description": "user@domain and password"},
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "A controller's API key (`rmail provision key`; "
                                          "hashes in provisioning.api_keys), /mail/... only"},
            },
        },
    }
