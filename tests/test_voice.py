"""Answers spoken instead of typed: a voice note answers the idea's descriptive questions on Telegram, Zalo Bot
and Zalo OA; wrong, oversized and too-long recordings and voice on a name or number step are refused in
Vietnamese with the same question again; the commune officer receives the recording with the idea."""

from __future__ import annotations

import json
import zipfile
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.channels.telegram import build_dispatcher, polling
from bot.menu_buttons import MenuIdea
from bot.messages import IncomingFile, SendFile, Text
from bot.notices import render
from bot.settings import Settings
from bot.voice import sniff_audio
from handlers import idea
from storage import staff, users
from storage.models import Conversation, OutboxMessage, ProductIdea, StoredFile, VoiceAnswer
from tests import audio, files, test_zalo_bot, test_zalo_oa
from tests.chat import Chat
from tests.conftest import make_producer
from tests.fakes.telegram_api import FakeBotAPI
from tests.staff_helpers import BINH_LU, commune_code, make_staff
from tests.test_journey_telegram import Phone, _telegram
from tests.test_zalo_bot import USER, Harness, ZaloPerson

PRODUCER, OFFICER = 8801, 8802
VOICE_LINE = "🎤 Trả lời bằng giọng nói (0:23)"

# The channel harnesses, used here as they are in their own test files.
api = test_zalo_bot.api
zalo = test_zalo_bot.zalo
fake = test_zalo_oa.fake
oa = test_zalo_oa.oa


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server
        assert not server.unknown_calls, server.unknown_calls


async def voice(chat: Chat, data: bytes) -> None:
    async def download() -> bytes:
        return data

    await chat.deliver(
        chat._inbound(file=IncomingFile(name=None, claimed_mime=None, size=len(data), download=download, voice=True))
    )


async def count(app: App, model: type[VoiceAnswer] | type[StoredFile]) -> int:
    async with app.engine.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def step_of(app: App) -> str | None:
    async with app.engine.sessions() as session:
        return await session.scalar(select(Conversation.step).where(Conversation.flow == "idea"))


async def to_description(chat: Chat) -> None:
    await chat.press(MenuIdea())
    await chat.send("Chè Shan tuyết")
    await chat.press(idea.PickGroup(group="drink"))


# Telegram, the whole way ------------------------------------------------------------------------------------
async def test_telegram_a_spoken_description_reaches_the_commune_officer(
    app: App, settings: Settings, bot_api: FakeBotAPI
) -> None:
    await make_producer(app, str(PRODUCER), channel="telegram")
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        officer, _identity = await users.identity_user(
            session,
            "telegram",
            str(OFFICER),
            chat_id=str(OFFICER),
            display_name="Cán bộ",
            locale="vi",
            now=now,
        )
        await staff.grant(
            session,
            user_id=officer.id,
            role="commune",
            province=settings.ocop.province,
            commune_code=commune_code(app, BINH_LU),
            granted_by=None,
            now=now,
        )
    recording = audio.ogg_opus(23)
    dispatcher, bot, channel = build_dispatcher(app.engine, _telegram(settings, bot_api))
    phone = Phone(bot_api, channel)
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        await phone.type("menu")
        await phone.tap("Đăng ký ý tưởng")
        # A voice note on the name question: politely refused, the question again, nothing kept.
        before = len(bot_api.replies_to(PRODUCER))
        bot_api.push_voice(PRODUCER, audio.ogg_opus(5, seed=1), duration=5)
        await phone._settle(before)
        assert "gõ hoặc chọn" in phone.last_text(2) and "tên" in phone.last_text(2)
        assert await count(app, VoiceAnswer) == 0
        await phone.type("Che Shan Tuyet")
        await phone.tap("Đồ uống")
        assert "tin nhắn thoại" in phone.last_text(1)
        before = len(bot_api.replies_to(PRODUCER))
        bot_api.push_voice(PRODUCER, recording, duration=23)
        await phone._settle(before)
        assert "Nguyên liệu chính" in phone.last_text(1)
        await phone.type("La che tuoi")
        await phone.tap("Trong xã")
        await phone.type("12")
        await phone.type("10")
        await phone.tap("Chợ địa phương")
        await phone.tap("Xong")
        await phone.tap("Bao bì")
        await phone.tap("Xong")
        assert VOICE_LINE in phone.last_text(1)
        await phone.tap("Gửi lên xã")

        async with app.engine.sessions() as session:
            stored = (await session.scalars(select(ProductIdea))).one()
            spoken = (await session.scalars(select(VoiceAnswer))).one()
            file = await session.get(StoredFile, spoken.stored_file_id)
        assert stored.description == VOICE_LINE
        assert (spoken.idea_id, spoken.field, spoken.seconds) == (stored.id, "description", 23)
        assert file is not None and file.mime == "audio/ogg"

        # The commune officer opens the idea and gets the recording itself, then the view with its buttons.
        officer_before = len(bot_api.replies_to(OFFICER))
        bot_api.push_callback(OFFICER, f"cr:i:{stored.id}")
        await bot_api.wait_for(lambda: len(bot_api.replies_to(OFFICER)) >= officer_before + 2)
        await channel.drain()
    sent = bot_api.replies_to(OFFICER)[officer_before:]
    documents = [call for call in sent if call.name == "senddocument"]
    assert len(documents) == 1 and documents[0].files["document"] == recording
    assert "Mô tả" in str(documents[0].params.get("caption")) and "0:23" in str(documents[0].params.get("caption"))
    view = str(sent[-1].params.get("text"))
    assert "Che Shan Tuyet" in view and VOICE_LINE in view


