"""One person, two apps: a one-time code shown in one app and typed in the other asks the first app to allow
the join; only then are the accounts joined. Guessing codes gets nowhere."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.channels.telegram import build_dispatcher, polling
from bot.channels.telegram_delivery import TelegramDelivery
from bot.menu_buttons import MenuIdea
from bot.messages import Text
from bot.rules import Role
from bot.sender import Sender
from bot.settings import Settings
from handlers import link, onboarding
from storage import links, staff
from storage.models import AuditEntry, ChannelIdentity, Conversation, LinkCode, OutboxMessage, Producer, User
from storage.outbox import TO_IDENTITY
from tests.chat import Chat, FrozenClock
from tests.conftest import make_producer
from tests.fakes.telegram_api import FakeBotAPI
from tests.test_journey_telegram import Phone, _telegram
from tests.test_sender import fast

VICTIM = 9001
ATTACKERS = 7001


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


def code_in(chat: Chat) -> str:
    found = re.search(r"(\d{4}) (\d{4})", chat.text)
    assert found, chat.text
    return found.group(1) + found.group(2)


async def owners(app: App) -> dict[tuple[str, str], int]:
    async with app.engine.sessions() as session:
        rows = await session.execute(
            select(ChannelIdentity.channel, ChannelIdentity.external_id, ChannelIdentity.user_id)
        )
        return {(channel, external): user for channel, external, user in rows}


async def notices(app: App, kind: str) -> list[OutboxMessage]:
    async with app.engine.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind)))


async def identity_id(app: App, channel: str, external_id: str) -> int:
    async with app.engine.sessions() as session:
        found = await session.scalar(
            select(ChannelIdentity.id).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        )
    assert found is not None
    return found


async def consented(app: App, external_id: str, channel: str = "zalo_bot", name: str | None = None) -> Chat:
    """A new account that said yes to the consent question (and nothing more)."""
    chat = Chat(app.engine, external_id, channel=channel)
    await chat.send("xin chao")
    await chat.press(onboarding.ConsentYes())
    if name is not None:
        async with app.engine.sessions() as session, session.begin():
            user = await session.scalar(
                select(User).join(ChannelIdentity).where(ChannelIdentity.external_id == external_id)
            )
            assert user is not None
            user.display_name = name
    return chat


async def request_of(app: App) -> dict[str, Any]:
    """The "allow?" notice queued for the code's owner."""
    found = await notices(app, link.REQUEST_NOTICE)
    assert len(found) == 1
    return found[0].params


async def test_a_zalo_account_joins_the_telegram_producer_only_when_telegram_allows(app: App) -> None:
    telegram_user = await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    zalo = await consented(app, "z1", name="Lò Văn Sáng")
    await telegram.send("Liên kết tài khoản")
    code = code_in(telegram)
    async with app.engine.sessions() as session:
        stored = await session.scalar(select(LinkCode))
    assert stored is not None and stored.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert code not in stored.code_hash

    await zalo.send("lien ket")  # the link flow, after consent and before the rest of onboarding
    await zalo.send(f"{code[:4]} {code[4:]}")
    assert (await owners(app))[("zalo_bot", "z1")] != telegram_user  # nothing moves yet
    assert "✅" in zalo.text  # told to allow it in the other app
    request = await request_of(app)
    question = link._allow_question(request)
    assert isinstance(question, Text)
    assert "Zalo" in question.text and "Lò Văn Sáng" in question.text
    allow = next(c.payload for c in question.choices if link.AllowLink.matches(c.payload))

    await telegram.press(allow)
    assert (await owners(app))[("zalo_bot", "z1")] == telegram_user
    joined = await notices(app, link.JOINED_NOTICE)
    assert len(joined) == 1 and joined[0].params[TO_IDENTITY] == await identity_id(app, "zalo_bot", "z1")
    await telegram.press(allow)  # pressed twice: nothing more happens
    assert len(await notices(app, link.JOINED_NOTICE)) == 1

    await zalo.send("menu")
    await zalo.send("1")  # the next message is the kept account's: the menu's first option works
    async with app.engine.sessions() as session:
        conversation = await session.get_one(Conversation, telegram_user)
        audited = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert conversation.flow == "idea" and audited == 1

    # Used once: the same code typed by a third account joins nothing and asks nobody.
    other = await consented(app, "z2")
    await other.send("/link")
    await other.send(code)
    assert (await owners(app))[("zalo_bot", "z2")] != telegram_user
    assert len(await notices(app, link.REQUEST_NOTICE)) == 1


