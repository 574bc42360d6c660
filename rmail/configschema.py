"""The typed-schema machinery `rmail.config` declares its keys with, apart from the keys.

A config section is a frozen dataclass deriving from `Section`; each field is declared with
`opt` (a scalar: default, converter, help text) or `section` (a nested object). A converter
takes the raw JSON value and returns the normalised one or raises `Invalid`; `Section`
runs them after construction, so a config built in code is held to the same rules as one
decoded from JSON (`decode`). Errors become a `ConfigError` naming the source and the dotted
key. `override` and `encode` give `Config.with_overrides` and `Config.to_dict`.

Why apart: the rules for reading, checking and locating errors are the same for every key,
and `rmail.config` should read as the list of rmail's keys and their help text.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import field
from functools import partial
from pathlib import Path
from typing import Any

from rmail.mail.domains import to_ascii_domain

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A configuration problem, located by file (``source``) and dotted ``key``."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + reason)

    def located(self, source: str, prefix: str) -> ConfigError:
        """The same error, seen from an enclosing section at ``prefix`` in ``source``."""
        return ConfigError(source, join_key(prefix, self.key), self.reason)


def join_key(prefix: str, key: str) -> str:
    """``prefix`` and ``key`` as one dotted key (``listeners.imap.port``, ``domains[2]``)."""
    if not prefix:
        return key
    if not key:
        return prefix
    return prefix + key if key.startswith("[") else f"{prefix}.{key}"


def show(value: object) -> str:
    """Render a bad value the way it was written in JSON."""
    if isinstance(value, Path):
        return json.dumps(str(value))
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Invalid(Exception):
    """Raised by a field converter; ``key`` is relative to the field (e.g. ``[2]``)."""

    def __init__(self, reason: str, key: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key


# --- field converters: take a raw value, return the normalised value or raise Invalid -------

Converter = Callable[[Any], Any]


def boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {show(value)}")
    return value


def integer(lo: int, hi: int | None = None) -> Converter:
    expected = f"an integer {lo}-{hi}" if hi is not None else f"an integer >= {lo}"

    def convert(value: object) -> int:
        # bool is an int subclass in Python, but `true` is never a port or a count.
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"expected {expected}, got {show(value)}")
        if value < lo or (hi is not None and value > hi):
            raise Invalid(f"expected {expected}, got {value}")
        return value

    return convert


def string(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"expected a non-empty string, got {show(value)}")
    return value


def optional(convert: Converter) -> Converter:
    def convert_optional(value: object) -> Any:
        return None if value is None else convert(value)

    return convert_optional


def list_of(convert: Converter, *, unique: bool = True) -> Converter:
    def convert_list(value: object) -> tuple[Any, ...]:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            raise Invalid(f"expected a list, got {show(value)}")
        items: list[Any] = []
        for index, item in enumerate(value):
            try:
                converted = convert(item)
            except Invalid as exc:
                raise Invalid(exc.reason, f"[{index}]{exc.key}") from None
            if unique and converted in items:
                raise Invalid(f"duplicate entry {show(item)}", f"[{index}]")
            items.append(converted)
        return tuple(items)

    return convert_list


def abs_path(value: object) -> Path:
    if isinstance(value, Path):
        value = str(value)
    text = string(value)
    return Path(os.path.abspath(os.path.expanduser(text)))


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def dns_name(value: object) -> str:
    """A host or domain name, lowercased and IDNA-encoded (``bücher.example`` → A-label)."""
    text = string(value).strip().rstrip(".")
    try:
        ascii_name = text.lower() if text.isascii() else to_ascii_domain(text)
    except UnicodeError:
        raise Invalid(f"not a valid domain name: {show(value)}") from None
    if len(ascii_name) > 253 or not all(_LABEL.match(label) for label in ascii_name.split(".")):
        raise Invalid(f"not a valid domain name: {show(value)}")
    return ascii_name


def host_or_ip(value: object) -> str:
    """A listen address: an IP literal (``127.0.0.1``, ``::``) or a host name."""
    text = string(value).strip()
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    try:
        return dns_name(text)
    except Invalid:
        raise Invalid(f"expected an IP address or host name, got {show(value)}") from None


def network(value: object) -> IPNetwork:
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    text = string(value)
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise Invalid(
            f"expected a network like 10.0.0.0/8 or ::1/128, got {show(value)}"
        ) from None


def choice(value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise Invalid(f"expected one of {', '.join(choices)}, got {show(value)}")
    return value



# --- field declarations ----------------------------------------------------------------------


def opt(default: Any, convert: Converter, help: str, *, path: bool = False, **kw: Any) -> Any:
    """A scalar field: its converter, its help text, and whether it is a file path."""
    metadata = {"help": help, "convert": convert, "path": path}
    if callable(default):
        return field(default_factory=default, metadata=metadata, **kw)
    return field(default=default, metadata=metadata, **kw)


def section(factory: Callable[[], Any], help: str, **defaults: Any) -> Any:
    """A nested object; ``defaults`` are the values a partially given object starts from."""
    section = factory.func if isinstance(factory, partial) else factory
    return field(
        default_factory=factory,
        metadata={"help": help, "section": section, "defaults": defaults},
    )


class Section:
    """Base of every config section: checks and normalises fields after construction."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            section = f.metadata.get("section")
            if section is not None:
                if not isinstance(value, section):
                    raise ConfigError("<code>", f.name, f"expected a {section.__name__}")
                continue
            convert = f.metadata.get("convert")
            if convert is None:
                continue
            try:
                normalised = convert(value)
            except Invalid as exc:
                raise ConfigError("<code>", join_key(f.name, exc.key), exc.reason) from None
            object.__setattr__(self, f.name, normalised)
        self._check()

    def _check(self) -> None:
        """Checks spanning several fields (override in sections that need them)."""


