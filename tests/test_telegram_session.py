"""The Bot API session: calls without a file go as one JSON body, uploads as aiogram's multipart form, and
every answer (a result, a refusal, no server at all) comes back to the caller as aiogram would give it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import AnswerCallbackQuery, SendDocument, SendMessage
from aiogram.types import BufferedInputFile, InlineKeyboardButton, InlineKeyboardMarkup

from bot.channels.telegram_session import JsonBodySession
from tests.fakes.telegram_api import TOKEN, FakeBotAPI

CHAT = 7001
KEYBOARD = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="📂 Hồ sơ", callback_data="m:dossier")]])


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


def bot_for(base_url: str, **defaults: str) -> Bot:
    session = JsonBodySession(api=TelegramAPIServer.from_base(base_url))
    return Bot(TOKEN, session=session, default=DefaultBotProperties(**defaults))  # type: ignore[arg-type]


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    made = bot_for(api.base_url)
    yield made
    await made.session.close()


async def test_a_message_with_a_keyboard_goes_as_json(api: FakeBotAPI, bot: Bot) -> None:
    sent = await bot(SendMessage(chat_id=CHAT, text="Chào bà con 👋", reply_markup=KEYBOARD))
    (call,) = api.calls_of("sendMessage")
    assert call.content_type == "application/json"
    # Typed as JSON, nested as objects, nothing left unset sent as null.
    assert call.params["chat_id"] == CHAT
    assert call.params["text"] == "Chào bà con 👋"
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "📂 Hồ sơ", "callback_data": "m:dossier"}]]}
    assert None not in call.params.values()
    assert sent.message_id == call.result["message_id"]
    assert sent.text == "Chào bà con 👋"


async def test_bot_defaults_are_filled_in_as_aiogram_does(api: FakeBotAPI) -> None:
    bot = bot_for(api.base_url, parse_mode="HTML")
    try:
        await bot(SendMessage(chat_id=CHAT, text="<b>Hồ sơ</b>"))
        await bot(SendMessage(chat_id=CHAT, text="*Hồ sơ*", parse_mode="MarkdownV2"))
    finally:
        await bot.session.close()
    assert [call.params.get("parse_mode") for call in api.calls_of("sendMessage")] == ["HTML", "MarkdownV2"]


async def test_an_upload_still_goes_as_a_multipart_form(api: FakeBotAPI, bot: Bot) -> None:
    pdf = b"%PDF-1.4\n%%EOF\n"
    await bot(SendDocument(chat_id=CHAT, document=BufferedInputFile(pdf, "ho-so.pdf"), caption="Hồ sơ"))
    (call,) = api.calls_of("sendDocument")
    assert call.content_type == "multipart/form-data"
    assert call.files["document"] == pdf
    assert call.params["caption"] == "Hồ sơ"


async def test_refusals_raise_as_aiogram_raises_them(api: FakeBotAPI, bot: Bot) -> None:
    api.fail_next("answerCallbackQuery", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as waited:
        await bot(AnswerCallbackQuery(callback_query_id="q1"))
    with pytest.raises(TelegramBadRequest):
        await bot(SendMessage(chat_id=CHAT, text=""))
    assert await bot(AnswerCallbackQuery(callback_query_id="q1")) is True
    assert waited.value.retry_after == 3


async def test_no_server_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = bot_for(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(TelegramNetworkError):
            await bot(SendMessage(chat_id=CHAT, text="Chào"))
    finally:
        await bot.session.close()