async def test_the_owner_refuses_and_nothing_moves(app: App) -> None:
    await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("/link")
    before = await owners(app)
    intruder = await consented(app, "z9", name="Người lạ")
    await intruder.send("/link")
    await intruder.send(code_in(telegram))
    refuse = link.RefuseLink(code=(await request_of(app))["code_id"])
    await telegram.press(refuse)
    after = await owners(app)
    assert after[("telegram", "t1")] == before[("telegram", "t1")] != after[("zalo_bot", "z9")]
    refused = await notices(app, link.REFUSED_NOTICE)
    assert len(refused) == 1 and refused[0].params[TO_IDENTITY] == await identity_id(app, "zalo_bot", "z9")
    await telegram.press(link.AllowLink(code=(await request_of(app))["code_id"]))  # too late to change the answer
    assert (await owners(app))[("zalo_bot", "z9")] != after[("telegram", "t1")]


async def test_lien_ket_shows_the_open_question_again(app: App) -> None:
    """On numbered channels a notice's buttons cannot be typed as numbers: asking again answers in a reply."""
    telegram_user = await make_producer(app, "z1", channel="zalo_bot")
    owner = Chat(app.engine, "z1", channel="zalo_bot")
    await owner.send("/link")
    other = await consented(app, "t1", channel="telegram")
    await other.send("/link")
    await other.send(code_in(owner))
    await owner.send("lien ket")
    assert link.AllowLink.matches(owner.choices[0].payload)
    await owner.send("1")
    assert (await owners(app))[("telegram", "t1")] == telegram_user


async def test_a_code_outside_the_flow_or_before_consent_joins_nothing(app: App) -> None:
    telegram_user = await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("/link")
    code = code_in(telegram)
    fresh = Chat(app.engine, "z1", channel="zalo_bot")
    await fresh.send(code)  # before consent: the consent question, nothing else
    await fresh.send("lien ket")
    await fresh.send("/link")
    await fresh.send(code)
    assert "Nghị định 13/2023" in fresh.text or "đồng ý" in fresh.text.casefold()
    assert (await owners(app))[("zalo_bot", "z1")] != telegram_user
    producer = await make_producer(app, "z2", channel="zalo_bot", name="HTX khác")
    assert producer != telegram_user
    await Chat(app.engine, "z2", channel="zalo_bot").send(code)  # a producer typing it at the menu
    assert await notices(app, link.REQUEST_NOTICE) == []
    async with app.engine.sessions() as session:
        assert await session.scalar(select(LinkCode.used_at)) is None  # still live for its owner


async def test_an_account_types_at_most_five_codes_an_hour(app: App, clock: FrozenClock) -> None:
    await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    guesser = await consented(app, "z1")
    for guess in ("11111111", "22222222", "33333333", "44444444", "55555555"):
        if guess in ("11111111", "44444444"):
            await guesser.send("lien ket")  # three wrong codes end the flow; the guesser comes back
        await guesser.send(guess)
    await telegram.send("/link")  # a fresh code, not yet weakened by the wrong tries above
    await guesser.send("lien ket")
    await guesser.send(code_in(telegram))  # right, but the sixth this hour
    assert "một giờ" in guesser.text or "1 giờ" in guesser.text
    assert await notices(app, link.REQUEST_NOTICE) == []
    # Counted in the database: another process (a fresh app on the same database) counts the same.
    from bot.app import build_app

    again = await build_app(app.settings, clock=clock, run_migrations=False)
    try:
        await Chat(again.engine, "z1", channel="zalo_bot").send("lien ket")
        await Chat(again.engine, "z1", channel="zalo_bot").send(code_in(telegram))
    finally:
        await again.close()
    assert await notices(app, link.REQUEST_NOTICE) == []
    clock.advance(hours=1, minutes=1)
    await telegram.send("/link")
    await guesser.send("lien ket")
    await guesser.send(code_in(telegram))
    assert len(await notices(app, link.REQUEST_NOTICE)) == 1


async def test_a_code_dies_after_five_wrong_tries_anywhere(app: App) -> None:
    telegram_user = await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("/link")
    code = code_in(telegram)
    for index in range(link.MAX_WRONG_PER_CODE):  # five accounts, one wrong guess each
        guesser = await consented(app, f"g{index}")
        await guesser.send("/link")
        await guesser.send(f"{index:08d}" if f"{index:08d}" != code else "99999999")
    late = await consented(app, "late")
    await late.send("/link")
    await late.send(code)  # the right code, after five wrong ones: dead
    assert (await owners(app))[("zalo_bot", "late")] != telegram_user
    assert await notices(app, link.REQUEST_NOTICE) == []
    async with app.engine.sessions() as session:
        wrong = await session.scalar(select(LinkCode.wrong_tries).where(LinkCode.user_id == telegram_user))
    assert wrong is not None and wrong >= link.MAX_WRONG_PER_CODE


