"""Staff see on a dossier that comes back what changed since they last looked: files added or removed per
item, answers edited. The commune's review and the province's check each remember what their officer saw."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.rules import DossierStatus
from handlers.dossier import Back, ItemFiles, OpenItem, SeeAll, SeeRequired
from handlers.dossier_files import BackToItem, Remove, RemoveYes
from handlers.province_dossiers import ReturnForSupplement
from handlers.review_buttons import AskSupplement, DossierFiles, OpenDossier, ShowQueue
from storage import dossiers
from storage.models import DossierItemFile, Producer
from tests import files
from tests.chat import Chat, offered
from tests.conftest import make_producer
from tests.staff_helpers import BINH_LU, dossier_row, in_session, make_dossier, make_staff
from tests.test_dossier import items_by_code, payloads
from tests.test_province import open_dossier, setup

CHANGED = "🔄 Thay đổi từ lần bạn xem trước (02/03/2026):"


async def _resubmit(app: App, producer_user: int, dossier_id: int, status: DossierStatus) -> None:
    """The producer presses Submit (directly: the test dossiers are not complete enough for the button)."""

    async def work(session: AsyncSession) -> None:
        producer_id = await session.scalar(select(Producer.id).where(Producer.user_id == producer_user))
        assert producer_id is not None
        dossier = await dossiers.dossier_of(session, producer_id, dossier_id)
        assert dossier is not None
        await dossiers.submit(session, dossier, status.value, dossier.updated_at)

    await in_session(app, work)


async def _open_item(chat: Chat, item_id: int) -> None:
    await chat.press("m:dossier")
    await chat.press(next(p for p in payloads(chat) if p.startswith("dos:prod:")))
    if f"dos:item:{item_id}" not in payloads(chat):
        await chat.press(SeeAll())  # done items are on the second page
    await chat.press(OpenItem(item=item_id))


async def test_commune_officer_sees_files_added_and_removed(app: App) -> None:
    producer_user = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer_user)
    await make_staff(app, "officer", "commune", BINH_LU)
    officer = Chat(app.engine, "officer")
    await officer.press(ShowQueue())
    await officer.press(OpenDossier(dossier=dossier_id))
    assert "🔄" not in officer.text  # a first look: nothing to compare with
    await officer.press(offered(officer, AskSupplement)[0])
    await officer.send("Ảnh giấy đăng ký bị mờ, bạn chụp lại giúp")
    assert (await dossier_row(app, dossier_id)).status == DossierStatus.NEEDS_SUPPLEMENT

    producer = Chat(app.engine, "p1")
    items = await items_by_code(app, dossier_id)
    await _open_item(producer, items["registration_form"])
    await producer.press(ItemFiles())
    await producer.press(next(c.payload for c in producer.choices if c.payload.startswith("dof:f:")))
    await producer.press(Remove())
    await producer.press(RemoveYes())
    await producer.press(BackToItem())
    await producer.send_file(files.pdf(3), "dang-ky-ro.pdf")
    await producer.press(Back())
    if f"dos:item:{items['business_plan']}" not in payloads(producer):
        await producer.press(SeeRequired())  # the checklist stayed on its second page
    await producer.press(OpenItem(item=items["business_plan"]))
    await producer.send_file(files.png(4), "phuong-an.png")
    assert "Đã nhận tệp thứ 1" in producer.text
    await _resubmit(app, producer_user, dossier_id, DossierStatus.SUBMITTED_COMMUNE)

    await officer.press(ShowQueue())
    await officer.press(OpenDossier(dossier=dossier_id))
    text = officer.text
    assert CHANGED in text
    assert "➖ Phiếu đăng ký" in text and "anh.png" in text.split("➖", 1)[1].splitlines()[0]
    assert any(line.startswith("➕") and "dang-ky-ro.pdf" in line for line in text.splitlines())
    assert any(line.startswith("➕") and "phuong-an.png" in line for line in text.splitlines()), text

    await officer.press(DossierFiles(dossier=dossier_id))  # shown again: nothing new since
    assert "🔄" not in officer.text


async def test_province_officer_sees_files_and_answers_edited(app: App) -> None:
    producer_user, dossier_id, officer = await setup(app, status=DossierStatus.COMPLETENESS_CHECK)
    await open_dossier(officer, dossier_id)
    assert "🔄" not in officer.text
    await officer.press(ReturnForSupplement())
    await officer.send("Thiếu giấy an toàn thực phẩm còn hạn")
    assert (await dossier_row(app, dossier_id)).status == DossierStatus.PROVINCE_SUPPLEMENT

    producer = Chat(app.engine, "p1")
    items = await items_by_code(app, dossier_id)
    await _open_item(producer, items["food_safety"])
    await producer.send_file(files.pdf(7), "vsattp-2026.pdf")
    await producer.send("31/12/2026")  # its expiry date, asked after the first file
    await _resubmit(app, producer_user, dossier_id, DossierStatus.COMPLETENESS_CHECK)

    await open_dossier(officer, dossier_id)
    lines = officer.text.splitlines()
    assert CHANGED in lines, officer.text
    assert any(line.startswith("➕") and "vsattp-2026.pdf" in line for line in lines)
    assert any(line.startswith("✏️") and "— → 31/12/2026" in line for line in lines)
    assert not any(line.startswith("➖") for line in lines)

    # Another province officer has never looked: nothing to compare with, the same dossier.
    from tests.test_province import make_staff as make_province_staff

    await make_province_staff(app, "prov2")
    other = Chat(app.engine, "prov2")
    await open_dossier(other, dossier_id)
    assert "🔄" not in other.text
    assert await _count_links(app) == 2


async def _count_links(app: App) -> int:
    async with app.engine.sessions() as session:
        return len(list(await session.scalars(select(DossierItemFile.id))))
