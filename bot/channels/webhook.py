"""Our webhook server (aiohttp): the Zalo Bot Platform and the Zalo OA post their events here.

Every request first passes ``webhook_guard`` (body read within a time limit, a cap on requests being read,
junk answered 400, refusals logged as a summary per minute); then each route checks its secret header or
signature and answers at once: Zalo expects an answer within
about two seconds and retries, then disables the webhook, when it does not get one. The work happens
afterwards from a queue that keeps each user's events in arrival order (two quick messages never race one
step, and replies come out in order) while different users run side by side. Redeliveries are dropped by
the engine's processed-updates ledger (the update id is event + message id).

Routes, under ``WEBHOOK_PATH`` (default ``/webhook``): ``POST …/zalo-bot``, ``POST …/zalo-oa``,
``POST …/telegram`` (webhook mode, ``bot.channels.telegram_webhook``), ``GET …/health``. The queue is
``bot.channels.update_queue``: bounded, and a full queue answers 503 so that the platform redelivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp import web

from bot import ops
from bot.channels.telegram_webhook import TELEGRAM_ROUTE, TelegramWebhook, telegram_route
from bot.channels.update_queue import KeyedQueue as KeyedQueue  # re-exported: routes and tests take it from here
from bot.channels.webhook_guard import WebhookGuard, header, json_body
from bot.channels.zalo_bot import ZaloBotChannel, ZaloUpdate, parse_update
from bot.channels.zalo_oa import ZaloOAChannel
from bot.delivery import Delivery
from bot.engine import Engine
from bot.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
BOT_SECRET_HEADER = "X-Bot-Api-Secret-Token"
OA_SIGNATURE_HEADER = "X-ZEvent-Signature"
BUSY_RETRY_AFTER_S = 5


def build_webhook_app(
    settings: Settings,
    queue: KeyedQueue,
    *,
    zalo_bot: ZaloBotChannel | None = None,
    zalo_oa: ZaloOAChannel | None = None,
    guard: WebhookGuard | None = None,
    telegram: TelegramWebhook | None = None,
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    guard = guard or guard_for(settings)
    guard.install(app)
    base = "/" + settings.webhook.path.strip("/") if settings.webhook.path.strip("/") else ""

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_get(f"{base}/health", health)
    if zalo_bot is not None:
        app.router.add_post(f"{base}/zalo-bot", _zalo_bot_route(zalo_bot, queue, guard))
    if zalo_oa is not None:
        app.router.add_post(f"{base}/zalo-oa", _zalo_oa_route(zalo_oa, queue, guard))
    if telegram is not None:
        app.router.add_post(f"{base}/{TELEGRAM_ROUTE}", telegram_route(telegram, queue, busy))
    return app


def guard_for(settings: Settings) -> WebhookGuard:
    return WebhookGuard(
        body_timeout=settings.webhook.body_timeout_s, max_unauthenticated=settings.webhook.max_unauthenticated
    )


def _zalo_bot_route(
    channel: ZaloBotChannel, queue: KeyedQueue, guard: WebhookGuard
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def route(request: web.Request) -> web.Response:
        if not channel.check_secret(header(request, BOT_SECRET_HEADER)):
            # Never the header itself: a near miss of the secret is still a secret.
            return guard.refuse(request, 401, "bad secret header")
        update = parse_update(json_body(await request.read()))
        if update is None:
            log.info("zalo bot webhook: nothing to handle in the body")
            return web.json_response({"ok": True})
        problem = update.problem()
        if problem is not None:
            return guard.refuse(request, 400, problem)
        if not queue.put(channel.key(update), lambda: channel.process(update)):
            return busy()
        return web.json_response({"ok": True})

    return route


def _zalo_oa_route(
    channel: ZaloOAChannel, queue: KeyedQueue, guard: WebhookGuard
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def route(request: web.Request) -> web.Response:
        raw = await request.read()
        verdict = await channel.accept(raw, header(request, OA_SIGNATURE_HEADER))
        if verdict.event is None:
            if verdict.status >= 400:
                return guard.refuse(request, verdict.status, verdict.reason, {"error": -1})
            return web.json_response({"error": 0}, status=verdict.status)
        event = verdict.event
        if not queue.put(channel.key(event), lambda: channel.process(event)):
            return busy()
        return web.json_response({"error": 0})

    return route


def busy() -> web.Response:
    """The queue is full: refused, so the platform keeps the event and delivers it again a little later."""
    return web.json_response({"ok": False}, status=503, headers={"Retry-After": str(BUSY_RETRY_AFTER_S)})


@contextlib.asynccontextmanager
async def serve(app: web.Application, host: str, port: int) -> AsyncIterator[web.AppRunner]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield runner
    finally:
        await runner.cleanup()


class HasEngine(Protocol):
    @property
    def engine(self) -> Engine: ...


@dataclass
class ZaloChannels:
    """The configured Zalo channels and the HTTP session they share; each is also the sender's ``Delivery``."""

    http: aiohttp.ClientSession
    bot: ZaloBotChannel | None = None
    oa: ZaloOAChannel | None = None

    def deliveries(self) -> dict[str, Delivery]:
        found: dict[str, Delivery] = {}
        for channel in (self.bot, self.oa):
            if channel is not None:
                found[channel.channel] = channel
        return found

    async def close(self) -> None:
        await self.http.close()


