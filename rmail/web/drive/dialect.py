"""Which language a request speaks: the manual's JSON (curl-style) or RFC 4918 WebDAV.

The manual's JSON answers stay the default. A request is a WebDAV request when it says so: an
XML body (PROPFIND, PROPPATCH, LOCK), an `Accept` naming XML, a WebDAV-only header (`If`,
`Lock-Token`), or a client that only ever speaks WebDAV. The last one matters where the two
specifications disagree and nothing in the request tells them apart: a PUT whose parent
collection is missing creates the parents for curl (the manual) but is a 409 for a WebDAV client
(RFC 4918 §9.7.1), whose user would otherwise see folders appear they never made.
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["DAV_CLIENTS", "is_dav_client", "wants_xml"]

# User-Agent fragments of clients that speak only WebDAV (neon covers cadaver, litmus, davfs2).
DAV_CLIENTS = ("neon/", "cadaver", "litmus", "webdavfs", "microsoft-webdav-miniredir",
               "davfs2", "gvfs", "gnome-vfs", "davx5", "cyberduck", "webdavlib", "dav4",
               "kio", "dolphin", "nautilus", "rclone", "webdav")


def is_dav_client(request: web.Request) -> bool:
    if "If" in request.headers or "Lock-Token" in request.headers:
        return True
    agent = request.headers.get("User-Agent", "").lower()
    return any(fragment in agent for fragment in DAV_CLIENTS)


def wants_xml(request: web.Request, body: bytes = b"") -> bool:
    """For PROPFIND: multistatus XML, or the manual's JSON?"""
    if body.strip():
        return True
    accept = request.headers.get("Accept", "").lower()
    if "xml" in accept:
        return True
    return is_dav_client(request)
