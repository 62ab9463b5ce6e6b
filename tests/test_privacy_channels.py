"""A producer uses their data rights as on a phone: Telegram through real aiogram polling the fake Bot API (the
Zalo Bot Platform is in ``test_privacy_zalo.py``). The consent names the 2025 law,
"xoa du lieu" leads to a receipt, and with the clock past the deadline the sweep leaves nothing personal, keeps
the certificate without personal data, and the person is told what was kept, in their own app."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import select

from bot.app import App
from bot.channels.telegram import build_dispatcher, polling
from bot.channels.telegram_delivery import TelegramDelivery
from bot.delivery import Delivery
from bot.sender import Sender
from bot.settings import Settings
from storage.models import Certificate, ChannelIdentity, Conversation, DossierItemFile, StoredFile, User
from tests.chat import FrozenClock
from tests.fakes.telegram_api import TOKEN, FakeBotAPI
from tests.staff_helpers import in_session, make_dossier, make_idea
from tests.test_journey_telegram import PRODUCER, Phone, _telegram
from tests.test_privacy import DECISION, certify, sweep_privacy


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake
        assert not fake.unknown_calls, fake.unknown_calls


async def _user_id(app: App, external_id: str) -> int:
    async def work(session: object) -> int:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        found = await session.scalar(select(ChannelIdentity.user_id).where(ChannelIdentity.external_id == external_id))
        assert found is not None
        return int(found)

    return await in_session(app, work)


async def _deliver(app: App, clock: FrozenClock, channel: str, delivery: Delivery) -> None:
    settings = app.settings.replaced(ocop_quiet_start=dt.time(0, 0), ocop_quiet_end=dt.time(0, 0))
    await Sender(app.engine.sessions, settings, {channel: delivery}, clock=clock).run_once()


async def _nothing_personal_left(app: App, user_id: int, blobs_before: set[str]) -> None:
    async def work(session: object) -> None:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        user = await session.get(User, user_id)
        assert user is not None and (user.phone, user.display_name, user.consent_at) == (None, None, None)
        assert await session.scalar(select(ChannelIdentity).where(ChannelIdentity.user_id == user_id)) is None
        assert await session.get(Conversation, user_id) is None
        certificate = (await session.scalars(select(Certificate))).one()
        assert certificate.decision_no == DECISION
        kept = set(await session.scalars(select(StoredFile.path)))
        assert kept < blobs_before  # the draft's file went, the certificate's evidence stayed
        assert all(f.original_name is None for f in await session.scalars(select(DossierItemFile)))

    await in_session(app, work)


async def _blob_paths(app: App) -> set[str]:
    async def work(session: object) -> set[str]:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        return set(await session.scalars(select(StoredFile.path)))

    return await in_session(app, work)


async def test_telegram_consent_download_delete_and_the_notice_of_what_was_kept(
    app: App, settings: Settings, api: FakeBotAPI, clock: FrozenClock
) -> None:
    dispatcher, bot, channel = build_dispatcher(app.engine, _telegram(settings, api))
    phone = Phone(api, channel)
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        await phone.type("/start")
        assert "Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15" in phone.seen
        await phone.tap("Xem thêm")
        assert "72 giờ" in phone.last_text()
        await phone.tap("Đồng ý")
        await phone.share_contact("+84 912 345 678")
        await phone.tap("Hợp tác xã")
        await phone.type("HTX Chè Shan Tuyết Bình Lư")
        await phone.type("binh lu")
        await phone.tap("Bình Lư")
        user_id = await _user_id(app, str(PRODUCER))
        await make_idea(app, user_id, name="Mật ong bạc hà")
        certified = await make_dossier(app, user_id, product="Chè Shan Tuyết", seed=21)
        await certify(app, certified)
        from bot.rules import DossierStatus

        await make_dossier(app, user_id, product="Mật ong", status=DossierStatus.DRAFT, seed=22)
        blobs_before = await _blob_paths(app)

        # See, then download: the ZIP that arrives holds what the summary listed.
        await phone.type("du lieu cua toi")
        await phone.tap("Xem dữ liệu")
        summary = phone.last_text(2)
        assert "Ý tưởng: 1" in summary and "Hồ sơ: 2" in summary and "Tệp: 2" in summary
        await phone.tap("Tải dữ liệu")
        documents = api.calls_of("sendDocument")
        assert len(documents) == 1
        data = documents[0].files["document"]
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            content = json.loads(archive.read("du-lieu.json"))
            files = [n for n in archive.namelist() if n.startswith("tep/")]
            assert "du-lieu.xlsx" in archive.namelist()
        assert [i["name"] for i in content["ideas"]] == ["Mật ong bạc hà"]
        assert sorted(d["product"] for d in content["dossiers"]) == ["Chè Shan Tuyết", "Mật ong"]
        assert len(files) == 2 and content["profile"]["phone"] == "0912345678"
        for line in ("Mật ong bạc hà", "Chè Shan Tuyết", "Mật ong"):
            assert line in summary

        # Withdraw and delete: two sentences, a confirmation, a receipt with the date.
        # The screen above offers "🗑 Rút đồng ý và xoá dữ liệu": its typed words are that option.
        await phone.type("xoa du lieu")
        await phone.tap("Có, xóa")
        assert "Biên nhận số 1" in phone.last_text() and "02/03/2026" in phone.last_text()

    clock.advance(hours=73)
    await sweep_privacy(app)
    delivery_bot = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    try:
        await _deliver(app, clock, "telegram", TelegramDelivery(delivery_bot))
    finally:
        await delivery_bot.session.close()
    told = str(api.sends_to(PRODUCER)[-1].params.get("text"))
    assert "Đã xóa dữ liệu" in told and DECISION in told and "Chè Shan Tuyết" in told
    await sweep_privacy(app)
    await _nothing_personal_left(app, user_id, blobs_before)
