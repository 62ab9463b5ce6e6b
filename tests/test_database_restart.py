"""PostgreSQL restarted while users write and reminders go out.

A private PostgreSQL server (``tests.pg_cluster``: its own folder and port, never the shared one) is
restarted in the middle of a fan-out of 300 reminders and of 20 users onboarding through the Telegram
webhook. Afterwards every update has been handled and answered, every reminder sent exactly once, and the
pool reconnected by itself. A server that stays away longer than an update can wait gets the user a short
"try again in a few minutes" instead of silence, and the next message works once it is back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.app import App, build_app
from bot.channels.telegram import build_bot
from bot.channels.telegram_delivery import TelegramDelivery
from bot.channels.telegram_webhook import TelegramWebhook
from bot.channels.webhook import run_zalo
from bot.i18n import translations
from bot.sender import Sender
from bot.settings import Settings
from storage import outbox
from storage.db import create_engine, migrate
from storage.models import Conversation, OutboxMessage, ProcessedUpdate
from tests import pg_cluster
from tests import reminder_data as data
from tests.fakes.server import free_port
from tests.fakes.telegram_api import TOKEN, FakeBotAPI

pytestmark = pytest.mark.skipif(pg_cluster.available() is not None, reason=str(pg_cluster.available()))

NOON = dt.datetime(2026, 3, 2, 5, 0, tzinfo=dt.UTC)  # 12:00 in Lai Châu: outside quiet hours
REMINDERS = 300
WRITERS = 20
SCRIPT = ("/start", "1", "0912345678", "2", "HTX Chè Sạch", "binh lu", "1")


@pytest.fixture(scope="module")
def cluster() -> Iterator[pg_cluster.PrivateCluster]:
    server = pg_cluster.PrivateCluster()
    try:
        server.init()
        server.start()
        engine = create_engine(server.url)
        asyncio.run(_migrate(engine))
        yield server
    finally:
        server.remove()


async def _migrate(engine: object) -> None:
    from sqlalchemy.ext.asyncio import AsyncEngine

    assert isinstance(engine, AsyncEngine)
    await migrate(engine)
    await engine.dispose()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture
async def restartable(
    cluster: pg_cluster.PrivateCluster, tmp_path: Path, api: FakeBotAPI
) -> AsyncIterator[tuple[App, TelegramWebhook]]:
    """The bot in webhook mode on the private server, with empty tables."""
    port = free_port("127.0.0.1")
    settings = Settings(
        _env_file=None,
        database_url=cluster.url,
        ocop_data_dir=tmp_path / "data",
        telegram_bot_token=SecretStr(TOKEN),
        telegram_api_base=api.base_url,
        telegram_webhook_url=f"http://127.0.0.1:{port}/webhook/telegram",
        webhook_host="127.0.0.1",
        webhook_port=port,
        ocop_send_per_second=80.0,
        ocop_send_per_chat_per_second=1000.0,
        ocop_outbox_lease_seconds=30,
    )
    app = await build_app(settings, run_migrations=False)
    await _truncate(app)
    webhook = TelegramWebhook(app.engine, settings)
    stop = asyncio.Event()
    server = asyncio.create_task(run_zalo(app, settings, stop, telegram=webhook))
    try:
        await api.wait_for_calls("setWebhook", 1)
        yield app, webhook
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
        await app.close()


async def _truncate(app: App) -> None:
    from sqlalchemy import text

    async with app.db.begin() as connection:
        tables = (
            await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            )
        ).scalars()
        await connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


async def queue_reminders(app: App, count: int) -> None:
    async with app.engine.sessions() as session, session.begin():
        for index in range(count):
            person = await data.user(session, channel="telegram")
            await outbox.enqueue(
                session,
                user_id=person.id,
                kind="certificate_expiry",
                params={"product": f"Chè {index}", "stars": 3, "decision": "1/QĐ", "expires": "2026-04-01", "days": 30},
                dedupe_key=f"restart:{person.id}",
                not_before=NOON,
            )


async def processed(app: App) -> int:
    async with app.engine.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedUpdate)) or 0)


async def converse(api: FakeBotAPI, app: App, webhook: TelegramWebhook, user: int) -> list[int]:
    """One user typing the onboarding script, each message after the answer to the one before."""
    statuses = []
    for number, text in enumerate(SCRIPT, start=1):
        before = len(api.replies_to(user))
        statuses.append(await api.deliver(api.make_text(user, text)))
        await api.wait_for(lambda before=before: len(api.replies_to(user)) > before, within=90)
        await asyncio.sleep(0.05 * (number % 3))  # people type at different speeds
    return statuses


async def test_restart_mid_fan_out_and_conversation_loses_and_repeats_nothing(
    cluster: pg_cluster.PrivateCluster, restartable: tuple[App, TelegramWebhook], api: FakeBotAPI
) -> None:
    app, webhook = restartable
    await queue_reminders(app, REMINDERS)
    delivery_bot = build_bot(app.settings)
    sender = Sender(
        app.engine.sessions, app.settings, {"telegram": TelegramDelivery(delivery_bot)}, clock=lambda: NOON, batch=20
    )
    wake, stop = asyncio.Event(), asyncio.Event()
    sending = asyncio.create_task(sender.run_forever(wake, stop))
    users = [900_001 + n for n in range(WRITERS)]
    talking = asyncio.gather(*(converse(api, app, webhook, user) for user in users))
    try:
        await api.wait_for(lambda: api.reply_count >= 60, within=60)  # well into the fan-out
        await asyncio.to_thread(cluster.restart)
        assert api.reply_count < REMINDERS, "the fan-out finished before the restart: nothing was tested"
        statuses = await asyncio.wait_for(talking, 180)
        # The sender's next pass (a tick, as the scheduler gives it) picks up whatever the restart interrupted.
        for _ in range(120):
            async with app.engine.sessions() as session:
                counts = await outbox.counts_by_status(session)
            if counts == {"sent": REMINDERS}:
                break
            wake.set()
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        wake.set()
        await asyncio.wait_for(sending, 30)
        await delivery_bot.session.close()

    assert all(status == 200 for per_user in statuses for status in per_user)
    # Every reminder sent, and to each chat exactly once: nothing lost, nothing twice.
    async with app.engine.sessions() as session:
        assert await outbox.counts_by_status(session) == {"sent": REMINDERS}
        reminder_chats = set(await session.scalars(select(OutboxMessage.user_id)))
    reminder_sends = Counter(
        call.chat_id for call in api.calls_of("sendMessage") if call.chat_id is not None and call.chat_id < 900_000
    )
    assert len(reminder_sends) == len(reminder_chats) == REMINDERS
    assert set(reminder_sends.values()) == {1}
    # Every acknowledged update handled once, every user onboarded, nobody told to come back later.
    assert await processed(app) == WRITERS * len(SCRIPT)
    unavailable = translations("vi").gettext("⏳ The system is briefly unavailable. Please try again in a few minutes.")
    for user in users:
        texts = [str(call.params.get("text")) for call in api.replies_to(user)]
        assert unavailable not in texts
        assert any("Đã lưu" in text for text in texts[-3:]), texts[-3:]
    async with app.engine.sessions() as session:
        flows = Counter(await session.scalars(select(Conversation.flow)))
    assert flows.get("onboarding", 0) == 0, flows


async def test_a_long_outage_gets_a_short_answer_then_the_bot_reconnects(
    cluster: pg_cluster.PrivateCluster, restartable: tuple[App, TelegramWebhook], api: FakeBotAPI
) -> None:
    app, webhook = restartable
    app.engine.settings = app.settings.replaced(ocop_db_retry_seconds=1.0)
    user = 900_500
    assert await api.deliver(api.make_text(user, "/start")) == 200
    await api.wait_for(lambda: bool(api.replies_to(user)))
    await webhook.channel.drain()
    answered = len(api.replies_to(user))
    await asyncio.to_thread(cluster.stop)
    try:
        assert await api.deliver(api.make_text(user, "1")) == 200
        replies = await api.wait_for_replies(user, answered + 1, within=30)
    finally:
        await asyncio.to_thread(cluster.start)
    assert replies[-1].params["text"] == "⏳ Hệ thống đang tạm gián đoạn. Bạn vui lòng thử lại sau ít phút."
    # Back: the same answer typed again goes through on a fresh connection.
    assert await api.deliver(api.make_text(user, "1")) == 200
    replies = await api.wait_for_replies(user, answered + 2, within=30)
    assert "tạm gián đoạn" not in str(replies[-1].params["text"])
    assert await processed(app) == 2
