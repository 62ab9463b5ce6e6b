"""Personal data rights (Law 91/2025/QH15) through the engine, on SQLite and PostgreSQL: versioned consent,
🔒 My data (see, download, correct, delete), the deletion carried out by the sweep with an injected clock,
legal holds, retention, the command line."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from argparse import Namespace
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import privacy_cli
from bot.app import App
from bot.messages import SendFile
from bot.notices import render
from bot.privacy_sweep import after_privacy_sweep, privacy_sweep
from bot.rules import CONSENT_VERSION, DossierStatus, IdeaStatus
from bot.sender import Sender
from handlers.onboarding import ConsentYes
from handlers.review_buttons import OpenDossier
from storage.models import (
    AuditEntry,
    Certificate,
    ChannelIdentity,
    ConsentRecord,
    Conversation,
    CouncilResult,
    Dossier,
    DossierItem,
    DossierItemFile,
    OutboxMessage,
    PrivacyRequest,
    Producer,
    Product,
    ProductIdea,
    StoredFile,
    User,
)
from tests.chat import Chat, FrozenClock
from tests.conftest import make_producer
from tests.reminder_data import RecordingDelivery
from tests.staff_helpers import in_session, make_dossier, make_idea, make_staff

DECISION = "245/QĐ-UBND"


async def certify(app: App, dossier_id: int) -> None:
    """The province's council scored the dossier 4★ and the certificate was issued."""
    now = app.engine.clock()

    async def work(session: AsyncSession) -> None:
        dossier = await session.get_one(Dossier, dossier_id)
        dossier.status = DossierStatus.CERTIFIED_4.value
        session.add(
            CouncilResult(
                dossier_id=dossier_id,
                points_a=35,
                points_b=20,
                points_c=25,
                mandatory_ok=True,
                total=80,
                stars=4,
                rule_set=dossier.rule_set,
                recorded_at=now,
            )
        )
        issued = now.date()
        session.add(
            Certificate(
                product_id=dossier.product_id,
                dossier_id=dossier_id,
                stars=4,
                decision_no=DECISION,
                issued_on=issued,
                expires_on=issued + dt.timedelta(days=1095),
            )
        )

    await in_session(app, work)


