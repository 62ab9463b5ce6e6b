"""The operator's routes: /healthz, /readyz and /metrics scraped over HTTP after real traffic (Zalo webhooks
posted by the fake Zalo server, a reminder sweep, the sender against the fake Bot API with a 429 and a 403),
and ``ocop-bot run`` serving them as a real process with Telegram polling alone."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import select, text

from bot import metrics, ops
from bot.app import App
from bot.channels.telegram_delivery import TelegramDelivery
from bot.channels.webhook import KeyedQueue, build_webhook_app, serve
from bot.channels.zalo_bot import ZaloBotChannel, ZaloBotClient
from bot.engine import Engine
from bot.flow import Context, Registry
from bot.messages import Inbound
from bot.scheduler import Reminders
from bot.settings import Settings
from storage import outbox
from storage.db import create_engine, session_factory
from storage.models import ChannelIdentity
from tests import reminder_data as data
from tests.chat import FrozenClock
from tests.fakes.server import free_port
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeBotAPI
from tests.fakes.zalo_bot_api import TOKEN as ZALO_TOKEN
from tests.fakes.zalo_bot_api import FakeZaloBotAPI

SECRET = "ops-test-webhook-secret"
ROOT = Path(__file__).resolve().parent.parent
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(base: str) -> Samples:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        body = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


@dataclass
class Server:
    base: str
    api: FakeZaloBotAPI
    queue: KeyedQueue

    async def post(self, update: dict[str, Any] | bytes, secret: str | None = SECRET) -> int:
        headers = {"X-Bot-Api-Secret-Token": secret} if secret is not None else {}
        body = update if isinstance(update, bytes) else json.dumps(update).encode()
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.base}/webhook/zalo-bot", data=body, headers=headers) as response,
        ):
            status = response.status
        await asyncio.wait_for(self.queue.join(), 30)
        return status


@pytest.fixture
async def server(app: App, settings: Settings) -> AsyncIterator[Server]:
    """The bot's web server as ``ocop-bot run`` builds it: the Zalo Bot webhook plus the operator's routes."""
    port = free_port("127.0.0.1")
    config = settings.replaced(zalo_webhook_secret=SecretStr(SECRET), webhook_host="127.0.0.1", webhook_port=port)
    async with FakeZaloBotAPI() as api:
        config = config.replaced(zalo_bot_token=SecretStr(ZALO_TOKEN), zalo_api_base=api.base_url)
        client = ZaloBotClient(ZALO_TOKEN, api.base_url)
        queue = KeyedQueue()
        web_app = build_webhook_app(config, queue, zalo_bot=ZaloBotChannel(app.engine, client, config))
        ops.install(web_app, app.engine.sessions, config, clock=app.engine.clock)
        async with serve(web_app, "127.0.0.1", port):
            yield Server(f"http://127.0.0.1:{port}", api, queue)
        await queue.close()
        await client.close()


async def test_metrics_count_real_traffic(app: App, server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    before = await scrape(server.base)

    # Zalo updates through the webhook: two answered, one redelivered, two refused at the door.
    first = server.api.text("a1b2c3d4e5f6a7b8c9d0", "xin chào")
    assert await server.post(first) == 200
    assert await server.post(server.api.text("a1b2c3d4e5f6a7b8c9d0", "menu")) == 200
    assert await server.post(first) == 200  # Zalo's retry of the same event
    assert await server.post(server.api.text("a1b2c3d4e5f6a7b8c9d0", "hi"), secret="wrong-secret-value") == 401
    assert await server.post(b"{not json") == 400

    # A reminder sweep (certificates expiring in 30 days) run by the timer's job.
    async with app.engine.sessions() as session, session.begin():
        for _ in range(3):
            owner = await data.producer(session)
            await data.certificate(session, owner, expires=app.engine.clock().date() + dt.timedelta(days=30))
    async with FakeBotAPI() as telegram:
        bot = Bot(token=TELEGRAM_TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url)))
        try:
            reminders = Reminders(
                app.engine.sessions, app.settings, {"telegram": TelegramDelivery(bot)}, clock=app.engine.clock
            )
            await reminders._sweep_job()
            queued = await scrape(server.base)
            async with app.engine.sessions() as session:
                depth = await outbox.depth(session, ["pending"])
            written = sum(depth.values())
            assert written >= 3

            # The sender against the fake Bot API: one 429 (then sent), one chat that blocked the bot.
            async with app.engine.sessions() as session:
                chats = sorted(
                    int(chat or 0)
                    for chat in await session.scalars(
                        select(ChannelIdentity.chat_id).where(ChannelIdentity.channel == "telegram")
                    )
                )
            telegram.blocked = {chats[0]}
            telegram.fail_next("sendMessage", 1, retry_after=1)
            await reminders.sender.run_once()
        finally:
            await bot.session.close()
    after = await scrape(server.base)

    assert delta(after, before, "ocop_updates_total", channel="zalo_bot", outcome="answered") == 2
    assert delta(after, before, "ocop_updates_total", channel="zalo_bot", outcome="duplicate") == 1
    assert delta(after, before, "ocop_update_seconds_count", channel="zalo_bot") == 3
    assert delta(after, before, "ocop_update_seconds_bucket", channel="zalo_bot", le="+Inf") == 3
    route = "/webhook/zalo-bot"
    assert delta(after, before, "ocop_webhook_rejections_total", route=route, status="401") == 1
    assert delta(after, before, "ocop_webhook_rejections_total", route=route, status="400") == 1

    assert delta(queued, before, "ocop_sweep_seconds_count") == 1
    assert sum(delta(queued, before, "ocop_sweep_rows_total", kind=kind) for _status, kind in depth) == written
    assert value(queued, "ocop_sweep_last_success_timestamp_seconds") > 0
    assert sum(value(queued, "ocop_outbox_messages", status="pending", kind=kind) for _s, kind in depth) == written

    assert delta(after, before, "ocop_sends_total", channel="telegram", result="429") == 1
    assert delta(after, before, "ocop_sends_total", channel="telegram", result="403") >= 1
    sent = delta(after, before, "ocop_sends_total", channel="telegram", result="sent")
    assert sent == len([c for c in telegram.calls_of("sendMessage") if c.status == 200]) > 0
    assert value(after, "ocop_outbox_messages", status="undeliverable", kind="certificate_expiry") >= 1
    assert not any(value(after, "ocop_outbox_messages", status="pending", kind=kind) for _s, kind in depth)
    assert value(after, "process_resident_memory_bytes") > 0
    # The same events in the logs, with their fields for a log shipper.
    fields = [vars(record) for record in caplog.records]
    assert any(event.get("retry_after") == 1 and event.get("channel") == "telegram" for event in fields)
    assert any(event.get("rows") == written for event in fields)


async def test_a_failed_update_is_counted_as_failed(app: App) -> None:
    async def broken(_ctx: Context, _argument: str | None) -> None:
        raise RuntimeError("a handler bug")

    registry = Registry()
    registry.commands["boom"] = broken
    engine = Engine(app.engine.sessions, registry, app.settings, app.engine.files, clock=app.engine.clock)
    labels = {"channel": "console", "outcome": "failed"}
    count = metrics.REGISTRY.get_sample_value("ocop_updates_total", labels) or 0.0
    replies = await engine.handle(Inbound(channel="console", external_user_id="u9", update_id="1", text="/boom"))
    assert replies  # the apology
    assert metrics.REGISTRY.get_sample_value("ocop_updates_total", labels) == count + 1


async def readyz(app_settings: Settings, sessions_url: str | None = None, *, app: App | None = None) -> Any:
    from aiohttp import web

    web_app = web.Application()
    if sessions_url is not None:
        engine = create_engine(sessions_url)
        sessions = session_factory(engine)
    else:
        assert app is not None
        engine, sessions = None, app.engine.sessions
    ops.install(web_app, sessions, app_settings)
    port = free_port("127.0.0.1")
    try:
        async with serve(web_app, "127.0.0.1", port):
            health = await get_json(f"http://127.0.0.1:{port}/healthz")
            ready = await get_json(f"http://127.0.0.1:{port}/readyz")
    finally:
        if engine is not None:
            await engine.dispose()
    assert health == (200, {"ok": True})
    return ready


async def test_readyz_checks_database_migrations_and_channels(app: App, settings: Settings) -> None:
    with_telegram = settings.replaced(telegram_bot_token=SecretStr(TELEGRAM_TOKEN))
    status, body = await readyz(with_telegram, app=app)
    assert (status, body) == (200, {"ready": True, "checks": {"database": "ok", "migrations": "ok", "channels": "ok"}})

    status, body = await readyz(settings, app=app)  # no channel configured
    assert status == 503 and body["checks"]["channels"] == "none configured" and body["ready"] is False

    async with app.db.begin() as connection:
        head = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        await connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        status, body = await readyz(with_telegram, app=app)
    finally:
        async with app.db.begin() as connection:
            await connection.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
    assert status == 503
    assert body["checks"]["migrations"].startswith(f"at older, expected {head}")
    assert body["checks"]["database"] == "ok"

    # Nothing listens on port 9: the database check fails, with no connection string in the answer.
    status, body = await readyz(with_telegram, "postgresql+asyncpg://ocop:hunter2@127.0.0.1:9/ocop")
    assert status == 503
    assert body["checks"]["database"].startswith("unreachable")
    assert "hunter2" not in json.dumps(body)


def _env(tmp_path: Path, **extra: str) -> Mapping[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "ZALO_", "OCOP_", "WEBHOOK_"))}
    return {
        **keep,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ocop.db'}",
        "OCOP_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
        **extra,
    }


async def test_ocop_bot_run_serves_health_and_metrics_with_telegram_polling_alone(tmp_path: Path) -> None:
    port = free_port("127.0.0.1")
    async with FakeBotAPI() as telegram:
        env = _env(
            tmp_path,
            TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN,
            TELEGRAM_API_BASE=telegram.base_url,
            WEBHOOK_HOST="127.0.0.1",
            WEBHOOK_PORT=str(port),
            LOG_FORMAT="json",
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env, stderr=subprocess.PIPE
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                assert process.returncode is None, "ocop-bot run ended early"
                try:
                    status, body = await get_json(f"{base}/readyz")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the web server never answered")
            assert status == 200 and body["ready"] is True
            telegram.push_text(4242, "xin chào")
            await telegram.wait_for_replies(4242, 1, within=30)
            samples = await scrape(base)
            assert value(samples, "ocop_updates_total", channel="telegram", outcome="answered") == 1
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.stderr is not None
            _out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    lines = err.decode().splitlines()
    assert lines
    events = [json.loads(line) for line in lines]  # every line is one JSON event
    assert all({"time", "level", "logger", "msg"} <= event.keys() for event in events)
    assert any("web server listening" in event["msg"] for event in events)


async def test_oldest_due_counts_what_the_sender_should_send_now(app: App, server: Server) -> None:
    clock = app.engine.clock
    assert isinstance(clock, FrozenClock)
    noon = dt.datetime(2026, 3, 2, 5, 0, tzinfo=dt.UTC)  # 12:00 in Lai Châu
    clock.now = noon
    assert value(await scrape(server.base), "ocop_outbox_oldest_due_seconds") == 0
    async with app.engine.sessions() as session, session.begin():
        for key, urgent, waited in (("nudge", False, 3600), ("legal", True, 600), ("later", True, -600)):
            person = await data.user(session)
            await outbox.enqueue(
                session,
                user_id=person.id,
                kind="certificate_expiry",
                params={},
                dedupe_key=key,
                not_before=noon - dt.timedelta(seconds=waited),
                urgent=urgent,
            )
    assert value(await scrape(server.base), "ocop_outbox_oldest_due_seconds") == 3600
    clock.now = noon + dt.timedelta(hours=10)  # 22:00: quiet hours, only the urgent row is due now
    assert value(await scrape(server.base), "ocop_outbox_oldest_due_seconds") == 36000 + 600
