"""Debian's fetchmail and getmail6 against the pop3 and pop3s listeners: 1,000 messages
downloaded byte for byte over STLS and POP3S, then again with "keep" (nothing new; the
messages stay) and with "delete" (they end in Trash, \\Seen)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.pop3.conftest import ADDRESS, DOMAIN, PASSWORD, Pop3Server, StartPop3, message

FETCHMAIL = shutil.which("fetchmail")
GETMAIL = shutil.which("getmail")
COUNT = 1000
SEEN = "\\Seen"
COPY = f"bob@{DOMAIN}"


def _fill(pop3: Pop3Server, count: int, start: int = 1) -> dict[bytes, bytes]:
    """Deliver `count` messages of about 4 KB (some with dot-lines); Message-ID -> bytes."""
    raws = []
    for n in range(start, start + count):
        body = "hello\r\n.a line starting with a dot\r\n..two" if n % 7 == 0 else "hello"
        # Return-Path: getmail6 takes the envelope sender for its LMTP delivery from it
        raws.append(b"Return-Path: <sender%d@example.org>\r\n" % n
                    + message(n, body=body, size=4096))
    pop3.folder().append_many([(raw, (), None) for raw in raws])
    return {_msgid(raw): raw for raw in raws}


def _msgid(raw: bytes) -> bytes:
    for line in raw.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip()
    raise AssertionError("no Message-ID")


def _received(outdir: Path) -> dict[bytes, bytes]:
    got = {}
    for path in outdir.iterdir():
        raw = path.read_bytes()
        got[_msgid(raw)] = raw
    return got


def _inbox_state(pop3: Pop3Server) -> tuple[int, int, int]:
    """(messages in INBOX, of them \\Seen, messages in Trash)."""
    inbox = pop3.folder()
    uids = inbox.uids()
    seen = sum(SEEN in inbox.record(u).flags for u in uids)
    return len(uids), seen, len(pop3.folder("Trash").uids())


# -- fetchmail --------------------------------------------------------------------------------

def _fetchmail(pop3: Pop3Server, work: Path, *, tls: str, keep: bool) -> int:
    """Run fetchmail once; messages land one per file in work/out; returns its exit code."""
    out = work / "out"
    out.mkdir(parents=True, exist_ok=True)
    port = pop3.ssl_port if tls == "pop3s" else pop3.port
    security = "ssl" if tls == "pop3s" else "sslproto tls1.2+"
    rc = work / "fetchmailrc"
    rc.write_text(
        "set no bouncemail\nset no syslog\nset invisible\n"
        f'poll localhost via 127.0.0.1 with proto POP3 port {port} uidl\n'
        f'  user "{ADDRESS}" there with password "{PASSWORD}" is "root" here\n'
        f'  options {security} sslcertck sslcommonname localhost sslcertfile "{pop3.cert}" '
        f'{"keep" if keep else "fetchall no keep"} no rewrite no stripcr no forcecr\n'
        f"  mda \"/bin/sh -c 'cat > {out}/msg.$$'\"\n")
    rc.chmod(0o600)
    env = {**os.environ, "HOME": str(work), "FETCHMAILHOME": str(work)}
    proc = subprocess.run([FETCHMAIL, "-f", str(rc), "--idfile", str(work / "ids"),
                           "--pidfile", str(work / "pid"), "--nodetach", "-v"],
                          env=env, capture_output=True, timeout=600)
    (work / "log").write_bytes(proc.stdout + proc.stderr)
    return proc.returncode


@pytest.mark.skipif(FETCHMAIL is None, reason="Debian package fetchmail is not installed")
@pytest.mark.parametrize("tls", ["stls", "pop3s"])
def test_fetchmail(start_pop3: StartPop3, tmp_path: Path, tls: str) -> None:
    pop3 = start_pop3(trusted=False)
    sent = _fill(pop3, COUNT)
    work = tmp_path / "fetchmail"
    code = _fetchmail(pop3, work, tls=tls, keep=True)
    assert code == 0, (work / "log").read_text()
    assert _received(work / "out") == sent  # byte for byte
    # kept; fetchmail's "keep" reads with TOP n 99999999, and TOP marks nothing
    assert _inbox_state(pop3) == (COUNT, 0, 0)

    shutil.rmtree(work / "out")
    assert _fetchmail(pop3, work, tls=tls, keep=True) == 1  # 1 = no new mail (UIDL idfile)
    assert not any((work / "out").iterdir())

    more = _fill(pop3, 1, start=COUNT + 1)
    assert _fetchmail(pop3, work, tls=tls, keep=True) == 0, (work / "log").read_text()
    assert _received(work / "out") == more  # only the new one

    shutil.rmtree(work / "out")
    # "fetchall no keep": everything again, deleted: it ends in Trash, \Seen
    assert _fetchmail(pop3, work, tls=tls, keep=False) == 0, (work / "log").read_text()
    assert _received(work / "out") == {**sent, **more}
    inbox, _, trash = _inbox_state(pop3)
    assert (inbox, trash) == (0, COUNT + 1)
    bin_ = pop3.folder("Trash")
    assert all(SEEN in bin_.record(u).flags for u in bin_.uids())


# -- getmail6 ---------------------------------------------------------------------------------

def _getmail(pop3: Pop3Server, work: Path, *, ssl: bool, delete: bool) -> int:
    """Run getmail6 once: it downloads alice's mail and hands each message to bob over LMTP."""
    if ssl:
        retriever = (f"type = SimplePOP3SSLRetriever\nport = {pop3.ssl_port}\n"
                     f"ca_certs = {pop3.cert}\nssl_cert_hostname = localhost\n")
    else:  # getmail6 has no STLS: plain POP3, allowed here from a trusted network
        retriever = f"type = SimplePOP3Retriever\nport = {pop3.port}\n"
    rc = work / "getmailrc"
    rc.write_text(
        f"[retriever]\n{retriever}server = 127.0.0.1\nusername = {ADDRESS}\n"
        # getmail's forking destinations (Maildir, MDA_external) lose SIGCHLD races on a busy
        # machine and then wait forever; LMTP into another rmail user does not fork
        f"password = {PASSWORD}\n\n[destination]\ntype = MDA_lmtp\nhost = 127.0.0.1\n"
        f"port = {pop3.addr('lmtp')[1]}\noverride = {COPY}\n\n"
        f"[options]\nread_all = false\ndelete = {str(delete).lower()}\n"
        "delivered_to = false\nreceived = false\nverbose = 0\n")
    proc = subprocess.run([sys.executable if GETMAIL is None else GETMAIL, "--rcfile", str(rc),
                           "--getmaildir", str(work)], capture_output=True, timeout=600)
    (work / "log").write_bytes(proc.stdout + proc.stderr)
    return proc.returncode


