"""The one module that knows where things live on disk (STYLE.md #9).

```
{mail_root}/
  accounts.gen                       bumped on every account/alias change (cache invalidation)
  domains/{domain}/                  domain name in IDNA ASCII form, lowercase
    domain.json                      settings, regex alias rules, plain aliases   (+ domain.lock)
    deleted/{username}.{unix time}/  a user deleted with a grace period (`rmail user restore`)
    users/{username}/
      account.json                   hash, admin, enabled, quota, addresses ...  (+ account.lock)
      preferences.json               webmail preferences (rmail.store.preferences)
                                     (+ preferences.lock)
      mailrules.json                 filters, forwarding, retention (rmail.store.mailrules)
                                     (+ mailrules.lock)
      forward.log                    forwarded recipients, for the 24-hour limit
      authlog.jsonl                  logins, password/2FA/app-password changes, one JSON line
                                     each, 30 days (rmail.store.authlog) (+ authlog.lock)
      security.json                  TOTP codes already used, app passwords' last use
                                     (rmail.store.security) (+ security.lock)
      mail/
        retention.json               sweeper checkpoints per folder (rmail.store.retention)
        folders.json                 folder name -> id, special-use, subscribed (+ folders.lock)
        maildrop.lock                flock held by the one POP3 session using the INBOX
        search.sqlite                full-text index of every folder, a cache (SQLite FTS5,
                                     + -wal, -shm, search.lock; rmail.store.searchindex)
        tmp/                         staged message files before they get a UID
        {folder_id}/
          folder.json                uidvalidity, created
          index.jsonl                snapshot: header line + one line per column
          journal.jsonl              appended changes since the snapshot
          folder.lock                flock sidecar for index + journal writers
          recent                     first UID no IMAP session has claimed as \\Recent yet
          msg/{uid // 4096}/{uid}.eml    raw message bytes exactly as received
          meta.log                       parsed envelope/bodystructure/summary of every
                                         message, one line each, appended (a cache,
                                         rmail.store.metalog)
          meta/{uid // 4096}/{uid}.json  the same, one file per message: stores from before
                                         the meta log; still read, removed with the message
          headers.jsonl                  SEARCH/SORT/THREAD header records (a cache,
                                         rmail.store.headercache) (+ headers.lock)
          render/{uid}.{r|l}.json        the message rendered for reading, remote content kept
                                         (r) or dropped (l): sanitised HTML, text, headers,
                                         attachments (a cache, rmail.store.rendercache)
      calendars/                     CalDAV (rmail.store.calendars; `CollectionLayout` below)
        .home.lock                   flock sidecar for creating/deleting calendars
        reminders.json               VALARM firings already reminded (rmail.scheduling.reminders)
        {name}/                      `default`, `Schedule-Inbox`, ... (name passed the gate)
          calendar.json              display name, colour, description, components, dead props
          index.json                 ctag, sync_token, per-event metadata, tombstones
          index.journal              changes since index.json, one JSON line each
          index.lock                 flock sidecar for writers of index.json and events/
          events/{uid}.ics           one calendar object resource (its resource name)
      contacts/                      CardDAV, same shape: {name}/addressbook.json, index.json,
                                     cards/{uid}.vcf
      drive/                         per-user files (`DriveLayout` below; rmail.store.drive)
        _meta.json                   ctag, sync_token, totals, pending (crash recovery)
        _shares.json                 UIDs of the shares this user owns (+ _shares.lock)
        _locks.json                  WebDAV locks (+ _locks.lock)
        tmp/                         staged uploads, copies being built, trees being deleted
        files/                       the user's tree, as the user sees it
          _index.json                children + self/total counters of this directory
          _index.lock                the drive's one writer lock (every index + _meta.json)
          {name}/_index.json ...     one index per directory
  shares/{uid[:2]}/{uid}.json        public share records
  sessions/{h[:2]}/{h}.json          webmail sessions (rmail.store.sessions); h = SHA-256 of
                                     the session id, so the disk never holds a usable id
  sessions/signups.json              recent sign-ups per client address (+ signups.lock)
  queue/                             outbound spool (rmail.queue.spool)
    messages/{id}.eml                message bytes as they will be sent (DKIM-signed)
    state/{id}.json                  envelope and per-recipient-domain delivery state
    queue.lock                       flock sidecar for state writers (server and CLI)
  provisioning/                      the declarative provisioning document's bookkeeping
    state.json                       hash (and ETag) of the last document applied
    staging/                         new users built here, renamed into users/ once durable
  secrets/                           JWT secret, DKIM keys (0600)
    jwt.secret                       generated once when exchange_api.token_secret is null
    srs.secret                       SRS signing key of forwarded mail, generated once
    dkim/{domain}/{selector}.pem     DKIM private key of a domain
  tls/                               certificates
```

Every name that reaches this module from outside has already passed a validator
(`fsutil.check_component`, `accounts.normalize_domain`, `accounts.check_username`).
"""

