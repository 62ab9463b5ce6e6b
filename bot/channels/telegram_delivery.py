"""Telegram as a ``bot.delivery.Delivery``: how the sender (``bot.sender``) sends reminders and notices.

Rendering (inline keyboards, splitting at 4096 characters, files) is ``TelegramChannel``'s own; only the way
a failed call ends differs. Replying to an update, ``TelegramChannel`` waits out 429s and logs the rest; the
sender needs the failure itself (``send(..., raise_errors=True)``), to pause every send, to give up on a
blocked user, or to back off:

* ``TelegramRetryAfter`` (429) → ``RetryAfter(retry_after)``;
* ``TelegramForbiddenError`` (403: the user blocked the bot, deactivated account) and "chat not found"
  → ``Unreachable``;
* network errors, server errors, other refusals → ``DeliveryError``.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
)

from bot.channels.telegram import CHANNEL, TelegramChannel
from bot.delivery import DeliveryError, RetryAfter, Unreachable
from bot.messages import Inbound, Outbound

_GONE = ("chat not found", "user not found", "bot was blocked", "user is deactivated", "peer_id_invalid")


class _NoUpdates:
    """The delivery never handles updates; the channel's constructor wants a handler all the same."""

    async def handle(self, inbound: Inbound) -> list[Outbound]:  # pragma: no cover - never called
        raise RuntimeError("TelegramDelivery does not handle updates")


class TelegramDelivery:
    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self.telegram = TelegramChannel(_NoUpdates(), bot)

    async def deliver(self, chat_id: str, outbounds: Sequence[Outbound]) -> None:
        try:
            await self.telegram.send(int(chat_id), outbounds, raise_errors=True)
        except TelegramRetryAfter as error:
            raise RetryAfter(float(error.retry_after)) from error
        except TelegramForbiddenError as error:
            raise Unreachable(error.message) from error
        except (TelegramBadRequest, TelegramNotFound) as error:
            if any(words in error.message.casefold() for words in _GONE):
                raise Unreachable(error.message) from error
            raise DeliveryError(error.message) from error
        except TelegramNetworkError as error:
            raise DeliveryError(f"network: {error.message}") from error
        except TelegramAPIError as error:
            raise DeliveryError(error.message) from error
