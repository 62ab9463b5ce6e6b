"""What every channel needs from the engine: one update in, the replies out (``bot.engine.Engine`` fits)."""

from __future__ import annotations

from typing import Protocol

from bot.messages import Inbound, Outbound


class Handler(Protocol):
    async def handle(self, inbound: Inbound) -> list[Outbound]: ...
