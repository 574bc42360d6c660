"""The OpenAPI description of `/users/{user}/...` (account, security), merged into
`/docs/openapi.json` by `rmail.web.docs.openapi.build_spec`.

Kept apart from `openapi.py` so each area under `/users/{user}` adds its paths here (or in a
module of its own) without touching the others. Successful answers carry `"success": true`.
"""

from __future__ import annotations

from typing import Any

from rmail.store.accounts import PASSWORD_MAX_BYTES
from rmail.web.docs.openapi import BOOL, INT, STR, STR_LIST, Schema, _op, _path_param, obj, ref

SUCCESS: Schema = {"const": True}

USER = _path_param("user", {"type": "string", "minLength": 1, "maxLength": 320},
                   "`me`, or one of the account's addresses (percent-encoded; IDN domains "
                   "in Unicode or punycode)")

# Fields of GET /users/{user}; an area adding a shown field to `USER_FIELDS` adds it here.
USER_DETAIL_PROPERTIES: dict[str, Schema] = {
    "success": SUCCESS,
    "address": {"type": "string", "description": "The main address"},
    "username": STR, "domain": STR, "enabled": BOOL, "admin": BOOL,
    "admin_domains": {**STR_LIST, "description": "Domains this user administers"},
    "quota_mb": INT, "created": {"type": "string", "format": "date-time"},
    "display_name": STR, "name": {"type": "string", "description": "Same as display_name"},
    "addresses": STR_LIST, "submission_enabled": BOOL, "pop3_enabled": BOOL,
    "sender_whitelist": STR_LIST, "recipients_per_day": INT,
    "enabled2fa": {"type": "array", "items": {"enum": ["totp"]},
                   "description": "Second factors in use"},
}

# Fields of PUT /users/{user}; an area adding a field to `USER_FIELDS` adds it here.
USER_UPDATE_PROPERTIES: dict[str, Schema] = {
    "name": {"type": "string", "maxLength": 200, "description": "Display name"},
    "password": {"type": "string", "minLength": 1,
                 "description": f"New password, 1-{PASSWORD_MAX_BYTES} bytes; every token "
                                "and webmail session of the account ends"},
    "existingPassword": {"type": "string",
                         "description": "The current password: required when users change "
                                        "their own password, checked when an admin gives it"},
}


def users_schemas() -> dict[str, Schema]:
    return {
        "Success": obj({"success": SUCCESS}),
        "UserDetail": obj(USER_DETAIL_PROPERTIES),
        "UserUpdate": {**obj(USER_UPDATE_PROPERTIES, []), "minProperties": 1},
    }


def users_paths() -> dict[str, dict[str, Any]]:
    return {
        "/users/{user}": {
            "get": _op("Get an account (yours, or one you administer)", "Users",
                       {200: ("The account", ref("UserDetail"))}, errors=(400, 403, 404),
                       params=[USER]),
            "put": _op("Change an account: display name, password (with existingPassword)",
                       "Users", {200: ("Changed", ref("Success"))}, errors=(403, 404),
                       params=[USER], body=ref("UserUpdate")),
        },
    }
