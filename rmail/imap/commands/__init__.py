"""The command table (STYLE.md #1): every command, its handler, the states where it is legal
and which untagged updates may follow it. The connection loop checks the state once; handlers
never do."""

from __future__ import annotations

from rmail.imap.commands import (
    append,
    auth,
    copy,
    fetch,
    idle,
    mailboxes,
    metadata,
    notify,
    search,
    selected,
    store,
)
from rmail.imap.commands.base import Command, Updates
from rmail.imap.session import ANY, AUTH, NOT_AUTH, SELECTED, State

_ENABLE_STATES = frozenset({State.AUTHENTICATED})  # RFC 5161 §3.1: before any SELECT
_NO_EXPUNGE = Updates.NO_EXPUNGE
_NONE = Updates.NONE

COMMANDS: dict[str, Command] = {
    # any state
    "CAPABILITY": Command(auth.capability, ANY),
    "NOOP": Command(auth.noop, ANY),
    "LOGOUT": Command(auth.logout, ANY, _NONE),
    "ID": Command(auth.id_, ANY),
    # not authenticated
    "STARTTLS": Command(auth.starttls, NOT_AUTH, _NONE),
    "LOGIN": Command(auth.login, NOT_AUTH, _NONE),
    "AUTHENTICATE": Command(auth.authenticate, NOT_AUTH, _NONE),
    # authenticated (and selected)
    "ENABLE": Command(auth.enable, _ENABLE_STATES),
    "COMPRESS": Command(auth.compress, AUTH),
    "NAMESPACE": Command(auth.namespace, AUTH),
    "SELECT": Command(mailboxes.select, AUTH, _NONE),
    "EXAMINE": Command(mailboxes.select, AUTH, _NONE),
    "CREATE": Command(mailboxes.create, AUTH),
    "DELETE": Command(mailboxes.delete, AUTH),
    "RENAME": Command(mailboxes.rename, AUTH),
    "SUBSCRIBE": Command(mailboxes.subscribe, AUTH),
    "UNSUBSCRIBE": Command(mailboxes.unsubscribe, AUTH),
    "LIST": Command(mailboxes.list_, AUTH),
    "LSUB": Command(mailboxes.list_, AUTH),
    "STATUS": Command(mailboxes.status, AUTH),
    "APPEND": Command(append.append, AUTH),
    "GETQUOTA": Command(mailboxes.getquota, AUTH),
    "GETQUOTAROOT": Command(mailboxes.getquotaroot, AUTH),
    "SETQUOTA": Command(mailboxes.setquota, AUTH),
    "IDLE": Command(idle.idle, AUTH),
    "GETMETADATA": Command(metadata.getmetadata, AUTH),
    "SETMETADATA": Command(metadata.setmetadata, AUTH),
    "NOTIFY": Command(notify.notify, AUTH),
    # selected
    "CHECK": Command(selected.check, SELECTED),
    "CLOSE": Command(selected.close, SELECTED, _NONE),
    "UNSELECT": Command(selected.unselect, SELECTED, _NONE),
    "EXPUNGE": Command(selected.expunge, SELECTED),
    "UID EXPUNGE": Command(selected.uid_expunge, SELECTED),
    "SEARCH": Command(search.search_seq, SELECTED, _NO_EXPUNGE),
    "UID SEARCH": Command(search.search_uid, SELECTED),
    "CANCELUPDATE": Command(search.cancelupdate, SELECTED),
    "FETCH": Command(fetch.fetch, SELECTED, _NO_EXPUNGE),
    "UID FETCH": Command(fetch.fetch, SELECTED),
    "STORE": Command(store.store, SELECTED, _NO_EXPUNGE),
    "UID STORE": Command(store.store, SELECTED),
    "COPY": Command(copy.copy, SELECTED),
    "UID COPY": Command(copy.copy, SELECTED),
    "MOVE": Command(copy.move, SELECTED),
    "UID MOVE": Command(copy.move, SELECTED),
    "SORT": Command(search.sort_seq, SELECTED, _NO_EXPUNGE),
    "UID SORT": Command(search.sort_uid, SELECTED),
    "THREAD": Command(search.thread_seq, SELECTED, _NO_EXPUNGE),
    "UID THREAD": Command(search.thread_uid, SELECTED),
}
