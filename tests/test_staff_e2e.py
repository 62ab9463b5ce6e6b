"""End to end through real aiogram polling the fake Bot API: a producer, a commune officer and a province
officer, all on Telegram at once, carry one dossier from submission to a 4★ certificate.

The producer and the staff roles are set up in the database (onboarding and invites have their own
tests); every step of the dossier's journey is a button press or a typed message through the bot.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from bot import office_jobs
from bot.app import App
from bot.channels.telegram import build_dispatcher, polling
from bot.menu_buttons import MenuDossier, MenuStatus
from bot.rules import DossierStatus, Role
from bot.settings import Settings
from handlers.province_common import OpenUnassigned, ProvinceHome, ProvinceRounds
from handlers.province_council import AddMember, AllPassed, EditSheet, MemberRole, Save, WorkOut
from handlers.province_dossiers import Accept, DownloadFiles, EnterSheets, IssueCertificate, PickRound
from handlers.province_dossiers import OpenDossier as ProvinceDossier
from handlers.province_rounds import SeedRounds
from handlers.review_buttons import ConfirmCriterion, FinishReview, OpenDossier, ShowQueue
from storage.models import Certificate, CouncilResult, Dossier, DossierItem, OutboxMessage, Producer, Round
from tests.conftest import make_producer
from tests.fakes.telegram_api import TOKEN, Call, FakeBotAPI
from tests.test_province import make_dossier, make_staff

PRODUCER, COMMUNE, PROVINCE = 7101, 7102, 7103


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake
        assert not fake.unknown_calls, f"the bot called methods the fake does not know: {fake.unknown_calls}"


@pytest.fixture
async def telegram(app: App, settings: Settings, api: FakeBotAPI) -> AsyncIterator[FakeBotAPI]:
    telegram_settings = settings.replaced(telegram_bot_token=SecretStr(TOKEN), telegram_api_base=api.base_url)
    dispatcher, bot, channel = build_dispatcher(app.engine, telegram_settings)
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        yield api


def _buttons_since(api: FakeBotAPI, user: int, before: int) -> list[Call]:
    return [call for call in api.replies_to(user)[before:] if call.inline_buttons()]


async def act(api: FakeBotAPI, user: int, *, data: str | None = None, text: str | None = None) -> Call:
    """Press a button (``data``) or type ``text``; returns the bot's reply that carries the next buttons."""
    before = len(api.replies_to(user))
    if data is not None:
        api.push_callback(user, data)
    else:
        assert text is not None
        api.push_text(user, text)
    await api.wait_for(lambda: bool(_buttons_since(api, user, before)))
    await asyncio.sleep(0.05)  # the rest of the same answer, if any
    return _buttons_since(api, user, before)[-1]


def button(call: Call, prefix: str) -> str:
    found = [data for data in call.callback_data() if data.startswith(prefix)]
    assert found, f"no button {prefix!r} in {call.callback_data()}"
    return found[0]


async def status_of(app: App, dossier_id: int) -> str:
    async with app.engine.sessions() as session:
        return (await session.get_one(Dossier, dossier_id)).status


