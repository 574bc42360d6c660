"""Tile kinds and what opens in place: pure functions."""

from __future__ import annotations

import pytest

from rmail.web.webmail.drive.kinds import ICONS, KINDS, inline_type, kind_of


@pytest.mark.parametrize(("name", "ctype", "kind"), [
    ("trip.jpg", "image/jpeg", "photo"), ("scan.HEIC", "application/octet-stream", "photo"),
    ("logo.svg", "image/svg+xml", "photo"), ("song.mp3", "audio/mpeg", "audio"),
    ("take.FLAC", "", "audio"), ("clip.mkv", "video/x-matroska", "video"),
    ("film.mov", "application/octet-stream", "video"), ("src.tar.gz", "application/gzip",
                                                         "archive"),
    ("b.zip", "application/zip", "archive"), ("x.bin", "application/x-7z-compressed",
                                              "archive"),
    ("report.pdf", "application/pdf", "document"), ("notes.txt", "text/plain", "document"),
    ("sheet.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
     "document"), ("readme", "text/markdown", "document"),
    ("main.py", "text/x-python", "code"), ("app.ts", "application/octet-stream", "code"),
    ("page.html", "text/html", "code"), ("Makefile", "", "code"),
    ("data.bin", "application/octet-stream", "other"), ("noext", "", "other"),
])
def test_kind_of(name: str, ctype: str, kind: str) -> None:
    assert kind_of(name, ctype) == kind
    assert kind in KINDS and kind in ICONS


@pytest.mark.parametrize(("ctype", "shown"), [
    ("image/png", "image/png"), ("image/jpeg", "image/jpeg"), ("application/pdf",
                                                               "application/pdf"),
    ("audio/ogg", "audio/ogg"), ("video/mp4", "video/mp4"),
    ("text/plain; charset=utf-8", "text/plain; charset=utf-8"),
    ("text/html", "text/plain; charset=utf-8"), ("application/json", "text/plain; charset=utf-8"),
    ("image/svg+xml", None), ("application/octet-stream", None), ("application/zip", None),
    ("", None),
])
def test_inline_type(ctype: str, shown: str | None) -> None:
    assert inline_type(ctype) == shown
