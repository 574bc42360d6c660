"""Every protocol follows `rmail.auth`'s rules, driven by real clients: without two-factor the
master password opens IMAP, POP3, submission, CalDAV and the drive; with two-factor on it opens
none of them, an application password of the right scope does and one of another scope does
not; every attempt is in the user's auth log with its protocol."""

from __future__ import annotations

import imaplib
import json
import poplib
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pyotp
import pytest

from tests.auth.e2e.conftest import DOMAIN, PASSWORDS, Live, tool

SCOPES = ("imap", "pop3", "smtp", "caldav", "dav")
CALDAV_SCRIPT = Path(__file__).with_name("caldav_login.py")


def imap_ok(live: Live, user: str, password: str) -> bool:
    client = imaplib.IMAP4(*live.addr("imap"), timeout=30)
    try:
        client.login(user, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        client.shutdown()
    return True


def pop3_ok(live: Live, user: str, password: str) -> bool:
    client = poplib.POP3(*live.addr("pop3"), timeout=30)
    try:
        client.user(user)
        client.pass_(password)
    except poplib.error_proto:
        return False
    finally:
        client.close()
    return True


def smtp_ok(live: Live, user: str, password: str) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(*live.addr("submission"), timeout=30) as client:
        client.starttls(context=context)
        try:
            client.login(user, password)
        except smtplib.SMTPAuthenticationError:
            return False
    return True


def caldav_ok(live: Live, user: str, password: str) -> bool:
    out = subprocess.run([sys.executable, str(CALDAV_SCRIPT), f"{live.http}/caldav/", user,
                          password], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout)
    return "calendars" in result and result["calendars"] >= 1


def dav_ok(live: Live, user: str, password: str) -> bool:
    curl = tool("curl")
    out = subprocess.run([curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X",
                          "PROPFIND", "-H", "Depth: 1", "-H", "Content-Type: application/xml",
                          "-u", f"{user}:{password}", f"{live.http}/drive/"],
                         capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout in ("200", "207", "401"), out.stdout
    return out.stdout != "401"


CHECKS = {"imap": imap_ok, "pop3": pop3_ok, "smtp": smtp_ok, "caldav": caldav_ok,
          "dav": dav_ok}


def test_master_password_without_two_factor(live: Live) -> None:
    user = f"alice@{DOMAIN}"
    for scope, check in CHECKS.items():
        assert check(live, user, PASSWORDS["alice"]), scope
        assert not check(live, user, "wrong password"), scope


def test_two_factor_needs_scoped_app_passwords(live: Live) -> None:
    user = f"bob@{DOMAIN}"
    token = live.token("bob")
    asps: dict[str, str] = {}
    for scope in SCOPES:
        reply = live.api("POST", "/users/me/asps", token=token,
                         json={"description": f"{scope} client", "scopes": [scope]})
        assert reply.status_code == 200, reply.text
        asps[scope] = reply.json()["password"]
    seed = live.api("POST", "/users/me/2fa", token=token).json()["seed"]
    totp = pyotp.TOTP(seed)
    t0 = time.time()
    reply = live.api("PUT", "/users/me/2fa", token=token, json={"token": totp.at(t0)})
    assert reply.status_code == 200, reply.text

    for scope, check in CHECKS.items():
        assert not check(live, user, PASSWORDS["bob"]), f"master password opened {scope}"
        assert check(live, user, asps[scope]), f"{scope} password refused by {scope}"
        other = asps["imap" if scope != "imap" else "pop3"]
        assert not check(live, user, other), f"another scope's password opened {scope}"

    token = live.token("bob", totp.at(t0 + 30))
    log = live.api("GET", "/users/me/authlog?limit=250", token=token).json()["results"]
    seen = {(e["protocol"], e["result"], bool(e["asp"])) for e in log
            if e["action"] == "authentication"}
    for scope in SCOPES:
        assert (scope, "success", True) in seen, scope
        assert (scope, "fail", False) in seen, scope  # the master password, refused
    assert any("two-factor" in e["reason"] for e in log)


def test_swaks_and_cadaver_with_app_passwords(live: Live, tmp_path: Path) -> None:
    swaks, cadaver = tool("swaks"), tool("cadaver")
    token = live.token("alice")
    made = {scope: live.api("POST", "/users/me/asps", token=token, json={
        "description": scope, "scopes": [scope]}).json()["password"] for scope in ("smtp", "dav")}
    host, port = live.addr("submission")

    def send(password: str) -> int:
        return subprocess.run(
            [swaks, "--server", host, "--port", str(port), "--from", f"alice@{DOMAIN}",
             "--to", f"bob@{DOMAIN}", "--tls", "--auth", "PLAIN", "--auth-user",
             f"alice@{DOMAIN}", "--auth-password", password],
            capture_output=True, text=True, timeout=120).returncode

    assert send(made["smtp"]) == 0
    assert send(made["dav"]) == 28  # AUTH refused: not an smtp password
    http_host, _ = live.addr("http")

    def browse(password: str, name: str) -> str:
        (tmp_path / ".netrc").write_text(
            f"machine {http_host}\nlogin alice@{DOMAIN}\npassword {password}\n")
        (tmp_path / ".netrc").chmod(0o600)
        (tmp_path / name).write_text("hello\n")
        out = subprocess.run([cadaver, f"{live.http}/drive/"], cwd=tmp_path,
                             input=f"put {name}\nls\nquit\n", capture_output=True, text=True,
                             env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
                             timeout=120)
        return out.stdout + out.stderr

    out = browse(made["dav"], "note.txt")
    assert "failed" not in out.lower() and "note.txt" in out, out
    browse(made["smtp"], "refused.txt")  # cadaver gets 401 and gives up (or asks in vain)
    names = {e["name"] for e in live.api("GET", "/drive/", auth=(
        f"alice@{DOMAIN}", made["dav"])).json()["children"]}
    assert "note.txt" in names and "refused.txt" not in names, names


@pytest.mark.parametrize("scope", ["imap"])
def test_revoked_app_password_stops_at_once(live: Live, scope: str) -> None:
    token = live.token("alice")
    made = live.api("POST", "/users/me/asps", token=token,
                    json={"description": "x", "scopes": [scope]}).json()
    user = f"alice@{DOMAIN}"
    for _ in range(3):
        assert imap_ok(live, user, made["password"])
    assert live.api("DELETE", f"/users/me/asps/{made['id']}", token=token).status_code == 200
    for _ in range(3):
        assert not imap_ok(live, user, made["password"])


def test_mbsync_with_an_app_password(live: Live, tmp_path: Path) -> None:
    mbsync = tool("mbsync")
    token = live.token("alice")
    seed = live.api("POST", "/users/me/2fa", token=token).json()["seed"]
    assert live.api("PUT", "/users/me/2fa", token=token,
                    json={"token": pyotp.TOTP(seed).now()}).status_code == 200
    asps = {scope: live.api("POST", "/users/me/asps", token=token, json={
        "description": scope, "scopes": [scope]}).json()["password"]
        for scope in ("imap", "caldav")}
    host, port = live.addr("imap")

    def sync(password: str) -> int:
        base = tmp_path / password
        (base / "mail").mkdir(parents=True)
        conf = base / "mbsyncrc"
        conf.write_text(f"IMAPAccount rmail\nHost {host}\nPort {port}\n"
                        f"User alice@{DOMAIN}\nPass \"{password}\"\nSSLType None\n"
                        f"AuthMechs LOGIN\n\nIMAPStore remote\nAccount rmail\n\n"
                        f"MaildirStore local\nPath {base}/mail/\nInbox {base}/mail/INBOX\n"
                        f"SubFolders Verbatim\n\nChannel sync\nFar :remote:\nNear :local:\n"
                        f"Patterns *\nCreate Both\nSyncState *\n")
        return subprocess.run([mbsync, "-c", str(conf), "-a"], capture_output=True,
                              text=True, timeout=300,
                              env={"HOME": str(base), "PATH": "/usr/bin:/bin"}).returncode

    assert sync(asps["imap"]) == 0
    assert (tmp_path / asps["imap"] / "mail" / "INBOX").is_dir()
    assert sync(asps["caldav"]) != 0
    assert sync(PASSWORDS["alice"]) != 0  # the master password, with two-factor on


def test_imap_id_names_the_client_in_the_auth_log(live: Live) -> None:
    client = imaplib.IMAP4(*live.addr("imap"), timeout=30)
    try:
        client.xatom("ID", '("name" "TestMUA" "version" "1.0")')
        client.login(f"alice@{DOMAIN}", PASSWORDS["alice"])
    finally:
        client.shutdown()
    token = live.token("alice")
    log = live.api("GET", "/users/me/authlog?action=authentication", token=token).json()
    assert any(e["protocol"] == "imap" and e["userAgent"] == "TestMUA"
               for e in log["results"]), log
