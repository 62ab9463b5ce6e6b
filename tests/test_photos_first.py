"""Photos first: photos sent without an item chosen are offered to the first missing required item, one tap
files them; several sent together (a Telegram album, a burst on Zalo) are one question and one item, in the
order sent. Through real aiogram against the fake Bot API and through the Zalo Bot webhook."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

from sqlalchemy import select

from bot.app import App
from bot.channels.telegram import build_dispatcher, polling
from bot.settings import Settings
from handlers.dossier import AttachTo, ToMenu
from storage.models import ChannelIdentity, Conversation, DossierItemFile, StoredFile
from tests import files, test_zalo_bot
from tests.chat import Chat, FrozenClock
from tests.conftest import make_producer
from tests.fakes.telegram_api import FakeBotAPI
from tests.test_dossier import count, insert_idea, items_by_code, payloads, producer_id, start_dossier_from_idea
from tests.test_journey_telegram import Phone, _telegram
from tests.test_journey_telegram import api as telegram_api
from tests.test_zalo_bot import USER, Harness, ZaloPerson, registration_item

api = test_zalo_bot.api
zalo = test_zalo_bot.zalo
telegram = telegram_api

PRODUCER = 8802
QUESTION = "ảnh này là “Phiếu đăng ký sản phẩm OCOP”?"


async def _hashes_of_item(app: App, item_id: int) -> list[str]:
    """The files of one item in the order they were added."""
    async with app.engine.sessions() as session:
        rows = await session.scalars(
            select(StoredFile.sha256)
            .join(DossierItemFile, DossierItemFile.stored_file_id == StoredFile.id)
            .where(DossierItemFile.item_id == item_id)
            .order_by(DossierItemFile.id)
        )
        return list(rows)


async def _waiting_files(app: App, external_id: str) -> int:
    async with app.engine.sessions() as session:
        data = await session.scalar(
            select(Conversation.data)
            .join(ChannelIdentity, ChannelIdentity.user_id == Conversation.user_id)
            .where(ChannelIdentity.external_id == external_id)
        )
    return len((data or {}).get("stray") or [])


class _Ticking:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(minutes=1)
        return self.now


async def test_a_telegram_album_is_one_question_and_one_item_in_order(
    app: App, settings: Settings, telegram: FakeBotAPI, clock: FrozenClock
) -> None:
    await make_producer(app, str(PRODUCER), channel="telegram")
    await insert_idea(app, await producer_id(app))
    dispatcher, bot, channel = build_dispatcher(app.engine, _telegram(settings, telegram))
    phone = Phone(telegram, channel, user_id=PRODUCER)
    pages = [files.jpeg(31), files.jpeg(32), files.jpeg(33)]
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        await phone.type("menu")
        await phone.tap("Hồ sơ của tôi")
        await phone.tap("Chè Shan tuyết")
        await phone.tap("Sản phẩm mới")
        before = len(telegram.replies_to(PRODUCER))
        # Each update a minute after the one before: only the album's media_group_id holds the photos together.
        app.engine.clock = _Ticking(clock.now)
        for page in pages:
            telegram.push_photo(PRODUCER, page, media_group_id="album-1")
        await telegram.wait_for(lambda: len(telegram.replies_to(PRODUCER)) > before)
        for _attempt in range(200):  # the rest of the album, handled after the first photo's question
            await channel.drain()
            if await _waiting_files(app, str(PRODUCER)) == len(pages):
                break
            await asyncio.sleep(0.05)
        sent = telegram.replies_to(PRODUCER)[before:]
        assert [str(c.params.get("text")) for c in sent] == ["Ảnh này là “Phiếu đăng ký sản phẩm OCOP”?"]
        assert await _waiting_files(app, str(PRODUCER)) == len(pages)

        await phone.tap("Đúng")
        item = await registration_item(app, str(PRODUCER))
        assert await _hashes_of_item(app, item) == [hashlib.sha256(page).hexdigest() for page in pages]
        assert "1/8" in phone.last_text()


async def test_a_zalo_burst_is_one_question(app: App, zalo: Harness) -> None:
    owner = await make_producer(app, USER, channel="zalo_bot")
    await insert_idea(app, await producer_id(app, owner))
    person = ZaloPerson(app, zalo, USER)
    await person.type("menu")
    await person.pick("m:dossier")
    await person.pick(lambda payload: payload.startswith("dos:idea:"))
    await person.pick("dos:case:new")
    before = len(zalo.api.texts_to(USER))
    pages = [files.jpeg(41), files.jpeg(42), files.jpeg(43)]
    for page in pages:  # picked together in the gallery: they arrive one by one, seconds apart
        await person.photo(page)
    sent = zalo.api.texts_to(USER)[before:]
    assert sum(QUESTION.casefold() in text.casefold() for text in sent) == 1, sent
    assert not any("3 ảnh" in text or "2 ảnh" in text for text in sent)
    await person.pick(lambda payload: payload.startswith("dos:att:"))  # "1. ✅ Đúng"
    item = await registration_item(app, USER)
    assert await _hashes_of_item(app, item) == [hashlib.sha256(page).hexdigest() for page in pages]


async def test_a_photo_sent_later_asks_again_with_the_count(app: App, producer_chat: Chat, clock: FrozenClock) -> None:
    chat = producer_chat
    items = await items_by_code(app, await start_dossier_from_idea(app, chat, await producer_id(app)))
    await chat.send_file(files.jpeg(51), "trang-1.jpg")
    await chat.send_file(files.jpeg(52), "trang-2.jpg")  # same burst: nothing said
    assert chat.replies == []
    clock.advance(minutes=1)
    await chat.send_file(files.pdf(53), "trang-3.pdf")  # later: the question again, for all three
    assert chat.text == "3 tệp này là “Phiếu đăng ký sản phẩm OCOP”?"
    await chat.tap("Đúng")
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["registration_form"]) == 3


async def test_another_item_shows_the_whole_list_and_files_there(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    items = await items_by_code(app, await start_dossier_from_idea(app, chat, await producer_id(app)))
    await chat.send_file(files.jpeg(61), "nhan.jpg")
    await chat.tap("Mục khác")
    offered = payloads(chat)
    assert f"dos:att:{items['label_packaging']}" in offered and f"dos:att:{items['registration_form']}" in offered
    await chat.press(AttachTo(item=items["label_packaging"]))
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["label_packaging"]) == 1
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["registration_form"]) == 0


async def test_a_stray_photo_from_the_menu_can_be_left_out(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await start_dossier_from_idea(app, chat, await producer_id(app))
    await chat.press(ToMenu())
    await chat.send_file(files.jpeg(71), "nham.jpg")
    assert chat.text == "Ảnh này là “Phiếu đăng ký sản phẩm OCOP”?"
    await chat.tap("Bỏ")
    assert "Đã bỏ 1 tệp" in chat.text and "m:dossier" in payloads(chat)  # back on the menu, where it came
    assert await count(app, DossierItemFile) == 0
