"""Config schema: defaults, every bad value at every level, paths, file lookup."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import socket
from pathlib import Path
from typing import Any

import pytest

from rmail.config import (
    LISTENER_NAMES,
    Config,
    ConfigError,
    HttpListenerConfig,
    ListenerConfig,
    load_config,
)

REPO = Path(__file__).resolve().parent.parent
STANDARD_PORTS = {
    "smtp": 25,
    "submission": 587,
    "submissions": 465,
    "lmtp": 24,
    "imap": 143,
    "imaps": 993,
    "pop3": 110,
    "pop3s": 995,
    "http": 9003,
}
# Ports Chromium refuses (net::ERR_UNSAFE_PORT), besides every standard mail port.
BROWSER_UNSAFE = {10080, 6000, 6665, 6666, 6667, 6668, 6669, *STANDARD_PORTS.values()} - {9003}


def write(tmp_path: Path, data: object, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


# --- defaults ------------------------------------------------------------------------------


def test_defaults_of_every_key(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {}))
    assert config.mail_root == tmp_path / "mailstore"
    assert config.domains == ()
    for name in LISTENER_NAMES:
        listener = getattr(config.listeners, name)
        assert (listener.enabled, listener.host, listener.port) == (
            True,
            "127.0.0.1",
            STANDARD_PORTS[name],
        )
    assert isinstance(config.listeners.http, HttpListenerConfig)
    assert config.listeners.http.tls is True
    assert not hasattr(config.listeners.imap, "tls")
    assert (config.tls.cert, config.tls.key) == (None, None)
    assert config.exchange_api.token_secret is None
    assert config.exchange_api.token_ttl == 3600
    assert config.security.lockout_attempts == 5
    assert config.security.lockout_seconds == 900
    assert config.security.rate_limit_per_minute == 600
    assert config.security.trusted_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert config.quota_mb_default == 1024
    assert config.max_message_bytes == 50 * 1024 * 1024
    assert config.source == str(tmp_path / "config.json")
    assert (config.smtp.max_connections_per_ip, config.smtp.max_recipients) == (20, 1000)
    assert (config.smtp.timeout, config.smtp.auth_without_tls_trusted) == (300, False)
    assert (config.relay.smarthost, config.relay.routes) == (None, {})
    assert config.queue.lifetime == 5 * 24 * 3600
    assert (config.queue.retry_min, config.queue.retry_max) == (300, 14400)


def test_hostname_defaults_to_fqdn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getfqdn", lambda: "Mail.Example.COM")
    assert Config.from_dict({}).hostname == "mail.example.com"
    monkeypatch.setattr(socket, "getfqdn", lambda: "bad_name!")
    assert Config.from_dict({}).hostname == "localhost"
    assert Config.from_dict({"hostname": "mx.example.org"}).hostname == "mx.example.org"


def test_partial_listener_keeps_its_own_defaults() -> None:
    config = Config.from_dict({"listeners": {"imap": {"port": 2143}, "http": {"tls": False}}})
    assert config.listeners.imap == ListenerConfig(enabled=True, host="127.0.0.1", port=2143)
    assert config.listeners.http.port == 9003
    assert config.listeners.http.tls is False
    assert config.listeners.smtp.port == 25


def test_random_token_secret_per_start_and_configured_secret(tmp_path: Path) -> None:
    first, second = Config.from_dict({}), Config.from_dict({})
    assert re.fullmatch(r"[0-9a-f]{64}", first.exchange_api.secret)
    assert first.exchange_api.secret != second.exchange_api.secret
    fixed = "f" * 64
    config = Config.from_dict({"exchange_api": {"token_secret": fixed}})
    assert config.exchange_api.secret == fixed
    assert fixed not in repr(config)
    # Derived configs keep this process's secret.
    derived = first.with_overrides(quota_mb_default=5)
    assert derived.exchange_api.secret == first.exchange_api.secret


def test_shipped_config_json() -> None:
    config = load_config(REPO / "config.json")
    assert config.hostname == "localhost"
    assert config.mail_root == REPO / "mailstore"
    ports = {name: lst.port for name, lst in config.listeners.items()}
    assert ports == {
        "smtp": 2525,
        "submission": 2587,
        "submissions": 2465,
        "lmtp": 2424,
        "imap": 2143,
        "imaps": 2993,
        "pop3": 2110,
        "pop3s": 2995,
        "http": 9003,
    }
    assert not set(ports.values()) & BROWSER_UNSAFE
    assert all(lst.host == "127.0.0.1" for _, lst in config.listeners.items())
    assert config.listeners.http.tls is True


def test_every_key_has_help_and_is_in_readme() -> None:
    readme = (REPO / "README.md").read_text()

    def keys(cls: type, prefix: str) -> list[str]:
        out = []
        for f in dataclasses.fields(cls):
            if f.metadata.get("internal"):
                continue
            assert f.metadata.get("help"), f"{prefix}{f.name} has no help text"
            section = f.metadata.get("section")
            if section is not None and prefix + f.name != "listeners":
                out += keys(section, f"{prefix}{f.name}.")
            elif section is None:
                out.append(prefix + f.name)
        return out

    documented = keys(Config, "") + [
        f"listeners.NAME.{f.name}" for f in dataclasses.fields(ListenerConfig)
    ]
    documented.append("listeners.http.tls")
    for key in documented:
        assert f"`{key}`" in readme, f"{key} is not documented in README.md"
    for name in LISTENER_NAMES:
        assert f"`{name}` {STANDARD_PORTS[name]}" in readme


# --- bad values --------------------------------------------------------------------------

BAD: list[tuple[dict[str, Any], str, str]] = [
    ([], "", "expected an object"),  # type: ignore[list-item]
    ({"bogus": 1}, "bogus", "unknown key"),
    ({"hostname": 5}, "hostname", "expected a non-empty string, got 5"),
    ({"hostname": ""}, "hostname", "expected a non-empty string"),
    ({"hostname": "bad host!"}, "hostname", "not a valid domain name"),
    ({"mail_root": None}, "mail_root", "got null"),
    ({"mail_root": 5}, "mail_root", "expected a non-empty string"),
    ({"mail_root": ""}, "mail_root", "expected a non-empty string"),
    ({"domains": "example.com"}, "domains", 'expected a list, got "example.com"'),
    ({"domains": [5]}, "domains[0]", "got 5"),
    ({"domains": ["ok.example", "bad domain"]}, "domains[1]", "not a valid domain name"),
    ({"domains": ["a.example", "A.example"]}, "domains[1]", "duplicate"),
    ({"domains": ["-x.example"]}, "domains[0]", "not a valid domain name"),
    ({"listeners": []}, "listeners", "expected an object, got []"),
    ({"listeners": {"ftp": {}}}, "listeners.ftp", "unknown key"),
    ({"listeners": {"imap": 143}}, "listeners.imap", "expected an object, got 143"),
    ({"listeners": {"imap": {"bogus": 1}}}, "listeners.imap.bogus", "unknown key"),
    ({"listeners": {"imap": {"tls": True}}}, "listeners.imap.tls", "unknown key"),
    (
        {"listeners": {"imap": {"port": "abc"}}},
        "listeners.imap.port",
        'expected an integer 0-65535, got "abc"',
    ),
    ({"listeners": {"imap": {"port": True}}}, "listeners.imap.port", "got true"),
    ({"listeners": {"imap": {"port": 143.0}}}, "listeners.imap.port", "got 143.0"),
    ({"listeners": {"imap": {"port": 65536}}}, "listeners.imap.port", "got 65536"),
    ({"listeners": {"smtp": {"port": -1}}}, "listeners.smtp.port", "got -1"),
    ({"listeners": {"pop3": {"enabled": 1}}}, "listeners.pop3.enabled", "expected true or false"),
    ({"listeners": {"pop3": {"enabled": "no"}}}, "listeners.pop3.enabled", "expected true or"),
    ({"listeners": {"http": {"tls": "yes"}}}, "listeners.http.tls", "expected true or false"),
    ({"listeners": {"http": {"host": ""}}}, "listeners.http.host", "non-empty string"),
    ({"listeners": {"http": {"host": 127}}}, "listeners.http.host", "non-empty string"),
    ({"listeners": {"http": {"host": "a b"}}}, "listeners.http.host", "IP address or host"),
    (
        {"listeners": {"smtp": {"port": 2525}, "imap": {"port": 2525}}},
        "listeners.imap",
        "same address as listeners.smtp (127.0.0.1:2525)",
    ),
    ({"tls": None}, "tls", "expected an object, got null"),
    ({"tls": {"cert": 5, "key": "k.pem"}}, "tls.cert", "got 5"),
    ({"tls": {"cert": "c.pem"}}, "tls.key", "cert and key must be given together"),
    ({"tls": {"key": "k.pem"}}, "tls.cert", "cert and key must be given together"),
    ({"tls": {"chain": "x"}}, "tls.chain", "unknown key"),
    ({"exchange_api": {"token_secret": "short"}}, "exchange_api.token_secret", "32 characters"),
    ({"exchange_api": {"token_secret": 123}}, "exchange_api.token_secret", "got 123"),
    ({"exchange_api": {"token_ttl": 0}}, "exchange_api.token_ttl", "expected an integer >= 1"),
    ({"exchange_api": {"token_ttl": "3600"}}, "exchange_api.token_ttl", 'got "3600"'),
    ({"exchange_api": {"token_ttl": True}}, "exchange_api.token_ttl", "got true"),
    ({"exchange_api": {"generated_secret": "x"}}, "exchange_api.generated_secret", "unknown"),
    ({"exchange_api": "s"}, "exchange_api", "expected an object"),
    ({"security": {"lockout_attempts": 0}}, "security.lockout_attempts", "got 0"),
    ({"security": {"lockout_attempts": False}}, "security.lockout_attempts", "got false"),
    ({"security": {"lockout_seconds": "900"}}, "security.lockout_seconds", 'got "900"'),
    ({"security": {"rate_limit_per_minute": 0}}, "security.rate_limit_per_minute", "got 0"),
    (
        {"security": {"trusted_networks": "127.0.0.0/8"}},
        "security.trusted_networks",
        "expected a list",
    ),
    (
        {"security": {"trusted_networks": ["::1/128", "nope"]}},
        "security.trusted_networks[1]",
        'expected a network like 10.0.0.0/8 or ::1/128, got "nope"',
    ),
    ({"security": {"trusted_networks": [8]}}, "security.trusted_networks[0]", "got 8"),
    ({"security": {"whitelist": []}}, "security.whitelist", "unknown key"),
    ({"quota_mb_default": 0}, "quota_mb_default", "expected an integer 1-1048576, got 0"),
    ({"quota_mb_default": 1048577}, "quota_mb_default", "got 1048577"),
    ({"quota_mb_default": True}, "quota_mb_default", "got true"),
    ({"max_message_bytes": 0}, "max_message_bytes", "expected an integer >= 1, got 0"),
    ({"max_message_bytes": "1"}, "max_message_bytes", 'got "1"'),
    ({"source": "x"}, "source", "unknown key"),
    ({"smtp": {"max_connections_per_ip": 0}}, "smtp.max_connections_per_ip", "got 0"),
    ({"smtp": {"max_recipients": "10"}}, "smtp.max_recipients", 'got "10"'),
    ({"smtp": {"auth_without_tls_trusted": 1}}, "smtp.auth_without_tls_trusted", "true or"),
    ({"relay": {"smarthost": 25}}, "relay.smarthost", 'expected an object or "host:port"'),
    ({"relay": {"smarthost": "h:x"}}, "relay.smarthost", 'expected "host" or "host:port"'),
    ({"relay": {"smarthost": {"port": 25}}}, "relay.smarthost.host", "needs a host"),
    ({"relay": {"smarthost": {"host": "h", "tls": "yes"}}}, "relay.smarthost.tls", "one of"),
    ({"relay": {"smarthost": {"host": "h", "user": "u"}}}, "relay.smarthost.user", "unknown"),
    ({"relay": {"smarthost": {"host": "h", "username": "u"}}}, "relay.smarthost.password",
     "given together"),
    ({"relay": {"routes": []}}, "relay.routes", "expected an object mapping domains"),
    ({"relay": {"routes": {"bad domain": "h"}}}, "relay.routes.bad domain", "domain name"),
    ({"relay": {"routes": {"a.example": {"host": "h", "port": 0}}}},
     "relay.routes.a.example.port", "got 0"),
    ({"queue": {"lifetime": 0}}, "queue.lifetime", "got 0"),
    ({"queue": {"retry_min": 60, "retry_max": 30}}, "queue.retry_max", "retry_min"),
    ({"queue": {"concurrency": 1000}}, "queue.concurrency", "got 1000"),
]


@pytest.mark.parametrize(
    ("data", "key", "reason"), BAD, ids=[f"{k}-{i}" for i, (_, k, _) in enumerate(BAD)]
)
def test_bad_value_names_file_and_key(
    tmp_path: Path, data: dict[str, Any], key: str, reason: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.source == str(path)
    assert err.key == key
    assert reason in err.reason
    prefix = f"{path}: {key}: " if key else f"{path}: "
    assert str(err).startswith(prefix)


def test_unknown_key_lists_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"expected one of: enabled, host, port, tls"):
        Config.from_dict({"listeners": {"http": {"prot": 1}}}, "x.json")


def test_file_problems(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.json: file not found"):
        load_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"hostname": "x",\n  oops}')
    with pytest.raises(ConfigError, match=r"bad\.json: invalid JSON at line 2 column 3"):
        load_config(bad)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ConfigError, match=r"binary\.json: cannot read"):
        load_config(binary)


# --- normalisation and paths ---------------------------------------------------------------


def test_domains_are_lowercased_and_idna_encoded() -> None:
    config = Config.from_dict({"domains": ["Example.COM", "bücher.example", "trailing.dot."]})
    assert config.domains == ("example.com", "xn--bcher-kva.example", "trailing.dot")


def test_listener_hosts_are_normalised() -> None:
    config = Config.from_dict(
        {"listeners": {"imap": {"host": "[::1]"}, "pop3": {"host": "LocalHost"}}}
    )
    assert config.listeners.imap.host == "::1"
    assert config.listeners.pop3.host == "localhost"


def test_port_zero_may_repeat() -> None:
    config = Config.from_dict({"listeners": {"imap": {"port": 0}, "pop3": {"port": 0}}})
    assert config.listeners.imap.port == config.listeners.pop3.port == 0


def test_relative_paths_resolve_against_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(
        tmp_path,
        {"mail_root": "data/store", "tls": {"cert": "certs/c.pem", "key": "/etc/k.pem"}},
        "etc/rmail/config.json",
    )
    config = load_config(Path("etc/rmail/config.json"))
    base = path.parent
    assert config.mail_root == base / "data" / "store"
    assert config.tls.cert == base / "certs" / "c.pem"
    assert config.tls.key == Path("/etc/k.pem")
    assert load_config(write(tmp_path, {"mail_root": "/srv/mail"})).mail_root == Path("/srv/mail")
    assert load_config(write(tmp_path, {}, "x/config.json")).mail_root == tmp_path / "x/mailstore"


def test_mail_root_in_code_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Config(hostname="localhost", mail_root="rel").mail_root == tmp_path / "rel"  # type: ignore[arg-type]
    assert Config.from_dict({"mail_root": "rel"}).mail_root == tmp_path / "rel"


def test_config_file_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RMAIL_CONFIG", raising=False)
    write(tmp_path, {"hostname": "cwd.example"})
    env_file = write(tmp_path, {"hostname": "env.example"}, "env/config.json")
    arg_file = write(tmp_path, {"hostname": "arg.example"}, "arg/config.json")

    assert load_config().hostname == "cwd.example"
    monkeypatch.setenv("RMAIL_CONFIG", str(env_file))
    assert load_config().hostname == "env.example"
    assert load_config(None).hostname == "env.example"
    assert load_config(arg_file).hostname == "arg.example"
    assert load_config(str(arg_file)).hostname == "arg.example"


def test_missing_default_file_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RMAIL_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=r"^config\.json: file not found"):
        load_config()


# --- security helpers ---------------------------------------------------------------------


def test_trusted_networks() -> None:
    security = Config.from_dict({}).security
    assert security.is_trusted("127.0.0.1")
    assert security.is_trusted("127.9.9.9")
    assert security.is_trusted("::1")
    assert security.is_trusted("::ffff:127.0.0.1")
    assert not security.is_trusted("10.0.0.1")
    assert not security.is_trusted("garbage")
    nobody = Config.from_dict({"security": {"trusted_networks": []}}).security
    assert not nobody.is_trusted("127.0.0.1")
    lan = Config.from_dict({"security": {"trusted_networks": ["192.168.1.7/24"]}}).security
    assert lan.trusted_networks == (ipaddress.ip_network("192.168.1.0/24"),)
    assert lan.is_trusted("192.168.1.200")


# --- building configs in code ------------------------------------------------------------


def test_with_overrides(tmp_path: Path) -> None:
    base = Config.from_dict({"hostname": "localhost", "mail_root": str(tmp_path)})
    changed = base.with_overrides(
        listeners={"imap": {"port": 0}, "http": {"tls": False}}, quota_mb_default=7
    )
    assert changed.listeners.imap.port == 0
    assert changed.listeners.imap.host == "127.0.0.1"
    assert changed.listeners.http.tls is False
    assert changed.listeners.http.port == 9003
    assert changed.quota_mb_default == 7
    assert base.listeners.imap.port == 143  # frozen: the original is untouched

    with pytest.raises(ConfigError) as info:
        base.with_overrides(listeners={"imap": {"port": "x"}})
    assert (
        str(info.value) == '<overrides>: listeners.imap.port: expected an integer 0-65535, got "x"'
    )
    with pytest.raises(ConfigError, match=r"<overrides>: listeners.ftp: unknown key"):
        base.with_overrides(listeners={"ftp": {}})


def test_code_built_configs_are_validated(tmp_path: Path) -> None:
    config = Config(hostname="localhost", mail_root=tmp_path)
    with pytest.raises(ConfigError, match=r"quota_mb_default: expected an integer 1-1048576"):
        dataclasses.replace(config, quota_mb_default=0)
    with pytest.raises(ConfigError, match=r"port: expected an integer"):
        ListenerConfig(port=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.hostname = "x"  # type: ignore[misc]


def test_forwards_per_day(tmp_path: Path) -> None:
    assert Config(hostname="localhost", mail_root=tmp_path).forwards_per_day == 2000
    assert Config.from_dict({"forwards_per_day": 0}).forwards_per_day == 0
    for bad in (-1, 1_000_001, True, "5"):
        with pytest.raises(ConfigError, match=r"forwards_per_day: expected an integer "
                                              r"0-1000000"):
            Config.from_dict({"forwards_per_day": bad})


def test_to_dict_round_trips(tmp_path: Path) -> None:
    config = Config.from_dict(
        {
            "hostname": "mx.example",
            "mail_root": str(tmp_path),
            "domains": ["b.example"],
            "security": {"trusted_networks": ["10.0.0.0/8"]},
            "exchange_api": {"token_secret": "s" * 40},
        }
    )
    data = config.to_dict()
    json.dumps(data)  # plain JSON
    assert Config.from_dict(data) == config
    assert data["exchange_api"]["token_secret"] == "s" * 40


def test_relay_hosts_and_routes() -> None:
    config = Config.from_dict({"relay": {
        "smarthost": {"host": "smtp.provider.example", "port": 587, "tls": "starttls",
                      "username": "u", "password": "s3cret-pw"},
        "routes": {"Example.NET": "127.0.0.1:2526", "b.example": "[::1]:26",
                   "c.example": "relay.c.example",
                   "d.example": {"host": "10.0.0.1", "tls": "none"}},
    }})
    smarthost = config.relay.smarthost
    assert smarthost is not None
    assert (smarthost.host, smarthost.port, smarthost.tls) == ("smtp.provider.example", 587,
                                                               "starttls")
    assert "s3cret-pw" not in repr(config)
    routes = {d: (r.host, r.port, r.tls) for d, r in config.relay.routes.items()}
    assert routes == {"example.net": ("127.0.0.1", 2526, "opportunistic"),
                      "b.example": ("::1", 26, "opportunistic"),
                      "c.example": ("relay.c.example", 25, "opportunistic"),
                      "d.example": ("10.0.0.1", 25, "none")}
    data = config.to_dict()
    json.dumps(data)
    assert Config.from_dict(data) == config