# --- decoding --------------------------------------------------------------------------------


def config_keys(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("internal")}


def decode(
    cls: type,
    raw: object,
    prefix: str,
    source: str,
    base: Path,
    defaults: Mapping[str, Any],
) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(source, prefix, f"expected an object, got {show(raw)}")
    known = config_keys(cls)
    for key in raw:
        if key not in known:
            allowed = ", ".join(known)
            raise ConfigError(
                source, join_key(prefix, str(key)), f"unknown key (expected one of: {allowed})"
            )
    kwargs: dict[str, Any] = dict(defaults)
    for name, f in known.items():
        if name in raw:
            value = raw[name]
            section = f.metadata.get("section")
            if section is not None:
                value = decode(
                    section, value, join_key(prefix, name), source, base, f.metadata["defaults"]
                )
            kwargs[name] = value
        if f.metadata.get("path"):
            value = kwargs.get(name, f.default)
            if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
                kwargs[name] = str(base / value)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise exc.located(source, prefix) from None


def override(obj: Any, changes: Mapping[str, Any], prefix: str) -> Any:
    known = config_keys(type(obj))
    replace: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in known:
            raise ConfigError("<overrides>", join_key(prefix, name), "unknown key")
        current = getattr(obj, name)
        if known[name].metadata.get("section") is not None and isinstance(value, Mapping):
            value = override(current, value, join_key(prefix, name))
        replace[name] = value
    try:
        return dataclasses.replace(obj, **replace)
    except ConfigError as exc:
        raise exc.located("<overrides>", prefix) from None


def encode(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in config_keys(type(obj)):
        value = getattr(obj, name)
        if dataclasses.is_dataclass(value):
            out[name] = encode(value)
        elif isinstance(value, Mapping):
            out[name] = {k: encode(v) if dataclasses.is_dataclass(v) else v
                         for k, v in value.items()}
        elif isinstance(value, tuple):
            out[name] = [str(v) for v in value]
        elif isinstance(value, Path):
            out[name] = str(value)
        else:
            out[name] = value
    return out
