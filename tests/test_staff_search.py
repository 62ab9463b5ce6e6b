"""Staff find records by typing: folded, partial, by phone; results page with ◀ ▶ and tell namesakes apart; a
commune officer finds only their communes; opening a card shows the phone to call and is audit-logged."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.callbacks import Button
from bot.text import fold
from handlers.admin import AdminHome, ConfirmRevoke, StaffList
from handlers.office_reports import OpenReports
from handlers.province_common import OpenUnassigned, ProvinceHome
from handlers.review_buttons import OpenDossier, ShowQueue
from handlers.staff_search import NextPage, OpenFind, OpenRow, PreviousPage
from storage.models import AuditEntry, Producer, Product
from tests.chat import Chat, FrozenClock, force_offered, offered
from tests.staff_helpers import make_staff
from tests.test_office import LAICHAU, OFFICE_LIST, run, write_xlsx


async def office_list(app: App, tmp_path: Path) -> None:
    code, out = await run(app, "import", "products", str(write_xlsx(tmp_path / "l.xlsx", OFFICE_LIST)))
    assert code == 0, out


async def search(officer: Chat, query: str) -> None:
    await officer.press(OpenFind())
    await officer.send(query)


async def test_folded_partial_search_and_the_card_to_call(app: App, tmp_path: Path) -> None:
    await office_list(app, tmp_path)
    await make_staff(app, "prov1", "province")
    officer = Chat(app.engine, "prov1")
    await officer.send("/menu")
    assert OpenFind() in offered(officer, OpenFind)
    await search(officer, "che shan")
    assert "“che shan”: 1–1 / 1" in officer.text
    assert "Chè Shan Tuyết Bình Lư — HTX Chè Bình Lư — Xã Bình Lư" in officer.text

    await officer.send("0912 345")  # a new search typed on the results: the phone, with spaces
    assert "1–2 / 2" in officer.text and "Miến dong Bình Lư" in officer.text
    await officer.send("+84 987 654")
    assert "Mật ong Mường Tè" in officer.text
    await officer.tap("Mật ong")
    assert "+84987654321" in officer.text and "Hộ kinh doanh" in officer.text
    assert "imported" in officer.text or "danh sách" in officer.text  # no chat account yet
    async with app.engine.sessions() as session:
        reads = list(await session.scalars(select(AuditEntry).where(AuditEntry.action == "personal_data.read")))
    assert len(reads) == 1 and reads[0].object_type == "producer"
    await officer.tap("Kết quả")
    assert "Mật ong Mường Tè" in officer.text

    await officer.send("khong co gi dau")
    assert "Không tìm thấy" in officer.text


async def test_results_page_with_previous_and_next(app: App, tmp_path: Path) -> None:
    rows = [OFFICE_LIST[2]] + [
        [n, "", f"Chè xanh số {n}", f"HTX Chè {n}", "", "", "Bình Lư", "", None, None, ""] for n in range(1, 20)
    ]
    code, out = await run(app, "import", "products", str(write_xlsx(tmp_path / "many.xlsx", rows)))
    assert code == 0, out
    await make_staff(app, "prov1", "province")
    officer = Chat(app.engine, "prov1")
    await search(officer, "che xanh")
    assert "1–8 / 19" in officer.text and "Tiếp ▶" in [c.label for c in officer.choices]
    await officer.press(NextPage())
    assert "9–16 / 19" in officer.text
    await officer.press(NextPage())
    assert "17–19 / 19" in officer.text and offered(officer, NextPage) == []
    await officer.press(PreviousPage())
    assert "9–16 / 19" in officer.text


async def test_a_commune_officer_finds_only_their_communes(app: App, tmp_path: Path) -> None:
    await office_list(app, tmp_path)
    await make_staff(app, "xa1", "commune", "binh lu")
    officer = Chat(app.engine, "xa1")
    await search(officer, "mat ong")
    assert "Không tìm thấy" in officer.text
    await officer.send("binh lu")
    assert "1–2 / 2" in officer.text

    async with app.engine.sessions() as session:
        honey = await session.scalar(select(Product).where(Product.name_folded == fold("Mật ong Mường Tè")))
        assert honey is not None
        producer = await session.get_one(Producer, honey.producer_id)
    forged = OpenRow(producer=producer.id, product=honey.id)  # a row of another commune
    await force_offered(app.engine, "xa1", forged.pack())
    await officer.press(forged)
    assert "+84987654321" not in officer.text
    async with app.engine.sessions() as session:
        assert await session.scalar(select(AuditEntry).where(AuditEntry.action == "personal_data.read")) is None


async def test_producers_cannot_search(app: App, tmp_path: Path) -> None:
    from tests.conftest import make_producer

    await make_producer(app, "p1")
    producer = Chat(app.engine, "p1")
    await producer.send("/tim che")
    assert "“che”" not in producer.text


@pytest.mark.skipif(LAICHAU is None, reason="the shared Lai Châu list is not beside the project")
async def test_every_laichau_product_is_found_by_part_of_its_name(app: App, tmp_path: Path) -> None:
    assert LAICHAU is not None
    source = tmp_path / "laichau.csv"
    source.write_bytes(LAICHAU.read_bytes())
    code, out = await run(app, "import", "products", str(source), "--preset", "laichau-2023")
    assert code == 0, out
    await make_staff(app, "prov1", "province")
    officer = Chat(app.engine, "prov1")
    async with app.engine.sessions() as session:
        names = list(await session.scalars(select(Product.name)))
    assert len(names) == 105
    for name in names:
        words = fold(name).split()
        await officer.press(OpenFind())
        await officer.send(" ".join(words[-2:]))  # the last two words, without diacritics
        while name not in officer.text and offered(officer, NextPage):
            await officer.press(NextPage())
        assert name in officer.text, name


async def test_long_staff_lists_page_and_name_product_producer_and_commune(app: App, tmp_path: Path) -> None:
    """30 dossiers at the province and 25 in a commune's queue: every one reachable, page by page."""
    from bot.rules import DossierStatus as S
    from tests.conftest import make_producer
    from tests.test_province import make_dossier

    for n in range(55):
        user = await make_producer(app, f"p{n}", name=f"HTX số {n:02d}")
        status = S.AT_PROVINCE if n < 30 else S.SUBMITTED_COMMUNE
        await make_dossier(app, user, status=status, with_file=False)
    await make_staff(app, "prov1", "province")
    officer = Chat(app.engine, "prov1")
    await officer.press(ProvinceHome())
    await officer.press(OpenUnassigned())
    assert "1–20 / 30" in officer.text and "— HTX số 00 — Xã Bình Lư" in officer.text
    await officer.tap("Tiếp")
    assert "21–30 / 30" in officer.text and "HTX số 29" in officer.text
    assert not any("Tiếp" in c.label for c in officer.choices)

    await make_staff(app, "xa1", "commune", "binh lu")
    clerk = Chat(app.engine, "xa1")
    await clerk.press(ShowQueue())
    assert "1–20 / 25" in clerk.text
    seen = {b for c in clerk.choices if isinstance(b := Button.parse(c.payload), OpenDossier)}
    await clerk.tap("Tiếp")
    assert "21–25 / 25" in clerk.text
    seen |= {b for c in clerk.choices if isinstance(b := Button.parse(c.payload), OpenDossier)}
    assert len(seen) == 25
    await clerk.tap("Trước")
    assert "1–20 / 25" in clerk.text


