"""What kind of file a tile shows (its icon and `data-kind`) and whether a browser may open it
in place. Pure: from a name and a content type, no I/O.

Kinds are the manual's six plus `other`: `photo`, `audio`, `video`, `archive`, `document`,
`code`. The content type decides first (what the uploader's browser said, or a guess from the
name at upload), then the extension; code is told apart by extension, since most of it is
stored as `text/plain` or `application/octet-stream`.

Opening in place is limited to types a browser renders without running the file's own code:
raster images, PDF, plain text (served as `text/plain`, whatever the file says), audio and
video. Everything else, HTML and SVG included (they run scripts in our origin), downloads.
"""

from __future__ import annotations

import os

__all__ = ["ICONS", "KINDS", "inline_type", "kind_of"]

KINDS = ("photo", "audio", "video", "archive", "document", "code", "other")

# the icon of each kind: a file in the webmail's static assets (no emoji font needed)
ICONS = {kind: f"drive-{kind}.svg" for kind in ("dir", *KINDS)}

_CODE = frozenset((
    "py", "pyi", "js", "mjs", "cjs", "ts", "tsx", "jsx", "c", "h", "cc", "cpp", "hpp", "cxx",
    "cs", "java", "kt", "kts", "scala", "go", "rs", "rb", "php", "pl", "pm", "swift", "m",
    "mm", "sh", "bash", "zsh", "fish", "ps1", "bat", "cmd", "lua", "r", "jl", "hs", "ml",
    "ex", "exs", "erl", "clj", "lisp", "el", "vim", "sql", "html", "htm", "css", "scss",
    "sass", "less", "vue", "svelte", "json", "yaml", "yml", "toml", "ini", "cfg", "conf",
    "xml", "xsl", "proto", "gradle", "cmake", "mk", "makefile", "dockerfile", "tf", "nix",
    "ipynb", "diff", "patch"))
_ARCHIVE = frozenset((
    "zip", "tar", "gz", "tgz", "bz2", "tbz", "tbz2", "xz", "txz", "zst", "7z", "rar", "lz",
    "lzma", "z", "cab", "iso", "dmg", "deb", "rpm", "apk", "jar", "war", "whl", "cpio"))
_DOCUMENT = frozenset((
    "pdf", "txt", "md", "markdown", "rst", "rtf", "doc", "docx", "odt", "ott", "xls", "xlsx",
    "ods", "csv", "tsv", "ppt", "pptx", "odp", "epub", "tex", "pages", "numbers", "key",
    "log", "ics", "vcf", "eml"))
_PHOTO = frozenset((
    "jpg", "jpeg", "png", "gif", "webp", "avif", "bmp", "tif", "tiff", "heic", "heif", "svg",
    "ico", "raw", "cr2", "nef", "arw", "dng"))
_AUDIO = frozenset(("mp3", "ogg", "oga", "opus", "flac", "wav", "m4a", "aac", "wma", "mid",
                    "midi", "aiff"))
_VIDEO = frozenset(("mp4", "m4v", "webm", "mkv", "mov", "avi", "wmv", "mpg", "mpeg", "ogv",
                    "3gp", "flv"))
_ARCHIVE_TYPES = ("zip", "x-tar", "gzip", "x-gzip", "x-bzip2", "x-xz", "zstd", "x-7z",
                  "vnd.rar", "x-rar", "java-archive", "x-iso9660-image")
_DOCUMENT_TYPES = ("pdf", "msword", "vnd.openxmlformats-officedocument", "vnd.oasis.opendocument",
                   "vnd.ms-excel", "vnd.ms-powerpoint", "rtf", "epub+zip")

# Raster images a browser shows without running anything (no SVG: it can carry script).
_INLINE_IMAGES = frozenset(("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif",
                            "image/bmp", "image/x-icon", "image/vnd.microsoft.icon"))


def _ext(name: str) -> str:
    base = name.lower()
    if base in ("makefile", "dockerfile"):
        return base
    return os.path.splitext(base)[1].lstrip(".")


def kind_of(name: str, content_type: str = "") -> str:
    """One of `KINDS` for a file named `name` stored with `content_type`."""
    ext = _ext(name)
    ctype = content_type.split(";", 1)[0].strip().lower()
    major, _, minor = ctype.partition("/")
    if ext in _CODE:
        return "code"
    if major == "image" or ext in _PHOTO:
        return "photo"
    if major == "audio" or ext in _AUDIO:
        return "audio"
    if major == "video" or ext in _VIDEO:
        return "video"
    if ext in _ARCHIVE or (major == "application" and minor.startswith(_ARCHIVE_TYPES)):
        return "archive"
    if ext in _DOCUMENT or major == "text" or \
            (major == "application" and minor.startswith(_DOCUMENT_TYPES)):
        return "document"
    return "other"


def inline_type(content_type: str) -> str | None:
    """The Content-Type to open a file in place with, or None to download it."""
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype in _INLINE_IMAGES or ctype == "application/pdf":
        return ctype
    if ctype.startswith(("audio/", "video/")) and "/" in ctype:
        return ctype
    if ctype.startswith("text/") or ctype in ("application/json", "application/xml"):
        return "text/plain; charset=utf-8"  # never rendered as markup in our origin
    return None
