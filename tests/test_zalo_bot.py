"""The Zalo Bot Platform end to end: the fake Zalo server posts to our webhook server, the engine answers,
replies go back through the fake's ``sendMessage``. A producer finishes every conversation typing digits
and words only, and ends in the same database state as a console producer running the same script."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.app import App
from bot.channels.webhook import KeyedQueue, build_webhook_app, serve
from bot.channels.zalo_bot import TEXT_LIMIT, ZaloBotChannel, ZaloBotClient, parse_update
from bot.communes import find_communes
from bot.delivery import DeliveryError, RetryAfter, Unreachable
from bot.messages import AskFile, AskPhone, Choice, Inbound, Outbound, SendFile, Text
from bot.settings import Settings
from handlers import idea, onboarding
from storage.models import (
    ChannelIdentity,
    Conversation,
    Dossier,
    DossierItem,
    DossierItemFile,
    ProcessedUpdate,
    Producer,
    Product,
    ProductIdea,
    StoredFile,
    User,
)
from tests import files
from tests.chat import Chat
from tests.conftest import make_producer
from tests.fakes.zalo_bot_api import TOKEN, FakeZaloBotAPI

SECRET = "s3cret-webhook-token"
USER = "a1b2c3d4e5f6a7b8c9d0"


@dataclass
class Harness:
    api: FakeZaloBotAPI
    url: str
    queue: KeyedQueue
    channel: ZaloBotChannel

    async def post(self, update: dict[str, Any], *, secret: str | None = SECRET, wrap: bool = False) -> int:
        status = await self.api.post_webhook(self.url, update, secret, wrap=wrap)
        await asyncio.wait_for(self.queue.join(), 30)
        return status


def zalo_settings(settings: Settings, api: FakeZaloBotAPI, port: int) -> Settings:
    return settings.replaced(
        zalo_bot_token=SecretStr(TOKEN),
        zalo_api_base=api.base_url,
        zalo_webhook_secret=SecretStr(SECRET),
        webhook_host="127.0.0.1",
        webhook_port=port,
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeZaloBotAPI]:
    async with FakeZaloBotAPI() as fake:
        yield fake
        assert not fake.unknown_calls, f"the bot called methods the fake does not know: {fake.unknown_calls}"


@pytest.fixture
async def zalo(app: App, settings: Settings, api: FakeZaloBotAPI) -> AsyncIterator[Harness]:
    from tests.fakes.server import free_port

    port = free_port("127.0.0.1")
    config = zalo_settings(settings, api, port)
    client = ZaloBotClient(TOKEN, api.base_url)
    channel = ZaloBotChannel(app.engine, client, config)
    queue = KeyedQueue()
    web_app = build_webhook_app(config, queue, zalo_bot=channel)
    async with serve(web_app, "127.0.0.1", port):
        yield Harness(api, f"http://127.0.0.1:{port}/webhook/zalo-bot", queue, channel)
    await queue.close()
    await client.close()


# The same script on two channels --------------------------------------------------------------------------
class Person:
    """Someone who only types: words, and the number in front of the option they want."""

    async def type(self, text: str) -> None:
        raise NotImplementedError

    async def offered(self) -> list[str]:
        raise NotImplementedError

    async def photo(self, data: bytes) -> None:
        raise NotImplementedError

    async def pick(self, wanted: str | Callable[[str], bool]) -> None:
        payloads = await self.offered()
        matches = [i for i, p in enumerate(payloads) if (wanted(p) if callable(wanted) else p == wanted)]
        assert matches, f"{wanted!r} not offered; offered: {payloads}"
        await self.type(str(matches[0] + 1))


class ZaloPerson(Person):
    def __init__(self, app: App, harness: Harness, user: str) -> None:
        self.app, self.harness, self.user = app, harness, user

    async def type(self, text: str) -> None:
        assert await self.harness.post(self.harness.api.text(self.user, text)) == 200

    async def photo(self, data: bytes) -> None:
        assert await self.harness.post(self.harness.api.image(self.user, data)) == 200

    async def offered(self) -> list[str]:
        """What the engine offered last, in the order of the numbered list the user sees."""
        async with self.app.engine.sessions() as session:
            last = await session.scalar(
                select(Conversation.last_choices)
                .join(ChannelIdentity, ChannelIdentity.user_id == Conversation.user_id)
                .where(ChannelIdentity.external_id == self.user)
            )
        return [str(choice[1]) for choice in last or []]


class ConsolePerson(Person):
    def __init__(self, chat: Chat) -> None:
        self.chat = chat

    async def type(self, text: str) -> None:
        await self.chat.send(text)

    async def photo(self, data: bytes) -> None:
        await self.chat.send_file(data, "anh.jpg")

    async def offered(self) -> list[str]:
        return [choice.payload for choice in self.chat.choices]


async def registration_item(app: App, external_id: str) -> int:
    async with app.engine.sessions() as session:
        item_id = await session.scalar(
            select(DossierItem.id)
            .join(Dossier, Dossier.id == DossierItem.dossier_id)
            .join(Product, Product.id == Dossier.product_id)
            .join(Producer, Producer.id == Product.producer_id)
            .join(ChannelIdentity, ChannelIdentity.user_id == Producer.user_id)
            .where(ChannelIdentity.external_id == external_id, DossierItem.code == "registration_form")
        )
    assert item_id is not None
    return int(item_id)


async def whole_journey(app: App, person: Person, external_id: str, photo: bytes) -> None:
    """Onboarding → idea → dossier with a photo → status, by digits and words."""
    commune = find_communes("Lai Châu", "Bình Lư")[0].code
    await person.type("xin chao")
    await person.pick(onboarding.ConsentYes().pack())
    await person.type("0912 345 678")
    await person.pick("ob:kind:htx")
    await person.type("HTX Chè Tả Van")
    await person.type("binh lu")
    await person.pick(f"ob:commune:{commune}")
    # A product idea.
    await person.pick("m:idea")
    await person.type("Mật ong bạc hà")
    await person.pick(idea.PickGroup(group="food").pack())
    await person.type("Mật ong nguyên chất từ hoa bạc hà")
    await person.type("mat ong")
    await person.pick(idea.PickOrigin(origin=idea.ORIGIN_COMMUNE).pack())
    await person.type("12")
    await person.type("10")
    await person.pick(idea.TickMarket(option="local").pack())
    await person.pick(idea.MarketDone().pack())
    await person.pick(idea.NoSupport().pack())
    if idea.SupportDone().pack() in await person.offered():
        await person.pick(idea.SupportDone().pack())
    await person.pick(idea.Submit().pack())
    # A dossier for it, with a photo of the registration form.
    await person.pick("m:dossier")
    await person.pick(lambda payload: payload.startswith("dos:idea:"))
    await person.pick("dos:case:new")
    item = await registration_item(app, external_id)
    if f"dos:item:{item}" not in await person.offered():
        await person.pick("dos:req")
    await person.pick(f"dos:item:{item}")
    await person.photo(photo)
    await person.pick("dos:done")
    await person.type("menu")
    await person.type("kiem tra")


async def state_of(app: App, external_id: str) -> dict[str, Any]:
    """Everything the journey stored for one person, without ids and times."""
    async with app.engine.sessions() as session:
        user = await session.scalar(
            select(User).join(ChannelIdentity).where(ChannelIdentity.external_id == external_id)
        )
        assert user is not None
        producer = await session.scalar(select(Producer).where(Producer.user_id == user.id))
        assert producer is not None
        ideas = list(await session.scalars(select(ProductIdea).where(ProductIdea.producer_id == producer.id)))
        dossiers = list(
            await session.scalars(
                select(Dossier).join(Product).where(Product.producer_id == producer.id).order_by(Dossier.id)
            )
        )
        attached = list(
            await session.execute(
                select(DossierItem.code, StoredFile.sha256)
                .join(DossierItemFile, DossierItemFile.item_id == DossierItem.id)
                .join(StoredFile, StoredFile.id == DossierItemFile.stored_file_id)
                .where(DossierItem.dossier_id.in_([d.id for d in dossiers]))
            )
        )
        conversation = await session.get_one(Conversation, user.id)
    return {
        "user": (user.phone, user.consent_at is not None),
        "producer": (producer.kind, producer.name, producer.name_folded, producer.commune_code),
        "ideas": [
            (
                i.name,
                i.group_code,
                i.description,
                i.raw_materials,
                i.raw_material_origin,
                i.workers_total,
                i.workers_local,
                i.market,
                i.support_needed,
                i.status,
            )
            for i in ideas
        ],
        "dossiers": [(d.case, d.status, d.rule_set) for d in dossiers],
        "files": sorted((code, sha) for code, sha in attached),
        "flow": conversation.flow,
    }


async def test_a_producer_finishes_every_conversation_with_digits_and_words(
    app: App, zalo: Harness, settings: Settings
) -> None:
    photo = files.jpeg(7)
    await whole_journey(app, ZaloPerson(app, zalo, USER), USER, photo)
    await whole_journey(app, ConsolePerson(Chat(app.engine, "console-twin")), "console-twin", photo)

    on_zalo = await state_of(app, USER)
    assert on_zalo == await state_of(app, "console-twin")
    assert on_zalo["user"] == ("0912345678", True)
    assert on_zalo["producer"][0:2] == ("htx", "HTX Chè Tả Van")
    assert on_zalo["ideas"][0][0:2] == ("Mật ong bạc hà", "food")
    assert on_zalo["ideas"][0][5:7] == (12, 10)
    assert on_zalo["dossiers"] == [("new", "draft", "QD148_1489")]
    assert on_zalo["files"] == [("registration_form", hashlib.sha256(photo).hexdigest())]
    assert list(settings.ocop.files_dir.rglob(f"{hashlib.sha256(photo).hexdigest()}.*"))

    texts = zalo.api.texts_to(USER)
    assert all(1 <= len(text) <= TEXT_LIMIT for text in texts)
    assert any(re.search(r"^1\. ", text, re.MULTILINE) for text in texts)  # choices as a numbered list
    assert len(zalo.api.calls_of("sendChatAction")) >= 20  # "typing…" before each answer
    assert all(call.params["action"] == "typing" for call in zalo.api.calls_of("sendChatAction"))


async def test_wrapped_and_unwrapped_bodies_and_redelivery(app: App, zalo: Harness) -> None:
    await make_producer(app, USER, channel="zalo_bot")
    update = zalo.api.text(USER, "menu")
    assert await zalo.post(update, wrap=True) == 200
    first = len(zalo.api.texts_to(USER))
    assert first >= 1
    assert await zalo.post(update) == 200  # the same update again, unwrapped this time: handled once
    assert len(zalo.api.texts_to(USER)) == first
    async with app.engine.sessions() as session:
        ids = list(
            await session.scalars(select(ProcessedUpdate.update_id).where(ProcessedUpdate.channel == "zalo_bot"))
        )
    assert ids == [f"message.text.received:{USER}:{update['message']['message_id']}"]


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x"])
async def test_forged_webhooks_never_reach_the_engine(
    app: App, zalo: Harness, secret: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    assert await zalo.post(zalo.api.text(USER, "menu"), secret=secret) in (401, 403)
    assert zalo.api.texts_to(USER) == []
    async with app.engine.sessions() as session:
        assert await session.scalar(select(ChannelIdentity.id)) is None
        assert await session.scalar(select(ProcessedUpdate.update_id)) is None
    assert any("refused" in record.getMessage() for record in caplog.records)
    assert all(SECRET not in record.getMessage() for record in caplog.records)


async def test_sticker_and_withheld_content_get_a_line_and_the_menu(app: App, zalo: Harness) -> None:
    await make_producer(app, USER, channel="zalo_bot")
    await zalo.post(zalo.api.sticker(USER))
    texts = zalo.api.texts_to(USER)
    assert len(texts) >= 2 and re.search(r"^1\. ", texts[-1], re.MULTILINE)
    before = len(texts)
    await zalo.post(zalo.api.unsupported(USER))
    texts = zalo.api.texts_to(USER)
    assert len(texts) >= before + 2 and re.search(r"^1\. ", texts[-1], re.MULTILINE)


async def test_numbered_choice_reply_from_the_menu(app: App, zalo: Harness) -> None:
    await make_producer(app, USER, channel="zalo_bot")
    await zalo.post(zalo.api.text(USER, "menu"))
    person = ZaloPerson(app, zalo, USER)
    offered = await person.offered()
    assert offered[:2] == ["m:idea", "m:dossier"]
    await person.type("1")
    async with app.engine.sessions() as session:
        conversation = await session.scalar(select(Conversation))
    assert conversation is not None and conversation.flow == "idea"


async def test_polling_mode_gets_one_update_per_call(app: App, settings: Settings, api: FakeZaloBotAPI) -> None:
    await make_producer(app, USER, channel="zalo_bot")
    config = zalo_settings(settings, api, 0)
    client = ZaloBotClient(TOKEN, api.base_url)
    channel = ZaloBotChannel(app.engine, client, config)
    queue = KeyedQueue()
    stop = asyncio.Event()
    poller = asyncio.create_task(channel.poll(stop, lambda u: queue.put(channel.key(u), lambda: channel.process(u))))
    try:
        api.queue(api.text(USER, "menu"))
        api.queue(api.wrapped(api.text(USER, "1")))
        texts = await api.wait_for_texts(USER, 2, within=15)
        assert texts
        await asyncio.sleep(1.5)  # an empty poll (408) in between is not an error
        assert any(call.status == 408 for call in api.calls if call.method == "getUpdates")
    finally:
        stop.set()
        await asyncio.wait_for(poller, 10)
        await queue.close()
        await client.close()
    async with app.engine.sessions() as session:
        conversation = await session.scalar(select(Conversation))
    assert conversation is not None and conversation.flow == "idea"


# Rendering and delivery, without a database ---------------------------------------------------------------
def stub_channel(tmp_path: Path, base: str = "http://127.0.0.1:9") -> ZaloBotChannel:
    class NoEngine:
        async def handle(self, inbound: Inbound) -> list[Outbound]:
            return []

    settings = Settings(_env_file=None, ocop_data_dir=tmp_path, zalo_bot_token=SecretStr(TOKEN))
    return ZaloBotChannel(NoEngine(), ZaloBotClient(TOKEN, base), settings)


def test_rendering_numbers_choices_and_splits(tmp_path: Path) -> None:
    channel = stub_channel(tmp_path)
    long_text = "\n".join(f"dòng {n:04d} " + "x" * 60 for n in range(100))
    texts = channel.render(
        [
            Text("Chọn", (Choice("A", "a"), Choice("B", "b"))),
            AskPhone("Số điện thoại?", "📱", (Choice("⬅️", "back"),)),
            AskFile("Gửi ảnh"),
            SendFile(tmp_path / "x.pdf", "ho-so.pdf", "application/pdf", caption="Hồ sơ"),
            Text(long_text),
        ]
    )
    assert texts[0].splitlines()[-2:] == ["• A", "• B"]  # numbers belong to the last message's choices only
    assert "0912" in texts[1] and texts[1].splitlines()[-1] == "1. ⬅️"
    assert "📷" in texts[2]
    assert "ho-so.pdf" in texts[3] and "Hồ sơ" in texts[3]
    assert all(len(text) <= TEXT_LIMIT for text in texts)
    assert "\n".join(texts[4:]) == long_text


def test_parse_update_tolerates_both_shapes() -> None:
    body = {"event_name": "message.text.received", "message": {"from": {"id": "u"}, "message_id": "m", "text": "hi"}}
    assert parse_update(body) == parse_update({"ok": True, "result": body})
    assert parse_update({"ok": True, "result": None}) is None
    assert parse_update({"event_name": "x"}) is None


async def test_delivery_maps_errors(tmp_path: Path, api: FakeZaloBotAPI) -> None:
    channel = stub_channel(tmp_path, api.base_url)
    try:
        await channel.deliver("chat1", [Text("hello")])
        assert api.texts_to("chat1") == ["hello"]
        cases: Sequence[tuple[int, type[DeliveryError]]] = [(429, RetryAfter), (403, Unreachable), (500, DeliveryError)]
        for status, error in cases:
            api.fail_next("sendMessage", status)
            with pytest.raises(error):
                await channel.deliver("chat1", [Text("again")])
        api.fail_next("sendMessage", 429)
        with pytest.raises(RetryAfter) as raised:
            await channel.deliver("chat1", [Text("again")])
        assert raised.value.seconds > 0
    finally:
        await channel.client.close()


async def test_run_zalo_serves_the_webhook_and_polls_without_a_secret(
    app: App, settings: Settings, api: FakeZaloBotAPI
) -> None:
    import aiohttp

    from bot.channels.webhook import run_zalo
    from tests.fakes.server import free_port

    await make_producer(app, USER, channel="zalo_bot")
    port = free_port("127.0.0.1")
    config = zalo_settings(settings, api, port).replaced(zalo_webhook_secret=None)
    stop = asyncio.Event()
    running = asyncio.create_task(run_zalo(app, config, stop))
    try:
        api.queue(api.text(USER, "menu"))
        assert await api.wait_for_texts(USER, 1, within=15)
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/webhook/health") as response:
                assert response.status == 200
            async with session.post(f"http://127.0.0.1:{port}/webhook/zalo-bot", json={}) as response:
                assert response.status == 401  # no secret configured: the webhook accepts nothing
    finally:
        stop.set()
        await asyncio.wait_for(running, 15)


async def test_the_same_message_id_from_two_senders_is_two_messages(app: App, zalo: Harness) -> None:
    """Zalo's message ids are only known to be unique per sender: the ledger key carries the sender."""
    await make_producer(app, USER, channel="zalo_bot")
    other = "f" * 20
    await make_producer(app, other, channel="zalo_bot", name="HTX khác")
    first = zalo.api.text(USER, "menu")
    second = zalo.api.text(other, "menu")
    second["message"]["message_id"] = first["message"]["message_id"]
    assert await zalo.post(first) == 200 and await zalo.post(second) == 200
    assert zalo.api.texts_to(USER) and zalo.api.texts_to(other)


async def test_ids_and_display_names_are_capped(app: App, zalo: Harness) -> None:
    long_id = zalo.api.text("a" * 500, "xin chao")
    odd_id = zalo.api.text("a1b2'; drop table users;--", "xin chao")
    long_message = zalo.api.text(USER, "xin chao")
    long_message["message"]["message_id"] = "9" * 300
    for update in (long_id, odd_id, long_message):
        assert await zalo.post(update) == 400
    async with app.engine.sessions() as session:
        assert list(await session.scalars(select(ChannelIdentity.external_id))) == []

    huge = zalo.api.text(USER, "xin chao")
    huge["message"]["from"]["display_name"] = "Lò Văn Sáng\n\x00" + "A" * 500_000
    assert await zalo.post(huge) == 200
    async with app.engine.sessions() as session:
        name = await session.scalar(select(User.display_name))
    assert name is not None and name.startswith("Lò Văn Sáng A") and len(name) <= 100 and "\x00" not in name
