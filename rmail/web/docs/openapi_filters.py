"""The OpenAPI description of `/users/{user}/filters...` and `/users/{user}/quota/reset`
(`rmail.web.api.filters`), and the forwarding fields of `PUT /users/{user}`
(`rmail.web.api.forwarding`), merged into `/docs/openapi.json` by `build_spec`."""

from __future__ import annotations

from typing import Any

from rmail.mail.filters import MAX_TARGETS, MAX_TEXT
from rmail.store.retention import MAX_RETENTION_MS
from rmail.web.api.filters import APPLY_MAX, DRY_RUN_DEFAULT, DRY_RUN_MAX
from rmail.web.api.forwarding import MAX_FORWARDS
from rmail.web.docs.openapi import BOOL, INT, STR, Schema, _op, _path_param, _query, obj, ref
from rmail.web.docs.openapi_users import SUCCESS, USER

TEXT: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}

FILTER_ID = _path_param("filter", {"type": "string", "pattern": "^[a-f0-9]{24}$"},
                        "Filter id (24 hex digits)")
MAILBOX_Q = _query("mailbox", {"type": "string", "minLength": 1},
                   "Mailbox id of the one folder to look at (default: every folder but "
                   "Trash and Junk)")
TRASH_Q = _query("includeTrash", {"type": "boolean"},
                 "Look at Trash and Junk too (default false)")

QUERY: Schema = obj({
    "from": {**TEXT, "description": "Contained in From (case-insensitive, decoded)"},
    "to": {**TEXT, "description": "Contained in To or Cc"},
    "subject": {**TEXT, "description": "Contained in Subject"},
    "listId": {**TEXT, "description": "Contained in List-Id"},
    "text": {**TEXT, "description": "Contained in the decoded body text"},
    "hasAttachment": BOOL,
    "size": {"type": "integer", "not": {"const": 0},
             "description": "Bytes: positive = larger than, negative = smaller than"},
}, [], description="Every criterion given must match; {} matches every message.")

ACTION: Schema = {**obj({
    "seen": BOOL, "flag": BOOL, "delete": {**BOOL, "description": "Discard (at delivery)"},
    "spam": {**BOOL, "description": "File into Junk"},
    "mailbox": {"type": "string", "minLength": 1, "description": "File into this mailbox id"},
    "targets": {"type": "array", "items": {"type": "string", "format": "email"},
                "maxItems": MAX_TARGETS, "description": "Forward a copy (SRS) to these"},
    "stop": {**BOOL, "description": "Evaluate no later filter"},
}, []), "minProperties": 1}

FILTER_BODY: Schema = obj({"name": {"type": "string", "maxLength": MAX_TEXT},
                           "query": QUERY, "action": ACTION, "disabled": BOOL},
                          ["query", "action"])
FILTER_UPDATE: Schema = {**obj({"name": {"type": "string", "maxLength": MAX_TEXT},
                                "query": QUERY, "action": ACTION, "disabled": BOOL}, []),
                         "minProperties": 1}
FILTER: Schema = obj({"id": STR, "name": STR, "query": {"type": "object"},
                      "action": {"type": "object"}, "disabled": BOOL, "created": STR})

# Fields PUT /users/{user} takes from this area (merged into acctsec's UserUpdate schema).
USER_UPDATE_PROPERTIES: dict[str, Schema] = {
    "forward": {"type": "array", "items": {"type": "string", "format": "email"},
                "description": "Forward every delivered message to these (SRS); [] to stop"},
    "forwardKeep": {**BOOL, "description": "Keep a copy when forwarding (default true)"},
    "forwards": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_FORWARDS,
                 "description": "Admin only: forwarded recipients per 24 hours (null: default)"},
    "retention": {"type": "integer", "minimum": 0, "maximum": MAX_RETENTION_MS,
                  "description": "Milliseconds messages arriving from now on are kept "
                                 "(0: forever; Trash and Junk at most 30 days)"},
}