async def test_telegram_audio_files_are_voice_answers_too(app: App, settings: Settings, bot_api: FakeBotAPI) -> None:
    await make_producer(app, str(PRODUCER), channel="telegram")
    dispatcher, bot, channel = build_dispatcher(app.engine, _telegram(settings, bot_api))
    phone = Phone(bot_api, channel)
    async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
        await phone.type("menu")
        await phone.tap("Đăng ký ý tưởng")
        await phone.type("Mat ong")
        await phone.tap("Thực phẩm")
        before = len(bot_api.replies_to(PRODUCER))
        bot_api.push_audio(PRODUCER, audio.m4a(40), duration=40)
        await phone._settle(before)
    assert await step_of(app) == "materials"
    async with app.engine.sessions() as session:
        spoken = (await session.scalars(select(VoiceAnswer))).one()
    assert spoken.seconds == 40


# Refusals ---------------------------------------------------------------------------------------------------
async def test_wrong_long_and_big_recordings_are_refused_and_the_question_stays(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await to_description(chat)
    await voice(chat, files.pdf(1))
    assert "Không mở được đoạn ghi âm" in chat.text and "Mô tả" in chat.text
    await voice(chat, audio.mp3(200))
    assert "dài 3:20, tối đa là 3:00" in chat.text and "Mô tả" in chat.text
    await voice(chat, audio.adts_aac(1) + bytes(11 * 1024 * 1024))
    assert "quá lớn (tối đa 10 MB)" in chat.text
    assert await step_of(app) == "description"
    assert await count(app, VoiceAnswer) == 0 and await count(app, StoredFile) == 0


async def test_voice_on_a_number_step_is_refused_and_nothing_is_lost(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await to_description(chat)
    await voice(chat, audio.adts_aac(12))  # Zalo's raw AAC on the description
    await voice(chat, audio.m4a(30))  # a phone recorder's M4A on the raw materials
    await chat.press(idea.PickOrigin(origin=idea.ORIGIN_COMMUNE))
    await voice(chat, audio.mp3(10))  # "how many workers" takes a number: typed
    assert "gõ hoặc chọn" in chat.text and "bao nhiêu người" in chat.text
    assert await step_of(app) == "workers"
    await chat.send("5")
    await chat.send("3")
    await chat.press(idea.TickMarket(option="local"))
    await voice(chat, audio.ogg_opus(65))  # where it sells: ticks and a spoken note
    await chat.press(idea.NoSupport())
    summary = chat.text
    assert "🎤 Trả lời bằng giọng nói (0:12)" in summary and "(0:30)" in summary
    assert "Chợ địa phương, 🎤 Trả lời bằng giọng nói (1:05)" in summary
    assert await count(app, VoiceAnswer) == 3
    await chat.press(idea.Submit())
    async with app.engine.sessions() as session:
        placed = {row.field: row.seconds for row in await session.scalars(select(VoiceAnswer))}
    assert placed == {"description": 12, "materials": 30, "market": 65}


def test_types_come_from_the_bytes() -> None:
    assert sniff_audio(audio.ogg_opus(3)) == ("audio/ogg", "ogg")
    assert sniff_audio(audio.adts_aac(3)) == ("audio/aac", "aac")
    assert sniff_audio(audio.m4a(3)) == ("audio/mp4", "m4a")
    assert sniff_audio(audio.mp3(3)) == ("audio/mpeg", "mp3")
    assert sniff_audio(files.pdf(1)) is None and sniff_audio(files.png(1)) is None


# Zalo ---------------------------------------------------------------------------------------------------------
async def test_zalo_bot_voice_messages_answer_the_description(app: App, zalo: Harness) -> None:
    await make_producer(app, USER, channel="zalo_bot")
    person = ZaloPerson(app, zalo, USER)
    await person.type("menu")
    await person.pick(MenuIdea().pack())
    await person.type("Chè Shan tuyết")
    await person.pick(idea.PickGroup(group="drink").pack())
    assert await zalo.post(zalo.api.voice(USER, audio.adts_aac(23))) == 200
    assert await step_of(app) == "materials"
    async with app.engine.sessions() as session:
        spoken = (await session.scalars(select(VoiceAnswer))).one()
        file = await session.get(StoredFile, spoken.stored_file_id)
    assert spoken.seconds == 23 and file is not None and file.mime == "audio/aac"


async def test_zalo_oa_user_send_audio_answers_the_description(app: App, oa: test_zalo_oa.Harness) -> None:
    await make_producer(app, test_zalo_oa.USER, channel="zalo_oa")
    await oa.say(test_zalo_oa.USER, "menu")
    await oa.say(test_zalo_oa.USER, MenuIdea().pack())
    await oa.say(test_zalo_oa.USER, "Chè Shan tuyết")
    await oa.say(test_zalo_oa.USER, idea.PickGroup(group="drink").pack())
    event = oa.fake.attachment_event(test_zalo_oa.USER, "audio", audio.m4a(23), "voice.m4a", timestamp_ms=oa.ts())
    assert await oa.post(event) == 200
    assert await step_of(app) == "materials"
    assert await count(app, VoiceAnswer) == 1


# Other descriptive answers, and the producer's own copy -------------------------------------------------------
async def test_a_spoken_correction_reaches_the_commune_officer_with_the_recording(app: App) -> None:
    await make_producer(app, "p1")
    officer_id = await make_staff(app, "cb1", "commune", BINH_LU)
    chat = Chat(app.engine, "p1")
    await chat.send("du lieu cua toi")
    await chat.tap("Sửa")
    await chat.tap("Đề nghị xã")
    assert "tin nhắn thoại" in chat.text
    recording = audio.ogg_opus(9)
    await voice(chat, recording)
    assert "Đã gửi cho xã" in chat.text
    async with app.engine.sessions() as session:
        sent = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == officer_id)))
        spoken = (await session.scalars(select(VoiceAnswer))).one()
    assert [row.kind for row in sent] == ["privacy_correction", "privacy_correction_voice"]
    notice = render(sent[0].kind, sent[0].params, "vi")
    assert isinstance(notice, Text) and "🎤 Trả lời bằng giọng nói (0:09)" in notice.text
    file = render(sent[1].kind, sent[1].params, "vi")
    assert isinstance(file, SendFile) and file.path.read_bytes() == recording and "HTX" in (file.caption or "")
    assert spoken.field == "correction"
    # Erased before the notice went out: the officer is told so once, instead of a send that fails every time.
    file.path.unlink()
    gone = render(sent[1].kind, sent[1].params, "vi")
    assert isinstance(gone, Text) and "đã bị xóa theo yêu cầu" in gone.text


async def test_the_producers_recordings_are_in_their_data_zip(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await to_description(chat)
    recording = audio.adts_aac(14)
    await voice(chat, recording)
    await chat.send("huy")
    await chat.send("/privacy")
    await chat.tap("Tải")
    [sent] = [reply for reply in chat.replies if isinstance(reply, SendFile)]
    with zipfile.ZipFile(sent.path) as archive:
        data = json.loads(archive.read("du-lieu.json"))
        [listed] = data["voice_answers"]
        assert archive.read(listed["file"]) == recording
    assert listed["seconds"] == 14 and listed["file"].startswith("tep/giong-noi/")
