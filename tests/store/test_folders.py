"""Folders: defaults, names, hierarchy, rename, delete, subscriptions, uidvalidity."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmail.store.errors import AlreadyExists, Conflict, InvalidValue, NotFound, UnsafeName
from rmail.store.folders import MAX_DEPTH, MAX_NAME_BYTES, canonical_name, parents_of
from rmail.store.mailbox import MailStore, UserMailbox

from .conftest import DOMAIN, USER, message

DEFAULTS = ["INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"]


def names(mb: UserMailbox) -> list[str]:
    return [e.name for e in mb.entries()]


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "canonical"), [
    ("inbox", "INBOX"), ("InBoX/Sub", "INBOX/Sub"), ("Inboxes", "Inboxes"),
    ("e\u0301t\u00e9", "\u00e9t\u00e9"), ("Entwürfe/日本語/😀", "Entwürfe/日本語/😀"),
    ("a b/c", "a b/c"), ("👨\u200d👩", "👨\u200d👩"), ("[Gmail]/All Mail", "[Gmail]/All Mail")])
def test_canonical_name(raw: str, canonical: str) -> None:
    assert canonical_name(raw) == canonical


@pytest.mark.parametrize("raw", [
    "", "/", "a/", "/a", "a//b", " a", "a ", "a/ b", "a\0b", "a\tb", "a\nb", "a\x7f",
    "a\u200bb", "a\ud800", "a*", "a%b", "a/*", "/".join(["x"] * (MAX_DEPTH + 1)),
    "é" * (MAX_NAME_BYTES // 2 + 1), None, 5])
def test_canonical_name_refuses(raw: object) -> None:
    with pytest.raises(UnsafeName):
        canonical_name(raw)  # type: ignore[arg-type]


def test_name_limits_are_inclusive() -> None:
    deep = "/".join(["x"] * MAX_DEPTH)
    assert canonical_name(deep) == deep
    assert canonical_name("a" * MAX_NAME_BYTES) == "a" * MAX_NAME_BYTES


def test_parents_of() -> None:
    assert parents_of("a/b/c") == ["a", "a/b"]
    assert parents_of("a") == []


# -- defaults ---------------------------------------------------------------------------------


def test_defaults_with_special_use_and_subscribed(mailbox: UserMailbox) -> None:
    entries = mailbox.entries()
    assert [e.name for e in entries] == DEFAULTS
    assert {e.name: e.special_use for e in entries} == {
        "INBOX": None, "Archive": "\\Archive", "Drafts": "\\Drafts", "Junk": "\\Junk",
        "Sent": "\\Sent", "Trash": "\\Trash"}
    assert all(e.selectable and e.subscribed for e in entries)
    assert len({e.folder_id for e in entries}) == 6
    assert mailbox.subscriptions() == sorted(DEFAULTS)
    assert mailbox.folder_by_special_use("\\Trash").name == "Trash"
    assert mailbox.folder_by_special_use("\\Flagged") is None


def test_init_defaults_is_idempotent(mailbox: UserMailbox) -> None:
    before = mailbox.entries()
    mailbox.init_defaults()
    assert mailbox.entries() == before


def test_init_defaults_recreates_a_deleted_default(mailbox: UserMailbox) -> None:
    mailbox.delete_folder("Junk")
    mailbox.init_defaults()
    assert names(mailbox) == DEFAULTS
    assert mailbox.entry("Junk").special_use == "\\Junk"


def test_folder_dirs_are_named_by_id(mailbox: UserMailbox, mail_root: Path) -> None:
    folder = mailbox.create_folder("Ünï/cødé")
    mail_dir = mail_root / "domains" / DOMAIN / "users" / USER / "mail"
    assert folder.layout.dir == mail_dir / folder.id
    assert folder.id.isdigit()
    assert (mail_dir / folder.id / "folder.json").is_file()
    assert not list(mail_dir.rglob("*cødé*"))


# -- create ---------------------------------------------------------------------------------


def test_create_with_missing_parents(mailbox: UserMailbox) -> None:
    folder = mailbox.create_folder("Projects/2024/Q1")
    assert folder.name == "Projects/2024/Q1"
    for name in ("Projects", "Projects/2024", "Projects/2024/Q1"):
        assert mailbox.entry(name).selectable
    assert mailbox.folder("Projects/2024").status().count == 0


def test_create_unicode_and_append(mailbox: UserMailbox) -> None:
    folder = mailbox.create_folder("Entwürfe/日本語")
    folder.append(message(1))
    assert mailbox.folder("Entwürfe/日本語").status().count == 1
    assert mailbox.folder("Entwu\u0308rfe/日本語").id == folder.id  # NFD finds the NFC name


def test_create_existing_refused(mailbox: UserMailbox) -> None:
    mailbox.create_folder("Work")
    with pytest.raises(AlreadyExists):
        mailbox.create_folder("Work")
    with pytest.raises(AlreadyExists):
        mailbox.create_folder("inbox")


def test_inbox_is_case_insensitive(mailbox: UserMailbox) -> None:
    assert mailbox.folder("iNbOx").id == mailbox.folder("INBOX").id
    child = mailbox.create_folder("inbox/Sub")
    assert child.name == "INBOX/Sub"
    assert "INBOX/Sub" in names(mailbox)
    assert mailbox.create_folder("Inboxes").name == "Inboxes"  # only the whole first level


def test_create_special_use(mailbox: UserMailbox) -> None:
    mailbox.create_folder("Starred", special_use="\\flagged")
    assert mailbox.entry("Starred").special_use == "\\Flagged"
    # RFC 6154: several folders may carry one use
    mailbox.create_folder("Other Trash", special_use="\\Trash")
    assert mailbox.entry("Other Trash").special_use == "\\Trash"
    assert mailbox.entry("Trash").special_use == "\\Trash"
    with pytest.raises(InvalidValue):
        mailbox.create_folder("Odd", special_use="\\Important")
    assert "Odd" not in names(mailbox)


def test_missing_folder(mailbox: UserMailbox) -> None:
    with pytest.raises(NotFound):
        mailbox.folder("Nope")
    with pytest.raises(NotFound):
        mailbox.entry("Nope")


# -- rename -----------------------------------------------------------------------------------


def test_rename_with_children_keeps_ids_messages_and_subscriptions(
        mailbox: UserMailbox) -> None:
    parent = mailbox.create_folder("a")
    child = mailbox.create_folder("a/b")
    child.append(message(1))
    mailbox.set_subscribed("a/b", True)
    mailbox.rename_folder("a", "x/y")
    assert {"x", "x/y", "x/y/b"} <= set(names(mailbox))
    assert "a" not in names(mailbox) and "a/b" not in names(mailbox)
    assert mailbox.folder("x/y").id == parent.id
    moved = mailbox.folder("x/y/b")
    assert moved.id == child.id
    assert moved.name == "x/y/b"
    assert moved.status().count == 1
    assert "x/y/b" in mailbox.subscriptions() and "a/b" not in mailbox.subscriptions()


def test_rename_updates_open_folder_objects(mailbox: UserMailbox) -> None:
    parent = mailbox.create_folder("a")
    child = mailbox.create_folder("a/b")
    inbox = mailbox.folder("INBOX")
    mailbox.rename_folder("a", "x")
    assert (parent.name, child.name) == ("x", "x/b")
    mailbox.rename_folder("INBOX", "saved")
    assert inbox.name == "saved"
    assert mailbox.folder("INBOX").name == "INBOX"


def test_rename_does_not_touch_similar_prefix(mailbox: UserMailbox) -> None:
    mailbox.create_folder("a")
    mailbox.create_folder("ab")
    mailbox.rename_folder("a", "z")
    assert "ab" in names(mailbox)


def test_rename_errors(mailbox: UserMailbox) -> None:
    mailbox.create_folder("a/b")
    with pytest.raises(NotFound):
        mailbox.rename_folder("nope", "x")
    with pytest.raises(AlreadyExists):
        mailbox.rename_folder("a", "Sent")
    with pytest.raises(Conflict):
        mailbox.rename_folder("a", "a/b/c")
    with pytest.raises(UnsafeName):
        mailbox.rename_folder("a", "bad*")


def test_rename_inbox_moves_messages_and_leaves_new_empty_inbox(mailbox: UserMailbox) -> None:
    inbox = mailbox.folder("INBOX")
    inbox.append(message(1))
    inbox.append(message(2))
    old_validity = inbox.uidvalidity
    old_id = inbox.id
    mailbox.rename_folder("inbox", "Old Mail")
    moved = mailbox.folder("Old Mail")
    assert moved.id == old_id
    assert moved.status().count == 2
    new_inbox = mailbox.folder("INBOX")
    assert new_inbox.id != old_id
    assert new_inbox.status().count == 0
    assert new_inbox.uidvalidity > old_validity
    assert mailbox.entry("Old Mail").special_use is None


# -- delete -----------------------------------------------------------------------------------


def test_delete_removes_folder_and_files(mailbox: UserMailbox) -> None:
    folder = mailbox.create_folder("Tmp")
    folder.append(message(1))
    folder_dir = folder.layout.dir
    mailbox.delete_folder("Tmp")
    assert "Tmp" not in names(mailbox)
    assert not folder_dir.exists()
    assert not [p for p in folder_dir.parent.iterdir() if p.name.startswith(".deleted")]
    with pytest.raises(NotFound):
        mailbox.folder("Tmp")


def test_delete_with_children_leaves_noselect_placeholder(mailbox: UserMailbox) -> None:
    parent = mailbox.create_folder("p")
    mailbox.create_folder("p/c")
    mailbox.delete_folder("p")
    entry = mailbox.entry("p")
    assert entry.folder_id is None and not entry.selectable
    assert not parent.layout.dir.exists()
    with pytest.raises(NotFound):
        mailbox.folder("p")
    assert mailbox.folder("p/c").status().count == 0
    with pytest.raises(Conflict):
        mailbox.delete_folder("p")
    mailbox.delete_folder("p/c")
    mailbox.delete_folder("p")  # no children left: the placeholder goes
    assert "p" not in names(mailbox)


def test_create_over_placeholder_makes_it_selectable(mailbox: UserMailbox) -> None:
    mailbox.create_folder("p/c")
    mailbox.delete_folder("p")
    again = mailbox.create_folder("p")
    assert mailbox.entry("p").folder_id == again.id
    assert again.status().count == 0


def test_delete_inbox_refused(mailbox: UserMailbox) -> None:
    for name in ("INBOX", "inbox"):
        with pytest.raises(Conflict):
            mailbox.delete_folder(name)
    assert mailbox.entry("INBOX").selectable


def test_delete_missing(mailbox: UserMailbox) -> None:
    with pytest.raises(NotFound):
        mailbox.delete_folder("Nope")


def test_uidvalidity_strictly_increases_on_delete_and_recreate(mailbox: UserMailbox) -> None:
    seen = sorted(mailbox.folder(n).uidvalidity for n in DEFAULTS)
    assert len(set(seen)) == len(seen)
    for _ in range(3):
        folder = mailbox.create_folder("Again")
        assert folder.uidvalidity > seen[-1]
        seen.append(folder.uidvalidity)
        mailbox.delete_folder("Again")


# -- subscriptions ------------------------------------------------------------------------------


def test_subscriptions_may_name_missing_folders(mailbox: UserMailbox) -> None:
    mailbox.set_subscribed("Does/Not/Exist", True)
    mailbox.set_subscribed("inbox", True)
    assert "Does/Not/Exist" in mailbox.subscriptions()
    assert "Does/Not/Exist" not in names(mailbox)
    mailbox.set_subscribed("Sent", False)
    mailbox.set_subscribed("Never", False)
    assert "Sent" not in mailbox.subscriptions()
    assert not mailbox.entry("Sent").subscribed
    with pytest.raises(UnsafeName):
        mailbox.set_subscribed("a//b", True)


def test_subscription_survives_delete(mailbox: UserMailbox) -> None:
    mailbox.create_folder("Gone")
    mailbox.set_subscribed("Gone", True)
    mailbox.delete_folder("Gone")
    assert "Gone" in mailbox.subscriptions()  # RFC 3501 §6.3.4: subscriptions are separate


# -- other instances --------------------------------------------------------------------------


def test_second_store_sees_folder_changes(mailbox: UserMailbox, mail_root: Path) -> None:
    other = MailStore(mail_root).mailbox(DOMAIN, USER)
    assert names(other) == DEFAULTS
    mailbox.create_folder("New")
    mailbox.rename_folder("Junk", "Spam")
    assert names(other) == ["INBOX", "Archive", "Drafts", "New", "Sent", "Spam", "Trash"]
    other.delete_folder("New")
    assert "New" not in names(mailbox)


def test_mailbox_of_unknown_user(mail_root: Path, store: MailStore) -> None:
    with pytest.raises(NotFound):
        store.mailbox(DOMAIN, "nobody")
