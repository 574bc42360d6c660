"""Applying documents to a real temporary store: the seed's example, re-applying, changed
hashes, hash upgrades at login, --prune and provenance, the grace period and restore, and
documents refused whole."""

from __future__ import annotations

import threading

import pytest

from rmail.auth import Authenticator
from rmail.provisioning.apply import Provisioner
from rmail.provisioning.document import DocumentError
from rmail.store.accounts import Accounts
from rmail.store.errors import AlreadyExists, NotFound
from rmail.store.provisioning import ProvisioningStore
from tests.provisioning.conftest import (
    ALICE_HASH,
    ALICE_PASSWORD,
    ALICE_SHA512,
    BOB_SEED_PASSWORD,
    SEED_DOCUMENT,
    document,
    seed_with_known_alice,
)

HASH_B = "$1$0MhHZVnG$d6rHD1KFLNOJ9EFdMKrB91"


def test_seed_document_applied_verbatim(provisioner: Provisioner, accounts: Accounts) -> None:
    report = provisioner.apply(SEED_DOCUMENT, "seed.json")
    assert report.lines() == [
        "+ domain example.com", "+ account alice@example.com", "+ account bob@example.com",
        "+ alias office@example.com", "created 4, updated 0, removed 0, unchanged 0"]
    assert [a.username for a in accounts.users("example.com")] == ["alice", "bob"]
    assert accounts.resolve("office@example.com").users == (("example.com", "alice"),
                                                            ("example.com", "bob"))
    bob = accounts.get("example.com", "bob")
    assert bob.origin == "file" and bob.provisioned_hash == HASH_B
    # the new user has the default folders, made by the mail store
    from rmail.store.mailbox import MailStore

    names = {e.name for e in MailStore(accounts.layout.root).mailbox("example.com", "bob")
             .entries()}
    assert {"INBOX", "Sent", "Trash", "Drafts"} <= names
    auth = Authenticator(accounts)
    assert auth.authenticate_sync("bob@example.com", BOB_SEED_PASSWORD).username == "bob"


def test_reapplying_is_a_noop_even_after_a_login_upgraded_the_hash(
        provisioner: Provisioner, accounts: Accounts) -> None:
    raw = seed_with_known_alice()
    provisioner.apply(raw, "d")
    auth = Authenticator(accounts)
    auth.authenticate_sync("alice@example.com", ALICE_PASSWORD)  # rehashes to argon2id
    alice = accounts.get("example.com", "alice")
    assert alice.password_hash.startswith("$argon2id$") and alice.provisioned_hash == ALICE_HASH
    gen = accounts.generation()
    report = provisioner.apply(raw, "d")
    assert report.summary == "created 0, updated 0, removed 0, unchanged 3"
    assert accounts.generation() == gen  # nothing written
    assert accounts.get("example.com", "alice").password_hash == alice.password_hash


def test_a_changed_hash_takes_effect(provisioner: Provisioner, accounts: Accounts) -> None:
    provisioner.apply(SEED_DOCUMENT, "d")
    epoch = accounts.get("example.com", "alice").auth_epoch
    changed = SEED_DOCUMENT.replace(b"$1$9hW1N3SC$J6vfo890zc50GC1jYHP211",
                                    ALICE_SHA512.encode())
    report = provisioner.apply(changed, "d")
    assert report.lines() == ["~ account alice@example.com (password)",
                              "created 0, updated 1, removed 0, unchanged 2"]
    alice = accounts.get("example.com", "alice")
    assert alice.password_hash == ALICE_SHA512 and alice.auth_epoch == epoch + 1
    Authenticator(accounts).authenticate_sync("alice@example.com", ALICE_PASSWORD)


def test_changed_alias_targets(provisioner: Provisioner, accounts: Accounts) -> None:
    provisioner.apply(SEED_DOCUMENT, "d")
    changed = SEED_DOCUMENT.replace(b'"alice@example.com,bob@example.com"',
                                    b'"bob@example.com, someone@elsewhere.example"')
    report = provisioner.apply(changed, "d")
    assert report.lines()[0] == "~ alias office@example.com (to)"
    assert accounts.resolve("office@example.com").external == ("someone@elsewhere.example",)