from __future__ import annotations

import os
from pathlib import Path

MSG_BUCKET = 4096


class Layout:
    """Paths under one mail root. Cheap to create; holds no open files."""

    def __init__(self, mail_root: str | os.PathLike[str]) -> None:
        self.root = Path(mail_root).resolve()

    # -- whole store ------------------------------------------------------------------------
    @property
    def domains_dir(self) -> Path:
        return self.root / "domains"

    @property
    def accounts_gen(self) -> Path:
        return self.root / "accounts.gen"

    @property
    def shares_dir(self) -> Path:
        return self.root / "shares"

    @property
    def sessions_dir(self) -> Path:
        return self.root / "sessions"

    @property
    def signups_file(self) -> Path:
        return self.sessions_dir / "signups.json"

    @property
    def signups_lock(self) -> Path:
        return self.sessions_dir / "signups.lock"

    def session_file(self, digest: str) -> Path:
        """One webmail session, sharded by the first two hex digits of its id's digest."""
        return self.sessions_dir / digest[:2] / f"{digest}.json"

    @property
    def queue_dir(self) -> Path:
        return self.root / "queue"

    @property
    def queue_messages_dir(self) -> Path:
        return self.queue_dir / "messages"

    @property
    def queue_state_dir(self) -> Path:
        return self.queue_dir / "state"

    @property
    def queue_lock(self) -> Path:
        return self.queue_dir / "queue.lock"

    def queue_message(self, queue_id: str) -> Path:
        return self.queue_messages_dir / f"{queue_id}.eml"

    def queue_state(self, queue_id: str) -> Path:
        return self.queue_state_dir / f"{queue_id}.json"

    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    @property
    def srs_secret(self) -> Path:
        return self.secrets_dir / "srs.secret"

    @property
    def jwt_secret(self) -> Path:
        return self.secrets_dir / "jwt.secret"

    @property
    def totp_key(self) -> Path:
        return self.secrets_dir / "totp.key"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    def dkim_key(self, domain: str, selector: str) -> Path:
        return self.secrets_dir / "dkim" / domain / f"{selector}.pem"

    @property
    def tls_dir(self) -> Path:
        return self.root / "tls"

    # -- domains and users --------------------------------------------------------------------
    def domain_dir(self, domain: str) -> Path:
        return self.domains_dir / domain

    def domain_file(self, domain: str) -> Path:
        return self.domain_dir(domain) / "domain.json"

    def domain_lock(self, domain: str) -> Path:
        return self.domain_dir(domain) / "domain.lock"

    def deleted_dir(self, domain: str) -> Path:
        """Users deleted with a grace period, as `{username}.{unix time}` directories."""
        return self.domain_dir(domain) / "deleted"

    @property
    def provisioning_dir(self) -> Path:
        return self.root / "provisioning"

    def users_dir(self, domain: str) -> Path:
        return self.domain_dir(domain) / "users"

    def user_dir(self, domain: str, username: str) -> Path:
        return self.users_dir(domain) / username

    def account_file_str(self, domain: str, username: str) -> str:
        """`account_file` as a string, for the per-request account check."""
        return f"{self.root}/domains/{domain}/users/{username}/account.json"

    def account_file(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "account.json"

    def sent_log(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "sent.log"

    def account_lock(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "account.lock"

    def preferences_file(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "preferences.json"

    def preferences_lock(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "preferences.lock"

    def mailrules_file(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "mailrules.json"

    def mailrules_lock(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "mailrules.lock"

    def forward_log(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "forward.log"

    def retention_file(self, domain: str, username: str) -> Path:
        return self.mail_dir(domain, username) / "retention.json"

    def retention_lock(self, domain: str, username: str) -> Path:
        return self.mail_dir(domain, username) / "retention.lock"

    def authlog_file(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "authlog.jsonl"

    def authlog_lock(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "authlog.lock"

    def security_file(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "security.json"

    def security_lock(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "security.lock"

    # -- mail -----------------------------------------------------------------------------------
    def mail_dir(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "mail"

    def calendars_dir(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "calendars"

    def drive_dir(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "drive"

    def contacts_dir(self, domain: str, username: str) -> Path:
        return self.user_dir(domain, username) / "contacts"

    def share_file(self, uid: str) -> Path:
        """One share record, sharded by the UID's first two characters (validated by caller)."""
        return self.shares_dir / uid[:2] / f"{uid}.json"


class DriveLayout:
    """Paths inside one user's `drive/` directory. Every name in the user's tree is reserved
    from `_` up (`DrivePath`), so `_index.json` and friends never collide with user files."""

    INDEX = "_index.json"
    LOCK = "_index.lock"

    def __init__(self, drive_dir: Path) -> None:
        self.dir = drive_dir

    @property
    def meta(self) -> Path:
        return self.dir / "_meta.json"

    @property
    def shares_index(self) -> Path:
        return self.dir / "_shares.json"

    @property
    def shares_lock(self) -> Path:
        return self.dir / "_shares.lock"

    @property
    def locks_file(self) -> Path:
        return self.dir / "_locks.json"

    @property
    def locks_lock(self) -> Path:
        return self.dir / "_locks.lock"

    @property
    def tmp(self) -> Path:
        return self.dir / "tmp"

    @property
    def files(self) -> Path:
        return self.dir / "files"

    @property
    def lock(self) -> Path:
        return self.files / self.LOCK

    def dir_path(self, parts: tuple[str, ...]) -> Path:
        return self.files.joinpath(*parts)


class MailLayout:
    """Paths inside one user's `mail/` directory."""

    def __init__(self, mail_dir: Path) -> None:
        self.dir = mail_dir
        self.folders_file = mail_dir / "folders.json"  # fixed paths, computed once
        self.folders_lock = mail_dir / "folders.lock"
        self.maildrop_lock = mail_dir / "maildrop.lock"
        self.staging_dir = mail_dir / "tmp"

    def folder_dir(self, folder_id: str) -> Path:
        return self.dir / folder_id


class FolderLayout:
    """Paths inside one folder directory. The fixed paths are computed once (a folder's
    index is touched on every change); `msg_file`/`meta_file` are string forms for hot paths."""

    def __init__(self, folder_dir: Path) -> None:
        self.dir = folder_dir
        self.folder_file = folder_dir / "folder.json"
        self.snapshot = folder_dir / "index.jsonl"
        self.journal = folder_dir / "journal.jsonl"
        self.lock = folder_dir / "folder.lock"
        self.recent = folder_dir / "recent"
        self._msg = f"{folder_dir}/msg/"
        self._meta = f"{folder_dir}/meta/"
        self.meta_log = folder_dir / "meta.log"
        self.render_dir = folder_dir / "render"

    def msg_bucket(self, uid: int) -> Path:
        return self.dir / "msg" / str(uid // MSG_BUCKET)

    def msg_path(self, uid: int) -> Path:
        return Path(self.msg_file(uid))

    def msg_file(self, uid: int) -> str:
        return f"{self._msg}{uid // MSG_BUCKET}/{uid}.eml"

    def meta_path(self, uid: int) -> Path:
        """The meta file of a store from before the meta log (`meta_log`): read when the log
        lacks the message, removed with it."""
        return Path(self.meta_file(uid))

    def meta_file(self, uid: int) -> str:
        return f"{self._meta}{uid // MSG_BUCKET}/{uid}.json"

    def render_file(self, uid: int, allow_remote: bool) -> Path:
        return self.render_dir / f"{uid}.{'r' if allow_remote else 'l'}.json"

    def derived_paths(self, uid: int) -> list[Path]:
        """The cache files derived from message `uid` (removed with it; its record in the
        meta log goes when the log is rewritten)."""
        return [self.meta_path(uid), self.render_file(uid, True), self.render_file(uid, False)]


class CollectionLayout:
    """Paths inside one calendar or address book directory (rmail.store.davstore)."""

    def __init__(self, collection_dir: Path, meta_name: str, objects_name: str) -> None:
        self.dir = collection_dir
        self.meta_file = collection_dir / meta_name
        self.index_file = collection_dir / "index.json"
        self.lock = collection_dir / "index.lock"
        self.objects_dir = collection_dir / objects_name

    def object_path(self, name: str) -> Path:
        return self.objects_dir / name