async def count(app: App, model: Any, *where: Any) -> int:
    async def work(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return await in_session(app, work)


async def sweep_privacy(app: App) -> None:
    async with app.engine.sessions() as session, session.begin():
        result = await privacy_sweep(session, app.settings, app.engine.clock())
    await after_privacy_sweep(app.settings, result, app.engine.clock())


async def send_outbox(app: App, clock: FrozenClock, channel: str) -> RecordingDelivery:
    """What the sender delivers now (quiet hours off): the notices people actually receive."""
    delivery = RecordingDelivery(channel=channel)
    settings = app.settings.replaced(ocop_quiet_start=dt.time(0, 0), ocop_quiet_end=dt.time(0, 0))
    await Sender(app.engine.sessions, settings, {channel: delivery}, clock=clock).run_once()
    return delivery


async def user_of(app: App, external_id: str) -> User:
    async def work(session: AsyncSession) -> User:
        found = await session.scalar(
            select(User).join(ChannelIdentity).where(ChannelIdentity.external_id == external_id)
        )
        assert found is not None
        return found

    return await in_session(app, work)


# Consent ---------------------------------------------------------------------------------------------------------
async def test_the_consent_names_the_2025_law_and_the_controller_and_is_recorded_with_its_version(
    app: App, chat: Chat
) -> None:
    await chat.send("xin chao")
    assert "91/2025/QH15" in chat.text and "Nghị định 13" not in chat.text
    assert f"OCOP tỉnh {app.settings.ocop.province}" in chat.text
    assert "24 tháng" in chat.text and "du lieu cua toi" in chat.text
    await chat.tap("Xem thêm")
    assert "72 giờ" in chat.text and "Im lặng không phải là đồng ý" in chat.text
    await chat.press(ConsentYes())
    assert "Số điện thoại" in chat.text
    user = await user_of(app, "u1")
    assert user.consent_version == CONSENT_VERSION
    records = await in_session(app, lambda s: _all(s, ConsentRecord))
    assert [(r.version, r.decision, r.channel) for r in records] == [(CONSENT_VERSION, "agreed", "console")]


async def _all(session: AsyncSession, model: Any) -> list[Any]:
    return list(await session.scalars(select(model)))


async def test_a_new_consent_text_is_asked_again_at_the_next_message(app: App) -> None:
    user_id = await make_producer(app, "p1")

    async def old_version(session: AsyncSession) -> None:
        user = await session.get_one(User, user_id)
        user.consent_version = "2023-13"  # agreed under Decree 13/2023

    await in_session(app, old_version)
    chat = Chat(app.engine, "p1")
    await chat.send("menu")
    assert "đã thay đổi" in chat.text and "91/2025/QH15" in chat.text
    assert "👋" not in chat.text  # a registered producer is not greeted as a stranger
    await chat.press(ConsentYes())
    assert "Bạn muốn làm gì?" in chat.text
    assert (await user_of(app, "p1")).consent_version == CONSENT_VERSION


async def test_refusing_keeps_nothing_not_even_the_name_the_app_gave(app: App) -> None:
    from bot.messages import Inbound

    async def send(text: str, update: str) -> None:
        await app.engine.handle(Inbound("console", "u9", update, chat_id="u9", text=text, display_name="Lò Văn Minh"))

    await send("xin chao", "a1")
    assert (await user_of(app, "u9")).display_name == "Lò Văn Minh"
    await send("khong dong y", "a2")
    await send("xin chao", "a3")
    user = await user_of(app, "u9")
    assert user.display_name is None and user.phone is None and user.consent_at is None
    assert await count(app, ConsentRecord) == 0


# See and download ------------------------------------------------------------------------------------------------
async def _producer_with_records(app: App) -> tuple[int, int, int]:
    user_id = await make_producer(app, "p1")
    idea_id = await make_idea(app, user_id, name="Mật ong bạc hà")
    dossier_id = await make_dossier(app, user_id, product="Chè Tả Van")
    return user_id, idea_id, dossier_id


async def test_see_lists_what_is_kept_and_the_staff_who_opened_it(app: App) -> None:
    _user_id, _idea, dossier_id = await _producer_with_records(app)
    await make_staff(app, "cb1", "commune", "Bình Lư", name="Nguyễn Văn Cán")
    officer = Chat(app.engine, "cb1")
    await officer.press(OpenDossier(dossier=dossier_id))
    assert await count(app, AuditEntry, AuditEntry.action == "personal_data.read") == 1
    await officer.press(OpenDossier(dossier=dossier_id))  # the same officer again within the hour: one line is enough
    assert await count(app, AuditEntry, AuditEntry.action == "personal_data.read") == 1

    producer = Chat(app.engine, "p1")
    await producer.send("du lieu cua toi")
    await producer.tap("Xem")
    text = producer.text
    assert "0912345678" in text and "HTX Chè Tả Van" in text and "Mật ong bạc hà" in text and "Chè Tả Van" in text
    assert "Ý tưởng: 1" in text and "Hồ sơ: 1" in text and "Tệp: 1" in text
    assert "Cán bộ xã — Xã Bình Lư (Nguyễn Văn Cán)" in text


async def test_the_downloaded_zip_opens_and_holds_everything_the_summary_showed(app: App) -> None:
    _user_id, _idea, _dossier = await _producer_with_records(app)
    chat = Chat(app.engine, "p1")
    await chat.send("/privacy")
    await chat.tap("Tải")
    sent = [r for r in chat.replies if isinstance(r, SendFile)]
    assert len(sent) == 1 and sent[0].mime == "application/zip"
    with zipfile.ZipFile(sent[0].path) as archive:
        names = archive.namelist()
        data = json.loads(archive.read("du-lieu.json"))
        book = load_workbook(io.BytesIO(archive.read("du-lieu.xlsx")))
        files = [n for n in names if n.startswith("tep/")]
        assert archive.testzip() is None
    assert data["profile"]["phone"] == "0912345678"
    assert data["producer"]["name"] == "HTX Chè Tả Van"
    assert [i["name"] for i in data["ideas"]] == ["Mật ong bạc hà"]
    assert [d["product"] for d in data["dossiers"]] == ["Chè Tả Van"]
    assert len(files) == 1 and files[0].endswith(".png")
    listed = [f["file"] for d in data["dossiers"] for item in d["items"] for f in item["files"]]
    assert listed == files
    assert {"profile", "ideas", "dossiers", "staff_reads"} <= set(book.sheetnames)
    assert book["ideas"]["B2"].value == "Mật ong bạc hà" or "Mật ong bạc hà" in [c.value for c in book["ideas"][2]]
    # The summary said the same.
    await chat.tap("Xem")
    assert "Ý tưởng: 1" in chat.text and "Hồ sơ: 1" in chat.text and f"Tệp: {len(files)}" in chat.text


async def test_a_zip_larger_than_the_channel_carries_is_split_into_parts_that_each_open(tmp_path: Path) -> None:
    from bot import export

    sources = []
    for n in range(3):
        path = tmp_path / f"f{n}.bin"
        path.write_bytes(bytes([n]) * 4000)
        sources.append(export.HeldFile(path=path, name=f"tep/f{n}.bin", size=4000))
    parts = export.build_zip({"ideas": []}, sources, tmp_path / "out", "du-lieu", part_bytes=9000)
    assert len(parts) >= 2
    inside = []
    for part in parts:
        with zipfile.ZipFile(part) as archive:
            inside += archive.namelist()
    assert sorted(n for n in inside if n.startswith("tep/")) == [s.name for s in sources]
    assert inside.count("du-lieu.json") == 1


# Correct ---------------------------------------------------------------------------------------------------------
async def test_a_correction_of_a_submitted_record_goes_to_the_commune(app: App) -> None:
    await _producer_with_records(app)
    officer_id = await make_staff(app, "cb1", "commune", "Bình Lư")
    chat = Chat(app.engine, "p1")
    await chat.send("du lieu cua toi")
    await chat.tap("Sửa")
    await chat.tap("Đề nghị xã")
    await chat.send("Số lao động là 15, không phải 12")
    assert "Đã gửi cho xã" in chat.text
    rows = await in_session(app, lambda s: _all(s, OutboxMessage))
    notice = next(r for r in rows if r.user_id == officer_id)
    assert notice.kind == "privacy_correction" and "15" in notice.params["text"]
    text = render(notice.kind, notice.params, "vi")
    assert "HTX Chè Tả Van" in text.text and "0912345678" in text.text  # type: ignore[union-attr]


async def test_correct_offers_the_profile_editor(app: App) -> None:
    await make_producer(app, "p1")
    chat = Chat(app.engine, "p1")
    await chat.send("/privacy")
    await chat.tap("Sửa")
    await chat.tap("Đổi thông tin")
    assert "Thông tin hiện tại của bạn" in chat.text


# Withdraw and delete ---------------------------------------------------------------------------------------------
async def test_xoa_du_lieu_leads_to_a_receipt_and_after_the_deadline_nothing_personal_is_left(
    app: App, clock: FrozenClock
) -> None:
    user_id, _idea, certified_dossier = await _producer_with_records(app)
    await certify(app, certified_dossier)
    draft = await make_dossier(app, user_id, product="Mật ong", status=DossierStatus.DRAFT, seed=7)
    admin_id = await make_staff(app, "ad1", "admin")
    draft_blob = await in_session(
        app,
        lambda s: s.scalar(
            select(StoredFile.path)
            .join(DossierItemFile, DossierItemFile.stored_file_id == StoredFile.id)
            .join(DossierItem, DossierItem.id == DossierItemFile.item_id)
            .where(DossierItem.dossier_id == draft)
        ),
    )
    draft_file = app.settings.ocop.files_dir / str(draft_blob)
    assert draft_file.is_file()

    chat = Chat(app.engine, "p1")
    await chat.send("xoa du lieu")
    await chat.tap("Rút đồng ý")
    assert "72 giờ" in chat.text and "Giấy chứng nhận" in chat.text
    await chat.tap("Có, xóa")
    assert "Biên nhận số 1" in chat.text and "02/03/2026" in chat.text and "05/03/2026" in chat.text
    request = (await in_session(app, lambda s: _all(s, PrivacyRequest)))[0]
    assert request.status == "open"
    assert _utc(request.due_at) == clock.now + dt.timedelta(hours=72)
    assert (await user_of(app, "p1")).consent_at is None
    admin_notices = await in_session(app, lambda s: _all_where(s, OutboxMessage, OutboxMessage.user_id == admin_id))
    assert [n.kind for n in admin_notices] == ["privacy_request_staff"]

    # Meanwhile every message gets the receipt again.
    await chat.send("menu")
    assert "Biên nhận số 1" in chat.text

    # Not yet due: nothing happens.
    clock.advance(hours=12)
    await sweep_privacy(app)
    assert await count(app, ChannelIdentity, ChannelIdentity.user_id == user_id) == 1

    # Past the deadline.
    clock.advance(hours=61)
    await sweep_privacy(app)
    told = await in_session(app, lambda s: _all_where(s, OutboxMessage, OutboxMessage.kind == "privacy_erased"))
    assert len(told) == 1
    assert await count(app, ChannelIdentity, ChannelIdentity.user_id == user_id) == 1  # to tell them
    delivery = await send_outbox(app, clock, "console")
    text = next(text for chat_id, text in delivery.sent if chat_id == "p1")
    assert "Chè Tả Van" in text and DECISION in text and "4★" in text and "Tỉnh phải lưu" in text
    await sweep_privacy(app)

    async def left(session: AsyncSession) -> dict[str, Any]:
        user = await session.get(User, user_id)
        return {
            "user": (user.phone, user.display_name, user.consent_at, user.erased_at is not None) if user else None,
            "identities": await session.scalar(select(func.count()).select_from(ChannelIdentity)),
            "conversation": await session.get(Conversation, user_id),
            "consents": await session.scalar(select(func.count()).select_from(ConsentRecord)),
            "ideas": await session.scalar(select(func.count()).select_from(ProductIdea)),
            "dossiers": [d.id for d in await session.scalars(select(Dossier))],
            "products": [p.name for p in await session.scalars(select(Product))],
            "producer": [(p.name, p.commune_name) for p in await session.scalars(select(Producer))],
            "certificates": [(c.decision_no, c.stars) for c in await session.scalars(select(Certificate))],
            "files": [(f.original_name, f.uploaded_by) for f in await session.scalars(select(DossierItemFile))],
            "request": (await session.get_one(PrivacyRequest, request.id)).status,
            "user_outbox": await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.user_id == user_id)
            ),
        }

    state = await in_session(app, left)
    assert state["user"] == (None, None, None, True)
    assert state["identities"] == 1  # the admin's, not the producer's
    assert state["conversation"] is None and state["consents"] == 0 and state["ideas"] == 0
    assert state["dossiers"] == [certified_dossier]
    assert state["products"] == ["Chè Tả Van"]
    assert state["producer"] == [("HTX Chè Tả Van", "Xã Bình Lư")]
    assert state["certificates"] == [(DECISION, 4)]
    assert state["files"] == [(None, None)]  # the certificate's evidence, without who sent it or its name
    assert state["request"] == "done" and state["user_outbox"] == 0
    assert not draft_file.exists()
    # The audit log says that it happened, never what.
    entries = await in_session(app, lambda s: _all_where(s, AuditEntry, AuditEntry.action == "privacy.erased"))
    assert len(entries) == 1
    assert "0912345678" not in json.dumps(entries[0].after) and "Tả Van" not in json.dumps(entries[0].after)

    # The same person writing again is a stranger: asked for consent, nothing of before.
    await chat.send("xin chao")
    assert "91/2025/QH15" in chat.text


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def _all_where(session: AsyncSession, model: Any, *where: Any) -> list[Any]:
    return list(await session.scalars(select(model).where(*where).order_by(model.id)))