async def test_one_dossier_from_submission_to_a_4_star_certificate(app: App, telegram: FakeBotAPI) -> None:
    api = telegram
    producer_user = await make_producer(app, str(PRODUCER), channel="telegram")
    async with app.engine.sessions() as session:
        producer = await session.scalar(select(Producer).where(Producer.user_id == producer_user))
        assert producer is not None
        commune_code = producer.commune_code
    await make_staff(app, str(COMMUNE), Role.COMMUNE, commune_code=commune_code, channel="telegram")
    await make_staff(app, str(PROVINCE), Role.PROVINCE, channel="telegram")
    dossier_id = await make_dossier(app, producer_user, status=DossierStatus.DRAFT)
    async with app.engine.sessions() as session, session.begin():  # every required paper is there
        await session.execute(
            update(DossierItem).where(DossierItem.dossier_id == dossier_id).values(handed_in_at=app.engine.clock())
        )

    # All three write at once: each gets their own menu.
    api.push_text(PRODUCER, "menu")
    api.push_text(COMMUNE, "menu")
    api.push_text(PROVINCE, "menu")
    await api.wait_for(lambda: all(api.replies_to(user) for user in (PRODUCER, COMMUNE, PROVINCE)))
    await asyncio.sleep(0.1)
    assert ProvinceHome().pack() in api.last_reply_with_buttons(PROVINCE).callback_data()
    assert ProvinceHome().pack() not in api.last_reply_with_buttons(COMMUNE).callback_data()
    assert ProvinceHome().pack() not in api.last_reply_with_buttons(PRODUCER).callback_data()

    # The producer submits.
    reply = await act(api, PRODUCER, data=MenuDossier().pack())
    reply = await act(api, PRODUCER, data=button(reply, "dos:prod:"))
    await act(api, PRODUCER, data=button(reply, "dos:submit"))
    assert await status_of(app, dossier_id) == DossierStatus.SUBMITTED_COMMUNE

    # The province officer prepares this year's rounds while the commune reviews.
    province_task = asyncio.create_task(act(api, PROVINCE, data=ProvinceRounds().pack()))
    reply = await act(api, COMMUNE, data=ShowQueue().pack())
    reply = await act(api, COMMUNE, data=OpenDossier(dossier=dossier_id).pack())
    for _criterion in range(4):
        reply = await act(api, COMMUNE, data=button(reply, f"{ConfirmCriterion.prefix}:{dossier_id}:"))
    reply = await act(api, COMMUNE, data=button(reply, f"{FinishReview.prefix}:{dossier_id}:"))
    assert await status_of(app, dossier_id) == DossierStatus.AT_PROVINCE
    reply = await province_task
    reply = await act(api, PROVINCE, data=button(reply, SeedRounds().pack()))
    async with app.engine.sessions() as session:
        first_round = await session.scalar(select(Round).where(Round.submit_deadline == dt.date(2026, 5, 20)))
    assert first_round is not None

    # The province: completeness, round, council result, certificate.
    reply = await act(api, PROVINCE, data=ProvinceHome().pack())
    reply = await act(api, PROVINCE, data=OpenUnassigned().pack())
    reply = await act(api, PROVINCE, data=ProvinceDossier(dossier=dossier_id).pack())
    reply = await act(api, PROVINCE, data=DownloadFiles().pack())  # the producer's files, as one ZIP through the outbox
    await asyncio.gather(*office_jobs.RUNNING)
    async with app.engine.sessions() as session:
        zipped = await session.scalar(select(OutboxMessage.params).where(OutboxMessage.kind == office_jobs.KIND))
    assert zipped is not None and str(zipped["name"]).endswith(".zip")
    reply = await act(api, PROVINCE, data=Accept().pack())
    reply = await act(api, PROVINCE, data=PickRound(round=first_round.id).pack())
    assert await status_of(app, dossier_id) == DossierStatus.SCHEDULED
    # The council met (earlier than this seeded round would: the dates are moved so that it has).
    async with app.engine.sessions() as session, session.begin():
        await session.execute(
            update(Round)
            .where(Round.id == first_round.id)
            .values(submit_deadline=dt.date(2026, 1, 20), meeting_date=dt.date(2026, 2, 10))
        )
    reply = await act(api, PROVINCE, data=EnterSheets().pack())
    for name in ("Nguyễn Văn An", "Lò Thị Bích", "Tẩn A Chu"):
        reply = await act(api, PROVINCE, data=AddMember().pack())
        reply = await act(api, PROVINCE, text=name)
        reply = await act(api, PROVINCE, data=MemberRole(role="member").pack())
    for member, points in zip(
        [d for d in reply.callback_data() if EditSheet.matches(d)],
        (("35", "20,5", "25"), ("34", "21", "26"), ("36", "20", "24")),
        strict=True,
    ):
        reply = await act(api, PROVINCE, data=member)
        for value in points:
            reply = await act(api, PROVINCE, text=value)
    reply = await act(api, PROVINCE, data=WorkOut().pack())
    reply = await act(api, PROVINCE, data=AllPassed().pack())
    assert "80,5" in reply.params["text"] and "★★★★☆" in reply.params["text"]
    reply = await act(api, PROVINCE, data=Save().pack())
    reply = await act(api, PROVINCE, data=button(reply, IssueCertificate().pack()))
    reply = await act(api, PROVINCE, text="1234/QĐ-UBND")
    reply = await act(api, PROVINCE, text="20/2/2026")
    reply = await act(api, PROVINCE, data=Save().pack())
    assert await status_of(app, dossier_id) == DossierStatus.CERTIFIED_4

    async with app.engine.sessions() as session:
        certificate = await session.scalar(select(Certificate))
        result = await session.scalar(select(CouncilResult))
        notices = list(await session.scalars(select(OutboxMessage.kind).where(OutboxMessage.user_id == producer_user)))
    assert certificate is not None and result is not None
    assert (certificate.stars, certificate.issued_on, certificate.expires_on) == (
        4,
        dt.date(2026, 2, 20),
        dt.date(2029, 2, 20),
    )
    assert (result.total, result.stars) == (80.5, 4)
    assert {"province_scheduled", "province_scored", "province_certified"} <= set(notices)

    # The producer sees it all through status.
    await act(api, PRODUCER, data=MenuStatus().pack())
    report = "\n".join(str(call.params.get("text", "")) for call in api.replies_to(PRODUCER)[-3:])
    for expected in ("Đợt 1/2026", "80,5", "★★★★☆", "1234/QĐ-UBND", "20/02/2029"):
        assert expected in report
