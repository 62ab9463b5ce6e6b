"""The fake Bot API with the refusals the sender must survive: 403 for chats that blocked the bot, and a
count of 429s. The rolling-window limiter (``sends_per_second``) and ``fail_next`` come from ``FakeBotAPI``;
this wraps it rather than changing it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.telegram_api import SEND_METHODS, Call, FakeBotAPI, _error, _read_body


@dataclass
class LimitedBotAPI(FakeBotAPI):
    blocked: set[int] = field(default_factory=set)  # chat ids that blocked the bot → 403

    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] == self.token and request.match_info["method"].casefold() in SEND_METHODS:
            params, files = await _read_body(request)  # aiohttp caches the body: the parent reads it again
            call = Call(request.match_info["method"], params, files, time.monotonic())
            if call.chat_id in self.blocked:
                call.status = 403
                self.calls.append(call)
                await self._notify()
                return _error(403, "Forbidden: bot was blocked by the user")
        return await super()._method(request)

    async def __aenter__(self) -> LimitedBotAPI:
        await self.start()
        return self

    @property
    def too_many(self) -> int:
        """How many calls were answered 429."""
        return sum(1 for call in self.calls if call.status == 429)

    def sends_to(self, chat_id: int) -> list[Call]:
        """Every send to the chat, answered or refused."""
        return [c for c in self.calls if c.name in SEND_METHODS and c.chat_id == chat_id]
