"""The security headers of every webmail answer (pages, errors, redirects, assets)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["PAGE_CSP", "security_headers"]

# No inline script or style anywhere (message content cannot smuggle any in), nothing from
# other origins, never framed (clickjacking).
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; frame-src 'self'; form-action 'self'; "
            "base-uri 'none'; object-src 'none'; frame-ancestors 'none'")


def security_headers(response: web.StreamResponse, csp: str = PAGE_CSP) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", csp)
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("X-Frame-Options", "DENY")
    headers["Referrer-Policy"] = "no-referrer"
    headers.setdefault("Cache-Control", "no-store")
