"""The server's provisioning singleton: fetch the document over HTTPS every `interval` seconds
and apply it; remove the data of accounts whose deletion grace period ran out.

It must run once per server (like the outbound queue runner): `Services.start` starts it.

A fetch that fails (connection refused, a server that hangs past the timeout, a non-200
status, a body that is not a valid document, a certificate that does not verify) changes
nothing, is logged, and is retried after `min(interval, 30)` seconds. The last applied
document's SHA-256 (and the server's ETag / Last-Modified, sent back as If-None-Match /
If-Modified-Since) are kept in `provisioning/state.json`, so an unchanged document costs one
request and no store work, also across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from rmail.config import Config
from rmail.provisioning.apply import Provisioner, Report, digest_of
from rmail.provisioning.document import MAX_DOCUMENT_BYTES, DocumentError
from rmail.store.accounts import Accounts

log = logging.getLogger("rmail.provisioning")

PURGE_EVERY = 3600.0
RETRY_MAX = 30.0


class FetchError(Exception):
    """The document could not be fetched; nothing was changed."""


class ProvisioningTask:
    """Background fetch-and-apply plus the grace-period sweeper."""

    def __init__(self, config: Config, accounts: Accounts,
                 forget: Callable[[str, str], None] | None = None, *,
                 run: Callable[..., Awaitable[Any]], timeout: float | None = None) -> None:
        """``run`` runs store work off the loop (`Services.run`)."""
        self.config = config
        self.run = run
        self.settings = config.provisioning
        self.provisioner = Provisioner(accounts, grace_days=self.settings.delete_grace_days,
                                       quota_mb=config.quota_mb_default, forget=forget)
        interval = float(self.settings.interval)
        self.timeout = timeout if timeout is not None else min(60.0, max(10.0, interval))
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.fetches = 0          # requests made (for tests and the log)
        self.last_error: str | None = None
        self.last_report: Report | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="rmail-provisioning")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Fetch now instead of at the end of the current wait."""
        self._wake.set()

    async def _run(self) -> None:
        next_purge = 0.0
        while True:
            delay = float(self.settings.interval)
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + PURGE_EVERY
                await self._purge()
            if self.settings.url is not None:
                try:
                    await self.fetch_and_apply()
                except FetchError as exc:
                    delay = min(delay, RETRY_MAX)
                    self.last_error = str(exc)
                    log.warning("provisioning: %s; nothing changed, retrying in %.0f s",
                                exc, delay)
            elif next_purge - time.monotonic() < delay:
                delay = max(1.0, next_purge - time.monotonic())
            else:
                delay = PURGE_EVERY
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def _purge(self) -> None:
        try:
            removed = await self.run(self.provisioner.store.purge_expired,
                                     self.settings.delete_grace_days)
        except OSError as exc:
            log.warning("provisioning: purging deleted accounts failed: %s", exc)
            return
        for address in removed:
            log.info("provisioning: removed the data of %s (grace period over)", address)

    # -- one round ------------------------------------------------------------------------------
    async def fetch_and_apply(self) -> Report | None:
        """Fetch the document; apply it when it changed. None when unchanged. FetchError for
        any failure (nothing changed then)."""
        url = self.settings.url
        if url is None:
            return None
        store = self.provisioner.store
        state = await self.run(store.read_state)
        if state.get("url") != url:
            state = {}
        raw, etag, modified = await self._fetch(url, state)
        if raw is None:
            log.debug("provisioning: %s not modified", url)
            self.last_error = None
            return None
        digest = digest_of(raw)
        if digest == state.get("sha256"):
            if (etag, modified) != (state.get("etag"), state.get("last_modified")):
                await self.run(store.write_state, url=url, sha256=digest, etag=etag,
                               last_modified=modified)
            self.last_error = None
            return None
        try:
            report = await self.run(self.provisioner.apply, raw, url,
                                    prune=self.settings.prune)
        except DocumentError as exc:
            raise FetchError(f"{url}: document refused, {len(exc.problems)} problem(s):\n"
                             f"{exc}") from None
        await self.run(store.write_state, url=url, sha256=digest, etag=etag,
                       last_modified=modified)
        self.last_error = None
        self.last_report = report
        log.info("provisioning: %s applied: %s", url, report.summary)
        return report

    async def _fetch(self, url: str, state: dict[str, Any]
                     ) -> tuple[bytes | None, str | None, str | None]:
        headers = {"Accept": "application/json"}
        if state.get("sha256"):
            if state.get("etag"):
                headers["If-None-Match"] = str(state["etag"])
            if state.get("last_modified"):
                headers["If-Modified-Since"] = str(state["last_modified"])
        context = ssl.create_default_context(
            cafile=str(self.settings.ca_file) if self.settings.ca_file else None)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        self.fetches += 1
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.get(url, headers=headers, ssl=context,
                                allow_redirects=False) as response:
                if response.status == 304 and state.get("sha256"):
                    return None, state.get("etag"), state.get("last_modified")
                if response.status != 200:
                    raise FetchError(f"{url}: HTTP {response.status}")
                length = response.content_length
                if length is not None and length > MAX_DOCUMENT_BYTES:
                    raise FetchError(f"{url}: document larger than {MAX_DOCUMENT_BYTES} bytes")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(256 * 1024):
                    size += len(chunk)
                    if size > MAX_DOCUMENT_BYTES:
                        raise FetchError(f"{url}: document larger than {MAX_DOCUMENT_BYTES} "
                                         "bytes")
                    chunks.append(chunk)
                return (b"".join(chunks), response.headers.get("ETag"),
                        response.headers.get("Last-Modified"))
        except TimeoutError:
            raise FetchError(f"{url}: no complete answer within {self.timeout:.0f} s") from None
        except aiohttp.ClientError as exc:
            raise FetchError(f"{url}: {exc}") from None
        except ssl.SSLError as exc:
            raise FetchError(f"{url}: TLS: {exc}") from None
