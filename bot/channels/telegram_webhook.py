"""Telegram in webhook mode: Telegram posts each update to our webhook server instead of being polled.

Chosen by ``TELEGRAM_WEBHOOK_URL`` (the public https address that leads to ``WEBHOOK_PATH/telegram`` on our
server, e.g. ``https://bot.example.vn/webhook/telegram``); without it Telegram is long-polled as before.

* At start ``setWebhook`` registers the URL with a secret token, the update types our router handles (no
  more: Telegram then never sends what we would drop) and ``TELEGRAM_WEBHOOK_MAX_CONNECTIONS``.
* Every request must carry that secret in ``X-Telegram-Bot-Api-Secret-Token`` (compared in constant time).
  Anything else is refused with 401 before the body is read: nothing is parsed, queued or stored.
* An accepted update is answered 200 at once and handled from the queue it shares with the Zalo events
  (``bot.channels.update_queue``), in order per user. A full queue answers 503: Telegram keeps the update
  and delivers it again later. Telegram also redelivers whatever it did not see answered; the engine's
  ledger of processed updates (channel + update id) turns every redelivery into a no-op.
* The secret: ``TELEGRAM_WEBHOOK_SECRET`` when set, otherwise derived from the bot token (HMAC-SHA256).
  Not a fresh random one per start: with several instances behind a load balancer each would register its
  own and every instance but the last would refuse Telegram's deliveries. Whoever knows the token can
  reregister the webhook anyway, so deriving the secret from it gives nothing away.

The route reuses ``TelegramChannel`` (rendering, replies, downloads) through aiogram's dispatcher, exactly
as polling does; aiogram's types stay in ``bot/channels/``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError

from bot.channels.handler import Handler
from bot.channels.telegram import CHANNEL, TelegramChannel, build_bot, build_dispatcher
from bot.channels.update_queue import KeyedQueue
from bot.messages import Inbound, Outbound
from bot.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TELEGRAM_ROUTE = "telegram"
_SECRET_FORM = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what the Bot API accepts as secret_token


def webhook_secret(settings: Settings) -> str:
    """The secret Telegram must send with every update (see the module docstring for why not random)."""
    if settings.telegram.webhook_secret is not None:
        secret = settings.telegram.webhook_secret.get_secret_value()
        if not _SECRET_FORM.match(secret):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1–256 characters of A-Z, a-z, 0-9, _ and -")
        return secret
    if settings.telegram.token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    token = settings.telegram.token.get_secret_value().encode()
    return hmac.new(token, b"ocop-telegram-webhook", hashlib.sha256).hexdigest()


def update_key(update: Update) -> Hashable:
    """Updates of one Telegram user are handled one after another; an update from nobody goes alone."""
    sender = None
    if update.message is not None:
        sender = update.message.from_user
    elif update.callback_query is not None:
        sender = update.callback_query.from_user
    return (CHANNEL, str(sender.id)) if sender is not None else (CHANNEL, f"update:{update.update_id}")


class TelegramWebhook:
    """Our Telegram bot fed by webhook requests; one per process."""

    def __init__(self, engine: Handler, settings: Settings) -> None:
        if not settings.telegram.webhook_url:
            raise ValueError("TELEGRAM_WEBHOOK_URL is not set")
        self.settings = settings
        self.url = settings.telegram.webhook_url
        self.secret = webhook_secret(settings)
        self.dispatcher: Dispatcher
        self.bot: Bot
        self.channel: TelegramChannel
        self.dispatcher, self.bot, self.channel = build_dispatcher(engine, settings)

    @property
    def allowed_updates(self) -> list[str]:
        """Exactly the update types our router handles (``message``, ``callback_query``)."""
        return self.dispatcher.resolve_used_update_types()

    async def register(self, *, drop_pending: bool = False) -> None:
        """``setWebhook``: idempotent, so every instance may do it at start with the same values."""
        await self.bot.set_webhook(
            url=self.url,
            secret_token=self.secret,
            allowed_updates=self.allowed_updates,
            max_connections=self.settings.telegram.webhook_max_connections,
            drop_pending_updates=drop_pending,
        )
        log.info("telegram webhook set to %s", self.url)

    def check_secret(self, header: str | None) -> bool:
        if header is None:
            return False
        return hmac.compare_digest(self.secret.encode(), header.encode())

    def parse(self, body: bytes) -> Update | None:
        """The update in a request body; None when it is not one."""
        try:
            raw: Any = json.loads(body)
            return Update.model_validate(raw, context={"bot": self.bot})
        except (ValueError, ValidationError):
            return None

    async def process(self, update: Update) -> None:
        """Handle one update end to end, as polling would; nothing raises out of here."""
        try:
            await self.dispatcher.feed_update(self.bot, update)
        except Exception:
            log.exception("telegram update %s failed", update.update_id)

    async def close(self) -> None:
        await self.channel.drain()
        await self.bot.session.close()


# For operators (``ocop-bot webhook``) ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WebhookState:
    """What Telegram says about our webhook (``getWebhookInfo``), in plain values."""

    url: str
    pending_updates: int
    max_connections: int | None
    allowed_updates: list[str] | None
    last_error: str | None
    last_error_at: dt.datetime | None


class _NoUpdates:
    """The operator commands handle no update; the dispatcher wants a handler to know the update types."""

    async def handle(self, inbound: Inbound) -> list[Outbound]:  # pragma: no cover - never called
        raise RuntimeError("the webhook commands do not handle updates")


async def webhook_info(settings: Settings) -> WebhookState:
    bot = build_bot(settings)
    try:
        info = await bot.get_webhook_info()
    finally:
        await bot.session.close()
    return WebhookState(
        url=info.url,
        pending_updates=info.pending_update_count,
        max_connections=info.max_connections,
        allowed_updates=info.allowed_updates,
        last_error=info.last_error_message,
        last_error_at=info.last_error_date,
    )


async def set_webhook(settings: Settings, *, drop_pending: bool = False) -> str:
    """Register ``TELEGRAM_WEBHOOK_URL`` exactly as ``ocop-bot run`` does at start; returns the URL."""
    webhook = TelegramWebhook(_NoUpdates(), settings)
    try:
        await webhook.register(drop_pending=drop_pending)
    finally:
        await webhook.bot.session.close()
    return webhook.url


async def delete_webhook(settings: Settings, *, drop_pending: bool = False) -> None:
    """Back to polling (``getUpdates`` refuses to run while a webhook is set)."""
    bot = build_bot(settings)
    try:
        await bot.delete_webhook(drop_pending_updates=drop_pending)
    finally:
        await bot.session.close()


def telegram_route(
    webhook: TelegramWebhook, queue: KeyedQueue, busy: Callable[[], web.Response]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``POST WEBHOOK_PATH/telegram``: check the secret, parse, queue, answer at once."""

    async def route(request: web.Request) -> web.Response:
        if not webhook.check_secret(request.headers.get(SECRET_HEADER)):
            # Never the header itself: a near miss of the secret is still a secret.
            log.warning("telegram webhook refused: bad secret header from %s", request.remote)
            return web.json_response({"ok": False}, status=401)
        update = webhook.parse(await request.read())
        if update is None:
            return web.json_response({"ok": False}, status=400)
        if not queue.put(update_key(update), lambda: webhook.process(update)):
            return busy()
        return web.json_response({"ok": True})

    return route
