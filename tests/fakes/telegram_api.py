"""A fake Telegram Bot API server for end-to-end tests and the benchmark.

It speaks the HTTP protocol as aiogram uses it: ``POST /bot<token>/<method>`` with form or multipart bodies,
answers ``{"ok": true, "result": …}`` or ``{"ok": false, "error_code", "description", "parameters"}``, and
serves files at ``GET /file/bot<token>/<file_path>``. Tests push updates (``push_text``, ``push_callback``…),
then wait for the bot's replies (``wait_for_replies``) and read every recorded call (``calls``).

Unknown methods answer 404 and are kept in ``unknown_calls`` so a fixture can fail loudly. The refusals a
sender must survive are opt-in: ``blocked`` chats answer 403, ``sends_per_second`` answers 429 beyond a
rolling one-second window, ``fail_next`` answers 429 a few times.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.server import start_app

TOKEN = "123456:TEST-fake-token"
BOT_ID = 123456
SEND_METHODS = frozenset({"sendmessage", "sendphoto", "senddocument"})
_JSON_FIELDS = frozenset(
    {"reply_markup", "allowed_updates", "entities", "caption_entities", "link_preview_options", "reply_parameters"}
)


@dataclass(slots=True)
class Call:
    method: str  # as the client spelled it, e.g. "sendMessage"
    params: dict[str, Any]
    files: dict[str, bytes]
    at: float
    status: int = 200
    result: Any = None  # what the fake answered, e.g. the Message for a send
    content_type: str = ""  # how the client sent the parameters: JSON, a form, or multipart with files

    @property
    def name(self) -> str:
        return self.method.casefold()

    @property
    def chat_id(self) -> int | None:
        raw = self.params.get("chat_id")
        return int(raw) if raw is not None else None

    def inline_buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup") or {}
        return [button for row in markup.get("inline_keyboard", []) for button in row]

    def callback_data(self) -> list[str]:
        return [str(button["callback_data"]) for button in self.inline_buttons()]


@dataclass(slots=True)
class _Failure:
    remaining: int
    retry_after: int


@dataclass(slots=True)
class _Queued:
    update: dict[str, Any]
    delivered: bool = False


@dataclass
class FakeBotAPI:
    token: str = TOKEN
    host: str = "127.0.0.1"
    # Optional flood control: at most this many sends per rolling second overall (None: unlimited).
    sends_per_second: int | None = None
    # Chats that blocked the bot: every send to them answers 403 (the sender must give them up).
    blocked: set[int] = field(default_factory=set)
    # Update ids start here; a benchmark on a reused database picks a fresh range so no update looks redelivered.
    first_update_id: int = 1
    calls: list[Call] = field(default_factory=list)
    unknown_calls: list[Call] = field(default_factory=list)
    sent_messages: dict[int, dict[str, Any]] = field(default_factory=dict)  # message_id → Message
    # The webhook as the last setWebhook left it ({} when none): url, secret_token, allowed_updates…
    webhook: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.port = 0
        self._queue: list[_Queued] = []
        self._update_ids = itertools.count(self.first_update_id)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id → (file_path, bytes)
        self._failures: dict[str, _Failure] = {}
        self._recent_sends: deque[float] = deque()
        self._changed = asyncio.Condition()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._reply_count = 0
        self._replies_by_chat: dict[int, int] = {}
        self._chat_waiters: dict[int, list[tuple[int, asyncio.Future[None]]]] = {}
        self._http: aiohttp.ClientSession | None = None  # deliveries to our webhook, as Telegram makes them

    # Lifecycle -----------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner, self.port = await start_app(app, self.host)

    async def stop(self) -> None:
        self._closing = True
        await self._notify()  # long polls return at once
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # Pushing updates -----------------------------------------------------------------------------------
    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (kept as given, so the same one can be queued twice)."""
        self._queue.append(_Queued(update))
        self._notify_soon()
        return update

    def _user(self, user_id: int, first_name: str, language_code: str | None) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if language_code:
            user["language_code"] = language_code
        return user

    def _message(self, user_id: int, first_name: str, language_code: str | None, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": first_name},
            "from": self._user(user_id, first_name, language_code),
            **content,
        }

    def push_message(
        self, user_id: int, *, first_name: str = "Tester", language_code: str | None = "vi", **content: Any
    ) -> dict[str, Any]:
        message = self._message(user_id, first_name, language_code, **content)
        return self.push_update({"update_id": next(self._update_ids), "message": message})

    def push_text(self, user_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        return self.push_message(user_id, text=text, **kwargs)

    def push_contact(self, user_id: int, phone: str, *, contact_user_id: int | None = None) -> dict[str, Any]:
        contact = {"phone_number": phone, "first_name": "Tester", "user_id": contact_user_id or user_id}
        return self.push_message(user_id, contact=contact)

    def push_sticker(self, user_id: int) -> dict[str, Any]:
        sticker = {
            "file_id": "sticker-1",
            "file_unique_id": "sticker-u1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        }
        return self.push_message(user_id, sticker=sticker)

    def push_photo(
        self, user_id: int, data: bytes, *, caption: str | None = None, media_group_id: str | None = None
    ) -> dict[str, Any]:
        small = self.add_file(data[: max(1, len(data) // 4)], "photos/small.jpg")
        large = self.add_file(data, "photos/large.jpg")
        sizes = [
            {"file_id": small, "file_unique_id": f"u{small}", "width": 90, "height": 90, "file_size": len(data) // 4},
            {"file_id": large, "file_unique_id": f"u{large}", "width": 1280, "height": 960, "file_size": len(data)},
        ]
        extra: dict[str, Any] = {"caption": caption} if caption else {}
        if media_group_id is not None:  # one photo of an album: Telegram sends each as its own message
            extra["media_group_id"] = media_group_id
        return self.push_message(user_id, photo=sizes, **extra)

    def push_document(
        self, user_id: int, data: bytes, *, file_name: str = "file.pdf", mime_type: str = "application/pdf"
    ) -> dict[str, Any]:
        file_id = self.add_file(data, f"documents/{file_name}")
        document = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return self.push_message(user_id, document=document)

    def push_voice(self, user_id: int, data: bytes, *, duration: int = 1) -> dict[str, Any]:
        """A voice note recorded in the app (Bot API ``Voice``: OGG/Opus)."""
        file_id = self.add_file(data, "voice/file_0.oga")
        voice = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }
        return self.push_message(user_id, voice=voice)

    def push_audio(
        self,
        user_id: int,
        data: bytes,
        *,
        file_name: str = "ghi-am.m4a",
        mime_type: str = "audio/mp4",
        duration: int = 1,
    ) -> dict[str, Any]:
        """An audio file shared from the phone's recorder (Bot API ``Audio``)."""
        file_id = self.add_file(data, f"music/{file_name}")
        audio = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "duration": duration,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": len(data),
        }
        return self.push_message(user_id, audio=audio)

    def push_callback(self, user_id: int, data: str, *, message: dict[str, Any] | None = None) -> dict[str, Any]:
        """A button press; ``message`` is the bot message the button was on (default: a bare stand-in)."""
        if message is None:
            message = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": user_id, "type": "private"},
                "text": "…",
            }
        query = {
            "id": f"cq{next(self._update_ids)}",
            "from": self._user(user_id, "Tester", "vi"),
            "chat_instance": str(user_id),
            "message": message,
            "data": data,
        }
        return self.push_update({"update_id": next(self._update_ids), "callback_query": query})

    def add_file(self, data: bytes, file_path: str) -> str:
        file_id = f"file{next(self._file_ids)}"
        self._files[file_id] = (f"{file_id}/{file_path}", data)
        return file_id

    # Webhook mode: delivering as Telegram does -------------------------------------------------------
    def make_text(self, user_id: int, text: str) -> dict[str, Any]:
        """A text update with the next update id, not queued for getUpdates (for ``deliver``)."""
        return {"update_id": next(self._update_ids), "message": self._message(user_id, "Tester", "vi", text=text)}

    def make_callback(self, user_id: int, data: str) -> dict[str, Any]:
        update = self.push_callback(user_id, data)
        self._queue = [q for q in self._queue if q.update is not update]
        return update

    async def deliver(
        self, update: dict[str, Any], *, url: str | None = None, secret: str | None = "registered"
    ) -> int:
        """POST one update to the webhook as Telegram does (JSON body, the secret header when set); returns
        the HTTP status our server answered. ``secret="registered"``: the one given to setWebhook."""
        target = url or self.webhook.get("url")
        assert target, "no webhook registered and no url given"
        headers = {}
        token = self.webhook.get("secret_token") if secret == "registered" else secret
        if token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = str(token)
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        async with self._http.post(target, json=update, headers=headers) as response:
            await response.read()
            return response.status

    # Misbehaving on purpose ----------------------------------------------------------------------------
    def fail_next(self, method: str, count: int = 1, *, retry_after: int = 1) -> None:
        """The next ``count`` calls of ``method`` answer 429 with ``retry_after``."""
        self._failures[method.casefold()] = _Failure(count, retry_after)

    # Reading what the bot did --------------------------------------------------------------------------
    def calls_of(self, method: str) -> list[Call]:
        wanted = method.casefold()
        return [call for call in self.calls if call.name == wanted and call.status == 200]

    def replies_to(self, chat_id: int) -> list[Call]:
        """Successful sends (message, photo, document) to one chat, in order."""
        return [c for c in self.calls if c.name in SEND_METHODS and c.status == 200 and c.chat_id == chat_id]

    def sends_to(self, chat_id: int) -> list[Call]:
        """Every send to one chat, answered or refused."""
        return [c for c in self.calls if c.name in SEND_METHODS and c.chat_id == chat_id]

    @property
    def too_many(self) -> int:
        """How many calls were answered 429."""
        return sum(1 for call in self.calls if call.status == 429)

    def last_reply_with_buttons(self, chat_id: int) -> Call:
        for call in reversed(self.replies_to(chat_id)):
            if call.inline_buttons():
                return call
        raise AssertionError(f"no reply with inline buttons to chat {chat_id}")

    def message_of(self, call: Call) -> dict[str, Any]:
        """The Message object the fake answered for a send, e.g. to press one of its buttons."""
        assert isinstance(call.result, dict), f"{call.method} answered no message"
        return call.result

    async def wait_for(self, predicate: Any, within: float = 10.0) -> None:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), within)
            except TimeoutError:
                raise AssertionError(f"timed out after {within} s; calls: {self.summary()}") from None

    async def wait_for_replies(self, chat_id: int, count: int, within: float = 10.0) -> list[Call]:
        await self.wait_for(lambda: len(self.replies_to(chat_id)) >= count, within)
        return self.replies_to(chat_id)

    async def wait_for_calls(self, method: str, count: int, within: float = 10.0) -> list[Call]:
        await self.wait_for(lambda: len(self.calls_of(method)) >= count, within)
        return self.calls_of(method)

    async def wait_for_total_replies(self, count: int, within: float = 60.0) -> None:
        await self.wait_for(lambda: self.reply_count >= count, within)

    async def wait_for_reply_count(self, chat_id: int, count: int, within: float = 10.0) -> None:
        """Until ``count`` sends to ``chat_id`` succeeded; cheap with many chats waiting at once (each
        waits on its own future, not on every call the fake records)."""
        if self.reply_count_to(chat_id) >= count:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._chat_waiters.setdefault(chat_id, []).append((count, future))
        try:
            await asyncio.wait_for(future, within)
        except TimeoutError:
            raise AssertionError(f"chat {chat_id}: {self.reply_count_to(chat_id)} of {count} replies") from None

    def reply_count_to(self, chat_id: int) -> int:
        """Successful sends to one chat (a counter, for many users waiting at once)."""
        return self._replies_by_chat.get(chat_id, 0)

    @property
    def reply_count(self) -> int:
        """Successful sends to any chat (a counter: cheap enough to poll under load)."""
        return self._reply_count

    def summary(self, last: int = 15) -> list[str]:
        return [f"{c.method}:{c.status}:{c.params.get('chat_id', '')}" for c in self.calls[-last:]]

    # HTTP ----------------------------------------------------------------------------------------------
    async def _method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _read_body(request)
        call = Call(method, params, files, time.monotonic(), content_type=request.content_type)
        self.calls.append(call)
        handler = _HANDLERS.get(call.name)
        if handler is None:
            call.status = 404
            self.unknown_calls.append(call)
            await self._notify()
            return _error(404, "Not Found: method not found")
        if call.name in SEND_METHODS and call.chat_id in self.blocked:
            call.status = 403
            await self._notify()
            return _error(403, "Forbidden: bot was blocked by the user")
        refused = self._refusal(call)
        if refused is not None:
            call.status = 429
            await self._notify()
            return refused
        try:
            result = await handler(self, call)
        except _BadRequest as error:
            call.status = 400
            await self._notify()
            return _error(400, f"Bad Request: {error}")
        await self._notify()
        return web.json_response({"ok": True, "result": result})

    def _refusal(self, call: Call) -> web.Response | None:
        failure = self._failures.get(call.name)
        if failure is not None and failure.remaining > 0:
            failure.remaining -= 1
            return _too_many(failure.retry_after)
        if self.sends_per_second is not None and call.name in SEND_METHODS:
            now = time.monotonic()
            while self._recent_sends and now - self._recent_sends[0] > 1.0:
                self._recent_sends.popleft()
            if len(self._recent_sends) >= self.sends_per_second:
                return _too_many(1)
            self._recent_sends.append(now)
        return None

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        self.calls.append(Call("file", {"path": path}, {}, time.monotonic()))
        for file_path, data in self._files.values():
            if file_path == path:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _notify_soon(self) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: the next long poll sees the queue anyway
            asyncio.get_running_loop().create_task(self._notify())

    # Methods -------------------------------------------------------------------------------------------
    async def get_updates(self, call: Call) -> list[dict[str, Any]]:
        offset = int(call.params.get("offset") or 0)
        limit = int(call.params.get("limit") or 100)
        timeout = float(call.params.get("timeout") or 0)
        # Confirmed by the offset: gone for good (only once delivered, so a re-queued duplicate survives).
        self._queue = [q for q in self._queue if not (q.delivered and q.update["update_id"] < offset)]

        def ready() -> list[_Queued]:
            return [q for q in self._queue if q.update["update_id"] >= offset or not q.delivered][:limit]

        if not ready() and timeout > 0 and not self._closing:
            with contextlib.suppress(TimeoutError):
                await self.wait_for_internal(lambda: bool(ready()) or self._closing, timeout)
        batch = ready()
        for queued in batch:
            queued.delivered = True
        return [q.update for q in batch]

    async def wait_for_internal(self, predicate: Any, within: float) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), within)

    async def set_webhook(self, call: Call) -> bool:
        if not str(call.params.get("url") or "").startswith(("https://", "http://")):
            raise _BadRequest("bad webhook: an HTTPS URL must be provided for webhook")
        self.webhook = dict(call.params)
        if "max_connections" in self.webhook:
            self.webhook["max_connections"] = int(self.webhook["max_connections"])
        return True

    async def delete_webhook(self, _call: Call) -> bool:
        self.webhook = {}
        return True

    async def get_webhook_info(self, _call: Call) -> dict[str, Any]:
        info: dict[str, Any] = {"url": self.webhook.get("url", ""), "has_custom_certificate": False}
        info["pending_update_count"] = sum(1 for queued in self._queue if not queued.delivered)
        for key in ("max_connections", "allowed_updates"):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return info

    async def get_me(self, _call: Call) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "OCOP test bot", "username": "ocop_test_bot"}

    async def true(self, _call: Call) -> bool:
        return True

    async def send_message(self, call: Call) -> dict[str, Any]:
        text = call.params.get("text")
        if not text:
            raise _BadRequest("message text is empty")
        if len(str(text)) > 4096:
            raise _BadRequest("message is too long")
        return self._sent(call, text=text)

    async def send_photo(self, call: Call) -> dict[str, Any]:
        data = call.files.get("photo")
        if data is None:
            raise _BadRequest("there is no photo in the request")
        self._check_caption(call)
        file_id = self.add_file(data, "sent/photo.jpg")
        size = {"file_id": file_id, "file_unique_id": f"u{file_id}", "width": 1, "height": 1, "file_size": len(data)}
        return self._sent(call, photo=[size], **_caption(call))

    async def send_document(self, call: Call) -> dict[str, Any]:
        data = call.files.get("document")
        if data is None:
            raise _BadRequest("there is no document in the request")
        self._check_caption(call)
        file_id = self.add_file(data, "sent/document")
        document = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data)}
        return self._sent(call, document=document, **_caption(call))

    async def edit_message_text(self, call: Call) -> dict[str, Any] | bool:
        message_id = int(call.params.get("message_id") or 0)
        message = self.sent_messages.get(message_id)
        if message is None:
            raise _BadRequest("message to edit not found")
        message["text"] = call.params.get("text", "")
        if "reply_markup" in call.params:
            message["reply_markup"] = call.params["reply_markup"]
        return message

    async def get_file(self, call: Call) -> dict[str, Any]:
        file_id = str(call.params.get("file_id"))
        if file_id not in self._files:
            raise _BadRequest("invalid file_id")
        file_path, data = self._files[file_id]
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(data), "file_path": file_path}

    def _check_caption(self, call: Call) -> None:
        if len(str(call.params.get("caption") or "")) > 1024:
            raise _BadRequest("message caption is too long")

    def _sent(self, call: Call, **content: Any) -> dict[str, Any]:
        chat_id = call.chat_id
        if chat_id is None:
            raise _BadRequest("chat_id is empty")
        message_id = next(self._message_ids)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "OCOP test bot"},
            **content,
        }
        markup = call.params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        call.result = message
        self._reply_count += 1
        self._replies_by_chat[chat_id] = count = self._replies_by_chat.get(chat_id, 0) + 1
        waiting = self._chat_waiters.get(chat_id)
        if waiting:
            for needed, future in waiting:
                if count >= needed and not future.done():
                    future.set_result(None)
            self._chat_waiters[chat_id] = [(n, f) for n, f in waiting if not f.done()]
        self.sent_messages[message_id] = message
        return message


