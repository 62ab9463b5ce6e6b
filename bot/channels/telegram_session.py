"""aiogram's HTTP session, with calls that carry no file sent as one JSON body.

aiogram posts every method as a form: it dumps each nested value (a keyboard, an entity list) to JSON on its
own, builds an ``aiohttp.FormData`` and url-encodes it: about a quarter of what each call cost our process
(profiled under ``python -m bench.throughput``). The Bot API takes ``application/json`` for every method
except file uploads (Bot API changelog, 7 September 2015), so those calls go as JSON here, and uploads as
aiogram sends them. Values are prepared by aiogram's own ``prepare_value``: defaults, enums and nested
objects come out the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods.base import TelegramType
from aiohttp import ClientError, ClientTimeout

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import TelegramMethod
    from aiogram.types import InputFile

_JSON = {"Content-Type": "application/json"}


class JsonBodySession(AiohttpSession):
    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature, passed on to aiohttp
    ) -> TelegramType:
        files: dict[str, InputFile] = {}
        body = self.prepare_value(method.model_dump(warnings=False), bot=bot, files=files, _dumps_json=False)
        if files:  # an upload: multipart, as aiogram builds it
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=self.json_dumps(body),
                headers=_JSON,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as response:
                raw: Any = await response.text()
        except TimeoutError as error:
            raise TelegramNetworkError(method=method, message="Request timeout error") from error
        except ClientError as error:
            raise TelegramNetworkError(method=method, message=f"{type(error).__name__}: {error}") from error
        answer = self.check_response(bot=bot, method=method, status_code=response.status, content=raw)
        return cast(TelegramType, answer.result)
