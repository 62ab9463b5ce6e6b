"""Files and the onboarding gate: before consent (or before registering) a file is answered and never kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import App
from handlers import onboarding
from storage.models import StoredFile
from tests import files
from tests.chat import Chat

NOT_KEPT = "chưa được lưu"


def _written(app: App) -> list[Path]:
    root = app.settings.ocop.files_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def _stored_rows(app: App) -> int:
    async with app.engine.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(StoredFile)) or 0)


@pytest.mark.parametrize("channel", ["console", "zalo_bot", "telegram"])
async def test_first_message_a_file_gets_the_consent_question_and_nothing_is_written(app: App, channel: str) -> None:
    chat = Chat(app.engine, user_id="new", channel=channel)
    await chat.send_file(files.jpeg(1), "cmnd.jpg")
    assert NOT_KEPT in chat.text
    assert onboarding.ConsentYes().pack() in [c.payload for c in chat.choices]  # the consent question follows
    assert _written(app) == [] and await _stored_rows(app) == 0


async def test_file_at_the_consent_step_or_after_declining_is_not_kept(app: App) -> None:
    chat = Chat(app.engine, user_id="new")
    await chat.send("/start")
    await chat.send_file(files.pdf(2), "giay.pdf")
    assert NOT_KEPT in chat.text and onboarding.ConsentYes().pack() in [c.payload for c in chat.choices]
    await chat.press(onboarding.ConsentNo())
    await chat.send_file(files.png(3), "anh.png")
    assert NOT_KEPT in chat.text and onboarding.ConsentYes().pack() in [c.payload for c in chat.choices]
    assert _written(app) == [] and await _stored_rows(app) == 0
    # The question is still the newest one: "1" agrees.
    await chat.send("1")
    assert "+84" in chat.text or "điện thoại" in chat.text


async def test_file_after_consent_but_before_registering_is_not_kept(app: App) -> None:
    chat = Chat(app.engine, user_id="new")
    await chat.send("/start")
    await chat.press(onboarding.ConsentYes())
    await chat.send_file(files.png(4), "anh.png")
    assert NOT_KEPT in chat.text
    assert _written(app) == []


async def test_rejected_file_before_consent_writes_nothing_either(app: App) -> None:
    chat = Chat(app.engine, user_id="new")
    await chat.send_file(files.exe(), "anh.jpg")
    assert NOT_KEPT in chat.text and onboarding.ConsentYes().pack() in [c.payload for c in chat.choices]
    assert _written(app) == []
