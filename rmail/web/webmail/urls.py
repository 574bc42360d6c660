"""Absolute URLs for every `href`, `action` and `src` of the webmail (the manual: "All links
use absolute URLs (including scheme, hostname, and port)").

The origin is the one the browser used (`Host` and the connection's scheme) when that names
this server: `hostname`, one of the mail domains or `mail.` + one of them, `localhost`, a
loopback address, the listener's address or the address the connection arrived on. A cookie set
for `127.0.0.1` then keeps working for someone who came through `127.0.0.1`, and one set for
`localhost` for someone who came through `localhost`. Any other `Host` (a typo, a proxy
that did not pass the name on, a hostile header) gets `hostname` and the HTTP listener's
port, so a page never links to a name the server does not answer for.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import quote, urlencode

from aiohttp import web

from rmail.config import Config

__all__ = ["UrlBuilder", "folder_path", "origin_of"]

# Folder segments are quoted whole (a "/" inside a level stays a separator of levels).
_SEGMENT_SAFE = "@:+-._~!$&'()*,;="
# First path segments owned by the app; a folder starting with one is reached under /folder/.
RESERVED = frozenset({"login", "logout", "register", "compose", "settings", "search",
                      "calendar", "drive", "static", "message", "folder", "bulk", "events"})


def _split_host(host: str) -> tuple[str, str]:
    """("name or address", ":port" or "") of a Host header value."""
    if host.startswith("["):
        addr, _, rest = host[1:].partition("]")
        return addr, rest
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name, ":" + port
    return host, ""


def _is_ours(name: str, config: Config, local_ip: str | None) -> bool:
    name = name.lower().rstrip(".")
    if not name:
        return False
    if name in ("localhost", config.hostname, config.listeners.http.host):
        return True
    if name in config.domains or (name.startswith("mail.") and name[5:] in config.domains):
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    return addr.is_loopback or str(addr) == local_ip


def origin_of(request: web.Request, config: Config) -> str:
    """`scheme://host:port` for links in the answer to `request` (see the module docstring)."""
    scheme = "https" if request.secure else "http"
    host = request.headers.get("Host", "").strip()
    sock = request.transport.get_extra_info("sockname") if request.transport else None
    local_ip = sock[0] if isinstance(sock, tuple) and sock else None
    local_port = sock[1] if isinstance(sock, tuple) and len(sock) > 1 else None
    if host and len(host) <= 300 and host.isascii() and not any(c in host for c in "/\\@ ?#"):
        name, _port = _split_host(host)
        if _is_ours(name, config, local_ip):
            return f"{scheme}://{host.lower()}"
    listener = config.listeners.http
    port_no = listener.port or local_port or (443 if listener.tls else 80)
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{config.hostname}" + ("" if port_no == default else f":{port_no}")


def folder_path(name: str) -> str:
    """`/webmail/{folder}` for a folder name; under `/webmail/folder/` when the first level is
    a reserved word (a user folder called "Settings" stays reachable)."""
    segments = name.split("/")
    quoted = "/".join(quote(s, safe=_SEGMENT_SAFE) for s in segments)
    if segments[0].lower() in RESERVED:
        return f"/webmail/folder/{quoted}"
    return f"/webmail/{quoted}"


def quote_folder(name: str) -> str:
    return "/".join(quote(s, safe=_SEGMENT_SAFE) for s in name.split("/"))


class UrlBuilder:
    """Absolute URLs on one origin."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def __call__(self, path: str, **query: object) -> str:
        """`path` must start with "/"; query values of None are left out."""
        if not path.startswith("/") or path.startswith("//"):
            raise ValueError(f"not an absolute path: {path!r}")
        items = [(k, str(v)) for k, v in query.items() if v is not None]
        return self.origin + path + ("?" + urlencode(items) if items else "")

    def folder(self, name: str, **query: object) -> str:
        return self(folder_path(name), **query)

    def message(self, folder: str, uid: int, suffix: str = "", **query: object) -> str:
        tail = f"/{suffix}" if suffix else ""
        return self(f"/webmail/message/{quote_folder(folder)}/{uid}{tail}", **query)
