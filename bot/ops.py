"""The operator's routes on the bot's web server: ``GET /healthz``, ``GET /readyz``, ``GET /metrics``.

* ``/healthz`` — the process is up and its event loop answers. Nothing else is checked, so that a
  restarting database never makes an orchestrator kill a healthy process.
* ``/readyz`` — this instance can do its work: the database answers (within 3 s), its schema is at the
  newest migration, and at least one channel is configured. 200 with ``{"ready": true, "checks": …}``, or 503
  naming the failed check. A load balancer sends traffic only to ready instances; compose waits for it.
* ``/metrics`` — Prometheus text format (``bot.metrics``); the outbox gauges are read from the database first.

``install`` also adds a middleware that counts every webhook request answered with a 4xx status, whatever
route answered it, so the webhook routes need no metrics code of their own.

None of the three answers with a secret, a user or a message: they are safe to expose to the load balancer,
but ``/metrics`` belongs on an internal network (the Caddyfile does not forward it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from alembic.script import ScriptDirectory
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.clock import Clock
from bot.sender import quiet_hours
from bot.settings import Settings
from storage.db import alembic_config

log = logging.getLogger(__name__)

DATABASE_TIMEOUT = 3.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def configured_channels(settings: Settings) -> list[str]:
    """The channels this process serves, from its settings."""
    found = []
    if settings.telegram.token is not None:
        found.append("telegram")
    if settings.zalo.bot_token is not None:
        found.append("zalo_bot")
    if settings.zalo.oa.configured:
        found.append("zalo_oa")
    return found


@functools.cache
def migration_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def readiness(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> dict[str, str]:
    """Each check's verdict: ``"ok"`` or a short reason (never a secret or a connection string)."""
    checks = {"database": "ok", "migrations": "ok", "channels": "ok"}
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT), sessions() as session:
            await session.execute(text("SELECT 1"))
            try:
                current = await session.scalar(text("SELECT version_num FROM alembic_version"))
            except Exception:
                current = None
    except Exception as error:  # refused, timed out, authentication: the reason's class is enough
        log.warning("readiness: database unreachable: %s", type(error).__name__)
        checks["database"] = f"unreachable ({type(error).__name__})"
        checks["migrations"] = "unknown"
    else:
        head = migration_head()
        if current != head:
            checks["migrations"] = f"at {current or 'nothing'}, expected {head}: run `ocop-bot migrate`"
    if not configured_channels(settings):
        checks["channels"] = "none configured"
    return checks


def install(
    app: web.Application,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    clock: Clock | None = None,
) -> None:
    """Add the three routes and the rejection-counting middleware to the bot's (not yet started) web app."""
    now = clock or (lambda: dt.datetime.now(dt.UTC))

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def readyz(_request: web.Request) -> web.Response:
        checks = await readiness(sessions, settings)
        ready = all(verdict == "ok" for verdict in checks.values())
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def metrics_route(_request: web.Request) -> web.Response:
        try:
            moment = now()
            await metrics.refresh_outbox(sessions, moment, quiet=quiet_hours(settings, moment))
        except Exception as error:  # the process's own counters are still worth a scrape
            log.warning("metrics: outbox depth unavailable: %s", type(error).__name__)
        response = web.Response(body=generate_latest(metrics.REGISTRY))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_route)
    # Outermost, so that refusals answered by other middlewares (the webhook guard) are counted too.
    app.middlewares.insert(0, _count_rejections)


@web.middleware
async def _count_rejections(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method != "POST":
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as error:  # aiohttp's own refusals: body too large, unknown route
        _count(request, error.status)
        raise
    _count(request, response.status)
    return response


def _count(request: web.Request, status: int) -> None:
    if 400 <= status < 500:
        # The route's pattern, never the requested path: a scanner must not create a label per URL it tries.
        info: Any = request.match_info
        resource = info.route.resource if info.route is not None else None
        metrics.webhook_rejected(resource.canonical if resource is not None else "unmatched", status)