async def test_with_nothing_to_keep_the_user_row_goes_too_once_the_notice_was_sent(
    app: App, clock: FrozenClock
) -> None:
    user_id = await make_producer(app, "p1", channel="telegram")
    await make_idea(app, user_id)
    chat = Chat(app.engine, "p1", channel="telegram")
    await chat.send("/privacy")
    await chat.tap("Tải")
    download = next(r for r in chat.replies if isinstance(r, SendFile)).path
    assert download.is_file()
    await chat.tap("Rút đồng ý")
    await chat.tap("Có, xóa")
    clock.advance(hours=25)  # carried out 24 h after the request, well inside the 72 h
    await sweep_privacy(app)
    assert not download.exists()  # their download went with them
    assert await count(app, ChannelIdentity) == 1  # kept until the person has been told
    delivery = await send_outbox(app, clock, "telegram")
    assert len(delivery.sent) == 1 and "Không còn giữ gì của bạn" in delivery.sent[0][1]
    await sweep_privacy(app)
    assert await count(app, User) == 0 and await count(app, ChannelIdentity) == 0
    assert await count(app, PrivacyRequest, PrivacyRequest.status == "done", PrivacyRequest.user_id.is_(None)) == 1


async def test_a_legal_hold_stops_the_deletion_and_admins_are_reminded_before_the_deadline(
    app: App, clock: FrozenClock
) -> None:
    await make_producer(app, "p1")
    admin_id = await make_staff(app, "ad1", "admin", name="Admin")
    chat = Chat(app.engine, "p1")
    await chat.send("xoa du lieu")
    await chat.tap("Rút đồng ý")
    await chat.tap("Có, xóa")

    admin = Chat(app.engine, "ad1")
    await admin.send("menu")
    await admin.tap("Yêu cầu về dữ liệu (1)")
    assert "Số 1" in admin.text and "05/03/2026" in admin.text
    await admin.tap("Tạm giữ số 1")
    await admin.send("Đang thanh tra theo Quyết định 12/QĐ-TTr")
    assert "đang tạm giữ" in admin.text.casefold()

    clock.advance(hours=50)
    await sweep_privacy(app)
    assert (await user_of(app, "p1")).phone == "0912345678"  # held: nothing deleted
    reminders = await in_session(app, lambda s: _all_where(s, OutboxMessage, OutboxMessage.user_id == admin_id))
    assert [r.kind for r in reminders] == ["privacy_request_staff", "privacy_deadline_staff"]
    await sweep_privacy(app)  # once
    assert await count(app, OutboxMessage, OutboxMessage.kind == "privacy_deadline_staff") == 1

    await admin.send("menu")
    await admin.tap("Yêu cầu về dữ liệu")
    await admin.tap("Tiếp tục số 1")
    await sweep_privacy(app)
    async with app.engine.sessions() as session:
        user = await session.scalar(select(User).where(User.id != admin_id))
    assert user is not None and user.phone is None