def test_dry_run_changes_nothing(provisioner: Provisioner, accounts: Accounts) -> None:
    report = provisioner.apply(SEED_DOCUMENT, "d", dry_run=True)
    assert report.count("create") == 4 and report.dry_run
    assert accounts.domains() == []


def test_prune_removes_only_what_the_document_made(provisioner: Provisioner,
                                                    accounts: Accounts) -> None:
    provisioner.apply(SEED_DOCUMENT, "d")
    accounts.create("example.com", "byhand", ALICE_HASH)          # made by hand
    accounts.set_alias("example.com", "handalias", "byhand")
    smaller = document({"example.com": {"account": [{"name": "bob", "password": HASH_B}]}})
    without = provisioner.apply(smaller, "d")                        # no --prune: nothing goes
    assert without.count("remove") == 0 and accounts.find_address("alice@example.com")
    report = provisioner.apply(smaller, "d", prune=True)
    assert report.lines() == ["- alias office@example.com", "- account alice@example.com",
                              "created 0, updated 0, removed 2, unchanged 1"]
    assert accounts.find_address("alice@example.com") is None
    assert accounts.find_address("byhand@example.com") == ("example.com", "byhand")
    assert "handalias" in accounts.plain_aliases("example.com")
    # an account the document only adopted (made by hand, then listed) is never pruned
    adopt = document({"example.com": {"account": [{"name": "bob", "password": HASH_B},
                                                  {"name": "byhand", "password": ALICE_HASH}]}})
    assert provisioner.apply(adopt, "d").summary == \
        "created 0, updated 0, removed 0, unchanged 2"
    provisioner.apply(smaller, "d", prune=True)
    assert accounts.find_address("byhand@example.com") is not None


def test_grace_period_and_restore(provisioner: Provisioner, accounts: Accounts) -> None:
    provisioner.apply(seed_with_known_alice(), "d")
    from rmail.store.mailbox import MailStore

    mail = MailStore(accounts.layout.root)
    mail.mailbox("example.com", "alice").folder("INBOX").append(b"Subject: keep me\r\n\r\nhi\r\n")
    provisioner.apply(document({"example.com": {"account": [{"name": "bob",
                                                             "password": HASH_B}]}}),
                      "d", prune=True)
    with pytest.raises(NotFound):
        accounts.get("example.com", "alice")
    with pytest.raises(NotFound):
        accounts.resolve("alice@example.com")
    auth = Authenticator(accounts)
    with pytest.raises(Exception, match="invalid credentials"):
        auth.authenticate_sync("alice@example.com", ALICE_PASSWORD)
    store = ProvisioningStore(accounts)
    [retired] = store.retired()
    assert retired.address == "alice@example.com"
    assert store.purge_expired(7) == []                       # within the grace period
    store.restore("alice@example.com")
    mail.forget("example.com", "alice")
    folder = mail.mailbox("example.com", "alice").folder("INBOX")
    assert [folder.read_message(u) for u in folder.uids()] == [
        b"Subject: keep me\r\n\r\nhi\r\n"]
    assert auth.authenticate_sync("alice@example.com", ALICE_PASSWORD).username == "alice"
    with pytest.raises(NotFound):
        store.restore("alice@example.com")                     # nothing left to restore
    # after the grace period the data is gone for good
    store.retire("example.com", "alice", grace_days=7)
    assert store.purge_expired(7, now=retired.deleted_at + 8 * 86400) == ["alice@example.com"]
    assert store.retired() == []


def test_restore_refused_when_the_name_was_taken_again(accounts: Accounts) -> None:
    store = ProvisioningStore(accounts)
    accounts.create("example.com", "carol", ALICE_HASH)
    store.retire("example.com", "carol", grace_days=7)
    accounts.create("example.com", "carol", ALICE_HASH)
    with pytest.raises(AlreadyExists):
        store.restore("carol@example.com")