def filters_schemas() -> dict[str, Schema]:
    return {
        "Filter": FILTER,
        "FilterCreate": FILTER_BODY,
        "FilterUpdate": FILTER_UPDATE,
        "FilterList": obj({"success": SUCCESS, "results": {"type": "array",
                                                           "items": ref("Filter")}}),
        "FilterDetail": obj({"success": SUCCESS, **FILTER["properties"]}),
        "FilterSaved": obj({"success": SUCCESS, "id": STR, "filter": ref("Filter")}),
        "FilterDryRun": obj({"success": SUCCESS, "checked": INT, "matched": INT,
                             "mailboxes": INT,
                             "results": {"type": "array", "items": obj({
                                 "mailbox": STR, "path": STR, "uid": INT, "from": STR,
                                 "subject": STR, "size": INT})}}),
        "FilterApplied": obj({"success": SUCCESS, "checked": INT, "matched": INT,
                              "flagged": INT, "moved": INT, "mailboxes": INT}),
        "QuotaReset": obj({"success": SUCCESS, "storageUsed": {
            "type": "integer", "description": "Bytes of mail and drive"}}),
    }


def filters_paths() -> dict[str, dict[str, Any]]:
    base = "/users/{user}/filters"
    one = base + "/{filter}"
    limit = _query("limit", {"type": "integer", "minimum": 1, "maximum": DRY_RUN_MAX},
                   f"Newest messages of the account to look at (default {DRY_RUN_DEFAULT})")
    apply_limit = _query("limit", {"type": "integer", "minimum": 1, "maximum": APPLY_MAX},
                         "Newest messages to apply it to (default 1000)")
    return {
        base: {
            "get": _op("List the filters, in evaluation order", "Filters",
                       {200: ("Filters", ref("FilterList"))}, errors=(400, 403, 404),
                       params=[USER]),
            "post": _op("Add a filter (evaluated after the existing ones)", "Filters",
                        {201: ("Created", ref("FilterSaved"))}, errors=(403, 404),
                        params=[USER], body=ref("FilterCreate")),
        },
        one: {
            "get": _op("Get a filter", "Filters", {200: ("The filter", ref("FilterDetail"))},
                       errors=(400, 403, 404), params=[USER, FILTER_ID]),
            "put": _op("Change a filter (query and action are replaced whole)", "Filters",
                       {200: ("Changed", ref("FilterSaved"))}, errors=(403, 404),
                       params=[USER, FILTER_ID], body=ref("FilterUpdate")),
            "delete": _op("Delete a filter", "Filters", {200: ("Deleted", ref("Success"))},
                          errors=(400, 403, 404), params=[USER, FILTER_ID]),
        },
        one + "/dry-run": {"post": _op(
            "Which of the newest messages the filter would match (changes nothing)",
            "Filters", {200: ("Matches", ref("FilterDryRun"))}, errors=(400, 403, 404),
            params=[USER, FILTER_ID, limit, MAILBOX_Q, TRASH_Q])},
        one + "/apply": {"post": _op(
            "Apply the filter to stored mail: flags and moves (delete moves to Trash; "
            "targets are not forwarded)", "Filters", {200: ("Counts", ref("FilterApplied"))},
            errors=(400, 403, 404),
            params=[USER, FILTER_ID, apply_limit, MAILBOX_Q, TRASH_Q])},
        "/users/{user}/quota/reset": {"post": _op(
            "Recompute the storage used from disk", "Users",
            {200: ("Storage used", ref("QuotaReset"))}, errors=(400, 403, 404),
            params=[USER])},
    }


def with_user_fields(schemas: dict[str, Schema]) -> dict[str, Schema]:
    """``schemas`` with this area's fields added to `UserUpdate` and `UserDetail` (copies:
    the users area's own tables stay as they are)."""
    update = schemas["UserUpdate"]
    schemas["UserUpdate"] = {**update, "properties": {**update["properties"],
                                                      **USER_UPDATE_PROPERTIES}}
    detail = schemas["UserDetail"]
    shown = {**USER_UPDATE_PROPERTIES, "forwards": {"type": "integer", "minimum": 0}}
    schemas["UserDetail"] = {**detail, "properties": {**detail["properties"], **shown},
                             "required": [*detail["required"], *shown]}
    return schemas
