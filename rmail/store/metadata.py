"""Per-user annotations (IMAP METADATA, RFC 5464): entries on the server and on each folder.

One JSON file per user (`mail/metadata.json`), rewritten atomically and durably under
`mail/metadata.lock`; folder entries are keyed by folder id, so they follow a RENAME, and
entries of folders that no longer exist are dropped when the file is next written (and never
shown). Values are bytes (base64 in the file). Entry names are validated here, so every front
end gets the same rules: `/private/...` or `/shared/...`, printable ASCII, no `*`, `%`, empty
component or trailing `/`; compared case-insensitively (stored lower-case).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from pathlib import Path

from rmail.store import fsutil
from rmail.store.errors import CorruptStore, InvalidValue, QuotaExceeded

FORMAT_VERSION = 1
SERVER = ""  # the key of server entries (IMAP's mailbox name "")
MAX_VALUE = 64 * 1024  # bytes of one value (RFC 5464 MAXSIZE)
MAX_ENTRIES = 200  # per folder and for the server (RFC 5464 TOOMANY)
MAX_TOTAL = 1024 * 1024  # bytes of all of a user's values
MAX_ENTRY_NAME = 1024
_ENTRY = re.compile(r"/(private|shared)(/[!-~]+)*\Z", re.IGNORECASE)


class TooMany(QuotaExceeded):
    """More entries than MAX_ENTRIES (IMAP: NO [METADATA TOOMANY])."""


class TooLarge(QuotaExceeded):
    """A value over MAX_VALUE or the user's total over MAX_TOTAL (NO [METADATA MAXSIZE n])."""


def check_entry(name: str) -> str:
    """The canonical (lower-case) form of an entry name, or InvalidValue."""
    if len(name) > MAX_ENTRY_NAME or not _ENTRY.fullmatch(name) or "//" in name \
            or name.endswith("/") or any(c in name for c in "*%"):
        raise InvalidValue(f"invalid metadata entry name {name[:100]!r}")
    return name.lower()


class Metadata:
    """The annotations of one user (`mail_dir` is the user's mail directory)."""

    def __init__(self, mail_dir: Path) -> None:
        self.path = mail_dir / "metadata.json"
        self.lock = mail_dir / "metadata.lock"

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            doc = fsutil.read_json(self.path, version=FORMAT_VERSION)
        except FileNotFoundError:
            return {}
        scopes = doc.get("scopes") if isinstance(doc, dict) else None
        if not isinstance(scopes, dict):
            raise CorruptStore(f"{self.path}: no scopes")
        return scopes

    def get(self, scope: str, prefixes: Iterable[str], depth: int | None
            ) -> dict[str, bytes]:
        """Entries of `scope` (SERVER or a folder id) named by `prefixes` and, to `depth`
        more components (None: any), those below them."""
        entries = self._load().get(scope, {})
        out: dict[str, bytes] = {}
        for prefix in prefixes:
            name = check_entry(prefix)
            for key, value in entries.items():
                if key == name:
                    out[key] = base64.b64decode(value)
                elif depth != 0 and key.startswith(name + "/"):
                    extra = key[len(name) + 1:].count("/") + 1
                    if depth is None or extra <= depth:
                        out[key] = base64.b64decode(value)
        return out

    def set(self, scope: str, changes: dict[str, bytes | None], live: Iterable[str]) -> None:
        """Set (None: remove) entries of `scope`, all or none. `live` are the ids of the
        folders that exist: entries of others are dropped as the file is rewritten."""
        names = {check_entry(k): v for k, v in changes.items()}
        for value in names.values():
            if value is not None and len(value) > MAX_VALUE:
                raise TooLarge(f"a value is larger than {MAX_VALUE} bytes")
        keep = set(live) | {SERVER}
        with fsutil.locked(self.lock):
            scopes = {k: v for k, v in self._load().items() if k in keep}
            entries = dict(scopes.get(scope, {}))
            for name, value in names.items():
                if value is None:
                    entries.pop(name, None)
                else:
                    entries[name] = base64.b64encode(value).decode("ascii")
            if len(entries) > MAX_ENTRIES:
                raise TooMany(f"at most {MAX_ENTRIES} entries")
            scopes[scope] = entries
            if not entries:
                del scopes[scope]
            total = sum(len(v) * 3 // 4 for e in scopes.values() for v in e.values())
            if total > MAX_TOTAL:
                raise TooLarge(f"annotations are limited to {MAX_TOTAL} bytes in all")
            fsutil.write_json(self.path, {"version": FORMAT_VERSION, "scopes": scopes})