async def test_staff_accounts_are_never_joined_by_code(app: App) -> None:
    officer = await make_producer(app, "t-officer", channel="telegram", name="Cán bộ")
    officer_chat = Chat(app.engine, "t-officer", channel="telegram")
    await officer_chat.send("/link")  # a code made before the role came
    code = code_in(officer_chat)
    async with app.engine.sessions() as session, session.begin():
        await staff.grant(
            session,
            user_id=officer,
            role=Role.COMMUNE,
            province=app.settings.ocop.province,
            commune_code=1,
            granted_by=None,
            now=app.engine.clock(),
        )
    attacker = await consented(app, "z1")
    await attacker.send("/link")
    await attacker.send(code)  # joining into the staff account
    assert (await owners(app))[("zalo_bot", "z1")] != officer
    assert await notices(app, link.REQUEST_NOTICE) == []
    await officer_chat.send("/link")  # a staff account asks for a code: refused, with the way that works
    assert "lời mời" in officer_chat.text and not re.search(r"\d{4} \d{4}", officer_chat.text)

    # Joining the staff account out into another: the officer cannot enter the flow to type a code.
    await make_producer(app, "z2", channel="zalo_bot", name="HTX khác")
    producer = Chat(app.engine, "z2", channel="zalo_bot")
    await producer.send("/link")
    await officer_chat.send("lien ket")
    await officer_chat.send(code_in(producer))
    assert (await owners(app))[("telegram", "t-officer")] == officer
    assert await notices(app, link.REQUEST_NOTICE) == []


async def test_the_older_account_keeps_its_data_whichever_app_shows_the_code(app: App, clock: FrozenClock) -> None:
    telegram_user = await make_producer(app, "t1", channel="telegram")
    clock.advance(days=1)
    zalo = await consented(app, "z1")
    await zalo.send("/link")  # the newer account shows the code
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("/link")
    await telegram.send(code_in(zalo))
    await zalo.press(link.AllowLink(code=(await request_of(app))["code_id"]))
    found = await owners(app)
    assert found[("zalo_bot", "z1")] == found[("telegram", "t1")] == telegram_user
    async with app.engine.sessions() as session:
        producer = await session.scalar(select(Producer.user_id))
    assert producer == telegram_user


async def test_producer_moves_when_the_newer_account_has_it(app: App, clock: FrozenClock) -> None:
    older = await consented(app, "z1")  # an account with no producer yet
    clock.advance(hours=1)
    newer_user = await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("lien ket")
    await older.send("lien ket")
    await older.send(code_in(telegram))
    await telegram.press(link.AllowLink(code=(await request_of(app))["code_id"]))
    found = await owners(app)
    kept = found[("zalo_bot", "z1")]
    assert found[("telegram", "t1")] == kept != newer_user
    async with app.engine.sessions() as session:
        producer = await session.scalar(select(Producer.user_id))
        user = await session.get_one(User, kept)
    assert producer == kept and user.phone == "0912345678"


async def test_two_producers_are_never_joined(app: App) -> None:
    await make_producer(app, "t1", channel="telegram")
    await make_producer(app, "z1", channel="zalo_oa", name="HTX Mường Tè")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("lien ket tai khoan")
    before = await owners(app)
    zalo = Chat(app.engine, "z1", channel="zalo_oa")
    await zalo.send("lien ket")
    await zalo.send(code_in(telegram))
    assert await owners(app) == before
    assert "hồ sơ" in zalo.text  # told why
    assert await notices(app, link.REQUEST_NOTICE) == []


async def test_expired_codes_and_wrong_codes_in_the_flow(app: App, clock: FrozenClock) -> None:
    telegram_user = await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("/link")
    code = code_in(telegram)
    clock.advance(minutes=link.CODE_MINUTES + 1)
    zalo = await consented(app, "z1")
    await zalo.send("/link")  # in the link flow: typed codes are checked, with hints
    await zalo.send(code)
    assert await notices(app, link.REQUEST_NOTICE) == []
    await zalo.send("12")  # not a code at all: a hint, not a try
    await zalo.send("0000 0000")
    async with app.engine.sessions() as session:
        tries = await session.scalar(
            select(Conversation.data)
            .join(ChannelIdentity, ChannelIdentity.user_id == Conversation.user_id)
            .where(ChannelIdentity.external_id == "z1")
        )
    assert tries is not None and link.CodeTries.load(tries) == link.CodeTries(tries=2)
    await zalo.send("1111-1111")
    async with app.engine.sessions() as session:
        conversation = await session.scalar(
            select(Conversation)
            .join(ChannelIdentity, ChannelIdentity.user_id == Conversation.user_id)
            .where(ChannelIdentity.external_id == "z1")
        )
    assert conversation is not None and conversation.flow is None  # three wrong codes end the flow
    assert (await owners(app))[("zalo_bot", "z1")] != telegram_user


