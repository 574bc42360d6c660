"""Accounts: validation, domains, users, addresses, aliases and the recipient resolver."""

from __future__ import annotations

from pathlib import Path

import pytest

from rmail.store.accounts import (
    MAX_ALIAS_DEPTH,
    Accounts,
    AliasRule,
    Resolution,
    check_password,
    check_quota,
    check_username,
    normalize_address,
    normalize_domain,
    split_address,
)
from rmail.store.errors import AlreadyExists, Conflict, CorruptStore, InvalidValue, NotFound
from rmail.store.mailbox import MailStore

D = "example.com"

# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "alice", "a.b_c-d", "0" * 64, "-x", "x-", "_"])
def test_check_username_accepts(name: str) -> None:
    assert check_username(name) == name


@pytest.mark.parametrize("name", ["", "Alice", "a b", "a/b", ".", "..", ".hidden", "ü", "a@b",
                                  "a" * 65, "a\0", "x.", "a..b", "a+b", None, 5])
def test_check_username_refuses(name: object) -> None:
    with pytest.raises(InvalidValue):
        check_username(name)


@pytest.mark.parametrize("name", ["a", "a.b_c-d", "-x", "0" * 64])
def test_every_valid_username_is_a_valid_local_part(name: str) -> None:
    assert split_address(f"{name}@example.com") == (name, "example.com")


