"""The channels ``ocop-bot run`` serves, built in one place from the settings: the Zalo channels (each also
the sender's way to reach its users), Telegram's webhook when ``TELEGRAM_WEBHOOK_URL`` is set (polling
otherwise), and the Telegram session the sender uses."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram import Bot

from bot.channels.telegram import build_bot
from bot.channels.telegram_delivery import TelegramDelivery
from bot.channels.telegram_webhook import TelegramWebhook
from bot.channels.webhook import ZaloChannels, open_zalo
from bot.delivery import Delivery
from bot.engine import Engine
from bot.settings import Settings


@dataclass
class Channels:
    zalo: ZaloChannels
    # Served by the web server (``run_zalo``), which registers and closes it.
    telegram_webhook: TelegramWebhook | None = None
    # The sender's own Telegram session, apart from the one that receives updates.
    telegram_delivery: Bot | None = None

    @property
    def polls_telegram(self) -> bool:
        return self.telegram_delivery is not None and self.telegram_webhook is None

    def deliveries(self) -> dict[str, Delivery]:
        found = self.zalo.deliveries()
        if self.telegram_delivery is not None:
            found["telegram"] = TelegramDelivery(self.telegram_delivery)
        return found

    async def close(self) -> None:
        if self.telegram_delivery is not None:
            await self.telegram_delivery.session.close()
        await self.zalo.close()


def open_channels(engine: Engine, settings: Settings) -> Channels:
    channels = Channels(open_zalo(engine, settings))
    if settings.telegram.token is not None:
        channels.telegram_delivery = build_bot(settings)
        if settings.telegram.webhook_url:
            channels.telegram_webhook = TelegramWebhook(engine, settings)
    return channels