async def test_excel_files_in_the_chat_arrive_through_the_outbox(app: App, tmp_path: Path) -> None:
    import asyncio

    from openpyxl import load_workbook

    from bot import office_jobs
    from bot.messages import SendFile
    from bot.notices import render
    from storage.models import OutboxMessage

    await office_list(app, tmp_path)
    await make_staff(app, "xa1", "commune", "binh lu")
    clerk = Chat(app.engine, "xa1")
    await clerk.send("/menu")
    await clerk.tap("Excel")
    await clerk.tap("Chủ thể")
    assert "Đang chuẩn bị" in clerk.text
    await clerk.press(OpenReports())
    await clerk.tap("Báo cáo")
    await asyncio.gather(*office_jobs.RUNNING)
    async with app.engine.sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [row.kind for row in rows] == ["office_file", "office_file"]
    # The two files are built side by side: whichever finished first was queued first.
    by_name = {str(row.params["name"]): row for row in rows}
    producers_file = render(by_name["chu-the.xlsx"].kind, by_name["chu-the.xlsx"].params, "vi")
    assert isinstance(producers_file, SendFile) and producers_file.name.endswith(".xlsx")
    sheet = load_workbook(producers_file.path).worksheets[0]
    assert sheet.max_row == 2 and sheet.cell(row=2, column=2).value == "HTX Chè Bình Lư"  # their commune only
    report = render(by_name["bao-cao-ocop-2026.xlsx"].kind, by_name["bao-cao-ocop-2026.xlsx"].params, "vi")
    assert isinstance(report, SendFile) and "Báo cáo OCOP" in report.caption

    from tests.conftest import make_producer

    await make_producer(app, "p1")
    producer = Chat(app.engine, "p1")
    await producer.send("/baocao")
    assert "Đang chuẩn bị" not in producer.text


