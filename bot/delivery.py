"""Sending outside an update (notices, reminders): what a channel must offer the sender, and the three ways
a send can fail, so the sender can honour each platform's rules without knowing the platform."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.messages import Outbound


class DeliveryError(Exception):
    """A send failed in a way the sender should retry with back-off (network, 5xx)."""


class RetryAfter(DeliveryError):
    """The platform asked us to slow down (Telegram 429 ``retry_after``, Zalo quota)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds} s")
        self.seconds = seconds


class Unreachable(DeliveryError):
    """The user blocked the bot or the identity no longer exists (Telegram 403): never retry."""


class OutsideWindow(DeliveryError):
    """The platform does not allow a message to this user now (Zalo OA after the 7-day window)."""


class Delivery(Protocol):
    channel: str

    async def deliver(self, chat_id: str, outbounds: Sequence[Outbound]) -> None:
        """Send the messages in order; raise one of the errors above on failure."""
        ...
