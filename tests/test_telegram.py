"""The Telegram channel end to end: real aiogram polling a fake Bot API server, our engine behind it.

Also the pieces that need no database: rendering (keyboards, splitting, files) and the reply keyboard of a
phone request, through a stub engine.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiogram import Bot
from aiogram.types import InlineKeyboardMarkup, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove, User
from pydantic import SecretStr

from bot.app import App
from bot.channels.telegram import TelegramChannel, build_dispatcher, polling
from bot.messages import AskFile, AskPhone, Choice, Inbound, Outbound, SendFile, Text
from bot.settings import Settings
from tests.conftest import make_producer
from tests.fakes.telegram_api import TOKEN, Call, FakeBotAPI

USER = 7001
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489") + b"\x00" * 64


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake
        assert not fake.unknown_calls, f"the bot called methods the fake does not know: {fake.unknown_calls}"


def telegram_settings(settings: Settings, api: FakeBotAPI) -> Settings:
    return settings.replaced(telegram_bot_token=SecretStr(TOKEN), telegram_api_base=api.base_url)


@pytest.fixture
async def telegram(app: App, settings: Settings, api: FakeBotAPI) -> AsyncIterator[FakeBotAPI]:
    """Our bot polling the fake server; polling always stops, even when the test fails."""
    dispatcher, bot, channel = build_dispatcher(app.engine, telegram_settings(settings, api))
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        yield api


async def onboarded(app: App, user_id: int = USER) -> None:
    await make_producer(app, str(user_id), channel="telegram")


# Through the engine --------------------------------------------------------------------------------------
async def test_start_gets_a_reply_with_buttons(telegram: FakeBotAPI) -> None:
    telegram.push_text(USER, "/start")
    replies = await telegram.wait_for_replies(USER, 1)
    assert replies[0].name == "sendmessage"
    assert replies[0].content_type == "application/json"  # no file: one JSON body (bot.channels.telegram_session)
    await asyncio.sleep(0.2)  # every part of the answer
    assert any("reply_markup" in call.params for call in telegram.replies_to(USER))


async def test_button_press_is_answered_and_handled(app: App, telegram: FakeBotAPI) -> None:
    await onboarded(app)
    telegram.push_text(USER, "menu")
    await telegram.wait_for_replies(USER, 1)
    menu = telegram.last_reply_with_buttons(USER)
    data = menu.callback_data()
    assert data and all(len(item.encode()) <= 64 for item in data)
    before = len(telegram.replies_to(USER))

    telegram.push_callback(USER, data[-1], message=telegram.message_of(menu))
    await telegram.wait_for_calls("answerCallbackQuery", 1)
    replies = await telegram.wait_for_replies(USER, before + 1)
    assert replies[-1].params["text"]


async def test_stale_button_gets_answered_and_a_friendly_reply(app: App, telegram: FakeBotAPI) -> None:
    await onboarded(app)
    update = telegram.push_callback(USER, "zz:gone")
    answered = await telegram.wait_for_calls("answerCallbackQuery", 1)
    assert answered[0].params["callback_query_id"] == update["callback_query"]["id"]
    # A friendly sentence, then the menu again.
    await telegram.wait_for(lambda: any(call.inline_buttons() for call in telegram.replies_to(USER)))


async def test_same_update_twice_is_processed_once(app: App, telegram: FakeBotAPI) -> None:
    await onboarded(app)
    update = telegram.push_text(USER, "menu")
    await telegram.wait_for_replies(USER, 1)
    await asyncio.sleep(0.2)
    per_update = len(telegram.replies_to(USER))

    telegram.push_update(update)  # Telegram redelivers (e.g. our offset was lost in a crash)
    telegram.push_text(USER, "menu")  # a new update after it, to know the redelivery was handled
    await telegram.wait_for_replies(USER, 2 * per_update)
    await asyncio.sleep(0.3)
    assert len(telegram.replies_to(USER)) == 2 * per_update


async def test_document_is_downloaded_through_get_file_and_stored(
    app: App, settings: Settings, telegram: FakeBotAPI
) -> None:
    await onboarded(app)
    update = telegram.push_document(USER, PDF, file_name="giay-phep.pdf")
    await telegram.wait_for_replies(USER, 1)
    file_id = update["message"]["document"]["file_id"]
    assert [call.params["file_id"] for call in telegram.calls_of("getFile")] == [file_id]
    assert any(call.name == "file" and call.params["path"].startswith(f"{file_id}/") for call in telegram.calls)
    sha256 = hashlib.sha256(PDF).hexdigest()
    stored = list(settings.ocop.files_dir.rglob(f"{sha256}.*"))
    assert len(stored) == 1 and stored[0].read_bytes() == PDF


async def test_photo_downloads_the_largest_size(app: App, settings: Settings, telegram: FakeBotAPI) -> None:
    await onboarded(app)
    update = telegram.push_photo(USER, PNG)
    await telegram.wait_for_replies(USER, 1)
    largest = update["message"]["photo"][-1]["file_id"]
    assert [call.params["file_id"] for call in telegram.calls_of("getFile")] == [largest]
    assert list(settings.ocop.files_dir.rglob(f"{hashlib.sha256(PNG).hexdigest()}.png"))


async def test_rate_limited_send_is_retried_after_retry_after(app: App, telegram: FakeBotAPI) -> None:
    await onboarded(app)
    telegram.fail_next("sendMessage", 1, retry_after=1)
    telegram.push_text(USER, "menu")
    replies = await telegram.wait_for_replies(USER, 1, within=15)
    refused = [call for call in telegram.calls if call.name == "sendmessage" and call.status == 429]
    assert len(refused) == 1
    assert replies[0].at - refused[0].at >= 0.95
    assert replies[0].params["text"]


async def test_sticker_gets_a_reply(app: App, telegram: FakeBotAPI) -> None:
    await onboarded(app)
    telegram.push_sticker(USER)
    replies = await telegram.wait_for_replies(USER, 1)
    assert replies[0].params["text"]


async def test_someone_elses_contact_is_not_taken_as_the_phone(app: App, telegram: FakeBotAPI) -> None:
    from storage.models import User as UserRow

    telegram.push_contact(USER, "+84987654321", contact_user_id=USER + 1)
    await telegram.wait_for_replies(USER, 1)
    async with app.engine.sessions() as session:
        from sqlalchemy import select

        phones = (await session.execute(select(UserRow.phone))).scalars().all()
    assert "0987654321" not in phones and "+84987654321" not in phones


# Through a stub engine: the channel's own behaviour --------------------------------------------------------
class StubEngine:
    """Answers every update with the next scripted reply list and keeps what it received."""

    def __init__(self, *scripts: list[Outbound]) -> None:
        self.scripts = list(scripts)
        self.received: list[Inbound] = []

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        self.received.append(inbound)
        return self.scripts.pop(0) if self.scripts else [Text("ok")]


@pytest.fixture
def stub_settings(tmp_path: Path, api: FakeBotAPI) -> Settings:
    return Settings(
        _env_file=None,
        ocop_data_dir=tmp_path,
        telegram_bot_token=SecretStr(TOKEN),
        telegram_api_base=api.base_url,
    )


async def test_phone_request_keyboard_then_removed(api: FakeBotAPI, stub_settings: Settings) -> None:
    engine = StubEngine(
        [AskPhone("Your phone?", "📱 Share my number", (Choice("⬅️ Back", "ph:back"),))],
        [Text("Thanks ✓"), Text("Next?", (Choice("A", "a"), Choice("B", "b")), columns=2)],
    )
    dispatcher, bot, channel = build_dispatcher(engine, stub_settings)
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        api.push_text(USER, "hi")
        first = await api.wait_for_replies(USER, 1)
        keyboard = first[0].params["reply_markup"]["keyboard"]
        assert keyboard[0][0]["request_contact"] is True
        assert keyboard[1][0]["text"] == "⬅️ Back"

        api.push_text(USER, "⬅️ Back")  # the reply-keyboard button sends its label as text
        replies = await api.wait_for_replies(USER, 3)
        assert replies[1].params["reply_markup"] == {"remove_keyboard": True}
        assert replies[2].params["reply_markup"]["inline_keyboard"] == [
            [{"text": "A", "callback_data": "a"}, {"text": "B", "callback_data": "b"}]
        ]

        api.push_contact(USER, "+84912345678")
        api.push_contact(USER, "+84900000000", contact_user_id=USER + 5)
        await api.wait_for_replies(USER, 5)
    assert engine.received[1].payload == "ph:back" and engine.received[1].text is None
    assert engine.received[2].phone == "+84912345678"
    assert engine.received[3].phone is None and engine.received[3].text is None
    assert {inbound.channel for inbound in engine.received} == {"telegram"}
    assert engine.received[0].external_user_id == str(USER) and engine.received[0].chat_id == str(USER)


async def test_files_long_texts_and_file_requests(api: FakeBotAPI, stub_settings: Settings, tmp_path: Path) -> None:
    photo = tmp_path / "anh.png"
    photo.write_bytes(PNG)
    pdf = tmp_path / "ho-so.pdf"
    pdf.write_bytes(PDF)
    long_text = "\n".join(f"dòng {number:04d} " + "x" * 60 for number in range(150))  # about 10 000 chars
    engine = StubEngine(
        [
            SendFile(photo, "anh.png", "image/png", caption="Ảnh"),
            SendFile(pdf, "ho-so.pdf", "application/pdf", caption="c" * 1500),
            Text(long_text, (Choice("OK", "ok"),)),
            AskFile("Send a photo", (Choice("Skip", "skip"),)),
        ]
    )
    dispatcher, bot, channel = build_dispatcher(engine, stub_settings)
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        api.push_text(USER, "files please")
        await api.wait_for_replies(USER, 7)
        await asyncio.sleep(0.2)
    replies = api.replies_to(USER)
    assert [call.name for call in replies] == ["sendphoto", "senddocument"] + ["sendmessage"] * 5
    assert replies[0].files["photo"] == PNG and replies[0].params["caption"] == "Ảnh"
    assert replies[1].files["document"] == PDF and "caption" not in replies[1].params
    assert replies[2].params["text"] == "c" * 1500  # the long caption follows as text
    parts = replies[3:6]
    assert all(len(call.params["text"]) <= 4096 for call in parts)
    assert "\n".join(call.params["text"] for call in parts) == long_text
    assert [("reply_markup" in call.params) for call in parts] == [False, False, True]
    assert replies[6].callback_data() == ["skip"]


async def test_long_payload_travels_as_a_hash(api: FakeBotAPI, stub_settings: Settings) -> None:
    payload = "d:" + "9" * 80
    engine = StubEngine([Text("Pick", (Choice("Long", payload),))])
    dispatcher, bot, channel = build_dispatcher(engine, stub_settings)
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        api.push_text(USER, "hi")
        first = await api.wait_for_replies(USER, 1)
        (data,) = first[0].callback_data()
        assert len(data.encode()) <= 64
        api.push_callback(USER, data, message=api.message_of(first[0]))
        await api.wait_for_replies(USER, 2)
    assert engine.received[1].payload == payload


async def test_engine_error_or_send_failure_never_stops_polling(api: FakeBotAPI, stub_settings: Settings) -> None:
    class Exploding(StubEngine):
        async def handle(self, inbound: Inbound) -> list[Outbound]:
            if inbound.text == "boom":
                raise RuntimeError("boom")
            return await super().handle(inbound)

    def refused() -> list[Call]:
        return [call for call in api.calls if call.name == "sendmessage" and call.status == 429]

    engine = Exploding([Text("")], [Text("still here")])
    dispatcher, bot, channel = build_dispatcher(engine, stub_settings)
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        api.push_text(USER, "boom")
        api.push_text(USER, "empty reply")  # an empty text is not sent at all
        api.fail_next("sendMessage", 10, retry_after=1)  # gives up after a bounded number of attempts
        api.push_text(USER, "refused")
        await api.wait_for(lambda: len(refused()) >= 4, within=15)
        await asyncio.sleep(0.3)
        api.fail_next("sendMessage", 0)
        api.push_text(USER, "after")
        replies = await api.wait_for_replies(USER, 1)
    assert replies[-1].params["text"] == "ok"
    assert len(refused()) == 4
    assert [inbound.text for inbound in engine.received] == ["empty reply", "refused", "after"]


def test_inbound_translation_of_messages() -> None:
    channel = TelegramChannel(StubEngine(), Bot(TOKEN))
    sender = User(id=5, is_bot=False, first_name="Lò", last_name="Văn A", language_code="en")
    message = _message({"text": "xin chào"}, sender)
    inbound = channel.inbound_for_message(message, sender, 42)
    assert (inbound.text, inbound.update_id, inbound.external_user_id, inbound.chat_id) == ("xin chào", "42", "5", "5")
    assert inbound.display_name == "Lò Văn A" and inbound.language_code == "en"

    location = _message({"location": {"latitude": 22.4, "longitude": 103.4}}, sender)
    empty = channel.inbound_for_message(location, sender, 43)
    assert (empty.text, empty.payload, empty.file, empty.phone) == (None, None, None, None)

    document = _message({"document": {"file_id": "f1", "file_unique_id": "u1", "file_name": "a.pdf"}}, sender)
    file = channel.inbound_for_message(document, sender, 44).file
    assert file is not None and (file.name, file.claimed_mime, file.size) == ("a.pdf", None, None)


def test_keyboards_follow_columns() -> None:
    channel = TelegramChannel(StubEngine(), Bot(TOKEN))
    choices = tuple(Choice(str(n), f"p{n}") for n in range(5))
    (part,) = channel.render(1, Text("Pick", choices, columns=2))
    assert isinstance(part.markup, InlineKeyboardMarkup)
    assert [len(row) for row in part.markup.inline_keyboard] == [2, 2, 1]
    (ask,) = channel.render(1, AskPhone("Phone?", "Share"))
    assert isinstance(ask.markup, ReplyKeyboardMarkup) and ask.markup.one_time_keyboard
    parts = [p for reply in [Text("a"), Text("b")] for p in channel.render(1, reply)]
    channel._remove_stale_reply_keyboard(1, parts)
    assert isinstance(parts[0].markup, ReplyKeyboardRemove) and parts[1].markup is None


def _message(content: dict[str, Any], sender: User) -> Message:
    return Message.model_validate(
        {
            "message_id": 1,
            "date": 0,
            "chat": {"id": sender.id, "type": "private"},
            "from": sender.model_dump(exclude_none=True),
            **content,
        }
    )


async def test_a_burst_is_handled_a_few_updates_at_a_time(app: App, settings: Settings, api: FakeBotAPI) -> None:
    """A burst of users: every update answered once, never more of them in hand than the setting allows
    (unbounded, polling would start a task for each of the 100 updates a getUpdates returns)."""

    class Counting:
        def __init__(self) -> None:
            self.now = self.most = 0

        async def handle(self, inbound: Inbound) -> list[Outbound]:
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                return await app.engine.handle(inbound)
            finally:
                self.now -= 1

    limited = telegram_settings(settings, api).replaced(telegram_updates_in_flight=4)
    engine = Counting()
    dispatcher, bot, channel = build_dispatcher(engine, limited)
    users = range(8000, 8080)
    async with polling(
        dispatcher, bot, polling_timeout=1, drain=channel.drain, in_flight=limited.telegram.updates_in_flight
    ):
        for user_id in users:
            api.push_text(user_id, "/start")
        await api.wait_for(lambda: all(api.replies_to(user_id) for user_id in users), within=60)
        await asyncio.sleep(0.3)
    counts = {len(api.replies_to(user_id)) for user_id in users}
    assert len(counts) == 1, f"some users got more or fewer replies than others: {counts}"
    assert 1 <= engine.most <= 4
