"""mbsync (Debian `isync`) two-way sync of a 2,000-message mailbox: flag changes and deletions
on both sides, new mail on both sides, then a sync that transfers nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.imap.conftest import PASSWORD, USER, ImapServer, message

MBSYNC = shutil.which("mbsync")
pytestmark = pytest.mark.skipif(MBSYNC is None, reason="mbsync not installed "
                                "(apt-get install isync; .ci/run installs it in CI)")
COUNT = 2000


def write_config(imap: ImapServer, base: Path) -> Path:
    maildir = base / "mail"
    maildir.mkdir()
    conf = base / "mbsyncrc"
    conf.write_text(f"""\
IMAPAccount rmail
Host {imap.host}
Port {imap.port}
User {USER}
Pass "{PASSWORD}"
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account rmail

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
    return conf


def run_mbsync(conf: Path, home: Path, *flags: str) -> str:
    proc = subprocess.run([MBSYNC or "mbsync", "-V", *flags, "-c", str(conf), "-a"],
                          capture_output=True,
                          text=True, timeout=600, env={**os.environ, "HOME": str(home)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def without_tuid(data: bytes) -> bytes:
    """mbsync marks messages it copies with an X-TUID header (and Maildir has LF line ends)."""
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    return b"\r\n".join(line for line in lines if not line.startswith(b"X-TUID: "))


def content(path: Path) -> bytes:
    return without_tuid(path.read_bytes())


def message_id(data: bytes) -> str:
    m = re.search(rb"^Message-ID: (<[^>]+>)", data, re.MULTILINE)
    assert m, data[:200]
    return m.group(1).decode()


def local_messages(maildir: Path) -> dict[int, tuple[Path, str]]:
    """UID -> (file, maildir flags) of the local INBOX."""
    out = {}
    for sub in ("cur", "new"):
        for f in (maildir / "INBOX" / sub).iterdir():
            m = re.search(r",U=(\d+)", f.name)
            assert m, f.name
            flags = f.name.split(":2,", 1)[1] if ":2," in f.name else ""
            out[int(m.group(1))] = (f, flags)
    return out


def test_two_way_sync(imap: ImapServer, tmp_path: Path) -> None:
    inbox = imap.folder()
    inbox.append_many([(message(i, body=f"body {i}"), (), None) for i in range(1, COUNT + 1)])
    conf = write_config(imap, tmp_path)
    maildir = tmp_path / "mail"

    run_mbsync(conf, tmp_path)
    local = local_messages(maildir)
    assert sorted(local) == list(range(1, COUNT + 1))
    path, _ = local[7]
    assert content(path) == message(7, body="body 7")
    assert (maildir / "Archive").is_dir() and (maildir / "Sent").is_dir()

    # server side: flags, deletions, new mail
    inbox.store_flags(range(1, 101), "add", ["\\Seen"])
    inbox.store_flags(range(101, 151), "add", ["\\Flagged"])
    inbox.expunge(range(151, 201))
    new_uid = inbox.append(message(COUNT + 1)).uid
    # local side: flags, deletions, new mail
    for uid in range(201, 251):
        path, _ = local[uid]
        path.rename(path.parent.parent / "cur" / (path.name.split(":2,")[0] + ":2,RS"))
    for uid in range(251, 301):
        local[uid][0].unlink()
    (maildir / "INBOX" / "new" / "1700000000.local.host").write_bytes(
        message(9999).replace(b"\r\n", b"\n"))

    run_mbsync(conf, tmp_path)
    st = inbox.status()
    assert st.count == COUNT - 100 + 2
    recs = {r.uid: r.flags for r in inbox.records(limit=10 * COUNT)}
    assert all(recs[u] == ("\\Seen",) for u in range(1, 101))
    assert all(recs[u] == ("\\Answered", "\\Seen") for u in range(201, 251))
    assert not any(u in recs for u in range(251, 301))
    uploaded = [u for u in recs if u > new_uid]
    assert len(uploaded) == 1
    assert without_tuid(inbox.read_message(uploaded[0])) == message(9999)
    # near-side Maildir UIDs are mbsync's own; compare by Message-ID
    local_ids = {message_id(content(path)): flags for path, flags in
                 local_messages(maildir).values()}
    server_ids = {message_id(inbox.read_message(uid)): uid for uid in recs}
    assert set(local_ids) == set(server_ids)
    assert all("S" in local_ids[f"<{i}@example.org>"] for i in range(1, 101))
    assert all("F" in local_ids[f"<{i}@example.org>"] for i in range(101, 151))
    assert f"<{COUNT + 1}@example.org>" in local_ids

    modseq = inbox.status().highestmodseq
    names = sorted(p.name for p in (maildir / "INBOX").rglob("*") if p.is_file())
    out = run_mbsync(conf, tmp_path, "-Dn")  # -Dn: log the IMAP conversation
    sent = [line for line in out.splitlines() if line.startswith(">>> ")]
    assert sent and not [line for line in sent
                         if re.search(r"APPEND|STORE|EXPUNGE|BODY\.PEEK\[\]", line)], sent
    assert inbox.status().highestmodseq == modseq
    assert sorted(p.name for p in (maildir / "INBOX").rglob("*") if p.is_file()) == names
