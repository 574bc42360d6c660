"""One short line per HTTP request, cheap enough for the drive's hot GET path.

aiohttp's default access logger formats an Apache-style line field by field (a strftime per
request among them); this one logs the few facts an operator looks for, lazily formatted, and
skips all work when the `rmail.http.access` logger is not enabled for INFO.
"""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

__all__ = ["ACCESS_LOG", "AccessLogger"]

ACCESS_LOG = logging.getLogger("rmail.http.access")


class AccessLogger(AbstractAccessLogger):
    """`client "METHOD path" status bytes milliseconds`."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        self.logger.info('%s "%s %s" %d %d %.1fms', request.remote, request.method,
                         request.path, response.status, response.body_length, time * 1000)
