"""The OpenAPI description of the mail controller's REST API (`rmail.web.api.provisioning`),
merged into `/docs/openapi.json` by `rmail.web.docs.openapi.build_spec`.

Every route is described twice, as the controller writes it (`/mail/account/`) and without the
trailing slash, because both are served; bodies are described as JSON and as a form.
"""

from __future__ import annotations

from typing import Any

from rmail.store.accounts import PASSWORD_MAX_BYTES

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
# true/false, 1/0, on/off, yes/no in any case (form fields are strings; JSON may send either)
_WORDS = ("true", "false", "1", "0", "on", "off", "yes", "no")
BOOL_WORD: Schema = {"type": "string", "pattern": "^(" + "|".join(
    "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in w) for w in _WORDS)
    + ")$"}
BOOLISH: Schema = {"oneOf": [{"type": "boolean"}, BOOL_WORD]}
NAME: Schema = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$",
                "description": "The part before @ (lowercased)"}
DOMAIN: Schema = {"type": "string", "minLength": 1, "maxLength": 253,
                  "description": "Domain (IDN allowed); created when rmail does not host it"}
TO: Schema = {"type": "string", "minLength": 3, "maxLength": 64000,
              "description": "One or more comma-separated addresses"}
WHITELIST: Schema = {"type": "string", "maxLength": 32000,
                     "description": "Comma-separated addresses, domains (`@example.com` or "
                                    "`example.com`) or `*`, usable as From besides the "
                                    "account's own"}
PASSWORD: Schema = {"type": "string", "minLength": 1,
                    "description": f"Plain text, 1-{PASSWORD_MAX_BYTES} bytes"}


def _closed(properties: dict[str, Schema], required: list[str]) -> Schema:
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


SCHEMAS: dict[str, Schema] = {
    "MailAccount": {**_closed({
        "id": {"type": "string", "description": "The address, name@domain"},
        "name": STR, "domain": STR,
        "password": {"type": "string", "description": "The stored hash (read only)"},
        "spoofing_whitelist": STR, "submission_disabled": {"type": "boolean"},
    }, ["id", "name", "domain", "password", "spoofing_whitelist", "submission_disabled"])},
    "MailAccountList": {"type": "array", "items": {"$ref": "#/components/schemas/MailAccount"}},
    "MailAccountCreate": _closed({"name": NAME, "domain": DOMAIN, "password": PASSWORD,
                                  "submission_disabled": BOOLISH,
                                  "spoofing_whitelist": WHITELIST},
                                 ["name", "domain", "password"]),
    "MailPassword": _closed({"password": PASSWORD}, ["password"]),
    "MailWhitelist": _closed({"spoofing_whitelist": WHITELIST}, ["spoofing_whitelist"]),
    "MailEmpty": _closed({}, []),
    "MailAlias": _closed({"id": STR, "name": STR, "domain": STR, "to": STR},
                         ["id", "name", "domain", "to"]),
    "MailAliasList": {"type": "array", "items": {"$ref": "#/components/schemas/MailAlias"}},
    "MailAliasCreate": _closed({"name": {"type": "string", "minLength": 1, "maxLength": 64,
                                         "pattern": "^[^@]+$"},
                                "domain": DOMAIN, "to": TO}, ["name", "domain", "to"]),
    "MailAliasUpdate": _closed({"to": TO, "id": STR, "name": STR, "domain": STR}, ["to"]),
}

ERRORS = {
    400: "Validation failed; the message names the field",
    401: "Missing or invalid admin token or API key",
    403: "Not a global admin, or plain HTTP from outside the trusted networks",
    404: "No such account or alias",
    409: "Exists already (an account, an alias or another user's address)",
    413: "Body larger than 64 KiB",
    415: "Neither JSON nor a form",
    429: "Rate limit exceeded, or this IP is locked out after failed attempts",
}


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(summary: str, ok: tuple[int, str, str | None], *, errors: tuple[int, ...] = (),
        body: str | None = None, params: list[Schema] | None = None,
        body_required: bool = True) -> dict[str, Any]:
    status, text, schema = ok
    responses: dict[str, Any] = {str(status): {"description": text}}
    if schema is not None:
        responses[str(status)]["content"] = {"application/json": {"schema": _ref(schema)}}
    codes = {401, 403, 429, *errors}
    if body is not None:
        codes |= {400, 413, 415}
    for code in sorted(codes):
        responses[str(code)] = {"description": ERRORS[code],
                                "content": {"application/json": {"schema": _ref("Error")}}}
    op: dict[str, Any] = {"summary": summary, "tags": ["Provisioning"], "responses": responses,
                          "security": [{"bearer": []}, {"apiKey": []}, {"basic": []}]}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {
            "application/json": {"schema": _ref(body)},
            "application/x-www-form-urlencoded": {"schema": _ref(body)}}}
    return op


ID = {"name": "id", "in": "path", "required": True,
      "schema": {"type": "string", "minLength": 3, "pattern": "^[^/]+@[^/]+$"},
      "description": "The address (name@domain)"}
DOMAIN_Q = {"name": "domain", "in": "query", "required": False, "schema": STR,
            "description": "Only this domain (default: every domain)"}


def provisioning_paths() -> dict[str, dict[str, Any]]:
    """Every path with and without its trailing slash."""
    account_ok = (200, "The account", "MailAccount")
    canonical: dict[str, dict[str, Any]] = {
        "/mail/account/": {
            "get": _op("List accounts", (200, "Accounts", "MailAccountList"),
                       errors=(400,), params=[DOMAIN_Q]),
            "post": _op("Create an account (and its domain when new)",
                        (201, "Created", "MailAccount"), errors=(409,),
                        body="MailAccountCreate"),
        },
        "/mail/account/{id}/": {
            "get": _op("Get an account", account_ok, errors=(404,), params=[ID]),
            "delete": _op("Delete an account (data kept for provisioning.delete_grace_days)",
                          (204, "Deleted", None), errors=(404,), params=[ID]),
        },
        "/mail/account/{id}/set_password/": {"post": _op(
            "Set a new password (plain text)", account_ok, errors=(404,), params=[ID],
            body="MailPassword")},
        "/mail/account/{id}/disable_submission/": {"post": _op(
            "Stop sending from this account (receiving goes on)", account_ok, errors=(404,),
            params=[ID], body="MailEmpty", body_required=False)},
        "/mail/account/{id}/enable_submission/": {"post": _op(
            "Allow sending from this account", account_ok, errors=(404,), params=[ID],
            body="MailEmpty", body_required=False)},
        "/mail/account/{id}/set_spoofing_whitelist/": {"post": _op(
            "Set the addresses and domains usable as From", account_ok, errors=(404,),
            params=[ID], body="MailWhitelist")},
        "/mail/alias/": {
            "get": _op("List aliases", (200, "Aliases", "MailAliasList"), errors=(400,),
                       params=[DOMAIN_Q]),
            "post": _op("Create an alias (and its domain when new)",
                        (201, "Created", "MailAlias"), errors=(409,), body="MailAliasCreate"),
        },
        "/mail/alias/{id}/": {
            "get": _op("Get an alias", (200, "The alias", "MailAlias"), errors=(404,),
                       params=[ID]),
            "put": _op("Replace the alias's recipients", (200, "Updated", "MailAlias"),
                       errors=(404,), params=[ID], body="MailAliasUpdate"),
            "delete": _op("Delete an alias", (204, "Deleted", None), errors=(404,),
                          params=[ID]),
        },
    }
    paths: dict[str, dict[str, Any]] = {}
    for path, ops in canonical.items():
        paths[path] = ops
        paths[path.rstrip("/")] = ops
    return paths