def open_zalo(engine: Engine, settings: Settings) -> ZaloChannels:
    from bot.channels import zalo_bot, zalo_oa

    channels = ZaloChannels(aiohttp.ClientSession())
    if settings.zalo.bot_token is not None:
        client = zalo_bot.ZaloBotClient(
            settings.zalo.bot_token.get_secret_value(), settings.zalo.api_base, channels.http
        )
        channels.bot = ZaloBotChannel(engine, client, settings)
    if settings.zalo.oa.configured:
        channels.oa = zalo_oa.build_channel(engine, engine.sessions, settings, channels.http, engine.clock)
    return channels


async def run_zalo(
    app: HasEngine,
    settings: Settings,
    stop: asyncio.Event | None = None,
    channels: ZaloChannels | None = None,
    *,
    telegram: TelegramWebhook | None = None,
) -> None:
    """Serve the Zalo webhooks (and poll the Zalo Bot when no webhook secret is set), and Telegram's when
    ``telegram`` is given, until ``stop`` is set, or until SIGINT/SIGTERM when no ``stop`` is given; then
    finish the queued work and close."""
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows
                loop.add_signal_handler(signal_number, stop.set)
    owned = channels is None
    if channels is None:
        channels = open_zalo(app.engine, settings)
    queue = queue_for(settings)
    polling: asyncio.Task[None] | None = None
    try:
        web_app = build_webhook_app(settings, queue, zalo_bot=channels.bot, zalo_oa=channels.oa, telegram=telegram)
        ops.install(web_app, app.engine.sessions, settings, clock=app.engine.clock)
        async with serve(web_app, settings.webhook.host, settings.webhook.port):
            log.info(
                "web server listening on %s:%d (webhooks under %s; /healthz, /readyz, /metrics)",
                settings.webhook.host,
                settings.webhook.port,
                settings.webhook.path,
            )
            if telegram is not None:
                await telegram.register()  # only now: Telegram may deliver the moment it is registered
            bot_channel = channels.bot
            if bot_channel is not None and settings.zalo.webhook_secret is None:
                log.info("ZALO_WEBHOOK_SECRET is not set: polling the Zalo Bot (development mode)")

                def submit(update: ZaloUpdate) -> None:
                    # Polling has nobody to redeliver a refused event: development only, so a warning will do.
                    if not queue.put(bot_channel.key(update), lambda: bot_channel.process(update)):
                        log.warning("queue full: polled zalo bot update %s dropped", update.update_id)

                polling = asyncio.create_task(bot_channel.poll(stop, submit))
            await stop.wait()
    finally:
        if polling is not None:
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
        await queue.close()
        if telegram is not None:
            await telegram.close()
        if owned:
            await channels.close()


def queue_for(settings: Settings) -> KeyedQueue:
    return KeyedQueue(
        settings.webhook.workers, limit=settings.webhook.queue_limit, per_key=settings.webhook.queue_per_user
    )
