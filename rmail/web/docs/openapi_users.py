"""The OpenAPI description of `/users/{user}/...` (account, security), merged into
`/docs/openapi.json` by `rmail.web.docs.openapi.build_spec`.

Kept apart from `openapi.py` so each area under `/users/{user}` adds its paths here (or in a
module of its own) without touching the others. Successful answers carry `"success": true`.
"""

from __future__ import annotations

from typing import Any

from rmail.auth import MASTER
from rmail.auth.apppasswords import ALL, DESCRIPTION_MAX, SCOPES
from rmail.store.accounts import PASSWORD_MAX_BYTES
from rmail.web.api.authlog import ACTIONS
from rmail.web.docs.openapi import (
    BOOL,
    INT,
    NULLABLE_STR,
    STR,
    STR_LIST,
    Schema,
    _op,
    _path_param,
    _query,
    obj,
    ref,
)

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


TOKEN: Schema = {"type": "string", "minLength": 1, "maxLength": 64,
                 "description": "A current 6-digit TOTP code or an unused recovery code"}
ASP_SCOPE: Schema = {"enum": [*SCOPES, ALL]}
ADDRESS = _path_param("address", {"type": "string", "minLength": 1, "maxLength": 320},
                      "One of the account's addresses, percent-encoded")
ASP_ID = _path_param("id", {"type": "string", "pattern": "^[0-9a-f]{24}$"},
                     "The application password's id")


def users_schemas() -> dict[str, Schema]:
    asp = {"id": STR, "description": STR, "scopes": {"type": "array", "items": ASP_SCOPE},
           "created": {"type": "string", "format": "date-time"}}
    return {
        "Success": obj({"success": SUCCESS}),
        "UserDetail": obj(USER_DETAIL_PROPERTIES),
        "UserUpdate": {**obj(USER_UPDATE_PROPERTIES, []), "minProperties": 1},
        "Asp": obj({**asp, "last_used": NULLABLE_STR, "last_ip": NULLABLE_STR}),
        "AspList": obj({"success": SUCCESS,
                        "results": {"type": "array", "items": ref("Asp")}}),
        "AspCreate": obj({
            "description": {"type": "string", "minLength": 1, "maxLength": DESCRIPTION_MAX},
            "scopes": {"type": "array", "items": ASP_SCOPE, "minItems": 1, "maxItems": 20}}),
        "AspCreated": obj({"success": SUCCESS, **asp, "password": {
            "type": "string", "pattern": "^[a-z]{16}$",
            "description": "Shown this once; spaces and case are ignored when typed"}}),
        "TotpEnrolment": obj({"success": SUCCESS,
                              "uri": {"type": "string", "description": "otpauth:// URI"},
                              "qrcode": {"type": "string",
                                         "description": "data:image/png;base64,... QR code"},
                              "seed": {"type": "string", "description": "Base32 secret"}}),
        "TotpToken": obj({"token": TOKEN}),
        "TotpDisable": obj({"password": STR, "token": TOKEN}, []),
        "RecoveryCodes": obj({"success": SUCCESS, "recoveryCodes": STR_LIST}),
        "TotpChecked": obj({"success": SUCCESS, "kind": {"enum": ["totp", "recovery"]}}),
        "AuthLogEntry": obj({name: STR for name in (
            "id", "action", "result", "protocol", "scope", "asp", "ip", "userAgent", "reason",
            "created")}),
        "AuthLog": obj({"success": SUCCESS, "action": {"type": ["string", "null"]},
                        "total": INT, "page": INT, "previousCursor": NULLABLE_STR,
                        "nextCursor": NULLABLE_STR,
                        "results": {"type": "array", "items": ref("AuthLogEntry")}}),
        "DomainList": obj({"domains": STR_LIST}),
        "AddressList": obj({"success": SUCCESS, "results": {"type": "array", "items": obj(
            {"address": STR, "main": BOOL})}}),
        "AddressAdd": obj({"address": {"type": "string", "minLength": 3, "maxLength": 320},
                           "main": BOOL}, ["address"]),
        "AddressMain": obj({"main": {"const": True}}),
        "AddressSearch": obj({"success": SUCCESS, "total": INT, "results": {
            "type": "array", "items": obj({"address": STR, "user": STR, "domain": STR})}}),
        "DomainAdd": obj({"domain": {"type": "string", "minLength": 1, "maxLength": 253}}),
        "DomainAdded": obj({"domain": STR}),
        "AuthenticateRequest": obj({
            "username": {"type": "string", "minLength": 1,
                         "description": "A bare name or any of the user's addresses"},
            "password": STR,
            "scope": {"enum": [MASTER, *SCOPES]},
            "protocol": STR, "ip": {"type": "string", "description": "The end user's IP"},
            "sess": STR, "userAgent": STR}, ["username", "password"]),
        "Authenticated": obj({
            "success": SUCCESS, "id": STR, "username": STR, "address": STR, "scope": STR,
            "require2fa": {"oneOf": [{"const": False},
                                     {"type": "array", "items": {"enum": ["totp"]}}]},
            "asp": NULLABLE_STR}),
    }


