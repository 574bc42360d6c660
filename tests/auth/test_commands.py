"""`rmail user app-password add|list|delete` and `rmail user set --admin-domains`, run as a
real subprocess against a temporary store; the passwords it prints open exactly their scopes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rmail.auth import Authenticator, AuthError
from tests.test_cli import cfg, rmail, store

__all__ = ["cfg"]  # the fixture, shared with the CLI's own tests


def test_app_password_lifecycle(cfg: Path) -> None:
    r = rmail(cfg, "user", "add", "bob@example.com", "--password-stdin", stdin="bob pass\n")
    assert r.returncode == 0, r.stderr
    r = rmail(cfg, "user", "app-password", "add", "bob@example.com", "--scopes", "imap,smtp",
              "--description", "Thunderbird")
    assert r.returncode == 0, r.stderr
    fields = dict(line.split(": ", 1) for line in r.stdout.strip().splitlines())
    assert re.fullmatch(r"[a-z]{16}", fields["password"]) and fields["scopes"] == "imap smtp"
    auth = Authenticator(store(cfg))
    principal = auth.authenticate_sync("bob@example.com", fields["password"], scope="imap")
    assert principal.asp == fields["id"]
    with pytest.raises(AuthError):
        auth.authenticate_sync("bob@example.com", fields["password"], scope="caldav")
    with pytest.raises(AuthError):
        auth.authenticate_sync("bob@example.com", fields["password"])  # never the master scope
    listed = json.loads(rmail(cfg, "user", "app-password", "list", "bob@example.com").stdout)
    assert [(e["id"], e["description"]) for e in listed] == [(fields["id"], "Thunderbird")]
    assert listed[0]["last_used"] and "hash" not in listed[0]
    r = rmail(cfg, "user", "app-password", "delete", "bob@example.com", fields["id"])
    assert r.returncode == 0, r.stderr
    with pytest.raises(AuthError):
        Authenticator(store(cfg)).authenticate_sync("bob@example.com", fields["password"],
                                                    scope="imap")
    r = rmail(cfg, "user", "app-password", "delete", "bob@example.com", fields["id"])
    assert r.returncode == 1 and "no such" in r.stderr
    for bad in (["--scopes", "root"], ["--scopes", ""]):
        r = rmail(cfg, "user", "app-password", "add", "bob@example.com", *bad,
                  "--description", "x")
        assert r.returncode == 1, bad
    r = rmail(cfg, "user", "app-password", "list", "nobody@example.com")
    assert r.returncode == 1
    entries = store(cfg).layout.authlog_file("example.com", "bob").read_text().splitlines()
    actions = [json.loads(line)["action"] for line in entries]
    assert "create asp" in actions and "delete asp" in actions


def test_admin_domains(cfg: Path) -> None:
    assert rmail(cfg, "user", "add", "bob@example.com", "--password-stdin",
                 stdin="pw\n").returncode == 0
    r = rmail(cfg, "user", "set", "bob@example.com", "--admin-domains", "other.org")
    assert r.returncode == 1 and "rmail domain add" in r.stderr
    assert rmail(cfg, "domain", "add", "other.org").returncode == 0
    r = rmail(cfg, "user", "set", "bob@example.com", "--admin-domains", "Other.ORG")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["admin_domains"] == ["other.org"]
    r = rmail(cfg, "user", "set", "bob@example.com", "--admin-domains", "")
    assert json.loads(r.stdout)["admin_domains"] == []
