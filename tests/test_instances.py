"""Several bot processes on one PostgreSQL behave as one bot.

Two real ``ocop-bot run`` processes in webhook mode take 200 users whose updates alternate between them
(``tests.instances``); the replies every user saw and the database state must equal those of the same run
on one process. Meanwhile both processes drain an outbox of reminders: each is sent exactly once. The
sweep runs in one instance at a time (``storage.leader``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.messages import Inbound
from bot.scheduler import SWEEP_JOB, Reminders
from storage import leader, outbox, users
from storage.db import create_engine, session_factory
from storage.models import ChannelIdentity, ProcessedUpdate
from tests import reminder_data as data
from tests.conftest import PG_URL
from tests.fakes.telegram_api import FakeBotAPI
from tests.instances import ONBOARDING, database_state, drive, fresh_schema, instances

USERS = [800_000 + n for n in range(200)]
REMINDERS = 300
NOW = dt.datetime(2026, 3, 2, 5, 0, tzinfo=dt.UTC)

needs_postgres = pytest.mark.skipif(not PG_URL, reason="PostgreSQL tests need OCOP_TEST_DATABASE_URL (set by .ci/run)")


async def queue_reminders(url: str) -> None:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session, session.begin():
            for index in range(REMINDERS):
                person = await data.user(session, channel="telegram")
                await outbox.enqueue(
                    session,
                    user_id=person.id,
                    kind="certificate_expiry",
                    params={"product": f"Chè {index}", "stars": 3, "decision": "1/QĐ", "expires": "2026-04-01"}
                    | {"days": 30},
                    dedupe_key=f"instances:{person.id}",
                    not_before=NOW,
                    urgent=True,  # quiet hours must not hold them, whatever the hour of the run
                )
    finally:
        await engine.dispose()


async def outbox_and_ledger(url: str) -> tuple[dict[str, int], int, int]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            counts = await outbox.counts_by_status(session)
            processed = int(await session.scalar(select(func.count()).select_from(ProcessedUpdate)) or 0)
            distinct = int(await session.scalar(select(func.count(func.distinct(ProcessedUpdate.update_id)))) or 0)
            return counts, processed, distinct
    finally:
        await engine.dispose()


@needs_postgres
async def test_two_processes_behave_as_one(tmp_path: Path) -> None:
    assert PG_URL
    async with FakeBotAPI() as api, fresh_schema(PG_URL) as url:
        async with instances(1, url, api, tmp_path / "one") as one:
            single = await drive(api, one, USERS)
        single_state = await database_state(url)

    async with FakeBotAPI() as api, fresh_schema(PG_URL) as url:
        await queue_reminders(url)
        async with instances(2, url, api, tmp_path / "two") as two:
            double = await drive(api, two, USERS)
            for _ in range(120):  # both senders drain the outbox alongside the conversations
                counts, _processed, _distinct = await outbox_and_ledger(url)
                if counts == {"sent": REMINDERS}:
                    break
                await asyncio.sleep(0.5)
        double_state = {user: state for user, state in (await database_state(url)).items() if user.isdigit()}
        counts, processed, distinct = await outbox_and_ledger(url)
        reminder_sends = Counter(
            call.chat_id for call in api.calls_of("sendMessage") if call.chat_id is not None and call.chat_id < 700_000
        )

    assert double.updates == single.updates == len(USERS) * len(ONBOARDING)
    assert double.replies == single.replies  # every user saw the same answers, in the same order
    assert double_state == single_state
    assert len(single_state) == len(USERS) + 1  # and the driver's calibration user
    assert all(state[0] == "0912345678" and state[3] == "HTX Chè Sạch" for state in single_state.values())
    assert processed == distinct == (len(USERS) + 1) * len(ONBOARDING)  # no update handled twice
    assert counts == {"sent": REMINDERS}
    assert len(reminder_sends) == REMINDERS and set(reminder_sends.values()) == {1}  # each sent once


# The sweep's leader ------------------------------------------------------------------------------------------
@needs_postgres
async def test_the_sweep_runs_in_one_instance_at_a_time(app: App) -> None:
    if app.db.dialect.name != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's; SQLite has one writer")
    other = create_engine(app.settings.database_url)
    reminders = Reminders(app.engine.sessions, app.settings, {}, clock=app.engine.clock)
    try:
        # Another instance is in the middle of its sweep: it holds the lock in its transaction.
        async with session_factory(other)() as session, session.begin():
            assert await leader.lead(session, SWEEP_JOB)
            async with app.engine.sessions() as probe, probe.begin():
                assert not await leader.lead(probe, SWEEP_JOB)
            skipped = await reminders.sweep_once()
            assert skipped.total == 0 and not skipped.seconds  # nothing ran
        ran = await reminders.sweep_once()  # the other committed: this one leads now
        assert ran.seconds
    finally:
        await other.dispose()


# One user, two instances at once ----------------------------------------------------------------------------
@needs_postgres
async def test_an_update_waits_while_another_instance_holds_the_users_row(app: App) -> None:
    """Another instance is in the middle of this user's update (it holds the conversation row): an update
    for the same user here waits for it instead of reading the step it is about to change."""
    if app.db.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: two instances cannot share a SQLite file")
    await app.engine.handle(Inbound("telegram", "4242", "u1", chat_id="4242", text="/start"))
    async with app.engine.sessions() as session:
        user_id = await session.scalar(select(ChannelIdentity.user_id).where(ChannelIdentity.external_id == "4242"))
    assert user_id is not None
    other = create_engine(app.settings.database_url)
    try:
        async with session_factory(other)() as session, session.begin():
            await users.lock_conversation(session, user_id)
            waiting = asyncio.create_task(
                app.engine.handle(Inbound("telegram", "4242", "u2", chat_id="4242", text="menu"))
            )
            await asyncio.sleep(1.0)
            assert not waiting.done()  # blocked on the row, not racing the other instance
        replies = await asyncio.wait_for(waiting, 15)  # the other instance committed: this one goes on
        assert replies
    finally:
        await other.dispose()