async def test_the_request_can_be_cancelled_before_it_is_carried_out(app: App) -> None:
    await make_producer(app, "p1")
    chat = Chat(app.engine, "p1")
    await chat.send("xoa du lieu")
    await chat.tap("Rút đồng ý")
    await chat.tap("Có, xóa")
    await chat.tap("Hủy yêu cầu")
    assert "Không có gì bị xóa" in chat.text and "91/2025/QH15" in chat.text
    await chat.press(ConsentYes())
    assert "Bạn muốn làm gì?" in chat.text
    assert await count(app, PrivacyRequest, PrivacyRequest.status == "cancelled") == 1


# Retention -------------------------------------------------------------------------------------------------------
async def test_abandoned_drafts_get_a_notice_then_go_and_unclaimed_placeholders_go(
    app: App, clock: FrozenClock
) -> None:
    user_id = await make_producer(app, "p1")
    draft = await make_dossier(app, user_id, product="Mật ong", status=DossierStatus.DRAFT, seed=3)

    async def placeholder(session: AsyncSession) -> None:
        (await session.get_one(Dossier, draft)).updated_at = clock.now
        user = User(locale="vi", display_name="[import] HTX Cũ", created_at=clock.now)
        session.add(user)
        await session.flush()
        session.add(
            Producer(user_id=user.id, kind="htx", name="HTX Cũ", name_folded="htx cu", commune_code=1, commune_name="X")
        )
        certified = User(locale="vi", display_name="[import] HTX Có Sao", created_at=clock.now)
        session.add(certified)
        await session.flush()
        holder = Producer(
            user_id=certified.id,
            kind="htx",
            name="HTX Có Sao",
            name_folded="htx co sao",
            commune_code=1,
            commune_name="X",
        )
        session.add(holder)
        await session.flush()
        product = Product(producer_id=holder.id, name="Gạo", name_folded="gao", group_code="food", commune_code=1)
        session.add(product)
        await session.flush()
        session.add(
            Certificate(
                product_id=product.id,
                stars=3,
                decision_no="1/QĐ",
                issued_on=clock.now.date(),
                expires_on=clock.now.date() + dt.timedelta(days=1095),
            )
        )
        idea = ProductIdea(
            producer_id=(await session.scalar(select(Producer.id).where(Producer.user_id == user_id))),
            commune_code=1,
            name="Ý tưởng cũ",
            name_folded="y tuong cu",
            group_code="food",
            status=IdeaStatus.DRAFT.value,
            updated_at=clock.now,
        )
        session.add(idea)

    await in_session(app, placeholder)
    clock.advance(days=705)
    await sweep_privacy(app)
    kinds = sorted(r.kind for r in await in_session(app, lambda s: _all(s, OutboxMessage)))
    assert kinds == ["retention_dossier", "retention_idea"]
    assert await count(app, Dossier, Dossier.id == draft) == 1
    rows = await in_session(app, lambda s: _all_where(s, OutboxMessage, OutboxMessage.kind == "retention_dossier"))
    notice = rows[0]
    assert "Mật ong" in render(notice.kind, notice.params, "vi").text  # type: ignore[union-attr]

    clock.advance(days=31)
    await sweep_privacy(app)
    assert await count(app, Dossier, Dossier.id == draft) == 0
    assert await count(app, ProductIdea) == 0
    assert await count(app, Producer, Producer.name == "HTX Cũ") == 0  # unclaimed placeholder, nothing left
    assert await count(app, Producer, Producer.name == "HTX Có Sao") == 1  # a certificate keeps it
    assert await count(app, Producer, Producer.user_id == user_id) == 1  # a real producer stays
    assert await count(app, StoredFile) == 0


