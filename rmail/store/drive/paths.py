"""Paths inside a drive, and the drive's gate for untrusted names (STYLE.md #6).

Every name that reaches the drive from a request, a multipart filename or a share link passes
`check_name` before it touches the disk: no `..`, nothing starting with `_` (reserved for
`_index.json`, `_meta.json`, `_share` ...), no `*.tmp`, at most 255 bytes, at most `MAX_DEPTH`
components. A `DrivePath` can only be built from names that passed it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rmail.store import fsutil
from rmail.store.errors import Conflict, UnsafeName

__all__ = ["MAX_DEPTH", "ROOT", "DrivePath", "check_name"]

MAX_DEPTH = 64


def check_name(name: str, *, what: str = "path component") -> str:
    """The drive's rules on top of the one name gate: no `..` anywhere, nothing starting with
    `_` (reserved for `_index.json`, `_meta.json`, `_share` ...), no `*.tmp`, <= 255 bytes."""
    return fsutil.check_component(name, what=what, reserved_prefix="_", forbidden=("..",))


# Paths that passed the name gate recently (validation is a pure function of the parts): a
# busy client asks for the same few paths again and again.
_VALID_PATHS: dict[tuple[str, ...], DrivePath] = {}


@dataclass(frozen=True, order=True)
class DrivePath:
    """A validated path inside one drive; `()` is the root."""

    parts: tuple[str, ...] = ()

    @classmethod
    def from_parts(cls, parts: Iterable[str]) -> DrivePath:
        key = tuple(parts)
        known = _VALID_PATHS.get(key)
        if known is not None:
            return known
        checked = tuple(check_name(p) for p in key)
        if len(checked) > MAX_DEPTH:
            raise UnsafeName(f"path is deeper than {MAX_DEPTH} components")
        path = cls(checked)
        if len(_VALID_PATHS) >= 4096:
            _VALID_PATHS.clear()
        _VALID_PATHS[key] = path
        return path

    @classmethod
    def parse(cls, text: str) -> DrivePath:
        """`"docs/a.txt"` (one trailing `/` allowed). Absolute paths and empty components are
        refused: a relative path is all that ever reaches the drive."""
        if not isinstance(text, str):
            raise UnsafeName("path must be a string")
        if text.startswith("/"):
            raise UnsafeName(f"path {text!r} is absolute")
        if text.endswith("/"):
            text = text[:-1]
        if not text:
            return cls(())
        return cls.from_parts(text.split("/"))

    @property
    def is_root(self) -> bool:
        return not self.parts

    @property
    def name(self) -> str:
        return self.parts[-1] if self.parts else ""

    @property
    def parent(self) -> DrivePath:
        if not self.parts:
            raise Conflict("the drive root has no parent")
        return DrivePath(self.parts[:-1])

    @property
    def depth(self) -> int:
        return len(self.parts)

    def child(self, name: str) -> DrivePath:
        return DrivePath.from_parts((*self.parts, name))

    def join(self, other: DrivePath) -> DrivePath:
        if len(self.parts) + len(other.parts) > MAX_DEPTH:
            raise UnsafeName(f"path is deeper than {MAX_DEPTH} components")
        return DrivePath(self.parts + other.parts)

    def is_within(self, other: DrivePath) -> bool:
        """True when self is `other` or below it."""
        return self.parts[: len(other.parts)] == other.parts

    def relative_to(self, other: DrivePath) -> DrivePath:
        if not self.is_within(other):
            raise ValueError(f"{self} is not within {other}")
        return DrivePath(self.parts[len(other.parts):])

    def ancestors(self) -> list[DrivePath]:
        """Self first, root last."""
        return [DrivePath(self.parts[:i]) for i in range(len(self.parts), -1, -1)]

    def __str__(self) -> str:
        return "/".join(self.parts)


ROOT = DrivePath()