def users_paths() -> dict[str, dict[str, Any]]:
    paths = _paths()
    paths["/users/{user}/2fa"]["delete"]["requestBody"] = {
        "required": False, "content": {"application/json": {"schema": ref("TotpDisable")}}}
    return paths


def _paths() -> dict[str, dict[str, Any]]:
    return {
        "/users/{user}": {
            "get": _op("Get an account (yours, or one you administer)", "Users",
                       {200: ("The account", ref("UserDetail"))}, errors=(400, 403, 404),
                       params=[USER]),
            "put": _op("Change an account: display name, password (with existingPassword)",
                       "Users", {200: ("Changed", ref("Success"))}, errors=(403, 404),
                       params=[USER], body=ref("UserUpdate")),
        },
        "/users/{user}/asps": {
            "get": _op("List application passwords", "Users",
                       {200: ("Application passwords", ref("AspList"))},
                       errors=(400, 403, 404), params=[USER]),
            "post": _op("Create an application password (shown once)", "Users",
                        {200: ("Created", ref("AspCreated"))}, errors=(403, 404),
                        params=[USER], body=ref("AspCreate")),
        },
        "/users/{user}/asps/{id}": {"delete": _op(
            "Revoke an application password", "Users", {200: ("Revoked", ref("Success"))},
            errors=(400, 403, 404), params=[USER, ASP_ID])},
        "/users/{user}/2fa": {
            "post": _op("Start TOTP enrolment (not active until PUT)", "Users",
                        {200: ("Secret, otpauth URI and QR code", ref("TotpEnrolment"))},
                        errors=(400, 403, 404, 409), params=[USER]),
            "put": _op("Activate TOTP with a current code; answers the recovery codes",
                       "Users", {200: ("Active", ref("RecoveryCodes"))},
                       errors=(403, 404, 409), params=[USER], body=ref("TotpToken")),
            "delete": _op("Turn TOTP off (users: password and token; admins: nothing)",
                          "Users", {200: ("Off", ref("Success"))},
                          errors=(400, 403, 404, 409, 413), params=[USER]),
            "get": _op("Check a TOTP or recovery code (it is used up)", "Users",
                       {200: ("Valid", ref("TotpChecked"))}, errors=(400, 403, 404, 409),
                       params=[USER, _query("token", TOKEN, "The code")]),
        },
        "/users/{user}/2fa/recovery": {"post": _op(
            "Replace the recovery codes (a current code as proof)", "Users",
            {200: ("New codes", ref("RecoveryCodes"))}, errors=(403, 404, 409),
            params=[USER], body=ref("TotpToken"))},
        "/users/{user}/authlog": {"get": _op(
            "The account's auth log, newest first (30 days)", "Users",
            {200: ("A page of entries", ref("AuthLog"))}, errors=(400, 403, 404),
            params=[USER,
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 250},
                           "Entries per page (default 20)"),
                    _query("page", {"type": "integer", "minimum": 1}, "Echoed"),
                    _query("next", STR, "Cursor for older entries"),
                    _query("previous", STR, "Cursor for newer entries"),
                    _query("action", {"enum": list(ACTIONS)}, "Only this action")])},
        "/users/{user}/addresses": {
            "get": _op("The account's addresses (the first is the main one)", "Users",
                       {200: ("Addresses", ref("AddressList"))}, errors=(400, 403, 404),
                       params=[USER]),
            "post": _op("Add an address (users: in their own domain)", "Users",
                        {200: ("Addresses", ref("AddressList"))}, errors=(403, 404, 409),
                        params=[USER], body=ref("AddressAdd")),
        },
        "/users/{user}/addresses/{address}": {
            "put": _op("Make this address the main one", "Users",
                       {200: ("Addresses", ref("AddressList"))}, errors=(403, 404),
                       params=[USER, ADDRESS], body=ref("AddressMain")),
            "delete": _op("Remove an address (not the main or login one)", "Users",
                          {200: ("Addresses", ref("AddressList"))},
                          errors=(400, 403, 404, 409), params=[USER, ADDRESS]),
        },
        "/addresses": {"get": _op(
            "Search the addresses of the domains you administer", "Admin",
            {200: ("Matches", ref("AddressSearch"))}, auth="admin", errors=(400,),
            params=[_query("query", {"type": "string", "maxLength": 320}, "Substring"),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000},
                           "At most this many (default 100)")])},
        "/admin/domains": {
            "get": _op("Domains you administer (all, for a global admin)", "Admin",
                       {200: ("Domains", ref("DomainList"))}, auth="admin"),
            "post": _op("Host a new domain (global admins)", "Admin",
                        {201: ("Added", ref("DomainAdded"))}, auth="admin", errors=(409,),
                        body=ref("DomainAdd")),
        },
        "/authenticate": {"post": _op(
            "Check a user's credentials (global admins and API keys)", "Users",
            {200: ("Valid", ref("Authenticated"))}, auth="admin", errors=(404,),
            body=ref("AuthenticateRequest"))},
    }