def test_refused_whole_with_every_problem(provisioner: Provisioner,
                                          accounts: Accounts) -> None:
    accounts.create("example.com", "byhand", ALICE_HASH, addresses=["taken@example.com"])
    accounts.set_alias("example.com", "handalias", "byhand")
    bad = document({
        "example.com": {
            "account": [{"name": "new", "password": HASH_B},
                        {"name": "taken", "password": HASH_B},
                        {"name": "handalias", "password": HASH_B},
                        {"name": "broken", "password": "$1$nochecksum"}],
            "alias": [{"name": "byhand", "to": "new@example.com"},
                      {"name": "list", "to": "nobody@example.com,new@example.com"}]},
        "new.example": {"alias": [{"name": "a", "to": "ghost@new.example"}]},
    })
    with pytest.raises(DocumentError) as caught:
        provisioner.apply(bad, "bad.json")
    found = {(p.domain, p.where) for p in caught.value.problems}
    assert found == {("example.com", "account[1].name"), ("example.com", "account[2].name"),
                     ("example.com", "account[3].password"), ("example.com", "alias[0].name"),
                     ("example.com", "alias[1].to"), ("new.example", "alias[0].to")}
    assert accounts.find_address("new@example.com") is None   # nothing half-applied
    assert not accounts.has_domain("new.example")


def test_concurrent_applications_do_not_collide(accounts: Accounts) -> None:
    raw = document({"example.com": {"account": [{"name": f"u{i}", "password": HASH_B}
                                                for i in range(30)]}})
    reports = []

    def run() -> None:
        reports.append(Provisioner(accounts, grace_days=7).apply(raw, "d"))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.count("create") for r in reports) == [0, 0, 31]
    assert len(accounts.users("example.com")) == 30


def test_bulk_users_get_their_folders_at_first_use(provisioner: Provisioner,
                                                   accounts: Accounts) -> None:
    """New users are created without folders (a few files each, fast in bulk); the mail store
    makes the default folders at the first read or write, in any order."""
    from rmail.store.mailbox import MailStore

    provisioner.apply(SEED_DOCUMENT, "d")
    layout = accounts.layout
    assert not (layout.mail_dir("example.com", "bob") / "folders.json").exists()
    mail = MailStore(layout.root)
    created = mail.mailbox("example.com", "bob").create_folder("Projects")  # a write first
    assert created.name == "Projects"
    names = {e.name for e in mail.mailbox("example.com", "bob").entries()}
    assert names == {"INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive", "Projects"}
    fresh = MailStore(layout.root)                                           # a read first
    inbox = fresh.mailbox("example.com", "alice").folder("INBOX")
    inbox.append(b"Subject: first\r\n\r\nhi\r\n")
    assert len(inbox.uids()) == 1
    assert {e.name for e in fresh.mailbox("example.com", "alice").entries()} >= {"INBOX", "Sent"}


def test_a_target_only_a_regex_alias_takes_is_accepted(provisioner: Provisioner,
                                                        accounts: Accounts) -> None:
    """The document and the REST API agree: a recipient that a regex alias delivers (here
    `sales-…` to alice) leads somewhere, so an alias may point at it."""
    accounts.create("example.com", "alice", ALICE_HASH)
    accounts.add_alias_rule("example.com", r"sales-[a-z]+", "alice@example.com")
    raw = document({"example.com": {"alias": [{"name": "team", "to": "sales-north@example.com"}],
                                    "account": [{"name": "alice", "password": ALICE_HASH}]}})
    report = provisioner.apply(raw, "rules.json")
    assert report.count("create") == 1
    assert accounts.resolve("team@example.com").users == (("example.com", "alice"),)
    unmatched = document({"example.com": {"alias": [{"name": "x", "to": "nomatch@example.com"}],
                                          "account": [{"name": "alice",
                                                       "password": ALICE_HASH}]}})
    with pytest.raises(DocumentError):
        provisioner.apply(unmatched, "rules.json")
