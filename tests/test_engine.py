"""The engine's promises: menu from anywhere, numbered replies, stale buttons, duplicates, no silence."""

from __future__ import annotations

import asyncio

from bot.app import App
from bot.messages import Inbound
from tests.chat import Chat


async def test_menu_word_shows_the_main_menu(chat: Chat) -> None:
    await chat.send("menu")
    assert len(chat.choices) >= 4


async def test_stale_payload_gets_a_friendly_answer_and_the_menu(chat: Chat) -> None:
    await chat.press("dossier:item:999999")
    assert chat.choices, "the menu must follow"
    assert "Traceback" not in chat.text


async def test_same_update_twice_is_processed_once(app: App) -> None:
    inbound = Inbound("console", "dup", "update-1", text="menu")
    first = await app.engine.handle(inbound)
    second = await app.engine.handle(inbound)
    assert first and second == []


async def test_concurrent_first_messages_of_one_user_make_one_user(app: App) -> None:
    from sqlalchemy import func, select

    from storage.models import ChannelIdentity

    inbounds = [Inbound("console", "race", f"r{i}", text="menu") for i in range(5)]
    results = await asyncio.gather(*(app.engine.handle(i) for i in inbounds))
    assert all(results)
    async with app.db.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(ChannelIdentity).where(ChannelIdentity.external_id == "race")
        )
    assert count == 1