def _delivered(pop3: Pop3Server) -> dict[bytes, bytes]:
    """bob's copies, without the trace header rmail's LMTP put on top."""
    inbox = pop3.folder(user="bob")
    got = {}
    for uid in inbox.uids():
        raw = inbox.read_message(uid)
        assert raw.startswith(b"Return-Path:") or raw.startswith(b"Received:"), raw[:200]
        got[_msgid(raw)] = raw
    return got


@pytest.mark.skipif(GETMAIL is None, reason="Debian package getmail6 is not installed")
@pytest.mark.parametrize("ssl", [True, False], ids=["pop3s", "plain-trusted"])
def test_getmail(start_pop3: StartPop3, tmp_path: Path, ssl: bool) -> None:
    pop3 = start_pop3(trusted=not ssl, users=("alice", "bob"), lmtp=True)
    sent = _fill(pop3, COUNT)
    work = tmp_path / "getmail"
    work.mkdir()
    assert _getmail(pop3, work, ssl=ssl, delete=False) == 0, (work / "log").read_text()
    got = _delivered(pop3)
    assert got.keys() == sent.keys()
    for key, raw in sent.items():  # byte for byte below the trace fields
        assert got[key].endswith(b"\r\n" + raw)
    assert _inbox_state(pop3) == (COUNT, COUNT, 0)  # getmail uses RETR: \Seen at QUIT

    assert _getmail(pop3, work, ssl=ssl, delete=False) == 0
    assert len(_delivered(pop3)) == COUNT  # read_all = false: nothing new was fetched

    assert _getmail(pop3, work, ssl=ssl, delete=True) == 0, (work / "log").read_text()
    assert _inbox_state(pop3)[::2] == (0, COUNT)
