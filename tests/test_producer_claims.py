"""A producer imported from an office list (no chat account) is claimed by the person who starts the bot with
its phone; only the commune's confirmation moves it, with its products, certificates and queued reminders."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import product_import
from bot.app import App
from bot.callbacks import Button
from bot.messages import Text
from bot.notices import render
from handlers import onboarding
from handlers.review_buttons import ClaimButton, ConfirmClaim, OpenClaim, RefuseClaim, ShowQueue
from storage.models import ChannelIdentity, OutboxMessage, Producer, ProducerClaim
from tests.chat import Chat
from tests.conftest import make_producer
from tests.staff_helpers import BINH_LU, PHONG_THO, audit_log, in_session, make_staff, outbox, snapshot

PHONE = "0987654321"
HEADER = "Tên sản phẩm,Nhóm sản phẩm,Tên chủ thể,Loại chủ thể,Xã,Hạng sao,Số quyết định,Ngày quyết định,Số điện thoại"


async def _import(app: App, tmp_path: Path, *lines: str) -> None:
    path = tmp_path / "list.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")

    async def work(session: AsyncSession) -> None:
        result = await product_import.import_file(
            session, path, province=app.settings.ocop.province, now=app.engine.clock()
        )
        assert not result.rejected, result.rejected

    await in_session(app, work)


async def _imported(app: App, tmp_path: Path) -> tuple[int, int]:
    """One imported producer of Bình Lư with a 4★ certificate and a reminder queued; (producer id, its user)."""
    await _import(
        app,
        tmp_path,
        f"Chè Shan Tuyết Bình Lư,Đồ uống,HTX Chè Bình Lư,Hợp tác xã,Bình Lư,4,12/QĐ-UBND,10/06/2025,{PHONE}",
    )

    async def work(session: AsyncSession) -> tuple[int, int]:
        producer = await session.scalar(select(Producer).where(Producer.name == "HTX Chè Bình Lư"))
        assert producer is not None
        session.add(
            OutboxMessage(
                dedupe_key="cert:test:reminder",
                user_id=producer.user_id,
                kind="claim_confirmed",  # any rendered kind; what matters is whose row it is
                params={"producer": producer.name},
                not_before=app.engine.clock(),
            )
        )
        return producer.id, producer.user_id

    return await in_session(app, work)


async def _claimant_user(app: App, external_id: str = "newbie") -> int:
    async def work(session: AsyncSession) -> int:
        found = await session.scalar(select(ChannelIdentity.user_id).where(ChannelIdentity.external_id == external_id))
        assert found is not None
        return int(found)

    return await in_session(app, work)


async def _claims(app: App) -> list[ProducerClaim]:
    return list(await in_session(app, lambda s: s.scalars(select(ProducerClaim).order_by(ProducerClaim.id))))


async def _owner(app: App, producer_id: int) -> int:
    producer = await in_session(app, lambda s: s.get(Producer, producer_id))
    assert producer is not None
    return producer.user_id


async def _start_and_claim(app: App, external_id: str = "newbie") -> Chat:
    chat = Chat(app.engine, user_id=external_id)
    await chat.send("/start")
    await chat.press(onboarding.ConsentYes())
    await chat.share_phone("+84987654321")
    assert "HTX Chè Bình Lư" in chat.text and "Bình Lư" in chat.text
    await chat.press(next(c.payload for c in chat.choices if onboarding.ClaimProducer.matches(c.payload)))
    return chat


async def test_the_commune_confirms_and_everything_follows(app: App, tmp_path: Path) -> None:
    producer_id, imported_user = await _imported(app, tmp_path)
    chat = await _start_and_claim(app)
    assert [c.status for c in await _claims(app)] == ["pending"]
    assert await _owner(app, producer_id) == imported_user

    # A phone alone gives nothing: the claimant is still kept in registration, sees no product or certificate.
    for attempt in ("menu", "m:status", "m:dossier"):
        await (chat.press(attempt) if attempt.startswith("m:") else chat.send(attempt))
        assert "Chè Shan Tuyết" not in chat.text
    assert any(c.payload == onboarding.ClaimNew().pack() for c in chat.choices)

    await make_staff(app, "officer", "commune", BINH_LU, name="Cán bộ Bình Lư")
    officer = Chat(app.engine, user_id="officer")
    await officer.send("menu")
    assert any(c.payload == ShowQueue().pack() and "(1)" in c.label for c in officer.choices)
    await officer.press(ShowQueue())
    claim_id = (await _claims(app))[0].id
    assert (
        OpenClaim(claim=claim_id).pack() in [c.payload for c in officer.choices] and "HTX Chè Bình Lư" in officer.text
    )
    await officer.press(OpenClaim(claim=claim_id))
    assert PHONE in officer.text and "Chè Shan Tuyết Bình Lư" in officer.text
    await officer.press(ConfirmClaim(claim=claim_id))

    claimant = await _claimant_user(app)
    assert await _owner(app, producer_id) == claimant
    assert [n.dedupe_key for n in await outbox(app, imported_user)] == []
    assert "cert:test:reminder" in [n.dedupe_key for n in await outbox(app, claimant)]
    confirmed = [n for n in await outbox(app, claimant) if n.dedupe_key == f"claim:{claim_id}"]
    assert len(confirmed) == 1
    rendered = render(confirmed[0].kind, confirmed[0].params, "vi")
    assert isinstance(rendered, Text) and "HTX Chè Bình Lư" in rendered.text
    actions = [(e.action, e.before, e.after) for e in await audit_log(app) if e.action.startswith("producer.claim")]
    assert [a for a, _b, _after in actions] == ["producer.claim_request", "producer.claim_confirm"]
    assert actions[1][1] == {"claim": claim_id, "user_id": imported_user}
    assert actions[1][2] is not None and actions[1][2]["user_id"] == claimant

    # The claimant's next message lands in their menu; their calendar shows the imported certificate.
    await chat.send("xin chào")
    assert any(c.payload == "m:status" for c in chat.choices)
    await chat.send("/lich")
    assert "Chè Shan Tuyết Bình Lư" in chat.text

    # A second press changes nothing.
    before = await snapshot(app)
    await officer.press(ConfirmClaim(claim=claim_id))
    assert await snapshot(app) == before


async def test_not_me_goes_on_with_registration(app: App, tmp_path: Path) -> None:
    await _imported(app, tmp_path)
    chat = Chat(app.engine, user_id="newbie")
    await chat.send("/start")
    await chat.press(onboarding.ConsentYes())
    await chat.send("0987 654 321")
    await chat.send("khong")  # typed instead of pressed
    assert any(onboarding.PickKind.matches(c.payload) for c in chat.choices)
    assert await _claims(app) == []


async def test_a_claim_works_by_typed_number(app: App, tmp_path: Path) -> None:
    await _imported(app, tmp_path)
    chat = Chat(app.engine, user_id="newbie")
    await chat.send("/start")
    await chat.press(onboarding.ConsentYes())
    await chat.send(PHONE)
    await chat.send("1")  # the numbered list of Zalo Bot: 1 = "✅ Đúng"
    assert [c.status for c in await _claims(app)] == ["pending"]
    # /start later resumes the waiting step, never the registration of a second producer.
    await chat.send("/start")
    assert any(c.payload == onboarding.ClaimNew().pack() for c in chat.choices)


async def test_refused_claim_leaves_the_record_and_the_claimant_registers_anew(app: App, tmp_path: Path) -> None:
    producer_id, imported_user = await _imported(app, tmp_path)
    chat = await _start_and_claim(app)
    await make_staff(app, "officer", "commune", BINH_LU)
    officer = Chat(app.engine, user_id="officer")
    claim_id = (await _claims(app))[0].id
    await officer.press(RefuseClaim(claim=claim_id))
    assert [c.status for c in await _claims(app)] == ["refused"]
    assert await _owner(app, producer_id) == imported_user
    notices = [n for n in await outbox(app, await _claimant_user(app)) if n.kind == "claim_refused"]
    assert len(notices) == 1
    await chat.send("xin chào")
    assert any(onboarding.PickKind.matches(c.payload) for c in chat.choices)
    assert "producer.claim_refuse" in [e.action for e in await audit_log(app)]


async def test_register_instead_withdraws_the_claim(app: App, tmp_path: Path) -> None:
    await _imported(app, tmp_path)
    chat = await _start_and_claim(app)
    await chat.press(onboarding.ClaimNew())
    assert [c.status for c in await _claims(app)] == ["withdrawn"]
    assert any(onboarding.PickKind.matches(c.payload) for c in chat.choices)


async def test_two_producer_profiles_are_never_merged(app: App, tmp_path: Path) -> None:
    producer_id, imported_user = await _imported(app, tmp_path)
    await _start_and_claim(app)
    claimant = await _claimant_user(app)

    async def own_producer(session: AsyncSession) -> None:
        session.add(
            Producer(
                user_id=claimant,
                kind="hkd",
                name="Hộ Lò Văn A",
                name_folded="ho lo van a",
                commune_code=1,
                commune_name="Xã Bình Lư",
            )
        )

    await in_session(app, own_producer)
    await make_staff(app, "officer", "commune", BINH_LU)
    officer = Chat(app.engine, user_id="officer")
    await officer.press(ConfirmClaim(claim=(await _claims(app))[0].id))
    assert await _owner(app, producer_id) == imported_user
    assert [c.status for c in await _claims(app)] == ["refused"]


async def test_producers_with_a_chat_account_are_never_offered(app: App) -> None:
    await make_producer(app, "p1")  # phone 0912345678, a real chat account
    chat = Chat(app.engine, user_id="newbie")
    await chat.send("/start")
    await chat.press(onboarding.ConsentYes())
    await chat.send("0912345678")
    assert "HTX Chè Tả Van" not in chat.text
    assert any(onboarding.PickKind.matches(c.payload) for c in chat.choices)


@pytest.mark.parametrize("who", ["officer-y", "province", "admin", "claimant", "p1"])
async def test_nobody_else_decides_a_claim(app: App, tmp_path: Path, who: str) -> None:
    await _imported(app, tmp_path)
    await _start_and_claim(app, "claimant")
    await make_staff(app, "officer-y", "commune", PHONG_THO)
    await make_staff(app, "province", "province")
    await make_staff(app, "admin", "admin")
    await make_producer(app, "p1")
    claim_id = (await _claims(app))[0].id
    chat = Chat(app.engine, user_id=who)
    before = await snapshot(app)
    crafted = ("pc:y:999999", "pc:y:x", "pc:")  # an invented id and malformed strings
    pressed: tuple[ClaimButton | str, ...] = (
        OpenClaim(claim=claim_id),
        ConfirmClaim(claim=claim_id),
        RefuseClaim(claim=claim_id),
        *crafted,
    )
    for payload in pressed:
        replies = await chat.press(payload)
        assert replies, payload
        assert "HTX Chè Bình Lư" not in chat.text and PHONE not in chat.text
    assert await snapshot(app) == before
    assert [c.status for c in await _claims(app)] == ["pending"]


async def test_claims_stay_inside_the_commune_queue(app: App, tmp_path: Path) -> None:
    await _imported(app, tmp_path)
    await _start_and_claim(app)
    await make_staff(app, "officer-y", "commune", PHONG_THO)
    other = Chat(app.engine, user_id="officer-y")
    await other.press(ShowQueue())
    assert "HTX Chè Bình Lư" not in other.text
    assert not any(isinstance(Button.parse(c.payload), ClaimButton) for c in other.choices)


async def test_two_claims_on_one_producer_only_one_wins(app: App, tmp_path: Path) -> None:
    producer_id, _imported_user = await _imported(app, tmp_path)
    await _start_and_claim(app, "first")
    await _start_and_claim(app, "second")
    await make_staff(app, "officer", "commune", BINH_LU)
    officer = Chat(app.engine, user_id="officer")
    first_claim, second_claim = (c.id for c in await _claims(app))
    await officer.press(ConfirmClaim(claim=first_claim))
    assert await _owner(app, producer_id) == await _claimant_user(app, "first")
    assert [c.status for c in await _claims(app)] == ["confirmed", "refused"]
    second = await _claimant_user(app, "second")
    assert [n.kind for n in await outbox(app, second)] == ["claim_refused"]
    before = await snapshot(app)
    await officer.press(ConfirmClaim(claim=second_claim))
    assert await snapshot(app) == before
    assert await _owner(app, producer_id) == await _claimant_user(app, "first")


async def test_a_producer_moves_only_from_the_user_it_was_read_from(app: App, tmp_path: Path) -> None:
    """Two officers confirming two claims at once: the later transfer finds the producer moved and moves nothing."""
    from storage import claims

    producer_id, imported_user = await _imported(app, tmp_path)
    await _start_and_claim(app, "first")
    claim = (await _claims(app))[0]

    async def late(session: AsyncSession) -> bool:
        producer = await session.get(Producer, producer_id)
        assert producer is not None
        return await claims.transfer(session, producer, claim, imported_user + 1000, app.engine.clock())

    assert await in_session(app, late) is False
    assert await _owner(app, producer_id) == imported_user
    assert [c.status for c in await _claims(app)] == ["pending"]
