"""/lich and the "📅 Lịch" menu button: upcoming deadlines and expiries, and muting the optional nudges."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.app import App
from bot.dates import day_months
from bot.menu_buttons import MenuCalendar
from handlers.calendar import CalendarBack, MuteReminders, UnmuteReminders
from storage import rounds
from storage.models import ChannelIdentity, Producer, User
from tests import reminder_data as data
from tests.chat import Chat
from tests.conftest import make_producer


async def _producer_with_things(app: App) -> tuple[Chat, int]:
    user_id = await make_producer(app, "cal1")
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        plan = day_months(app.settings.reminders.default_rounds)
        await rounds.seed_rounds(session, app.settings.ocop.province, now.year, plan, now)
        owner = (await session.scalars(select(Producer).where(Producer.user_id == user_id))).one()
        await data.dossier(session, owner, created=now)
        await data.certificate(session, owner, expires=dt.date(2026, 7, 1))
    return Chat(app.engine, user_id="cal1"), user_id


async def _muted(app: App, user_id: int) -> bool:
    async with app.engine.sessions() as session:
        return bool((await session.get_one(User, user_id)).mute_nudges)


async def test_lich_shows_deadlines_and_expiries(app: App) -> None:
    chat, _user_id = await _producer_with_things(app)
    await chat.send("/lich")
    text = chat.text
    assert "20/05/2026" in text and "20/10/2026" in text  # the seeded rounds (clock: 02/03/2026)
    assert "01/07/2026" in text and "Mật ong" in text and "⚠️" in text  # expires within 180 days
    assert "Chè" in text
    assert MuteReminders().pack() in [c.payload for c in chat.choices]


async def test_menu_button_opens_the_calendar(app: App) -> None:
    chat, _user_id = await _producer_with_things(app)
    await chat.send("menu")
    assert MenuCalendar().pack() in [c.payload for c in chat.choices]
    await chat.press(MenuCalendar())
    assert "20/05/2026" in chat.text


async def test_mute_and_unmute(app: App) -> None:
    chat, user_id = await _producer_with_things(app)
    await chat.send("/lich")
    await chat.press(MuteReminders())
    assert await _muted(app, user_id)
    assert UnmuteReminders().pack() in [c.payload for c in chat.choices]
    await chat.press(UnmuteReminders())
    assert not await _muted(app, user_id)
    await chat.press(CalendarBack())
    assert MenuCalendar().pack() in [c.payload for c in chat.choices]


async def test_typed_words_and_a_stranger_without_producer(app: App) -> None:
    chat, _user_id = await _producer_with_things(app)
    await chat.send("xem lich")
    assert "20/05/2026" in chat.text
    async with app.engine.sessions() as session, session.begin():
        officer = await data.staff(session, "commune", commune=data.COMMUNE_A)
        identity = (await session.scalars(select(ChannelIdentity).where(ChannelIdentity.user_id == officer.id))).one()
        officer.consent_at = app.engine.clock()
        external = identity.external_id
        identity.channel = "console"
    staff_chat = Chat(app.engine, user_id=external)
    await staff_chat.send("/lich")
    assert "📋" in staff_chat.text
    assert MuteReminders().pack() not in [c.payload for c in staff_chat.choices]
