"""The sender: leases, crash recovery, two senders, quiet hours, back-off, 429 and 403 from the fake Bot API.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections import Counter
from typing import Any, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select

from bot.app import App
from bot.channels.telegram_delivery import TelegramDelivery
from bot.delivery import DeliveryError, Unreachable
from bot.sender import Sender, TokenBucket
from bot.settings import Settings
from storage import outbox
from storage.db import create_engine, session_factory
from storage.models import ChannelIdentity, OutboxMessage
from tests import reminder_data as data
from tests.fakes.telegram_api import TOKEN, FakeBotAPI
from tests.reminder_data import RecordingDelivery
from tests.test_sweep import at_local

NOON = at_local(dt.date(2026, 3, 2), 12)


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def fast(app: App, **changes: object) -> Settings:
    """The app's settings without the platform's rate limits (tests about other things run fast)."""
    return app.settings.replaced(ocop_send_per_second=10_000.0, ocop_send_per_chat_per_second=10_000.0, **changes)


async def queue(
    app: App, count: int, *, urgent: bool = False, now: dt.datetime = NOON, channel: str | None = "telegram"
) -> list[int]:
    """``count`` users with a telegram identity and one notice each; returns the outbox ids."""
    ids = []
    async with app.engine.sessions() as session, session.begin():
        for index in range(count):
            person = await data.user(session, channel=channel)
            await outbox.enqueue(
                session,
                user_id=person.id,
                kind="certificate_expiry",
                params={"product": f"Chè {index}", "stars": 3, "decision": "1/QĐ", "expires": "2026-04-01", "days": 30},
                dedupe_key=f"test:{person.id}",
                not_before=now,
                urgent=urgent,
            )
        rows = await session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id))
        ids = list(rows)
    return ids


async def statuses(app: App) -> Counter[str]:
    async with app.engine.sessions() as session:
        return Counter(r.status for r in await data.outbox_rows(session))


async def test_sends_to_the_identity_used_last_and_marks_sent(app: App) -> None:
    async with app.engine.sessions() as session, session.begin():
        person = await data.user(session, channel="telegram", chat_id="111", seen=NOON - dt.timedelta(days=3))
        session.add(
            ChannelIdentity(
                channel="zalo",
                external_id="z1",
                chat_id="222",
                user_id=person.id,
                active=True,
                last_seen_at=NOON - dt.timedelta(days=1),
            )
        )
        session.add(
            ChannelIdentity(
                channel="console", external_id="c1", chat_id="333", user_id=person.id, active=False, last_seen_at=NOON
            )
        )
        await outbox.enqueue(
            session,
            user_id=person.id,
            kind="certificate_expired",
            params={"product": "Mật ong", "stars": 4, "expires": "2026-03-02"},
            dedupe_key="k1",
            not_before=NOON,
            urgent=True,
        )
    telegram, zalo, console = RecordingDelivery("telegram"), RecordingDelivery("zalo"), RecordingDelivery("console")
    sender = Sender(
        app.engine.sessions,
        fast(app),
        {"telegram": telegram, "zalo": zalo, "console": console},
        clock=Clock(NOON),
    )
    await sender.run_once()
    assert telegram.sent == [] and console.sent == []
    assert [chat for chat, _text in zalo.sent] == ["222"]
    assert "02/03/2026" in zalo.sent[0][1]
    async with app.engine.sessions() as session:
        row = (await data.outbox_rows(session))[0]
    assert (row.status, row.channel, row.claimed_by) == ("sent", "zalo", None)
    await sender.run_once()
    assert len(zalo.sent) == 1  # sent once


async def test_no_reachable_identity_is_undeliverable(app: App) -> None:
    await queue(app, 1, channel=None)
    delivery = RecordingDelivery()
    await Sender(app.engine.sessions, fast(app), {"telegram": delivery}, clock=Clock(NOON)).run_once()
    assert await statuses(app) == {"undeliverable": 1}
    assert delivery.attempts == []


async def test_quiet_hours_hold_all_but_urgent(app: App) -> None:
    night = at_local(dt.date(2026, 3, 2), 22)
    await queue(app, 2, urgent=False, now=night)
    await queue(app, 1, urgent=True, now=night)
    delivery = RecordingDelivery()
    clock = Clock(night)
    sender = Sender(app.engine.sessions, fast(app), {"telegram": delivery}, clock=clock)
    await sender.run_once()
    assert await statuses(app) == {"sent": 1, "pending": 2}
    clock.now = at_local(dt.date(2026, 3, 3), 6) + dt.timedelta(minutes=59)
    await sender.run_once()
    assert await statuses(app) == {"sent": 1, "pending": 2}
    clock.now = at_local(dt.date(2026, 3, 3), 7)
    await sender.run_once()
    assert await statuses(app) == {"sent": 3}


async def test_network_errors_back_off_then_fail_visibly(app: App) -> None:
    await queue(app, 1)
    async with app.engine.sessions() as session:
        chat = (await session.scalars(select(ChannelIdentity.chat_id))).one()
    delivery = RecordingDelivery(errors={str(chat): data.always(DeliveryError("connection reset"))})
    clock = Clock(NOON)
    settings = fast(app, ocop_outbox_max_attempts=4, ocop_outbox_retry_base_seconds=30.0)
    sender = Sender(app.engine.sessions, settings, {"telegram": delivery}, clock=clock)
    waits = []
    for _ in range(3):
        await sender.run_once()
        async with app.engine.sessions() as session:
            row = (await data.outbox_rows(session))[0]
        assert row.status == "pending"
        not_before = row.not_before if row.not_before.tzinfo else row.not_before.replace(tzinfo=dt.UTC)
        waits.append((not_before - clock.now).total_seconds())
        await sender.run_once()  # not due yet: nothing happens
        clock.now = not_before
    assert waits == [30.0, 60.0, 120.0]
    await sender.run_once()
    async with app.engine.sessions() as session:
        row = (await data.outbox_rows(session))[0]
    assert (row.status, row.attempts) == ("failed", 4)
    assert row.last_error and "connection reset" in row.last_error
    assert len(delivery.attempts) == 4


async def test_unreachable_deactivates_the_identity_without_retry(app: App) -> None:
    await queue(app, 2)
    async with app.engine.sessions() as session:
        chats = list(await session.scalars(select(ChannelIdentity.chat_id).order_by(ChannelIdentity.id)))
    delivery = RecordingDelivery(errors={str(chats[0]): data.always(Unreachable("blocked"))})
    sender = Sender(app.engine.sessions, fast(app), {"telegram": delivery}, clock=Clock(NOON))
    await sender.run_once()
    await sender.run_once()
    assert await statuses(app) == {"sent": 1, "undeliverable": 1}
    assert delivery.attempts.count(str(chats[0])) == 1
    async with app.engine.sessions() as session:
        active = dict((await session.execute(select(ChannelIdentity.chat_id, ChannelIdentity.active))).all())
    assert active == {chats[0]: False, chats[1]: True}


async def test_a_sender_killed_after_claiming_loses_nothing(app: App) -> None:
    ids = await queue(app, 10)
    clock = Clock(NOON)
    dying = RecordingDelivery(hang_after=4)
    first = Sender(app.engine.sessions, fast(app), {"telegram": dying}, clock=clock, worker="first", concurrency=2)
    task = asyncio.create_task(first.run_once())
    for _ in range(500):
        await asyncio.sleep(0.01)
        if len(dying.sent) >= 4 and len(dying.attempts) >= 6:
            break
    await asyncio.sleep(0.2)  # the four sends are marked
    task.cancel()  # killed in the middle of two sends
    await asyncio.gather(task, return_exceptions=True)
    assert await statuses(app) == {"sent": 4, "claimed": 6}

    survivor = RecordingDelivery()
    second = Sender(app.engine.sessions, fast(app), {"telegram": survivor}, clock=clock, worker="second")
    await second.run_once()
    assert survivor.sent == []  # the lease still holds
    clock.now = NOON + dt.timedelta(seconds=app.settings.sender.lease_seconds + 1)
    await second.run_once()
    assert await statuses(app) == {"sent": 10}
    first_chats = {chat for chat, _ in dying.sent}
    second_chats = {chat for chat, _ in survivor.sent}
    assert len(first_chats) == 4 and len(second_chats) == 6 and not first_chats & second_chats
    assert len(ids) == 10


class DroppedOnCommit:
    """Sessions whose first ``drops`` transactions commit on the server, then lose the connection before the
    answer arrives (the database restarted at that instant): the caller cannot know the claim was made."""

    def __init__(self, sessions: Any, drops: int = 1) -> None:
        self.sessions = sessions
        self.drops = drops

    def __call__(self) -> Any:
        return _DroppingSession(self)


class _DroppingSession:
    def __init__(self, owner: DroppedOnCommit) -> None:
        self.owner = owner
        self.session = owner.sessions()

    async def __aenter__(self) -> Any:
        real = await self.session.__aenter__()
        owner, real_begin = self.owner, real.begin

        @contextlib.asynccontextmanager
        async def begin() -> Any:
            async with real_begin():
                yield real
            if owner.drops > 0:
                owner.drops -= 1
                raise ConnectionResetError("connection lost after COMMIT")

        real.begin = begin
        return real

    async def __aexit__(self, *exc: object) -> None:
        await self.session.__aexit__(*exc)


async def test_a_claim_whose_commit_went_unanswered_is_handed_back_at_the_next_pass(app: App) -> None:
    await queue(app, 5)
    delivery = RecordingDelivery()
    sender = Sender(
        cast(Any, DroppedOnCommit(app.engine.sessions)), fast(app), {"telegram": delivery}, clock=Clock(NOON)
    )
    await sender.run_once()  # the claim is made, but the sender never hears of it
    assert delivery.sent == [] and await statuses(app) == {"claimed": 5}
    await sender.run_once()  # the lease still runs (the clock has not moved), yet nothing waits for it
    assert await statuses(app) == {"sent": 5}
    assert len({chat for chat, _ in delivery.sent}) == 5


async def test_a_claim_cut_off_before_its_reach_is_known_is_rolled_back(app: App, monkeypatch: Any) -> None:
    await queue(app, 5)
    real = outbox.targeted_reaches
    calls = 0

    async def cut_off(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("database restarted")
        return await real(*args, **kwargs)

    monkeypatch.setattr(outbox, "targeted_reaches", cut_off)
    delivery = RecordingDelivery()
    sender = Sender(app.engine.sessions, fast(app), {"telegram": delivery}, clock=Clock(NOON))
    await sender.run_once()
    assert delivery.sent == [] and await statuses(app) == {"pending": 5}
    await sender.run_once()
    assert await statuses(app) == {"sent": 5}


async def test_two_senders_never_send_the_same_row(app: App) -> None:
    await queue(app, 80)
    engines = [create_engine(app.settings.database_url) for _ in range(2)]
    delivery = RecordingDelivery(delay=0.002)
    try:
        senders = [
            Sender(
                session_factory(engine),
                fast(app),
                {"telegram": delivery},
                clock=Clock(NOON),
                worker=f"s{i}",
                batch=7,
            )
            for i, engine in enumerate(engines)
        ]
        await asyncio.gather(*(sender.run_once() for sender in senders))
    finally:
        for engine in engines:
            await engine.dispose()
    chats = Counter(chat for chat, _ in delivery.sent)
    assert len(chats) == 80 and set(chats.values()) == {1}
    assert await statuses(app) == {"sent": 80}
    assert all(sender.stats.sent > 0 for sender in senders)


async def test_token_bucket_spreads_sends() -> None:
    bucket = TokenBucket(50.0)
    started = time.monotonic()
    for _ in range(26):
        await bucket.acquire()
    assert time.monotonic() - started >= 0.48  # 25 waits of 20 ms
    bucket.pause(0.2)
    paused = time.monotonic()
    await bucket.acquire()
    assert time.monotonic() - paused >= 0.2


async def test_telegram_429_pauses_and_403_gives_up(app: App) -> None:
    await queue(app, 3)
    async with app.engine.sessions() as session:
        chats = [
            int(c or 0) for c in await session.scalars(select(ChannelIdentity.chat_id).order_by(ChannelIdentity.id))
        ]
    async with FakeBotAPI(blocked={chats[2]}) as api:
        api.fail_next("sendMessage", 1, retry_after=1)
        bot = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        try:
            sender = Sender(
                app.engine.sessions, app.settings, {"telegram": TelegramDelivery(bot)}, clock=Clock(NOON), concurrency=1
            )
            started = time.monotonic()
            await sender.run_once()
            elapsed = time.monotonic() - started
        finally:
            await bot.session.close()
    assert api.too_many == 1 and sender.stats.rate_limited == 1
    assert elapsed >= 1.0  # waited out retry_after
    assert [c.status for c in api.sends_to(chats[2])] == [403]  # no retry after 403
    assert len(api.replies_to(chats[0])) == 1 and len(api.replies_to(chats[1])) == 1
    assert await statuses(app) == {"sent": 2, "undeliverable": 1}
    async with app.engine.sessions() as session:
        identity = (
            await session.scalars(select(ChannelIdentity).where(ChannelIdentity.chat_id == str(chats[2])))
        ).one()
        row = next(r for r in await data.outbox_rows(session) if r.status == "undeliverable")
    assert identity.active is False
    assert row.last_error and "blocked" in row.last_error
    keyboard = api.replies_to(chats[0])[0].callback_data()
    assert "m:calendar" in keyboard