async def test_staff_are_named_in_the_staff_list(app: App) -> None:
    from bot.rules import Role
    from tests.test_invites import _invite

    code = await _invite(app, Role.COMMUNE, "binh lu")
    hoa = Chat(app.engine, "hoa")
    await hoa.send(f"/start {code}")
    await hoa.send("Nguyễn Thị Hoa")
    await make_staff(app, "admin1", "admin", name="Admin")
    admin = Chat(app.engine, "admin1")
    await admin.press(StaffList())
    assert "Cán bộ xã Nguyễn Thị Hoa (Xã Bình Lư)" in admin.text


async def test_an_admin_sees_and_withdraws_unused_invites(app: App) -> None:
    from bot.rules import Role
    from tests.test_invites import _invite

    code = await _invite(app, Role.COMMUNE, "binh lu")
    used = await _invite(app, Role.PROVINCE)
    await Chat(app.engine, "prov").send(f"/start {used}")
    await make_staff(app, "admin1", "admin", name="Admin")
    admin = Chat(app.engine, "admin1")
    await admin.press(AdminHome())
    await admin.tap("Lời mời chưa dùng")
    assert "(1)" in admin.text and "Cán bộ xã — Xã Bình Lư" in admin.text
    await admin.tap("Thu hồi")
    await admin.tap("✅")
    assert "Không có lời mời" in admin.text
    async with app.engine.sessions() as session:
        actions = list(await session.scalars(select(AuditEntry.action)))
    assert "invite.withdraw" in actions
    newcomer = Chat(app.engine, "late")
    await newcomer.send(f"/start {code}")
    assert "thu hồi" in newcomer.text  # the withdrawn link says so


async def test_filters_expiring_certificates_stars_state_and_round(
    app: App, tmp_path: Path, clock: FrozenClock
) -> None:
    import datetime as dt

    await office_list(app, tmp_path)
    clock.now = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)
    await make_staff(app, "prov1", "province")
    officer = Chat(app.engine, "prov1")
    await officer.press(OpenFind())
    await officer.tap("Lọc")
    await officer.tap("hết hạn trong 90 ngày")
    assert "1–1 / 1" in officer.text and "Mật ong Mường Tè" in officer.text  # 20/01/2027: 53 days away
    await officer.tap("Lọc")
    await officer.tap("Sản phẩm 4★")
    assert "1–1 / 1" in officer.text and "Chè Shan Tuyết Bình Lư" in officer.text
    await officer.tap("Lọc")
    await officer.tap("Đang ở tỉnh")
    assert "Không tìm thấy" in officer.text  # imported lists without a case make no dossiers
    await officer.send("mien dong")  # typing searches again, the filter is dropped
    assert "Miến dong Bình Lư" in officer.text


async def test_the_staff_list_pages(app: App) -> None:
    for n in range(24):
        await make_staff(app, f"xa{n}", "commune", "binh lu", name=f"Cán bộ {n:02d}")
    await make_staff(app, "admin1", "admin", name="Admin")
    admin = Chat(app.engine, "admin1")
    await admin.press(StaffList())
    assert "1–20 / 25" in admin.text and sum(ConfirmRevoke.matches(c.payload) for c in admin.choices) == 20
    await admin.tap("Tiếp")
    assert "21–25 / 25" in admin.text and sum(ConfirmRevoke.matches(c.payload) for c in admin.choices) == 5
