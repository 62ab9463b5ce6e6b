"""A fake Zalo Bot Platform server, speaking the documented protocol (``docs/…`` in channels.md §1).

``POST|GET /bot<token>/<method>`` with JSON, form or query parameters; answers ``{"ok": true, "result": …}``
or ``{"ok": false, "error_code", "description"}`` with the same HTTP status. ``getUpdates`` returns one
update per call (no offset) or 408 when nothing came in time. Media (the photo URLs of image updates, the AAC
of voice updates) are served at ``GET /media/<name>``. Tests build updates (``text``, ``image``, ``voice``,
``sticker``, ``unsupported``),
post them to our webhook as Zalo would (``post_webhook``) or queue them for polling (``queue``), then read
the bot's calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.server import start_app

TOKEN = "1234567890:fake-zalo-bot-token"
TEXT_LIMIT = 2000


@dataclass(slots=True)
class Call:
    method: str
    params: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class FakeZaloBotAPI:
    token: str = TOKEN
    host: str = "127.0.0.1"
    calls: list[Call] = field(default_factory=list)
    unknown_calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = 0
        self._updates: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._media: dict[str, bytes] = {}
        self._failures: dict[str, list[int]] = {}
        self._message_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.webhook: dict[str, Any] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> FakeZaloBotAPI:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._method)
        app.router.add_get("/media/{name}", self._media_file)
        self._runner, self.port = await start_app(app, self.host)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # Building updates (as Zalo sends them) -------------------------------------------------------------------
    def _update(self, event: str, user: str, name: str = "Người dùng", **content: Any) -> dict[str, Any]:
        return {
            "event_name": event,
            "message": {
                "from": {"id": user, "display_name": name, "is_bot": False},
                "chat": {"id": user, "chat_type": "PRIVATE"},
                "message_id": secrets.token_hex(10),
                "date": int(time.time() * 1000),
                **content,
            },
        }

    def text(self, user: str, text: str) -> dict[str, Any]:
        return self._update("message.text.received", user, text=text)

    def image(self, user: str, data: bytes, caption: str | None = None) -> dict[str, Any]:
        name = f"{secrets.token_hex(8)}.jpg"
        self._media[name] = data
        extra = {"caption": caption} if caption else {}
        return self._update("message.image.received", user, photo_url=f"{self.base_url}/media/{name}", **extra)

    def voice(self, user: str, data: bytes) -> dict[str, Any]:
        """A voice message: raw AAC on the CDN, its URL in ``voice_url`` (channels.md §1)."""
        name = f"{secrets.token_hex(8)}.aac"
        self._media[name] = data
        return self._update("message.voice.received", user, voice_url=f"{self.base_url}/media/{name}")

    def sticker(self, user: str) -> dict[str, Any]:
        return self._update("message.sticker.received", user, sticker="abc123", url="https://zalo.me/sticker.webp")

    def unsupported(self, user: str) -> dict[str, Any]:
        return self._update("message.unsupported.received", user)

    @staticmethod
    def wrapped(update: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "result": update}

    def queue(self, update: dict[str, Any]) -> None:
        """For ``getUpdates`` (polling mode)."""
        self._updates.put_nowait(update)

    async def post_webhook(self, url: str, update: dict[str, Any], secret: str | None, *, wrap: bool = False) -> int:
        headers = {"X-Bot-Api-Secret-Token": secret} if secret is not None else {}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=self.wrapped(update) if wrap else update, headers=headers) as response,
        ):
            return response.status

    # Reading what the bot did --------------------------------------------------------------------------------
    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method and call.status == 200]

    def texts_to(self, chat_id: str) -> list[str]:
        return [str(c.params["text"]) for c in self.calls_of("sendMessage") if str(c.params.get("chat_id")) == chat_id]

    async def wait_for_texts(self, chat_id: str, count: int, within: float = 10.0) -> list[str]:
        deadline = time.monotonic() + within
        async with self._changed:
            while len(self.texts_to(chat_id)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} messages to {chat_id}, got {self.texts_to(chat_id)}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)
        return self.texts_to(chat_id)

    def fail_next(self, method: str, status: int, times: int = 1) -> None:
        self._failures.setdefault(method, []).extend([status] * times)

    # Serving -------------------------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    params.update(body)
            else:
                params.update(dict(await request.post()))
        return params

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, time.monotonic())
        if request.match_info["token"] != self.token:
            return self._error(call, 401, "Unauthorized")
        failures = self._failures.get(method)
        if failures:
            return self._error(call, failures.pop(0), "Quota exceeded" if failures else "Forced failure")
        handler = getattr(self, f"_do_{method}", None)
        if handler is None:
            self.unknown_calls.append(call)
            return self._error(call, 404, "Not Found")
        response: web.Response = await handler(call)
        return response

    def _ok(self, call: Call, result: Any) -> web.Response:
        self.calls.append(call)
        self._notify()
        return web.json_response({"ok": True, "result": result})

    def _error(self, call: Call, status: int, description: str) -> web.Response:
        call.status = status
        self.calls.append(call)
        self._notify()
        return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        asyncio.get_running_loop().create_task(notify())

    async def _do_getMe(self, call: Call) -> web.Response:
        return self._ok(call, {"id": "bot123", "account_name": "Bot OCOP", "account_type": "BASIC"})

    async def _do_sendMessage(self, call: Call) -> web.Response:
        text = str(call.params.get("text") or "")
        if not call.params.get("chat_id") or not 1 <= len(text) <= TEXT_LIMIT:
            return self._error(call, 400, "Bad Request")
        return self._ok(call, {"message_id": str(next(self._message_ids)), "date": int(time.time() * 1000)})

    async def _do_sendChatAction(self, call: Call) -> web.Response:
        return self._ok(call, True)

    async def _do_setWebhook(self, call: Call) -> web.Response:
        self.webhook = call.params
        return self._ok(call, {"url": call.params.get("url")})

    async def _do_deleteWebhook(self, call: Call) -> web.Response:
        self.webhook = None
        return self._ok(call, True)

    async def _do_getWebhookInfo(self, call: Call) -> web.Response:
        return self._ok(call, {"url": (self.webhook or {}).get("url", "")})

    async def _do_getUpdates(self, call: Call) -> web.Response:
        if self.webhook is not None:
            return self._error(call, 400, "Webhook is active")
        timeout = min(float(call.params.get("timeout") or 30), 1.0)  # short polls keep tests quick
        try:
            update = await asyncio.wait_for(self._updates.get(), timeout)
        except TimeoutError:
            return self._error(call, 408, "Request timeout")
        return self._ok(call, update)

    async def _media_file(self, request: web.Request) -> web.Response:
        data = self._media.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        kind = "audio/aac" if request.match_info["name"].endswith(".aac") else "image/jpeg"
        return web.Response(body=data, content_type=kind)
