"""One person, two apps: a one-time code shown in one app and typed in the other joins the accounts."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import func, select

from bot.app import App
from handlers import link
from storage import links
from storage.models import AuditEntry, ChannelIdentity, Conversation, LinkCode, Producer, User
from tests.chat import Chat, FrozenClock
from tests.conftest import make_producer


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


async def test_a_new_zalo_account_joins_the_telegram_producer(app: App) -> None:
    telegram_user = await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    zalo = Chat(app.engine, "z1", channel="zalo_bot")
    await zalo.send("xin chao")  # a brand-new account: onboarding would start
    await telegram.send("Liên kết tài khoản")
    code = code_in(telegram)
    async with app.engine.sessions() as session:
        stored = await session.scalar(select(LinkCode))
    assert stored is not None and stored.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert code not in stored.code_hash

    await zalo.send(f"{code[:4]} {code[4:]}")  # typed in the other app, even before onboarding
    assert (await owners(app))[("zalo_bot", "z1")] == telegram_user
    assert "m:idea" in [c.payload for c in zalo.choices]
    await zalo.send("1")  # the next message is the kept account's: the menu's first option works
    async with app.engine.sessions() as session:
        conversation = await session.get_one(Conversation, telegram_user)
        used = await session.scalar(select(LinkCode.used_at))
        audited = await session.scalar(select(func.count()).select_from(AuditEntry))
    assert conversation.flow == "idea"
    assert used is not None and audited == 1

    # Used once: the same code typed by a third account joins nothing.
    other = Chat(app.engine, "z2", channel="zalo_bot")
    await other.send(code)
    assert (await owners(app))[("zalo_bot", "z2")] != telegram_user


async def test_the_older_account_keeps_its_data_whichever_app_shows_the_code(app: App, clock: FrozenClock) -> None:
    telegram_user = await make_producer(app, "t1", channel="telegram")
    clock.advance(days=1)
    zalo = Chat(app.engine, "z1", channel="zalo_bot")
    await zalo.send("/link")  # the newer account shows the code
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send(code_in(zalo))
    found = await owners(app)
    assert found[("zalo_bot", "z1")] == found[("telegram", "t1")] == telegram_user
    async with app.engine.sessions() as session:
        producer = await session.scalar(select(Producer.user_id))
    assert producer == telegram_user


async def test_producer_moves_when_the_newer_account_has_it(app: App, clock: FrozenClock) -> None:
    older = Chat(app.engine, "z1", channel="zalo_bot")
    await older.send("xin chao")  # an account with no producer yet
    clock.advance(hours=1)
    newer_user = await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("lien ket")
    await older.send(code_in(telegram))
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
    await zalo.send(code_in(telegram))
    assert await owners(app) == before
    assert zalo.replies  # told why


async def test_expired_codes_and_wrong_codes_in_the_flow(app: App, clock: FrozenClock) -> None:
    telegram_user = await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("/link")
    code = code_in(telegram)
    clock.advance(minutes=link.CODE_MINUTES + 1)
    zalo = Chat(app.engine, "z1", channel="zalo_bot")
    await zalo.send("/link")  # in the link flow: typed codes are checked, with hints
    await zalo.send(code)
    assert (await owners(app))[("zalo_bot", "z1")] != telegram_user
    await zalo.send("12")  # not a code at all: a hint, not a try
    await zalo.send("0000 0000")
    async with app.engine.sessions() as session:
        tries = await session.scalar(
            select(Conversation.data)
            .join(ChannelIdentity, ChannelIdentity.user_id == Conversation.user_id)
            .where(ChannelIdentity.external_id == "z1")
        )
    assert tries == {"tries": 2}
    await zalo.send("1111-1111")
    async with app.engine.sessions() as session:
        conversation = await session.scalar(
            select(Conversation)
            .join(ChannelIdentity, ChannelIdentity.user_id == Conversation.user_id)
            .where(ChannelIdentity.external_id == "z1")
        )
    assert conversation is not None and conversation.flow is None  # three wrong codes end the flow


async def test_own_code_and_back_to_menu(app: App) -> None:
    await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("/link")
    assert [c.payload for c in telegram.choices] == [link.MENU]
    code = code_in(telegram)
    await telegram.send(code)
    async with app.engine.sessions() as session:
        assert await session.scalar(select(LinkCode.used_at)) is not None
    await telegram.send("/link")
    await telegram.press(link.MENU)
    assert "m:idea" in [c.payload for c in telegram.choices]


async def test_the_same_phone_alone_joins_nothing(app: App) -> None:
    await make_producer(app, "t1", channel="telegram")
    await make_producer(app, "z1", channel="zalo_bot", name="HTX khác")  # the same phone number
    found = await owners(app)
    assert found[("telegram", "t1")] != found[("zalo_bot", "z1")]


async def test_reminders_go_to_the_app_used_last(app: App, clock: FrozenClock) -> None:
    telegram_user = await make_producer(app, "t1", channel="telegram")
    telegram = Chat(app.engine, "t1", channel="telegram")
    await telegram.send("/link")
    clock.advance(minutes=1)
    zalo = Chat(app.engine, "z1", channel="zalo_bot")
    await zalo.send(code_in(telegram))
    async with app.engine.sessions() as session:
        preferred = await links.preferred_identity(session, telegram_user)
    assert preferred is not None and preferred.channel == "zalo_bot"
    clock.advance(minutes=1)
    await telegram.send("menu")
    async with app.engine.sessions() as session:
        preferred = await links.preferred_identity(session, telegram_user)
    assert preferred is not None and preferred.channel == "telegram"