@pytest.mark.parametrize(("raw", "normal"), [
    ("Example.COM", "example.com"), ("example.com.", "example.com"), (" a.b ", "a.b"),
    ("localhost", "localhost"), ("münchen.de", "xn--mnchen-3ya.de"),
    ("BÜCHER.example", "xn--bcher-kva.example"), ("例子.广告", "xn--fsqu00a.xn--4rr70v"),
    ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"), ("a-b.c0", "a-b.c0")])
def test_normalize_domain(raw: str, normal: str) -> None:
    assert normalize_domain(raw) == normal


@pytest.mark.parametrize("raw", ["", " ", ".", "..", "a..b", ".a", "-a.com", "a-.com",
                                 "a_b.com", "a b.com", "a/b.com", "a\\b", "a" * 64 + ".com",
                                 ".".join(["a" * 60] * 5), "a\0.com", None, 3])
def test_normalize_domain_refuses(raw: object) -> None:
    with pytest.raises(InvalidValue):
        normalize_domain(raw)


def test_normalize_domain_idna2008() -> None:
    """IDNA 2008/UTS #46 non-transitional: straße.de and strasse.de are different domains."""
    assert normalize_domain("straße.de") == "xn--strae-oqa.de"
    assert normalize_domain("strasse.de") == "strasse.de"


@pytest.mark.parametrize("password", ["x", "p" * 1024, "é" * 512, "pass word ünïcødé"])
def test_check_password_accepts(password: str) -> None:
    assert check_password(password) == password


@pytest.mark.parametrize("password", ["", "p" * 1025, "é" * 513, "😀" * 257, "\ud800", None,
                                      b"bytes"])
def test_check_password_refuses(password: object) -> None:
    with pytest.raises(InvalidValue):
        check_password(password)


@pytest.mark.parametrize("quota", [1, 1024, 1_048_576])
def test_check_quota_accepts(quota: int) -> None:
    assert check_quota(quota) == quota


@pytest.mark.parametrize("quota", [0, -1, 1_048_577, True, False, 5.0, "5", None])
def test_check_quota_refuses(quota: object) -> None:
    with pytest.raises(InvalidValue):
        check_quota(quota)


@pytest.mark.parametrize(("raw", "parts"), [
    ("Alice@Example.COM", ("alice", "example.com")),
    ('"john.doe"@example.com', ("john.doe", "example.com")),
    ("first.last+tag@example.com", ("first.last+tag", "example.com")),
    ("用户@例子.广告", ("用户", "xn--fsqu00a.xn--4rr70v")),
    ("Ünï@münchen.de", ("ünï", "xn--mnchen-3ya.de")),
    ("U\u0308@x.org", ("ü", "x.org")),  # NFC
    (" spaced@x.org ", ("spaced", "x.org")),
    ("o'brien@x.org", ("o'brien", "x.org"))])
def test_split_address(raw: str, parts: tuple[str, str]) -> None:
    assert split_address(raw) == parts
    assert normalize_address(raw) == "@".join(parts)


@pytest.mark.parametrize("raw", ["no-at", "@example.com", "a@", "a..b@x.com", ".a@x.com",
                                 "a.@x.com", "a b@x.com", "a\0@x.com", "a(b)@x.com",
                                 "a@b@x.com", "x" * 65 + "@x.com", '""@x.com', "a@-x.com",
                                 None, 7])
def test_split_address_refuses(raw: object) -> None:
    with pytest.raises(InvalidValue):
        split_address(raw)


# -- domains -----------------------------------------------------------------------------------


def test_add_and_list_domains(accounts: Accounts) -> None:
    assert accounts.domains() == []
    assert accounts.add_domain("B.example") == "b.example"
    assert accounts.add_domain("bücher.example") == "xn--bcher-kva.example"
    with pytest.raises(AlreadyExists):
        accounts.add_domain("b.example")
    assert accounts.add_domain("b.example", exist_ok=True) == "b.example"
    assert accounts.domains() == ["b.example", "xn--bcher-kva.example"]
    assert accounts.has_domain("BÜCHER.example")
    assert not accounts.has_domain("c.example")
    assert not accounts.has_domain("not a domain")
    assert accounts.domain("b.example").name == "b.example"
    with pytest.raises(NotFound):
        accounts.domain("c.example")


def test_delete_domain(accounts: Accounts, mail_root: Path) -> None:
    accounts.create(D, "alice", "h")
    with pytest.raises(Conflict):
        accounts.delete_domain(D)
    assert accounts.get(D, "alice").username == "alice"
    accounts.delete_domain(D, force=True)
    assert accounts.domains() == []
    assert not (mail_root / "domains" / D).exists()
    assert list((mail_root / "domains").iterdir()) == []
    with pytest.raises(NotFound):
        accounts.delete_domain(D)
    accounts.add_domain("empty.example")
    accounts.delete_domain("empty.example")
    assert accounts.domains() == []


# -- users -------------------------------------------------------------------------------------


def test_create_user_creates_domain_and_default_folders(accounts: Accounts,
                                                        mail_root: Path) -> None:
    acc = accounts.create("Example.COM", "alice", "hash", admin=True, quota_mb=5,
                          display_name="Alice", addresses=["Ally@example.com"])
    assert acc.domain == D and acc.username == "alice"
    assert acc.addresses == ("alice@example.com", "ally@example.com")
    assert acc.address == "alice@example.com"
    assert (acc.admin, acc.enabled, acc.quota_mb, acc.quota_bytes) == (True, True, 5, 5 << 20)
    assert acc.created.endswith("+00:00")
    assert accounts.domains() == [D]
    assert accounts.get(D, "alice") == acc
    assert [u.username for u in accounts.users(D)] == ["alice"]
    mb = MailStore(mail_root).mailbox(D, "alice")
    assert [e.name for e in mb.entries()] == ["INBOX", "Archive", "Drafts", "Junk", "Sent",
                                              "Trash"]
    assert (mail_root / "domains" / D / "users" / "alice" / "account.json").is_file()


def test_public_view_hides_secrets(accounts: Accounts) -> None:
    acc = accounts.create(D, "alice", "secret-hash")
    public = acc.public()
    assert "password_hash" not in public and "secret-hash" not in str(public)
    assert public["addresses"] == ["alice@example.com"]


def test_create_in_unicode_domain_is_stored_as_punycode(accounts: Accounts,
                                                        mail_root: Path) -> None:
    acc = accounts.create("bücher.example", "bob", "h")
    assert acc.domain == "xn--bcher-kva.example"
    assert (mail_root / "domains" / "xn--bcher-kva.example" / "users" / "bob").is_dir()
    assert accounts.get("BÜCHER.example", "bob") == acc
    assert accounts.find_address("bob@bücher.example") == ("xn--bcher-kva.example", "bob")


def test_create_duplicate_and_taken_address(accounts: Accounts) -> None:
    accounts.create(D, "alice", "h", addresses=["boss@example.com"])
    with pytest.raises(AlreadyExists):
        accounts.create(D, "alice", "h")
    with pytest.raises(AlreadyExists):
        accounts.create(D, "bob", "h", addresses=["BOSS@example.com"])
    with pytest.raises(NotFound):
        accounts.get(D, "bob")


def test_create_refuses_address_of_foreign_domain(accounts: Accounts) -> None:
    """An extra address lets its owner log in and send as it: only local domains (as update)."""
    with pytest.raises(InvalidValue):
        accounts.create(D, "alice", "h", addresses=["ceo@gmail.com"])
    with pytest.raises(NotFound):
        accounts.get(D, "alice")
    accounts.add_domain("other.example")
    assert accounts.create(D, "alice", "h", addresses=["a@other.example"]).addresses == (
        "alice@example.com", "a@other.example")


@pytest.mark.parametrize("kwargs", [{"quota_mb": 0}, {"quota_mb": True},
                                    {"addresses": ["not an address"]}])
def test_create_bad_values(accounts: Accounts, kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidValue):
        accounts.create(D, "alice", "h", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        accounts.create(D, "Bad Name", "h")


def test_get_unknown(accounts: Accounts) -> None:
    with pytest.raises(NotFound):
        accounts.get(D, "nobody")
    with pytest.raises(NotFound):
        accounts.users("nowhere.example")


def test_newer_account_version_fails_loudly(accounts: Accounts, mail_root: Path) -> None:
    accounts.create(D, "alice", "h")
    path = mail_root / "domains" / D / "users" / "alice" / "account.json"
    path.write_text(path.read_text().replace('"version":1', '"version":99'))
    with pytest.raises(CorruptStore):
        accounts.get(D, "alice")


def test_update_fields(accounts: Accounts) -> None:
    accounts.create(D, "alice", "h")
    acc = accounts.update(D, "alice", admin=True, enabled=False, quota_mb=1_048_576,
                          display_name="A. Liddell", submission_enabled=False,
                          recipients_per_day=10, sender_whitelist=["@example.org", "*"])
    assert (acc.admin, acc.enabled, acc.quota_mb, acc.display_name) == (
        True, False, 1_048_576, "A. Liddell")
    assert (acc.submission_enabled, acc.recipients_per_day) == (False, 10)
    assert acc.sender_whitelist == ("@example.org", "*")
    assert accounts.get(D, "alice") == acc


@pytest.mark.parametrize("changes", [
    {"password": "x"}, {"created": "now"}, {"nonsense": 1},
    {"admin": "yes"}, {"enabled": 1}, {"quota_mb": True}, {"quota_mb": "5"},
    {"quota_mb": 0}, {"quota_mb": 1_048_577}, {"display_name": 5},
    {"recipients_per_day": -1}, {"recipients_per_day": 1.5},
    {"sender_whitelist": "example.org"}, {"sender_whitelist": [1, 2]},
    {"addresses": "alice2@example.com"}, {"app_passwords": ["x"]}, {"password_hash": None}])
def test_update_refuses(accounts: Accounts, changes: dict[str, object]) -> None:
    before = accounts.create(D, "alice", "h")
    with pytest.raises(InvalidValue):
        accounts.update(D, "alice", **changes)
    assert accounts.get(D, "alice") == before


def test_update_unknown_user(accounts: Accounts) -> None:
    accounts.add_domain(D)
    with pytest.raises(NotFound):
        accounts.update(D, "nobody", admin=True)


def test_password_change_bumps_auth_epoch(accounts: Accounts) -> None:
    accounts.create(D, "alice", "h1")
    assert accounts.get(D, "alice").auth_epoch == 0
    assert accounts.update(D, "alice", password_hash="h2").auth_epoch == 1
    assert accounts.update(D, "alice", display_name="x").auth_epoch == 1
    kept = accounts.update(D, "alice", password_hash="h3", auth_epoch=1)  # hash upgrade
    assert (kept.password_hash, kept.auth_epoch) == ("h3", 1)


def test_update_addresses(accounts: Accounts) -> None:
    accounts.create(D, "alice", "h")
    accounts.create(D, "bob", "h", addresses=["bobby@example.com"])
    acc = accounts.update(D, "alice", addresses=["Al@example.com", "al@example.com"])
    assert acc.addresses == ("alice@example.com", "al@example.com")
    assert accounts.find_address("al@example.com") == (D, "alice")
    with pytest.raises(AlreadyExists):
        accounts.update(D, "alice", addresses=["bobby@example.com"])
    with pytest.raises(InvalidValue):
        accounts.update(D, "alice", addresses=["a@elsewhere.example"])
    acc = accounts.update(D, "alice", addresses=[])
    assert acc.addresses == ("alice@example.com",)
    assert accounts.find_address("al@example.com") is None


def test_may_send_as(accounts: Accounts) -> None:
    acc = accounts.create(D, "alice", "h", addresses=["al@example.com"])
    assert acc.may_send_as("ALICE@example.com") and acc.may_send_as("al@example.com")
    assert not acc.may_send_as("bob@example.com")
    assert not acc.may_send_as("garbage")
    acc = accounts.update(D, "alice", sender_whitelist=["@example.org", "news@x.org"])
    assert acc.may_send_as("anyone@example.org") and acc.may_send_as("news@x.org")
    assert not acc.may_send_as("other@x.org")
    assert accounts.update(D, "alice", sender_whitelist=["*"]).may_send_as("a@b.c")


def test_delete_user_removes_everything(accounts: Accounts, mail_root: Path) -> None:
    accounts.create(D, "alice", "h", addresses=["al@example.com"])
    accounts.create(D, "bob", "h")
    udir = mail_root / "domains" / D / "users" / "alice"
    (udir / "drive").mkdir()
    (udir / "drive" / "file.txt").write_bytes(b"data")
    MailStore(mail_root).mailbox(D, "alice").folder("INBOX").append(b"Subject: x\r\n\r\n")
    accounts.delete(D, "alice")
    assert not udir.exists()
    assert [p.name for p in udir.parent.iterdir()] == ["bob"]
    with pytest.raises(NotFound):
        accounts.get(D, "alice")
    assert accounts.find_address("al@example.com") is None
    with pytest.raises(NotFound):
        accounts.delete(D, "alice")
    assert accounts.create(D, "alice", "h2").password_hash == "h2"  # the name is free again


def test_second_instance_sees_changes(mail_root: Path) -> None:
    server, cli = Accounts(mail_root), Accounts(mail_root)
    assert server.find_address("alice@example.com") is None  # cache built, empty
    cli.create(D, "alice", "h")
    assert server.find_address("alice@example.com") == (D, "alice")
    cli.set_alias(D, "team", "alice")
    assert server.resolve("team@example.com").users == ((D, "alice"),)
    cli.delete(D, "alice")
    assert server.find_address("alice@example.com") is None


# -- aliases -----------------------------------------------------------------------------------


def test_alias_rules_add_list_delete(accounts: Accounts) -> None:
    accounts.create(D, "alice", "h")
    rule = accounts.add_alias_rule(D, r"sales-.*", "alice")
    assert rule == AliasRule(r"sales-.*", "alice@example.com")
    accounts.add_alias_rule(D, r"info|contact", "ext@elsewhere.org")
    assert accounts.alias_rules(D) == [rule, AliasRule("info|contact", "ext@elsewhere.org")]
    with pytest.raises(AlreadyExists):
        accounts.add_alias_rule(D, r"sales-.*", "alice")
    with pytest.raises(InvalidValue):
        accounts.add_alias_rule(D, r"(unclosed", "alice")
    with pytest.raises(InvalidValue):
        accounts.add_alias_rule(D, "", "alice")
    with pytest.raises(InvalidValue):
        accounts.add_alias_rule(D, "x" * 257, "alice")
    with pytest.raises(InvalidValue):
        accounts.add_alias_rule(D, "ok", "Not A User")
    with pytest.raises(NotFound):
        accounts.add_alias_rule("nowhere.example", "x", "alice@example.com")
    accounts.delete_alias_rule(D, r"sales-.*")
    assert [r.pattern for r in accounts.alias_rules(D)] == ["info|contact"]
    with pytest.raises(NotFound):
        accounts.delete_alias_rule(D, r"sales-.*")


@pytest.mark.parametrize("pattern", [r"^(a+)+$", r"(x+x+)+y", r"(a|ab)+c", r"(.*)*",
                                     r"a*b*c*d*", r"(?:a|aa)*$"])
def test_catastrophic_alias_pattern_refused(accounts: Accounts, pattern: str) -> None:
    """Local parts are chosen by anyone on the internet: patterns that backtrack
    exponentially (`^(a+)+$` took ~45 s on 31 characters) are refused up front."""
    accounts.add_domain(D)
    with pytest.raises(InvalidValue):
        accounts.add_alias_rule(D, pattern, "alice")


@pytest.mark.parametrize("pattern", [r"sales-.*", r"(sales|info)-.*", r"[a-z]+\.[a-z]+",
                                     r"(a|b)+", r"x{1,5}-.+"])
def test_ordinary_alias_patterns_accepted(accounts: Accounts, pattern: str) -> None:
    accounts.add_domain(D)
    assert accounts.add_alias_rule(D, pattern, "alice").pattern == pattern


def test_plain_aliases(accounts: Accounts) -> None:
    accounts.create(D, "alice", "h")
    accounts.create(D, "bob", "h")
    assert accounts.set_alias(D, "Team", "alice, bob@example.com ,ext@elsewhere.org,") == [
        "alice@example.com", "bob@example.com", "ext@elsewhere.org"]
    assert accounts.set_alias(D, "ops", ["bob"]) == ["bob@example.com"]
    assert accounts.plain_aliases(D) == {
        "team": ["alice@example.com", "bob@example.com", "ext@elsewhere.org"],
        "ops": ["bob@example.com"]}
    accounts.set_alias(D, "ops", "alice")  # replaces
    assert accounts.plain_aliases(D)["ops"] == ["alice@example.com"]
    with pytest.raises(AlreadyExists):
        accounts.set_alias(D, "alice", "bob")
    with pytest.raises(InvalidValue):
        accounts.set_alias(D, "empty", " , ")
    with pytest.raises(InvalidValue):
        accounts.set_alias(D, "bad", "not a target")
    accounts.delete_alias(D, "TEAM")
    assert list(accounts.plain_aliases(D)) == ["ops"]
    with pytest.raises(NotFound):
        accounts.delete_alias(D, "team")


# -- resolution --------------------------------------------------------------------------------


@pytest.fixture
def resolver(accounts: Accounts) -> Accounts:
    accounts.create(D, "alice", "h", addresses=["al@example.com"])
    accounts.create(D, "bob", "h")
    accounts.add_domain("other.example")
    accounts.set_alias(D, "team", "alice, bob, alice@example.com")
    accounts.set_alias(D, "fwd", "someone@elsewhere.org, bob")
    accounts.set_alias(D, "cross", "carol@other.example")
    accounts.add_alias_rule(D, r"sales-[a-z]+", "bob")
    accounts.add_alias_rule(D, r"team", "nobody-ever")  # a plain alias wins over a rule
    return accounts


@pytest.mark.parametrize(("address", "users", "external"), [
    ("alice@example.com", [("example.com", "alice")], []),
    ("ALICE@Example.com", [("example.com", "alice")], []),
    ("al@example.com", [("example.com", "alice")], []),
    ("team@example.com", [("example.com", "alice"), ("example.com", "bob")], []),
    ("fwd@example.com", [("example.com", "bob")], ["someone@elsewhere.org"]),
    ("sales-eu@example.com", [("example.com", "bob")], []),
    ("alice+news@example.com", [("example.com", "alice")], []),
    ("al+x+y@example.com", [("example.com", "alice")], []),
    ("team+tag@example.com", [("example.com", "alice"), ("example.com", "bob")], []),
])
def test_resolve(resolver: Accounts, address: str, users: list[tuple[str, str]],
                 external: list[str]) -> None:
    assert resolver.resolve(address) == Resolution(tuple(users), tuple(external))


@pytest.mark.parametrize("address", ["nobody@example.com", "sales-EU1@example.com",
                                     "+tag@example.com", "cross@example.com",
                                     "carol@other.example"])
def test_resolve_unknown_local(resolver: Accounts, address: str) -> None:
    with pytest.raises(NotFound):
        resolver.resolve(address)


def test_resolve_non_local_domain(resolver: Accounts) -> None:
    with pytest.raises(InvalidValue):
        resolver.resolve("alice@elsewhere.org")
    with pytest.raises(InvalidValue):
        resolver.resolve("not an address")


def test_alias_loop_terminates(accounts: Accounts) -> None:
    accounts.create(D, "alice", "h")
    accounts.set_alias(D, "a", "b")
    accounts.set_alias(D, "b", "a")
    with pytest.raises(NotFound):
        accounts.resolve("a@example.com")
    accounts.set_alias(D, "b", "a, alice")
    assert accounts.resolve("a@example.com").users == ((D, "alice"),)
    accounts.set_alias(D, "self", "self, alice")
    assert accounts.resolve("self@example.com").users == ((D, "alice"),)


def test_alias_chain_too_deep(accounts: Accounts) -> None:
    accounts.create(D, "alice", "h")
    depth = MAX_ALIAS_DEPTH + 2
    for i in range(depth):
        accounts.set_alias(D, f"hop{i}", f"hop{i + 1}")
    accounts.set_alias(D, f"hop{depth}", "alice")
    with pytest.raises(Conflict):
        accounts.resolve("hop0@example.com")
    with pytest.raises(Conflict):  # alice would be MAX_ALIAS_DEPTH + 1 hops away
        accounts.resolve(f"hop{depth - MAX_ALIAS_DEPTH}@example.com")
    assert accounts.resolve(f"hop{depth + 1 - MAX_ALIAS_DEPTH}@example.com").users == (
        (D, "alice"),)


def test_find_address(resolver: Accounts) -> None:
    assert resolver.find_address("Al@Example.com") == (D, "alice")
    assert resolver.find_address("team@example.com") is None  # aliases are not owners
    assert resolver.find_address("garbage") is None
    assert resolver.is_local_domain("OTHER.example")
