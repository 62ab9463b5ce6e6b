"""What our webhook server answers to requests that are not honest webhooks: junk gets 400/401 and one WARNING
line, never a 500 or a traceback; slow bodies are cut off; requests still sending their body are capped;
refusals are logged as a summary per minute; a short Zalo webhook secret stops the start."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from pydantic import SecretStr, ValidationError

from bot.app import App
from bot.channels import zalo_oa
from bot.channels.webhook import KeyedQueue, build_webhook_app, guard_for, serve
from bot.channels.webhook_guard import RejectionLog
from bot.channels.zalo_bot import ZaloBotChannel, ZaloBotClient
from bot.settings import Settings, load_settings
from tests.chat import FrozenClock
from tests.fakes.server import free_port
from tests.fakes.zalo_oa_api import FakeZaloOA
from tests.test_zalo_bot import SECRET
from tests.test_zalo_oa import oa_settings

BOT_PATH = "/webhook/zalo-bot"
OA_PATH = "/webhook/zalo-oa"


class Ticks:
    """A monotonic clock the test moves (the rejection log's minute)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Server:
    port: int
    ticks: Ticks
    rejections: RejectionLog

    async def raw(self, head: bytes, body: bytes = b"", *, within: float = 5.0) -> int:
        """Send bytes as they are (headers aiohttp's client would refuse to send); the status answered."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(head + b"\r\n" + body)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), within)
            return int(status_line.split()[1])
        finally:
            writer.close()

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{self.port}{path}", data=body, headers=headers or {}) as response,
        ):
            return response.status


def head(path: str, length: int, *extra: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1".encode(), b"Host: bot", f"Content-Length: {length}".encode(), *extra]
    return b"\r\n".join(lines) + b"\r\n"


@pytest.fixture
async def server(app: App, settings: Settings, clock: FrozenClock) -> AsyncIterator[Server]:
    port = free_port("127.0.0.1")
    async with FakeZaloOA() as fake, aiohttp.ClientSession() as http:
        _access, refresh = fake.issue_pair()
        config = oa_settings(settings, fake, refresh).replaced(
            zalo_bot_token=SecretStr("1:abc"),
            zalo_api_base=fake.base_url,
            zalo_webhook_secret=SecretStr(SECRET),
            webhook_body_timeout_s=0.5,
            webhook_max_unauthenticated=2,
        )
        client = ZaloBotClient("1:abc", fake.base_url, http)
        bot = ZaloBotChannel(app.engine, client, config)
        oa = zalo_oa.build_channel(app.engine, app.engine.sessions, config, http, clock)
        ticks = Ticks()
        guard = guard_for(config)
        guard.rejections = RejectionLog(clock=ticks)
        queue = KeyedQueue()
        async with serve(build_webhook_app(config, queue, zalo_bot=bot, zalo_oa=oa, guard=guard), "127.0.0.1", port):
            yield Server(port, ticks, guard.rejections)
        await queue.close()


def ours(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == level and r.name.startswith(("bot.", "aiohttp"))]


async def test_junk_gets_400_or_401_and_one_warning_never_a_500(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    statuses = [
        await server.post(OA_PATH, deep),  # before any authentication: the signature needs the body
        await server.post(OA_PATH, deep, {"X-ZEvent-Signature": "mac=" + "0" * 64}),
        await server.post(BOT_PATH, deep, {"X-Bot-Api-Secret-Token": SECRET}),
        await server.post(BOT_PATH, b"\xff\xfe not text", {"X-Bot-Api-Secret-Token": SECRET}),
        await server.raw(head(BOT_PATH, 2, b"X-Bot-Api-Secret-Token: \xff\xfe\xc3("), b"{}"),
        await server.raw(head(OA_PATH, 2, b"X-ZEvent-Signature: mac=\xff\xfe"), b"{}"),
        await server.post(BOT_PATH, json.dumps({"event_name": "x"}).encode(), {"X-Bot-Api-Secret-Token": "x" * 9}),
    ]
    assert all(status in (400, 401) for status in statuses), statuses
    assert ours(caplog, logging.ERROR) == []
    assert "Traceback" not in caplog.text
    warnings = ours(caplog, logging.WARNING)
    assert len(warnings) == 1 and "refused" in warnings[0].getMessage()  # the rest wait for the summary


async def test_refusals_are_summed_up_once_a_minute(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    forged = json.dumps({"event_name": "user_send_text", "timestamp": "1"}).encode()
    for _ in range(30):
        assert await server.post(OA_PATH, forged, {"X-ZEvent-Signature": "mac=" + "1" * 64}) == 401
    assert len(ours(caplog, logging.WARNING)) == 1
    server.ticks.now += 61
    server.rejections.flush_if_due()
    warnings = ours(caplog, logging.WARNING)
    assert len(warnings) == 2 and "29" in warnings[1].getMessage() and "bad signature" in warnings[1].getMessage()
    assert SECRET not in caplog.text


async def test_a_slow_body_is_cut_off(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    status = await server.raw(head(BOT_PATH, 1000, f"X-Bot-Api-Secret-Token: {SECRET}".encode()), b"{", within=5)
    assert status == 408
    for _ in range(3):  # senders that hang up halfway through the body: no traceback, no line each
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head(OA_PATH, 1000) + b"\r\n{")
        await writer.drain()
        writer.close()
    await asyncio.sleep(0.2)
    assert ours(caplog, logging.ERROR) == [] and "Traceback" not in caplog.text
    assert len(ours(caplog, logging.WARNING)) == 1


async def test_requests_still_sending_their_body_are_capped(server: Server) -> None:
    """Two connections dribbling their bodies hold both slots: a third request is turned away at once (503),
    and once the slow ones are cut off, requests are served again."""
    slow: list[asyncio.StreamWriter] = []
    for _ in range(2):
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(head(OA_PATH, 1000) + b"\r\n{")
        await writer.drain()
        slow.append(writer)
    await asyncio.sleep(0.1)
    try:
        assert await server.post(OA_PATH, b"{}", {"X-ZEvent-Signature": "mac=" + "0" * 64}) == 503
        await asyncio.sleep(0.6)  # the body timeout frees the slots
        assert await server.post(OA_PATH, b"{}", {"X-ZEvent-Signature": "mac=" + "0" * 64}) == 401
    finally:
        for writer in slow:
            writer.close()


def test_a_short_zalo_webhook_secret_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="at least 8"):
        Settings(zalo_webhook_secret=SecretStr("short"))
    monkeypatch.setenv("ZALO_WEBHOOK_SECRET", "s3cr3t")
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    message = str(stopped.value)
    assert "ZALO_WEBHOOK_SECRET" in message and "at least 8" in message and "s3cr3t" not in message
    monkeypatch.setenv("ZALO_WEBHOOK_SECRET", "s3cr3t-long-enough")
    assert load_settings().zalo.webhook_secret is not None
