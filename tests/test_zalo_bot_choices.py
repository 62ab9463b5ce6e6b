"""Over the Zalo Bot Platform (fake server, real webhook): a button's words or number on a question that takes
typed text, a summary whose only numbers are its choices, and no "bấm" where there are no buttons."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from storage.models import Conversation, Producer
from tests.conftest import make_producer
from tests.staff_helpers import in_session
from tests.test_zalo_bot import USER, Harness, api, zalo

__all__ = ["api", "zalo"]  # the fixtures of the Zalo Bot harness


async def _producer_name_and_flow(app: App) -> tuple[str, str | None]:
    async def work(session: AsyncSession) -> tuple[str, str | None]:
        return str(await session.scalar(select(Producer.name))), await session.scalar(select(Conversation.flow))

    return await in_session(app, work)


async def test_keep_by_words_and_a_summary_numbered_only_in_its_choices(app: App, zalo: Harness) -> None:
    await make_producer(app, USER, name="HTX Chè Tả Van", channel="zalo_bot")
    for typed in ("/profile", "1", "giu nguyen", "1"):  # kind: the first; name and commune kept
        assert await zalo.post(zalo.api.text(USER, typed)) == 200
    assert await _producer_name_and_flow(app) == ("HTX Chè Tả Van", None)  # saved, the profile finished

    for typed in ("menu", "1", "Mật ong bạc hà", "1", "Mật ong hoa bạc hà rừng", "Mật ong", "1", "5", "3"):
        assert await zalo.post(zalo.api.text(USER, typed)) == 200
    for typed in ("Chợ xã", "khong can ho tro"):
        assert await zalo.post(zalo.api.text(USER, typed)) == 200
    texts = zalo.api.texts_to(USER)
    summary = next(text for text in reversed(texts) if "Tên sản phẩm" in text)
    assert "• Tên sản phẩm: Mật ong bạc hà" in summary
    numbered = re.findall(r"^\d+\. (.*)$", summary, re.MULTILINE)
    assert numbered and not any(":" in line for line in numbered), numbered  # the choices, not the fields
    assert not [text for text in texts if "bấm" in text.casefold()]