async def test_own_code_and_back_to_menu(app: App) -> None:
    await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("/link")
    assert [c.payload for c in telegram.choices] == [link.LinkMenu().pack()]
    code = code_in(telegram)
    await telegram.send(code)
    async with app.engine.sessions() as session:
        assert await session.scalar(select(LinkCode.used_at)) is not None
    await telegram.send("/link")
    await telegram.press(link.LinkMenu())
    assert MenuIdea().pack() in [c.payload for c in telegram.choices]


async def test_the_same_phone_alone_joins_nothing(app: App) -> None:
    await make_producer(app, "t1", channel="telegram")
    await make_producer(app, "z1", channel="zalo_bot", name="HTX khác")  # the same phone number
    found = await owners(app)
    assert found[("telegram", "t1")] != found[("zalo_bot", "z1")]


async def test_reminders_go_to_the_app_used_last(app: App, clock: FrozenClock) -> None:
    telegram_user = await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("/link")
    zalo = await consented(app, "z1")
    await zalo.send("/link")
    await zalo.send(code_in(telegram))
    await telegram.press(link.AllowLink(code=(await request_of(app))["code_id"]))
    clock.advance(minutes=1)
    await zalo.send("menu")
    async with app.engine.sessions() as session:
        preferred = await links.preferred_identity(session, telegram_user)
    assert preferred is not None and preferred.channel == "zalo_bot"
    clock.advance(minutes=1)
    await telegram.send("menu")
    async with app.engine.sessions() as session:
        preferred = await links.preferred_identity(session, telegram_user)
    assert preferred is not None and preferred.channel == "telegram"


async def test_guessing_codes_through_telegram_gets_nowhere(
    app: App, settings: Settings, api: FakeBotAPI, clock: FrozenClock
) -> None:
    """The measured attack, end to end through aiogram and the fake Bot API: accounts guessing codes; a right
    guess after five wrong ones anywhere is dead, a sixth try from one account is refused, and a lucky first
    guess only asks the owner, who says no; the guesser is told through the outbox."""
    victim_user = await make_producer(app, str(VICTIM), channel="telegram")
    dispatcher, bot, channel = build_dispatcher(app.engine, _telegram(settings, api))
    victim = Phone(api, channel, VICTIM)
    guessers = [Phone(api, channel, ATTACKERS + index) for index in range(3)]
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        for guesser in guessers:
            await guesser.type("/start")
            await guesser.tap("Đồng ý")
        await guessers[0].type("12345678")  # a code typed at any step outside the flow is not a code
        await victim.type("/link")
        code = code_in_text(victim.last_text())

        first = guessers[0]
        for guess in range(5):
            if guess in (0, 3):  # three wrong codes end the flow; the guesser starts it again
                await first.type("lien ket")
            await first.type(_wrong(guess, code))
        await first.type("lien ket")
        await first.type(code)  # right, but the sixth this hour
        assert "chờ một giờ" in first.last_text(2)
        await guessers[1].type("lien ket")
        await guessers[1].type(code)  # right, but after five wrong codes anywhere: dead
        assert "sai hoặc đã hết hạn" in guessers[1].last_text(2)
        assert await notices(app, link.REQUEST_NOTICE) == []

        await victim.type("/link")
        lucky = guessers[2]
        await lucky.type("lien ket")
        await lucky.type(code_in_text(victim.last_text()))  # a right first guess: only a question
        assert "Cho phép" in lucky.last_text(2)
        assert (await owners(app))[("telegram", str(VICTIM))] == victim_user
        assert (await owners(app))[("telegram", str(lucky.user_id))] != victim_user

        sender = Sender(app.engine.sessions, fast(app), {"telegram": TelegramDelivery(bot)}, clock=clock)
        await sender.run_once()
        asked = str(api.last_reply_with_buttons(VICTIM).params.get("text"))
        assert "wants" not in asked and "muốn liên kết" in asked
        await victim.tap("Không cho phép")
        before = len(api.replies_to(lucky.user_id))
        await sender.run_once()
        told = api.replies_to(lucky.user_id)[before:]
        assert len(told) == 1 and "không cho phép" in str(told[0].params.get("text"))
    found = await owners(app)
    assert len({found[("telegram", str(p.user_id))] for p in guessers}) == 3
    assert victim_user not in {found[("telegram", str(p.user_id))] for p in guessers}


def code_in_text(text: str) -> str:
    found = re.search(r"(\d{4}) (\d{4})", text)
    assert found, text
    return found.group(1) + found.group(2)


def _wrong(index: int, code: str) -> str:
    guess = f"{index + 1:08d}"
    return guess if guess != code else "99999999"
