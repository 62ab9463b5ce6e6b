"""What the Telegram channel builds once and reuses: aiogram's answer models and repeated keyboards."""

from __future__ import annotations

import gc
import weakref
from typing import Any, cast

from aiogram.methods.base import Response

from bot.channels.telegram import CALLBACK_DATA_LIMIT, TelegramChannel, _Sent
from bot.messages import Choice


def test_answer_models_survive_a_garbage_collection() -> None:
    # pydantic keeps parametrised generics in a weak cache: without the channel's own reference the model
    # (and its validator) is collected here and built again on the next answer.
    kept = weakref.ref(Response[_Sent])
    gc.collect()
    assert kept() is not None
    assert Response[_Sent] is kept()


def _channel() -> TelegramChannel:
    return TelegramChannel(cast(Any, None), cast(Any, None))


def test_a_keyboard_sent_again_is_the_same_object() -> None:
    channel = _channel()
    menu = [Choice("🔎 Tình trạng", "m:status"), Choice("📂 Hồ sơ", "m:dossier")]
    first = channel._inline_keyboard(menu, 1)
    assert channel._inline_keyboard(list(menu), 1) is first
    assert channel._inline_keyboard(menu, 2) is not first  # another layout is another keyboard
    assert [[button.callback_data for button in row] for row in first.inline_keyboard] == [["m:status"], ["m:dossier"]]


def test_a_keyboard_with_a_hashed_payload_is_built_each_time() -> None:
    channel = _channel()
    long = [Choice("Mục", "dos:" + "9" * CALLBACK_DATA_LIMIT)]
    first = channel._inline_keyboard(long, 1)
    again = channel._inline_keyboard(long, 1)
    assert again is not first
    data = first.inline_keyboard[0][0].callback_data
    assert data is not None and data.startswith("#")
    assert channel._long_payloads[data] == long[0].payload
