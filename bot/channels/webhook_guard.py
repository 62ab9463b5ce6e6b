"""What every route of our webhook server gets before its own check: a body read within a time limit, a cap on
requests still being read (nobody is authenticated before the body is in), junk answered 400 instead of a
traceback, and refusals logged as a summary line per minute instead of a line per request.

Routes read their input through ``json_body`` and ``header`` and refuse through ``WebhookGuard.refuse``; any
``JunkRequest`` (or a decoding error that slipped through) raised in a route becomes a 400 with one line in the
rejection log. Nothing here knows a platform: a new route (Telegram's webhook, say) gets all of it by being
on the same ``web.Application``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger("bot.channels.webhook")

Clock = Callable[[], float]
SUMMARY_PERIOD_S = 60.0


class JunkRequest(Exception):
    """The request cannot be read (not JSON, nested too deep, bytes that are not text): answered 400."""


def json_body(raw: bytes) -> Any:
    """The parsed body, or ``JunkRequest``. Nesting deep enough to exhaust the parser is junk, not a crash."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise JunkRequest("body is not JSON") from None


def header(request: web.Request, name: str) -> str | None:
    """A header that must be plain ASCII (secrets, signatures); bytes that are not are junk."""
    value = request.headers.get(name)
    if value is None:
        return None
    if not value.isascii():  # aiohttp hands undecodable bytes over as surrogates
        raise JunkRequest(f"header {name} is not ASCII")
    return value


def _route_of(request: web.Request) -> str:
    """The route's own path, not the requested one: made-up paths must not each get a line in the summary."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


class RejectionLog:
    """Refused requests, logged as at most a line as the first comes and a summary line per period after it:
    a flood of forged requests must not become a flood of log lines."""

    def __init__(self, period: float = SUMMARY_PERIOD_S, clock: Clock = time.monotonic) -> None:
        self.period = period
        self.clock = clock
        self._opened: float | None = None
        self._held: Counter[str] = Counter()

    def note(self, route: str, status: int, reason: str, remote: str | None) -> None:
        now = self.clock()
        if self._opened is not None and now - self._opened < self.period:
            self._held[f"{route} {status} {reason}"] += 1
            return
        self.flush()
        self._opened = now
        log.warning(
            "webhook %s refused (%d %s) from %s; further refusals are summed up every %d s",
            route,
            status,
            reason,
            remote or "?",
            int(self.period),
        )

    def flush(self) -> None:
        """Log the summary of the refusals held back, if any."""
        if self._held:
            total = sum(self._held.values())
            parts = ", ".join(f"{what} ×{count}" for what, count in self._held.most_common())
            log.warning("webhook refused %d more request(s) in the last %d s: %s", total, int(self.period), parts)
            self._held.clear()

    def flush_if_due(self) -> None:
        if self._opened is not None and self.clock() - self._opened >= self.period:
            self.flush()
            self._opened = None


class WebhookGuard:
    """The server-wide part of the webhook routes' defence; ``install`` puts it on an application."""

    def __init__(self, *, body_timeout: float, max_unauthenticated: int, rejections: RejectionLog | None = None):
        self.body_timeout = body_timeout
        self.rejections = rejections or RejectionLog()
        self._reading = asyncio.Semaphore(max_unauthenticated)

    def install(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)
        app.cleanup_ctx.append(self._summaries)

    def refuse(self, request: web.Request, status: int, reason: str, body: Any = None) -> web.Response:
        """Answer a refused request and note it in the (rate-limited) rejection log."""
        self.rejections.note(_route_of(request), status, reason, request.remote)
        return web.json_response(body if body is not None else {"ok": False}, status=status)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST":
            refused = await self._read_body(request)
            if refused is not None:
                return refused
        try:
            return await handler(request)
        except (JunkRequest, UnicodeError, RecursionError) as error:
            return self.refuse(request, 400, str(error) if isinstance(error, JunkRequest) else type(error).__name__)

    async def _read_body(self, request: web.Request) -> web.Response | None:
        """Read the whole body now, within the time limit and a slot among the requests being read; the route
        then reads it from aiohttp's cache. A refusal, or None when the body is in."""
        if self._reading.locked():
            return self.refuse(request, 503, "too many requests being read")
        async with self._reading:
            try:
                async with asyncio.timeout(self.body_timeout):
                    await request.read()
            except TimeoutError:
                return self.refuse(request, 408, f"body not received within {self.body_timeout:g} s")
            except web.HTTPRequestEntityTooLarge:
                return self.refuse(request, 413, "body too large")
            except ConnectionError:  # the sender hung up halfway: nobody to answer, nothing worth a traceback
                return self.refuse(request, 400, "connection lost during the body")
        return None

    async def _summaries(self, _app: web.Application) -> AsyncIterator[None]:
        async def every_period() -> None:
            while True:
                await asyncio.sleep(self.rejections.period / 4)
                self.rejections.flush_if_due()

        task = asyncio.create_task(every_period())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.rejections.flush()
