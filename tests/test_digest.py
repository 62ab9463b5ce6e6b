"""Digests: one user's due reminders of one family go out as one message, their rows settled together; urgent
legal notices stay alone. Through the real sweep and sender, against the fake Bot API where the platform's
answer matters. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select

from bot import reminders as kinds
from bot.app import App
from bot.channels.telegram_delivery import TelegramDelivery
from bot.delivery import DeliveryError
from bot.messages import Text
from bot.notices import render
from bot.sender import Sender
from bot.sweep import sweep
from storage import outbox
from storage.models import ChannelIdentity, Product
from tests import reminder_data as data
from tests.fakes.telegram_api import TOKEN, FakeBotAPI
from tests.reminder_data import RecordingDelivery
from tests.test_sender import Clock, fast
from tests.test_sweep import at_local

TODAY = dt.date(2026, 3, 2)
NOON = at_local(TODAY, 12)


def alone(kind: str, params: dict[str, Any]) -> str:
    """How the row's own template writes it (in Vietnamese, the users' language here)."""
    message = render(kind, params, "vi")
    assert isinstance(message, Text)
    return message.text


async def chat_of(app: App, user_id: int) -> str:
    async with app.engine.sessions() as session:
        found = await session.scalar(select(ChannelIdentity.chat_id).where(ChannelIdentity.user_id == user_id))
    assert found is not None
    return found


async def statuses_of(app: App, user_id: int) -> Counter[str]:
    async with app.engine.sessions() as session:
        return Counter(r.status for r in await data.outbox_rows(session) if r.user_id == user_id)


async def staff_rows(app: App, officer: int, count: int, *, start: int = 0, urgent: bool = False) -> None:
    """``count`` certificate reminders for one province officer, queued directly."""
    async with app.engine.sessions() as session, session.begin():
        for index in range(start, start + count):
            await outbox.enqueue(
                session,
                user_id=officer,
                kind=kinds.CERTIFICATE_EXPIRY_STAFF,
                params={"product": f"Sản phẩm {index}", "producer": "HTX", "stars": 3, "expires": "2026-06-01"},
                dedupe_key=f"digest-test:{officer}:{index}",
                not_before=NOON,
                urgent=urgent,
            )


async def new_officer(app: App) -> int:
    async with app.engine.sessions() as session, session.begin():
        return (await data.staff(session, "province")).id


async def test_39_certificates_reach_the_officer_as_one_message(app: App) -> None:
    async with app.engine.sessions() as session, session.begin():
        officer = (await data.staff(session, "province")).id
        for index in range(39):
            owner = await data.producer(session)
            # 20 in the 90-day window (not urgent), 19 at the legal 30 days (urgent): still one message.
            await data.certificate(session, owner, expires=TODAY + dt.timedelta(days=90 if index < 20 else 30))
        await sweep(session, app.settings, NOON)
        products = set(await session.scalars(select(Product.name)))
    assert len(products) == 39
    assert await statuses_of(app, officer) == {"pending": 39}
    officer_chat = int(await chat_of(app, officer))
    async with FakeBotAPI() as api:
        bot = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        try:
            sender = Sender(app.engine.sessions, fast(app), {"telegram": TelegramDelivery(bot)}, clock=Clock(NOON))
            await sender.run_once()
            await sender.run_once()  # nothing is sent twice
        finally:
            await bot.session.close()
    sends = api.sends_to(officer_chat)
    assert len(sends) == 1 and sends[0].status == 200
    text = str(sends[0].params["text"])
    assert all(name in text for name in products)
    assert "39" in text.split("\n")[0] and len(text.split("\n")) == 40  # a title line and one line per item
    assert "m:calendar" in sends[0].callback_data()
    assert await statuses_of(app, officer) == {"sent": 39}
    # Each producer got their own notice: 39 recipients, 39 sends.
    assert sender.stats.messages == 40 and sender.stats.sent == 78


async def test_a_producer_gets_one_digest_and_the_legal_notice_alone_even_at_night(app: App) -> None:
    night = at_local(TODAY, 22)
    async with app.engine.sessions() as session, session.begin():
        owner = await data.producer(session)
        round_ = await data.new_round(session, TODAY + dt.timedelta(days=10))
        first = await data.dossier(session, owner, round_id=round_.id, created=night - dt.timedelta(days=1))
        second = await data.dossier(session, owner, round_id=round_.id, created=night - dt.timedelta(days=1))
        await data.certificate(session, owner, expires=TODAY + dt.timedelta(days=30))
        await sweep(session, app.settings, night)
        names = {
            p.name
            for p in await session.scalars(select(Product).where(Product.id.in_([first.product_id, second.product_id])))
        }
        rows = await data.outbox_rows(session)
    assert sorted((r.kind, r.urgent) for r in rows) == [
        (kinds.CERTIFICATE_EXPIRY, True),
        (kinds.ROUND_DEADLINE, False),
        (kinds.ROUND_DEADLINE, False),
    ]
    legal = next(r for r in rows if r.kind == kinds.CERTIFICATE_EXPIRY)
    delivery = RecordingDelivery()
    clock = Clock(night)
    sender = Sender(app.engine.sessions, fast(app), {"telegram": delivery}, clock=clock)
    await sender.run_once()
    # At night only the urgent legal notice goes, alone and exactly as its own template writes it.
    assert [text for _chat, text in delivery.sent] == [alone(legal.kind, legal.params)]
    assert await statuses_of(app, owner.user_id) == {"sent": 1, "pending": 2}
    clock.now = at_local(TODAY + dt.timedelta(days=1), 7)
    await sender.run_once()
    assert len(delivery.sent) == 2
    digest = delivery.sent[1][1]
    assert all(name in digest for name in names) and "2" in digest.split("\n")[0]
    assert len(digest.split("\n")) == 3
    assert await statuses_of(app, owner.user_id) == {"sent": 3}


async def test_a_single_row_of_a_family_renders_as_before(app: App) -> None:
    officer = await new_officer(app)
    await staff_rows(app, officer, 1)
    delivery = RecordingDelivery()
    await Sender(app.engine.sessions, fast(app), {"telegram": delivery}, clock=Clock(NOON)).run_once()
    async with app.engine.sessions() as session:
        row = (await data.outbox_rows(session))[0]
    assert [text for _chat, text in delivery.sent] == [alone(row.kind, row.params)]


async def test_a_sender_killed_after_claiming_a_digest_sends_it_again_once(app: App) -> None:
    officer = await new_officer(app)
    await staff_rows(app, officer, 5)
    clock = Clock(NOON)
    dying = RecordingDelivery(hang_after=0)
    first = Sender(app.engine.sessions, fast(app), {"telegram": dying}, clock=clock, worker="first")
    task = asyncio.create_task(first.run_once())
    for _ in range(500):
        await asyncio.sleep(0.01)
        if dying.attempts:
            break
    task.cancel()  # killed while the digest was on its way
    await asyncio.gather(task, return_exceptions=True)
    assert dying.attempts == [await chat_of(app, officer)] and dying.sent == []
    assert await statuses_of(app, officer) == {"claimed": 5}

    survivor = RecordingDelivery()
    second = Sender(app.engine.sessions, fast(app), {"telegram": survivor}, clock=clock, worker="second")
    await second.run_once()
    assert survivor.sent == []  # the lease still holds
    clock.now = NOON + dt.timedelta(seconds=app.settings.sender.lease_seconds + 1)
    await second.run_once()
    await second.run_once()
    assert len(survivor.sent) == 1
    assert all(f"Sản phẩm {i}" in survivor.sent[0][1] for i in range(5))
    assert await statuses_of(app, officer) == {"sent": 5}


async def test_a_blocked_officer_makes_the_whole_digest_undeliverable(app: App) -> None:
    officer = await new_officer(app)
    await staff_rows(app, officer, 7)
    chat = int(await chat_of(app, officer))
    async with FakeBotAPI(blocked={chat}) as api:
        bot = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        try:
            sender = Sender(app.engine.sessions, app.settings, {"telegram": TelegramDelivery(bot)}, clock=Clock(NOON))
            await sender.run_once()
            await sender.run_once()
        finally:
            await bot.session.close()
    assert [c.status for c in api.sends_to(chat)] == [403]
    assert await statuses_of(app, officer) == {"undeliverable": 7}
    async with app.engine.sessions() as session:
        rows = await data.outbox_rows(session)
        active = await session.scalar(select(ChannelIdentity.active).where(ChannelIdentity.user_id == officer))
    assert all(r.last_error and "blocked" in r.last_error for r in rows)
    assert active is False


async def test_a_network_error_backs_off_the_whole_digest(app: App) -> None:
    officer = await new_officer(app)
    await staff_rows(app, officer, 3)
    chat = await chat_of(app, officer)
    delivery = RecordingDelivery(errors={chat: data.always(DeliveryError("connection reset"))})
    clock = Clock(NOON)
    sender = Sender(app.engine.sessions, fast(app), {"telegram": delivery}, clock=clock)
    await sender.run_once()
    async with app.engine.sessions() as session:
        rows = await data.outbox_rows(session)
    assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
    delivery.errors.clear()
    clock.now = NOON + dt.timedelta(minutes=5)
    await sender.run_once()
    assert len(delivery.sent) == 1 and await statuses_of(app, officer) == {"sent": 3}


async def test_a_long_digest_is_cut_at_the_item_limit(app: App) -> None:
    officer = await new_officer(app)
    total = kinds.DIGEST_MAX_ITEMS + 10
    await staff_rows(app, officer, total)
    delivery = RecordingDelivery()
    sender = Sender(app.engine.sessions, fast(app), {"telegram": delivery}, clock=Clock(NOON))
    await sender.run_once()
    # Two messages; without the platform's per-chat limit (``fast``) the sender's workers may finish either first.
    assert sorted(len(text.split("\n")) - 1 for _chat, text in delivery.sent) == [10, kinds.DIGEST_MAX_ITEMS]
    assert await statuses_of(app, officer) == {"sent": total}


async def test_quiet_hours_digest_only_the_urgent_rows(app: App) -> None:
    officer = await new_officer(app)
    night = at_local(TODAY, 23)
    await staff_rows(app, officer, 3, urgent=False)
    await staff_rows(app, officer, 2, start=3, urgent=True)
    delivery = RecordingDelivery()
    clock = Clock(night)
    sender = Sender(app.engine.sessions, fast(app), {"telegram": delivery}, clock=clock)
    await sender.run_once()
    assert len(delivery.sent) == 1
    assert "Sản phẩm 3" in delivery.sent[0][1] and "Sản phẩm 4" in delivery.sent[0][1]
    assert "Sản phẩm 0" not in delivery.sent[0][1]
    assert await statuses_of(app, officer) == {"sent": 2, "pending": 3}
    clock.now = at_local(TODAY + dt.timedelta(days=1), 8)
    await sender.run_once()
    assert len(delivery.sent) == 2 and await statuses_of(app, officer) == {"sent": 5}