class _BadRequest(Exception):
    pass


_HANDLERS = {
    "getupdates": FakeBotAPI.get_updates,
    "getme": FakeBotAPI.get_me,
    "deletewebhook": FakeBotAPI.delete_webhook,
    "setwebhook": FakeBotAPI.set_webhook,
    "getwebhookinfo": FakeBotAPI.get_webhook_info,
    "answercallbackquery": FakeBotAPI.true,
    "sendchataction": FakeBotAPI.true,
    "sendmessage": FakeBotAPI.send_message,
    "sendphoto": FakeBotAPI.send_photo,
    "senddocument": FakeBotAPI.send_document,
    "editmessagetext": FakeBotAPI.edit_message_text,
    "getfile": FakeBotAPI.get_file,
}


async def _read_body(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        params = dict(await request.json())
        return params, files
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = value.file.read()
        elif key in _JSON_FIELDS:
            params[key] = json.loads(str(value))
        else:
            params[key] = str(value)
    # aiogram uploads a file under a random field and names it in the parameter as "attach://<field>".
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
            files[key] = files.pop(value[9:])
    return params, files


def _caption(call: Call) -> dict[str, Any]:
    caption = call.params.get("caption")
    return {"caption": caption} if caption else {}


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _too_many(retry_after: int) -> web.Response:
    return _error(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
