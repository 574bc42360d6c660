"""`rmail check`: verify a store and repair what a crash or a hand edit can leave behind.

What it finds and does (each reported as one line):
- a torn last journal line (crash mid-append): trimmed;
- a broken journal line before the end (disk damage): dropped, the rest replayed;
- a message file with no index entry at or above `uidnext` (a commit that crashed before its
  journal sync, so never acknowledged and possibly short): removed;
- a message file below `uidnext` of an expunged UID (crash before the unlink): removed; one
  whose index entry was lost (a damaged journal line): re-indexed under a new UID;
- an index entry whose message file is missing or shorter than recorded: expunged;
- the meta log (`rmail.store.metalog`): a torn tail, unreadable lines, another version or
  UIDVALIDITY, records of UIDs the folder never had (the log is rewritten), records missing
  (rebuilt from the message); with `deep`, every record parsed and unreadable ones rebuilt;
  meta files of a store from before the log: orphaned ones (and with `deep` unreadable ones)
  removed;
- saved renderings (`rmail.store.rendercache`) of messages no longer there: removed;
- staged files in `mail/tmp/`, temp files and half-deleted folders or users: removed;
- folder directories missing for a folder in `folders.json`: recreated empty;
- counters (count, unseen, bytes) recomputed from the columns and compared.
It takes the same locks as the server, so it is safe to run while the server runs.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from rmail.store import fsutil, rendercache
from rmail.store.errors import CorruptStore, StoreError
from rmail.store.journal import FolderIndex, dump_record, wire_size
from rmail.store.layout import Layout
from rmail.store.mailbox import Folder, MailStore, UserMailbox

_EML = re.compile(r"(\d+)\.eml")
_META = re.compile(r"(\d+)\.json")


@dataclass
class CheckReport:
    """What `check_store` found; `problems` counts findings, `repaired` the ones fixed."""

    lines: list[str] = field(default_factory=list)
    problems: int = 0
    repaired: int = 0
    folders: int = 0
    messages: int = 0

    def found(self, where: object, what: str, *, fixed: bool) -> None:
        self.problems += 1
        self.repaired += fixed
        self.lines.append(f"{where}: {what}{' (repaired)' if fixed else ''}")


def check_store(mail_root: str | os.PathLike[str], *, repair: bool = True,
                deep: bool = False) -> CheckReport:
    """Walk every domain, user and folder under `mail_root`."""
    layout = Layout(mail_root)
    report = CheckReport()
    store = MailStore(layout.root, verify_tail=False)
    if not layout.domains_dir.is_dir():
        return report
    for ddir in sorted(layout.domains_dir.iterdir()):
        if _leftover(ddir, report, repair):
            continue
        if not (ddir / "domain.json").is_file():
            report.found(ddir, "domain without domain.json", fixed=False)
            continue
        _readable(ddir / "domain.json", report)
        users = ddir / "users"
        for udir in sorted(users.iterdir()) if users.is_dir() else []:
            if _leftover(udir, report, repair):
                continue
            if not (udir / "account.json").is_file():
                report.found(udir, "user directory without account.json", fixed=False)
                continue
            _readable(udir / "account.json", report)
            if (udir / "mail").is_dir():
                _check_user(store.mailbox(ddir.name, udir.name), report, repair, deep)
    return report


def _leftover(path: Path, report: CheckReport, repair: bool) -> bool:
    """Half-deleted trees (`.deleted-*`) and temp files are removed."""
    if path.name.startswith(".deleted-") or path.name.endswith(".tmp"):
        if repair:
            if path.is_dir():
                fsutil.remove_tree(path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        report.found(path, "leftover of an interrupted delete or write", fixed=repair)
        return True
    return not path.is_dir()


def _readable(path: Path, report: CheckReport) -> None:
    try:
        fsutil.read_json(path, version=1)
    except (CorruptStore, OSError) as exc:
        report.found(path, f"unreadable: {exc}", fixed=False)


def _check_user(mb: UserMailbox, report: CheckReport, repair: bool, deep: bool) -> None:
    staging = mb.layout.staging_dir
    for staged in sorted(staging.iterdir()) if staging.is_dir() else []:
        if repair:
            staged.unlink(missing_ok=True)
        report.found(staged, "staged message never committed", fixed=repair)
    known: set[str] = set()
    for entry in mb.entries():
        if entry.folder_id is None:
            continue
        known.add(entry.folder_id)
        fdir = mb.layout.folder_dir(entry.folder_id)
        rebuilt = False
        if not (fdir / "index.jsonl").is_file() or not (fdir / "folder.json").is_file():
            # Rebuild around the message files (re-indexed below); flags are lost and a new
            # UIDVALIDITY tells clients to resynchronise.
            report.found(fdir, f"folder {entry.name!r} had no index; rebuilt from its "
                         "message files", fixed=repair)
            if not repair:
                continue
            uidvalidity = _uidvalidity(fdir)
            for stale in ("index.jsonl", "journal.jsonl"):
                (fdir / stale).unlink(missing_ok=True)
            Folder.initialise(Folder(mb, entry.folder_id, entry.name).layout, uidvalidity)
            rebuilt = True
        report.folders += 1
        try:
            check_folder(mb.folder(entry.name), report, repair=repair, deep=deep,
                         rebuilt=rebuilt)
        except StoreError as exc:
            report.found(fdir, f"cannot be checked: {exc}", fixed=False)
    for child in sorted(mb.layout.dir.iterdir()):
        if child.is_dir() and child.name not in known and child.name != "tmp":
            if repair:
                fsutil.remove_tree(child)
            report.found(child, "folder directory not in folders.json", fixed=repair)


def _uidvalidity(fdir: Path) -> int:
    import time

    try:
        return int(fsutil.read_json(fdir / "folder.json")["uidvalidity"]) + 1
    except (OSError, CorruptStore, KeyError, TypeError, ValueError):
        return int(time.time())


def check_folder(folder: Folder, report: CheckReport, *, repair: bool = True,
                 deep: bool = False, rebuilt: bool = False) -> None:
    """Check one folder; `rebuilt` (its index was lost and recreated empty) re-indexes every
    message file instead of treating files above `uidnext` as crash leftovers."""
    fl = folder.layout
    with fsutil.locked(fl.lock):
        _repair_journal(folder, report, repair)
        idx = folder.index()
        on_disk = _files(fl.dir / "msg", _EML)
        indexed = set(idx.uids)
        appends: list[dict[str, object]] = []
        uidnext, modseq = idx.uidnext, idx.highestmodseq
        tombstoned = set(idx.tomb_uids)
        renumber: list[Path] = []
        for uid in sorted(set(on_disk) - indexed):
            path = on_disk[uid]
            if (uid >= uidnext and not rebuilt) or uid in tombstoned:
                # At or above uidnext: placed by a commit that crashed before its journal sync,
                # so never acknowledged (and possibly short). Tombstoned: an expunge leftover.
                if repair:
                    path.unlink(missing_ok=True)
                report.found(path, "unacknowledged leftover of a crashed commit; removed"
                             if uid >= uidnext else "message of an expunged UID; removed",
                             fixed=repair)
            else:  # its index entry was lost: never delete mail we can't prove was expunged
                renumber.append(path)
        next_uid = uidnext
        for path in renumber:
            st = path.stat()
            wire = wire_size(path.read_bytes())
            modseq += 1
            if repair:
                target = fl.msg_path(next_uid)
                fsutil.ensure_dir(target.parent)
                os.rename(path, target)
                fsutil.fsync_dir(target.parent)
            appends.append({"op": "append", "modseq": modseq, "uid": next_uid, "flags": [],
                            "size": st.st_size, "date": int(st.st_mtime)})
            if wire != st.st_size:  # see FolderIndex.wire
                appends[-1]["wire"] = wire
            report.found(path, f"message lost from the index; re-indexed as UID {next_uid}",
                         fixed=repair)
            next_uid += 1
        ghosts = sorted(indexed - set(on_disk))
        for i in range(len(idx)):  # a short file: crash between the journal and message syncs
            uid = idx.uids[i]
            if uid in on_disk and on_disk[uid].stat().st_size != idx.sizes[i]:
                ghosts.append(uid)
        if repair and appends:
            with folder._mem:
                folder._refresh_locked()
            folder._write_journal(appends)  # type: ignore[arg-type]
        if ghosts:
            for uid in ghosts:
                report.found(fl.msg_path(uid), "indexed message file is missing or short; "
                             "expunged", fixed=repair)
            if repair:
                idx = folder.index()
                op = idx.op_expunge(sorted(ghosts), idx.highestmodseq + 1)
                if op is not None:
                    folder._write_journal([op])
        idx = folder.index()
        _check_meta(folder, idx, report, repair, deep)
        for path in rendercache.orphans(folder, set(idx.uids)):
            if repair:
                path.unlink(missing_ok=True)
            report.found(path, "rendering of a message not in the index; removed", fixed=repair)
        _check_counters(folder, idx, report)
        report.messages += len(idx)


def _files(root: Path, pattern: re.Pattern[str]) -> dict[int, Path]:
    out: dict[int, Path] = {}
    if not root.is_dir():
        return out
    for bucket in root.iterdir():
        if not bucket.is_dir():
            continue
        for path in bucket.iterdir():
            m = pattern.fullmatch(path.name)
            if m:
                out[int(m.group(1))] = path
            elif path.name.endswith(".tmp"):
                path.unlink(missing_ok=True)
    return out


def _repair_journal(folder: Folder, report: CheckReport, repair: bool) -> None:
    """Trim a torn tail; drop broken lines in the middle (keeping every readable one)."""
    import json

    journal = folder.layout.journal
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        if repair:
            fsutil.atomic_write(journal, b"")
        report.found(journal, "journal missing; created empty", fixed=repair)
        return
    good: list[bytes] = []
    broken = 0
    lines = data.split(b"\n")
    tail = lines.pop()  # empty when the file ends with a newline
    for line in lines:
        try:
            rec = json.loads(line)
            if isinstance(rec, dict) and "op" in rec and "modseq" in rec:
                good.append(dump_record(rec))
                continue
        except ValueError:
            pass
        broken += 1
    if tail:
        report.found(journal, f"torn last line ({len(tail)} bytes); trimmed", fixed=repair)
    if broken:
        report.found(journal, f"{broken} unreadable line(s) dropped", fixed=repair)
    if repair and (tail or broken):
        fsutil.atomic_write(journal, b"".join(good))
        with folder._mem:
            folder._index = None  # force a reload from the repaired files


def _check_meta(folder: Folder, idx: FolderIndex, report: CheckReport, repair: bool,
                deep: bool) -> None:
    """The meta cache (folder lock held): the folder's meta log (`rmail.store.metalog`) and
    the per-message meta files a store from before the log may still have."""
    live = set(idx.uids)
    olds = _files(folder.layout.dir / "meta", _META)
    for uid, path in sorted(olds.items()):
        bad = uid not in live
        if not bad and deep:
            try:
                bad = not isinstance(fsutil.read_json(path), dict)
            except (CorruptStore, OSError):
                bad = True
        if bad:
            if repair:
                path.unlink(missing_ok=True)
            del olds[uid]
            report.found(path, "meta of a message not in the index; removed" if uid not in live
                         else "meta file unreadable; removed", fixed=repair)
    log = folder.layout.meta_log
    for tmp in sorted(log.parent.glob(f".{log.name}.*.tmp")):  # a rewrite cut short
        if repair:
            tmp.unlink(missing_ok=True)
        report.found(tmp, "leftover of an interrupted meta log rewrite; removed", fixed=repair)
    found = folder.metas.inspect(idx.uidvalidity, idx.uids, idx.uidnext, deep=deep)
    problems = []
    if found.foreign:
        problems.append("another format version or UIDVALIDITY, or an unreadable first line")
    if found.torn:
        problems.append(f"torn last line ({found.torn} bytes)")
    if found.garbled:
        problems.append(f"{found.garbled} unreadable line(s)")
    if found.unknown:
        problems.append(f"{len(found.unknown)} record(s) of UIDs the folder never had")
    if found.unreadable:
        problems.append(f"{len(found.unreadable)} unreadable record(s) of UIDs "
                        f"{_uids(found.unreadable)}")
    if problems:
        if repair:
            folder.metas.rewrite_locked(idx.uids, idx.uidvalidity, skip=found.unreadable)
        report.found(log, "meta log: " + "; ".join(problems) + "; rewritten", fixed=repair)
    missing = [uid for uid in idx.uids if uid not in found.have and uid not in olds
               and uid not in found.unreadable]
    if repair:
        for uid in missing + found.unreadable:
            try:
                folder.rebuild_meta(uid, locked=True)
            except StoreError as exc:
                report.found(folder.layout.msg_path(uid), f"cannot be parsed: {exc}",
                             fixed=False)
    if missing:
        report.found(log, f"meta of {len(missing)} message(s) missing (UIDs "
                     f"{_uids(missing)}); rebuilt", fixed=repair)


def _uids(uids: list[int], shown: int = 5) -> str:
    head = ", ".join(str(u) for u in uids[:shown])
    return head if len(uids) <= shown else f"{head}, ... {uids[-1]}"


def _check_counters(folder: Folder, idx: FolderIndex, report: CheckReport) -> None:
    unseen, total = idx.unseen, idx.total_bytes
    idx._recount()
    if (unseen, total) != (idx.unseen, idx.total_bytes):
        report.found(folder.layout.dir, f"counters were unseen={unseen} bytes={total}, "
                     f"recomputed unseen={idx.unseen} bytes={idx.total_bytes}", fixed=True)
