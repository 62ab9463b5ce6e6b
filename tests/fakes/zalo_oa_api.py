"""A fake Zalo OA platform: OAuth v4 token endpoint, the OA Open API (customer-service messages, uploads),
ZNS, media URLs, and signed webhook events (channels.md §2-3).

One server plays every host (point ``ZALO_OA_API_BASE``, ``ZALO_OAUTH_BASE`` and ``ZALO_ZNS_API_BASE`` at
it). Refresh tokens are single-use: a second use answers ``-14020``, and ``refresh_calls`` counts the
refreshes. API failures answer HTTP 200 with a non-zero ``error``, as Zalo does. Events are signed as Zalo
signs them: ``X-ZEvent-Signature: mac=hex(sha256(app_id + body + timestamp + OA secret key))``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.server import start_app

APP_ID = "4321"
APP_SECRET = "app-secret-xyz"
OA_SECRET_KEY = "oa-secret-key-abc"
OA_ID = "579745863508352884"


@dataclass(slots=True)
class Sent:
    user_id: str
    message: dict[str, Any]
    at: float

    @property
    def text(self) -> str:
        return str(self.message.get("text") or "")

    @property
    def buttons(self) -> list[dict[str, Any]]:
        payload = self.message.get("attachment", {}).get("payload", {})
        return list(payload.get("buttons", []))

    @property
    def template_type(self) -> str | None:
        payload = self.message.get("attachment", {}).get("payload", {})
        return payload.get("template_type") if isinstance(payload, dict) else None


@dataclass
class FakeZaloOA:
    host: str = "127.0.0.1"
    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    secret_key: str = OA_SECRET_KEY
    expires_in: int = 90000
    refresh_delay: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    zns: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[tuple[str, str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.port = 0
        self.refresh_calls = 0
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.used_refresh_tokens: set[str] = set()
        self.closed_window: set[str] = set()  # users who last wrote more than 7 days ago (-230)
        self._media: dict[str, bytes] = {}
        self._msg_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> FakeZaloOA:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v4/oa/access_token", self._access_token)
        app.router.add_post("/v3.0/oa/message/cs", self._message_cs)
        app.router.add_post("/v2.0/oa/upload/{kind}", self._upload)
        app.router.add_post("/message/template", self._zns)
        app.router.add_get("/media/{name}", self._media_file)
        self._runner, self.port = await start_app(app, self.host)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # Tokens --------------------------------------------------------------------------------------------------
    def issue_pair(self) -> tuple[str, str]:
        access, refresh = f"at-{secrets.token_hex(6)}", f"rt-{secrets.token_hex(6)}"
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        return access, refresh

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    async def _access_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if request.headers.get("secret_key") != self.app_secret or form.get("app_id") != self.app_id:
            return web.json_response({"error": -14002, "error_name": "Invalid app"})
        token = str(form.get("refresh_token") or "")
        self.refresh_calls += 1
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        if form.get("grant_type") != "refresh_token" or token not in self.refresh_tokens:
            code = -14020 if token in self.used_refresh_tokens else -14014
            return web.json_response({"error": code, "error_name": "Invalid refresh token"})
        self.refresh_tokens.discard(token)
        self.used_refresh_tokens.add(token)
        access, refresh = self.issue_pair()
        return web.json_response({"access_token": access, "refresh_token": refresh, "expires_in": str(self.expires_in)})

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("access_token") in self.access_tokens

    # API -----------------------------------------------------------------------------------------------------
    async def _message_cs(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        body = await request.json()
        user_id = str(body.get("recipient", {}).get("user_id") or "")
        message = body.get("message") or {}
        if user_id in self.closed_window:
            return web.json_response({"error": -230, "message": "User has not interacted with the OA in 7 days"})
        text = message.get("text")
        if text is not None and not 1 <= len(text) <= 2000:
            return web.json_response({"error": -201, "message": "text too long"})
        for button in message.get("attachment", {}).get("payload", {}).get("buttons", []) or []:
            if len(button.get("title", "")) > 100 or button.get("type") != "oa.query.show":
                return web.json_response({"error": -201, "message": "bad button"})
        self.sent.append(Sent(user_id, message, time.monotonic()))
        return web.json_response({"error": 0, "message": "Success", "data": {"message_id": str(next(self._msg_ids))}})

    async def _upload(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        kind = request.match_info["kind"]
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            return web.json_response({"error": -201, "message": "no file"})
        data = upload.file.read()
        self.uploads.append((kind, upload.filename, data))
        key = "attachment_id" if kind == "image" else "token"
        return web.json_response({"error": 0, "data": {key: f"{kind}-{len(self.uploads)}"}})

    async def _zns(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        body = await request.json()
        self.zns.append(body)
        return web.json_response({"error": 0, "data": {"msg_id": secrets.token_hex(8)}})

    def media(self, data: bytes, name: str = "file.bin") -> str:
        key = f"{secrets.token_hex(6)}-{name}"
        self._media[key] = data
        return f"{self.base_url}/media/{key}"

    async def _media_file(self, request: web.Request) -> web.Response:
        data = self._media.get(request.match_info["name"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    def sent_to(self, user_id: str) -> list[Sent]:
        return [item for item in self.sent if item.user_id == user_id]

    # Events --------------------------------------------------------------------------------------------------
    def event(self, name: str, user: str, *, timestamp_ms: int | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "event_name": name,
            "sender": {"id": user},
            "recipient": {"id": OA_ID},
            "timestamp": str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)),
            **extra,
        }

    def text_event(self, user: str, text: str, **kw: Any) -> dict[str, Any]:
        return self.event("user_send_text", user, message={"text": text, "msg_id": secrets.token_hex(10)}, **kw)

    def attachment_event(self, user: str, kind: str, data: bytes, name: str, **kw: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"url": self.media(data, name)}
        if kind == "file":
            payload.update({"name": name, "size": str(len(data)), "type": name.rsplit(".", 1)[-1]})
        message = {"msg_id": secrets.token_hex(10), "attachments": [{"type": kind, "payload": payload}]}
        return self.event(f"user_send_{kind}", user, message=message, **kw)

    def submit_info(self, user: str, phone: str, **kw: Any) -> dict[str, Any]:
        info = {"name": "Lò Văn A", "phone": phone, "address": "", "city": "", "district": "", "ward": ""}
        return self.event("user_submit_info", user, info=info, **kw)

    def follow(self, user: str, follow: bool = True) -> dict[str, Any]:
        body = self.event("follow" if follow else "unfollow", user)
        body["follower"] = body.pop("sender")
        return body

    def sign(self, raw: bytes, timestamp: str, *, prefix: bool = True) -> str:
        digest = hashlib.sha256(self.app_id.encode() + raw + timestamp.encode() + self.secret_key.encode()).hexdigest()
        return f"mac={digest}" if prefix else digest

    async def post_event(self, url: str, event: dict[str, Any], *, signature: str | None = None) -> int:
        raw = json.dumps(event, ensure_ascii=False).encode()
        header = signature if signature is not None else self.sign(raw, str(event["timestamp"]))
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url, data=raw, headers={"X-ZEvent-Signature": header, "Content-Type": "application/json"}
            ) as response,
        ):
            return response.status