# Command line ----------------------------------------------------------------------------------------------------
async def test_paper_requests_from_the_command_line(app: App, tmp_path: Path) -> None:
    user_id, _idea, dossier_id = await _producer_with_records(app)
    await certify(app, dossier_id)
    now = app.engine.clock()
    out, err = io.StringIO(), io.StringIO()
    args = Namespace(privacy_command="export", user="0912 345 678", out=str(tmp_path))
    assert await privacy_cli.dispatch(args, app.settings, now, out, err) == 0
    zips = [line for line in out.getvalue().splitlines() if line.endswith(".zip")]
    assert len(zips) == 1 and "1 ideas, 1 dossiers, 1 files" in out.getvalue()

    out = io.StringIO()
    args = Namespace(privacy_command="delete", user=f"#{user_id}", now=False)
    assert await privacy_cli.dispatch(args, app.settings, now, out, err) == 0
    assert "request no. 1: deadline 05/03/2026 10:00" in out.getvalue()
    out = io.StringIO()
    assert await privacy_cli.dispatch(Namespace(privacy_command="requests"), app.settings, now, out, err) == 0
    assert "no. 1" in out.getvalue() and "paper" in out.getvalue()
    out = io.StringIO()
    args = Namespace(privacy_command="hold", request=1, reason="Thanh tra")
    assert await privacy_cli.dispatch(args, app.settings, now, out, err) == 0
    args = Namespace(privacy_command="release", request=1)
    assert await privacy_cli.dispatch(args, app.settings, now, out, err) == 0

    out = io.StringIO()
    args = Namespace(privacy_command="delete", user=f"#{user_id}", now=True)
    assert await privacy_cli.dispatch(args, app.settings, now, out, err) == 0
    assert "kept as administrative records" in out.getvalue() and DECISION in out.getvalue()
    assert (await in_session(app, lambda s: s.get_one(User, user_id))).phone is None
    assert await privacy_cli.dispatch(args, app.settings, now, io.StringIO(), err) == 1  # already deleted
