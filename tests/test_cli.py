"""The command line, run as a real subprocess (`bin/rmail`) against a temporary store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rmail.auth import Authenticator
from rmail.store.accounts import Accounts

REPO = Path(__file__).resolve().parents[1]
RMAIL = [sys.executable, str(REPO / "bin" / "rmail")]


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"mail_root": "./store", "domains": ["example.com"],
                                "listeners": {"http": {"port": 0}}}))
    return path


def rmail(cfg: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RMAIL_CONFIG", None)
    return subprocess.run([*RMAIL, "--config", str(cfg), *args], capture_output=True,
                          text=True, input=stdin, env=env, timeout=120, cwd=cfg.parent)


def store(cfg: Path) -> Accounts:
    return Accounts(cfg.parent / "store")


def test_help_and_version_work_without_a_config(tmp_path: Path) -> None:
    out = subprocess.run([*RMAIL, "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0
    for command in ("serve", "user", "domain", "alias", "check"):
        assert command in out.stdout
    mod = subprocess.run([sys.executable, "-m", "rmail", "--version"], capture_output=True,
                         text=True, cwd=REPO)
    assert mod.returncode == 0 and mod.stdout.startswith("rmail ")


def test_user_lifecycle(cfg: Path) -> None:
    r = rmail(cfg, "user", "add", "bob@example.com", "--password-stdin", "--quota", "20",
              "--name", "Bob", "--address", "robert@example.com", stdin="s3cret pass\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "created bob@example.com"
    acc = store(cfg).get("example.com", "bob")
    assert acc.quota_mb == 20 and acc.display_name == "Bob"
    assert acc.addresses == ("bob@example.com", "robert@example.com")
    auth = Authenticator(store(cfg))
    assert auth.authenticate_sync("robert@example.com", "s3cret pass").username == "bob"

    shown = json.loads(rmail(cfg, "user", "show", "bob@example.com").stdout)
    assert shown["quota_mb"] == 20 and "password_hash" not in shown

    listed = rmail(cfg, "user", "list").stdout.splitlines()
    assert listed == ["bob@example.com\t20 MB"]

    r = rmail(cfg, "user", "set", "bob@example.com", "--admin", "true", "--enabled", "false",
              "--sender-whitelist", "@example.org, *", "--remove-address",
              "robert@example.com", "--pop3", "false")
    assert r.returncode == 0, r.stderr
    acc = store(cfg).get("example.com", "bob")
    assert acc.admin and not acc.enabled and not acc.pop3_enabled
    assert acc.sender_whitelist == ("@example.org", "*")
    assert acc.addresses == ("bob@example.com",)

    r = rmail(cfg, "user", "passwd", "bob@example.com")
    assert r.returncode == 0
    generated = r.stdout.splitlines()[-1].removeprefix("password: ")
    after = store(cfg).get("example.com", "bob")
    assert after.auth_epoch == acc.auth_epoch + 1
    rmail(cfg, "user", "set", "bob@example.com", "--enabled", "true")
    assert auth.authenticate_sync("bob@example.com", generated).username == "bob"

    refused = rmail(cfg, "user", "delete", "bob@example.com")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert rmail(cfg, "user", "delete", "bob@example.com", "--yes").returncode == 0
    assert not (cfg.parent / "store/domains/example.com/users/bob").exists()


def test_generated_password_and_imported_hash(cfg: Path) -> None:
    r = rmail(cfg, "user", "add", "carol@example.com")
    assert r.returncode == 0
    password = r.stdout.splitlines()[-1].removeprefix("password: ")
    auth = Authenticator(store(cfg))
    assert auth.authenticate_sync("carol@example.com", password).username == "carol"

    md5 = "$1$9hW1N3SC$J6vfo890zc50GC1jYHP211"  # from the provisioning seed document
    r = rmail(cfg, "user", "add", "dave@example.com", "--password-hash", md5)
    assert r.returncode == 0, r.stderr
    assert store(cfg).get("example.com", "dave").password_hash == md5

    bad = rmail(cfg, "user", "add", "erin@example.com", "--password-hash", "plaintext")
    assert bad.returncode == 1 and "unsupported password hash" in bad.stderr


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["user", "add", "noat"], None, "user@domain"),
    (["user", "add", "x@nowhere.test"], None, "no domain nowhere.test"),
    (["user", "add", "bad name@example.com"], None, "local part"),
    (["user", "add", "a@example.com", "--password-stdin"], "\n", "password must be 1-1024"),
    (["user", "add", "a@example.com", "--password", "x" * 1025], None, "1-1024 bytes"),
    (["user", "add", "a@example.com", "--quota", "2000000", "--password", "p"], None,
     "quota_mb"),
    (["user", "show", "ghost@example.com"], None, "no user ghost@example.com"),
    (["user", "passwd", "ghost@example.com"], None, "no user"),
    (["user", "set", "ghost@example.com", "--admin", "true"], None, "no user"),
    (["user", "delete", "ghost@example.com", "--yes"], None, "no user"),
    (["domain", "add", "not a domain"], None, "not a valid domain"),
    (["domain", "add", "example.com"], None, "exists"),
    (["domain", "delete", "nowhere.test"], None, "no domain"),
    (["alias", "add", "--regex", "example.com", "(", "bob"], None, "regular expression"),
    (["alias", "add", "office@example.com"], None, None),
    (["alias", "delete", "nothing@example.com"], None, "no alias"),
    (["alias", "delete", "--regex", "example.com", "x.*"], None, "no alias rule"),
])
def test_bad_input_is_a_clear_error(cfg: Path, args: list[str], stdin: str | None,
                                    message: str | None) -> None:
    r = rmail(cfg, *args, stdin=stdin)
    assert r.returncode in (1, 2), r.stdout
    assert "Traceback" not in r.stderr
    if message is not None:
        assert message in r.stderr


def test_usage_errors_exit_2(cfg: Path) -> None:
    assert rmail(cfg, "user", "set", "a@example.com", "--admin", "maybe").returncode == 2
    assert rmail(cfg, "frobnicate").returncode == 2
    assert rmail(cfg).returncode == 2


def test_bad_config_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"mail_root": "./s", "quota_mb_default": "lots"}))
    r = rmail(path, "domain", "list")
    assert r.returncode == 2
    assert "quota_mb_default" in r.stderr and "Traceback" not in r.stderr
    path.write_text("{not json")
    r = rmail(path, "domain", "list")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_domains_and_aliases(cfg: Path) -> None:
    assert rmail(cfg, "domain", "add", "Bücher.example").stdout.strip() == \
        "added xn--bcher-kva.example"
    assert rmail(cfg, "user", "add", "bob@example.com", "--password", "p").returncode == 0
    assert rmail(cfg, "user", "add", "amy@example.com", "--password", "p").returncode == 0
    r = rmail(cfg, "alias", "add", "office@example.com", "bob,amy@example.com")
    assert r.stdout.strip() == "office@example.com -> bob@example.com, amy@example.com"
    assert rmail(cfg, "alias", "add", "--regex", "example.com", "sales-.*", "bob").returncode == 0
    assert rmail(cfg, "alias", "list", "example.com").stdout.splitlines() == [
        "office@example.com\tbob@example.com, amy@example.com",
        "example.com\t/sales-.*/\tbob@example.com"]
    acc = store(cfg)
    assert set(acc.resolve("office@example.com").users) == {("example.com", "bob"),
                                                            ("example.com", "amy")}
    assert acc.resolve("sales-eu@example.com").users == (("example.com", "bob"),)
    assert rmail(cfg, "alias", "delete", "--regex", "example.com", "sales-.*").returncode == 0
    assert rmail(cfg, "alias", "delete", "office@example.com").returncode == 0
    assert rmail(cfg, "alias", "list").stdout == ""
    configured = rmail(cfg, "domain", "delete", "example.com", "--force")
    assert configured.returncode == 1 and "remove it there first" in configured.stderr
    assert rmail(cfg, "user", "add", "b@bücher.example", "--password", "p").returncode == 0
    refused = rmail(cfg, "domain", "delete", "bücher.example")
    assert refused.returncode == 1 and "user(s)" in refused.stderr
    assert rmail(cfg, "domain", "delete", "bücher.example", "--force").returncode == 0
    assert rmail(cfg, "domain", "list").stdout.splitlines() == ["example.com\t2 user(s)"]


def test_check_reports_and_repairs(cfg: Path) -> None:
    assert rmail(cfg, "user", "add", "bob@example.com", "--password", "p").returncode == 0
    from rmail.store.mailbox import MailStore

    folder = MailStore(cfg.parent / "store").mailbox("example.com", "bob").folder("INBOX")
    folder.append(b"Subject: one\r\n\r\nbody\r\n")
    with open(folder.layout.journal, "ab") as f:
        f.write(b'{"op":"flags","mod')  # a torn write
    clean = rmail(cfg, "check", "--no-repair")
    assert clean.returncode == 1
    assert "torn last line" in clean.stdout
    fixed = rmail(cfg, "check")
    assert fixed.returncode == 0, fixed.stdout
    assert "1 problem(s), 1 repaired" in fixed.stdout
    again = rmail(cfg, "check")
    assert again.returncode == 0 and "0 problem(s)" in again.stdout
    rebuilt = rmail(cfg, "check", "--reindex")
    assert rebuilt.returncode == 0 and "search index rebuilt: 1 message(s)" in rebuilt.stdout
