"""The Zalo OA end to end against a fake OA platform: signed events into our webhook server, buttons and the
phone card out; forged and replayed events refused; the single-use refresh token under concurrency; the
48-hour / 7-day window with an injected clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from sqlalchemy import select, update

from bot.app import App
from bot.channels import zalo_oa
from bot.channels.webhook import KeyedQueue, build_webhook_app, serve
from bot.channels.zalo_oa import OAEvent, TokenStore, ZaloOAChannel, signature_matches, window_of
from bot.communes import find_communes
from bot.delivery import OutsideWindow, Unreachable
from bot.messages import Inbound, Outbound, SendFile, Text
from bot.settings import Settings
from handlers import onboarding
from storage.models import ChannelIdentity, DossierItem, DossierItemFile, OAToken, ProcessedUpdate, User
from tests import files
from tests.chat import FrozenClock
from tests.conftest import make_producer
from tests.fakes.server import free_port
from tests.fakes.zalo_oa_api import APP_ID, APP_SECRET, OA_ID, OA_SECRET_KEY, FakeZaloOA
from tests.test_dossier import insert_idea, producer_id

CONSENT_PAYLOADS = [b.pack() for b in (onboarding.ConsentYes(), onboarding.ConsentNo(), onboarding.ConsentMore())]

USER = "2468458835296197922"


def oa_settings(settings: Settings, fake: FakeZaloOA, refresh_token: str, **extra: Any) -> Settings:
    return settings.replaced(
        zalo_oa_id=OA_ID,
        zalo_oa_app_id=APP_ID,
        zalo_oa_app_secret=SecretStr(APP_SECRET),
        zalo_oa_secret_key=SecretStr(OA_SECRET_KEY),
        zalo_oa_refresh_token=SecretStr(refresh_token),
        zalo_oa_api_base=fake.base_url,
        zalo_oauth_base=fake.base_url,
        zalo_zns_api_base=fake.base_url,
        **extra,
    )


@dataclass
class Harness:
    fake: FakeZaloOA
    url: str
    queue: KeyedQueue
    channel: ZaloOAChannel
    clock: FrozenClock
    http: aiohttp.ClientSession

    def ts(self, seconds_ago: float = 0) -> int:
        return int((self.clock() - dt.timedelta(seconds=seconds_ago)).timestamp() * 1000)

    async def post(self, event: dict[str, Any], *, signature: str | None = None) -> int:
        status = await self.fake.post_event(self.url, event, signature=signature)
        await asyncio.wait_for(self.queue.join(), 30)
        return status

    async def say(self, user: str, text: str) -> int:
        return await self.post(self.fake.text_event(user, text, timestamp_ms=self.ts()))

    def last_buttons(self, user: str) -> list[str]:
        for sent in reversed(self.fake.sent_to(user)):
            if sent.buttons:
                return [str(button["payload"]) for button in sent.buttons]
        return []

    def offered(self, user: str) -> list[str]:
        """Every button of the last reply (a long list comes in several messages of five)."""
        found: list[str] = []
        for sent in reversed(self.fake.sent_to(user)):
            if not sent.buttons:
                if found:
                    break
                continue
            found = [str(b["payload"]) for b in sent.buttons] + found
            if sent.text != "⬇️":
                break
        return found


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloOA]:
    async with FakeZaloOA() as server:
        yield server


@pytest.fixture
async def oa(app: App, settings: Settings, fake: FakeZaloOA, clock: FrozenClock) -> AsyncIterator[Harness]:
    _access, refresh = fake.issue_pair()
    config = oa_settings(settings, fake, refresh, zalo_zns_template_id=None)
    port = free_port("127.0.0.1")
    async with aiohttp.ClientSession() as http:
        channel = zalo_oa.build_channel(app.engine, app.engine.sessions, config, http, clock)
        queue = KeyedQueue()
        async with serve(build_webhook_app(config, queue, zalo_oa=channel), "127.0.0.1", port):
            yield Harness(fake, f"http://127.0.0.1:{port}/webhook/zalo-oa", queue, channel, clock, http)
        await queue.close()


async def test_onboarding_by_buttons_phone_card_and_a_file(app: App, oa: Harness) -> None:
    await oa.say(USER, "xin chào")
    assert oa.last_buttons(USER) == [
        onboarding.ConsentYes().pack(),
        onboarding.ConsentNo().pack(),
        onboarding.ConsentMore().pack(),
    ]
    await oa.say(USER, onboarding.ConsentYes().pack())  # an oa.query.show button sends its payload back as text
    assert any(sent.template_type == "request_user_info" for sent in oa.fake.sent_to(USER))
    await oa.post(oa.fake.submit_info(USER, "84912345678", timestamp_ms=oa.ts()))
    async with app.engine.sessions() as session:
        user = await session.scalar(select(User).join(ChannelIdentity).where(ChannelIdentity.external_id == USER))
        assert user is not None and user.phone == "0912345678"
    await oa.say(USER, "ob:kind:htx")
    await oa.say(USER, "HTX Chè Tả Van")
    await oa.say(USER, "binh lu")
    code = find_communes("Lai Châu", "Bình Lư")[0].code
    await oa.say(USER, f"ob:commune:{code}")
    assert "m:idea" in oa.offered(USER)
    assert all(len(sent.buttons) <= 5 for sent in oa.fake.sent)

    owner = await producer_id(app)
    idea_id = await insert_idea(app, owner)
    await oa.say(USER, "m:dossier")
    await oa.say(USER, f"dos:idea:{idea_id}")
    await oa.say(USER, "dos:case:new")
    async with app.engine.sessions() as session:
        item = await session.scalar(select(DossierItem.id).where(DossierItem.code == "registration_form"))
    await oa.say(USER, f"dos:item:{item}")
    pdf = files.pdf(3)
    await oa.post(oa.fake.attachment_event(USER, "file", pdf, "phieu.pdf", timestamp_ms=oa.ts()))
    await oa.say(USER, "dos:done")
    async with app.engine.sessions() as session:
        attached = await session.scalar(select(DossierItemFile.original_name).where(DossierItemFile.item_id == item))
    assert attached == "phieu.pdf"


async def test_a_typed_payload_that_was_not_offered_is_text(app: App, oa: Harness) -> None:
    await make_producer(app, USER, channel="zalo_oa")
    await oa.say(USER, "menu")
    inbound = await oa.channel.inbound_for(OAEvent(oa.fake.text_event(USER, "m:idea")))
    assert inbound is not None and inbound.payload == "m:idea" and inbound.text is None
    inbound = await oa.channel.inbound_for(OAEvent(oa.fake.text_event(USER, "dos:submit")))
    assert inbound is not None and inbound.payload is None and inbound.text == "dos:submit"
    # After a restart the offered buttons come from the conversation row.
    fresh = ZaloOAChannel(app.engine, app.engine.sessions, oa.channel.settings, oa.channel.client, oa.clock)
    inbound = await fresh.inbound_for(OAEvent(oa.fake.text_event(USER, "m:idea")))
    assert inbound is not None and inbound.payload == "m:idea"


async def test_forged_stale_and_replayed_events_never_reach_the_engine(app: App, oa: Harness) -> None:
    event = oa.fake.text_event(USER, "menu", timestamp_ms=oa.ts())
    assert await oa.post(event, signature="mac=" + "0" * 64) == 401
    assert await oa.post(event, signature="") == 401
    stale = oa.fake.text_event(USER, "menu", timestamp_ms=oa.ts(seconds_ago=600))
    assert await oa.post(stale) == 403
    async with app.engine.sessions() as session:
        assert await session.scalar(select(ChannelIdentity.id)) is None
    assert oa.fake.sent == []

    raw = json.dumps(event, ensure_ascii=False).encode()
    plain = oa.fake.sign(raw, str(event["timestamp"]), prefix=False)
    assert signature_matches(plain, APP_ID, raw, str(event["timestamp"]), OA_SECRET_KEY)
    assert await oa.post(event) == 200
    sent = len(oa.fake.sent)
    assert sent >= 1
    assert await oa.post(event) == 200  # Zalo's retry, or a replay within the window: acknowledged, dropped
    assert len(oa.fake.sent) == sent
    async with app.engine.sessions() as session:
        rows = list(await session.scalars(select(ProcessedUpdate.update_id)))
    assert rows == [f"user_send_text:{event['message']['msg_id']}"]


async def test_follow_and_unfollow_mark_the_identity(app: App, oa: Harness) -> None:
    await make_producer(app, USER, channel="zalo_oa")
    await oa.post({**oa.fake.follow(USER, follow=False), "timestamp": str(oa.ts())})

    async def active() -> bool:
        async with app.engine.sessions() as session:
            return bool(await session.scalar(select(ChannelIdentity.active)))

    assert not await active()
    with pytest.raises(Unreachable):
        await oa.channel.deliver(USER, [Text("hello")])
    await oa.post({**oa.fake.follow(USER), "timestamp": str(oa.ts(1))})
    assert await active()


async def test_two_refreshers_spend_the_refresh_token_once(
    app: App, settings: Settings, fake: FakeZaloOA, clock: FrozenClock
) -> None:
    _access, refresh = fake.issue_pair()
    config = oa_settings(settings, fake, refresh)
    fake.refresh_delay = 0.3  # both arrive while the first refresh is in flight
    async with aiohttp.ClientSession() as http:
        first = TokenStore(app.engine.sessions, config, http, clock)  # as if two processes
        second = TokenStore(app.engine.sessions, config, http, clock)
        tokens = await asyncio.gather(first.access_token(), second.access_token())
    assert tokens[0] == tokens[1] and tokens[0] in fake.access_tokens
    assert fake.refresh_calls == 1
    async with app.engine.sessions() as session:
        row = await session.get_one(OAToken, OA_ID)
    assert row.refresh_token in fake.refresh_tokens and row.refresh_token != refresh
    assert row.access_token == tokens[0]

    # Near expiry, the next use refreshes again, before the API would refuse.
    clock.advance(seconds=fake.expires_in - 300)
    async with aiohttp.ClientSession() as http:
        newer = await TokenStore(app.engine.sessions, config, http, clock).access_token()
    assert newer != tokens[0] and fake.refresh_calls == 2


async def test_refused_access_token_is_refreshed_once_and_the_send_retried(app: App, oa: Harness) -> None:
    await make_producer(app, USER, channel="zalo_oa")
    await oa.channel.deliver(USER, [Text("one")])
    assert oa.fake.refresh_calls == 1
    oa.fake.expire_access_tokens()  # revoked early: the API answers -216
    await oa.channel.deliver(USER, [Text("two")])
    assert oa.fake.refresh_calls == 2
    assert [sent.text for sent in oa.fake.sent_to(USER)] == ["one", "two"]


async def test_window_rules_with_an_injected_clock(app: App, oa: Harness, clock: FrozenClock) -> None:
    await make_producer(app, USER, channel="zalo_oa")  # last_seen_at = now
    seen = clock()
    assert window_of(seen, clock()) == "free"
    clock.advance(days=3)
    assert window_of(seen, clock()) == "paid"
    await oa.channel.deliver(USER, [Text("still inside 7 days")])
    assert oa.fake.sent_to(USER)[-1].text == "still inside 7 days"

    clock.advance(days=5)  # 8 days since the user last wrote
    assert window_of(seen, clock()) == "closed"
    with pytest.raises(OutsideWindow) as refused:
        await oa.channel.deliver(USER, [Text("too late")])
    assert "7 days" in str(refused.value)
    assert oa.fake.sent_to(USER)[-1].text == "still inside 7 days"

    # With a ZNS template, the reminder goes to the phone instead.
    oa.channel.settings = oa.channel.settings.replaced(zalo_zns_template_id="231456")
    await oa.channel.deliver(USER, [Text("nhắc hạn nộp hồ sơ")])
    assert oa.fake.zns[-1]["phone"] == "84912345678" and oa.fake.zns[-1]["template_id"] == "231456"
    assert oa.fake.zns[-1]["template_data"]["message"] == "nhắc hạn nộp hồ sơ"


async def test_platform_refusing_the_window_is_outside_window(app: App, oa: Harness) -> None:
    await make_producer(app, USER, channel="zalo_oa")
    oa.fake.closed_window.add(USER)  # Zalo counts differently from us: its -230 wins
    with pytest.raises(OutsideWindow):
        await oa.channel.deliver(USER, [Text("hello")])
    async with app.engine.sessions() as session:
        await session.execute(update(ChannelIdentity).values(last_seen_at=None))
        await session.commit()
    with pytest.raises(OutsideWindow):
        await oa.channel.deliver(USER, [Text("hello")])


async def test_files_are_uploaded_and_sent(app: App, oa: Harness, tmp_path: Any) -> None:
    await make_producer(app, USER, channel="zalo_oa")
    photo = tmp_path / "anh.png"
    photo.write_bytes(files.png(1))
    pdf = tmp_path / "qd.pdf"
    pdf.write_bytes(files.pdf(1))
    big = tmp_path / "big.zip"
    big.write_bytes(b"PK" + b"0" * 100)
    await oa.channel.deliver(
        USER,
        [
            SendFile(photo, "anh.png", "image/png", caption="Ảnh"),
            SendFile(pdf, "qd.pdf", "application/pdf"),
            SendFile(big, "big.zip", "application/zip"),
        ],
    )
    assert [kind for kind, _name, _data in oa.fake.uploads] == ["image", "file"]
    sent = oa.fake.sent_to(USER)
    assert sent[0].text == "Ảnh" and sent[1].template_type == "media"
    assert sent[2].message["attachment"]["type"] == "file"
    assert "big.zip" in sent[3].text


async def test_debug_logs_never_show_tokens_or_phone_numbers(
    app: App, oa: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """LOG_LEVEL=DEBUG logs every SQL statement; the bound values (OA tokens, phones) must not come with it."""
    caplog.set_level(logging.DEBUG)
    # An operator who turns on SQLAlchemy's statement log sees the statements, not the values.
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    seeded = oa.channel.settings.zalo.oa.refresh_token
    assert seeded is not None
    await oa.say(USER, "xin chào")
    await oa.say(USER, onboarding.ConsentYes().pack())  # the first send rotates the seeded token pair
    await oa.post(oa.fake.submit_info(USER, "84987654321", timestamp_ms=oa.ts()))
    oa.fake.expire_access_tokens()  # and a second rotation, forced by the API refusing the token
    await oa.say(USER, "ob:kind:htx")
    async with app.engine.sessions() as session:
        row = await session.get_one(OAToken, OA_ID)
        phone = await session.scalar(select(User.phone).where(User.phone.is_not(None)))
    assert oa.fake.refresh_calls == 2 and phone == "0987654321"
    logged = caplog.text
    assert "SELECT" in logged and "UPDATE oa_tokens" in logged  # the SQL itself is logged…
    secrets = {seeded.get_secret_value(), row.access_token, row.refresh_token, *oa.fake.refresh_tokens}
    for secret in secrets:
        assert secret not in logged  # …but never a token
    assert "987654321" not in logged  # nor the phone, in any form


async def test_an_event_is_seen_only_once_processed_and_the_memory_survives_a_restart(app: App, oa: Harness) -> None:
    await make_producer(app, USER, channel="zalo_oa")
    real = oa.channel.engine

    class FailingOnce:
        def __init__(self) -> None:
            self.failed = False

        async def handle(self, inbound: Inbound) -> list[Outbound]:
            if not self.failed:
                self.failed = True
                raise RuntimeError("the database went away")
            return await real.handle(inbound)

    oa.channel.engine = FailingOnce()
    event = oa.fake.text_event(USER, "menu", timestamp_ms=oa.ts())
    assert await oa.post(event) == 200  # acknowledged, but processing failed
    assert oa.fake.sent_to(USER) == []
    assert await oa.post(event) == 200  # Zalo's retry is processed, not dropped as seen
    assert oa.fake.sent_to(USER)

    # Follow, unfollow, then a restart and a replay of the old "follow": the unfollow stands.
    follow = {**oa.fake.follow(USER), "timestamp": str(oa.ts(2))}
    assert await oa.post(follow) == 200
    assert await oa.post({**oa.fake.follow(USER, follow=False), "timestamp": str(oa.ts(1))}) == 200
    restarted = ZaloOAChannel(real, app.engine.sessions, oa.channel.settings, oa.channel.client, oa.clock)
    assert (
        await restarted.accept(
            json.dumps(follow).encode(), oa.fake.sign(json.dumps(follow).encode(), follow["timestamp"])
        )
    ).reason == "seen before"
    await restarted.process(OAEvent(follow))
    async with app.engine.sessions() as session:
        assert await session.scalar(select(ChannelIdentity.active)) is False
        ledger = set(await session.scalars(select(ProcessedUpdate.update_id)))
    assert f"follow:{USER}:{follow['timestamp']}" in ledger


async def test_oa_ids_that_we_could_not_store_are_refused(app: App, oa: Harness) -> None:
    assert await oa.post(oa.fake.text_event("9" * 300, "xin chao", timestamp_ms=oa.ts())) == 400
    event = oa.fake.text_event(USER, "xin chao", timestamp_ms=oa.ts())
    event["message"]["msg_id"] = "x" * 500
    assert await oa.post(event) == 400
    async with app.engine.sessions() as session:
        assert await session.scalar(select(ChannelIdentity.id)) is None
