"""Never ask twice: producer documents offered again in a new dossier, a renewal starting from the certified
dossier, a returned idea reopened at the flagged answer, and the commune officer's contact.

The test clock says 02/03/2026 (see ``tests/conftest.py``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update

from bot.app import App
from bot.erasure import erase_user
from bot.menu_buttons import MenuIdea
from bot.messages import Text
from bot.notices import render
from bot.rules import DossierStatus, IdeaStatus
from handlers import idea
from handlers.commune_contact import HidePhone, PhoneSetting, SharePhone, ShowContacts
from handlers.dossier import ChooseCase, ChooseGroup, ChooseProduct, ItemDone, NewProduct, OpenItem
from handlers.dossier_reuse import UseAgain
from handlers.idea_return import FixIdea
from handlers.review_buttons import ReturnIdea
from storage import stored_files
from storage.models import Certificate, Dossier, DossierItem, DossierItemFile, Producer, ProductIdea, StoredFile
from tests import files
from tests.chat import Chat
from tests.conftest import make_producer
from tests.staff_helpers import BINH_LU, make_idea, make_staff, outbox
from tests.test_dossier import count, items_by_code, payloads, producer_id, scalar, start_dossier_from_idea

KEEP = idea.Keep().pack()


async def _send_item(chat: Chat, item_id: int, data: bytes, expiry: str | None = None) -> None:
    await chat.press(OpenItem(item=item_id))
    await chat.send_file(data, "giay.jpg")
    if expiry is not None:
        await chat.send(expiry)
    await chat.press(ItemDone())


async def _first_dossier(app: App, chat: Chat) -> int:
    """A food dossier with the registration and the food-safety certificate (valid to 31/12/2027) sent."""
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    await _send_item(chat, items["business_registration"], files.jpeg(1))
    await _send_item(chat, items["food_safety"], files.jpeg(2), expiry="31/12/2027")
    await _send_item(chat, items["lab_test"], files.jpeg(3), expiry="01/01/2026")  # already expired
    await _send_item(chat, items["quality_declaration"], files.jpeg(4))
    return dossier_id


async def _second_product(chat: Chat) -> None:
    await chat.press("menu")
    await chat.press("m:dossier")
    await chat.press(NewProduct())
    await chat.send("Mật ong bạc hà")
    await chat.press(ChooseGroup(group="food"))
    await chat.press(ChooseCase(case="new"))


async def _files_of(app: App, item_id: int) -> list[int]:
    async with app.engine.sessions() as session:
        rows = await session.scalars(select(DossierItemFile.stored_file_id).where(DossierItemFile.item_id == item_id))
        return sorted(rows)


async def test_producer_documents_are_offered_again_without_copying_bytes(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    first = await _first_dossier(app, chat)
    stored = await count(app, StoredFile)
    await _second_product(chat)
    assert "Dùng lại Giấy chứng nhận đăng ký kinh doanh/hợp tác xã đã gửi ngày 02/03/2026?" in chat.text
    assert payloads(chat) == {"reu:use", "reu:new"}
    await chat.press(UseAgain())
    assert "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm" in chat.text and "31/12/2027" in chat.text
    await chat.press("dos:case:new")  # a stale button while asked: the question stays
    await chat.press(UseAgain())
    # Only the two producer documents sent before are offered (the organisation was never sent): checklist.
    assert "dos:submit" not in payloads(chat) and any(p.startswith("dos:item:") for p in payloads(chat))
    second = int(await scalar(app, select(Dossier.id).order_by(Dossier.id.desc()).limit(1)))
    old, new = await items_by_code(app, first), await items_by_code(app, second)
    assert await _files_of(app, new["business_registration"]) == await _files_of(app, old["business_registration"])
    assert await _files_of(app, new["food_safety"]) == await _files_of(app, old["food_safety"])
    assert await _files_of(app, new["quality_declaration"]) == []  # of the product: not carried
    assert await count(app, StoredFile) == stored  # the same stored files, no new bytes
    expiry = await scalar(app, select(DossierItem.expires_on).where(DossierItem.id == new["food_safety"]))
    assert expiry == dt.date(2027, 12, 31)

    # A reused file is referenced by both dossiers: removing it from one leaves it; erasure removes it.
    reused = (await _files_of(app, new["business_registration"]))[0]
    async with app.engine.sessions() as session, session.begin():
        await session.execute(delete(DossierItemFile).where(DossierItemFile.item_id == old["business_registration"]))
        assert await stored_files.remove_unreferenced(session, [reused]) == []
    async with app.engine.sessions() as session, session.begin():
        owner = await session.scalar(select(Producer.user_id))
        assert owner is not None
        erased = await erase_user(session, owner, now=app.engine.clock())
    assert erased.blob_paths
    assert await count(app, StoredFile, StoredFile.id == reused) == 0


async def test_send_a_new_one_opens_that_item(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await _first_dossier(app, chat)
    await _second_product(chat)
    await chat.send("2")  # typed number of "🔁 Gửi bản mới" works as on Zalo
    await chat.press(UseAgain())
    second = int(await scalar(app, select(Dossier.id).order_by(Dossier.id.desc()).limit(1)))
    new = await items_by_code(app, second)
    assert await _files_of(app, new["business_registration"]) == []
    assert len(await _files_of(app, new["food_safety"])) == 1
    assert "Giấy chứng nhận đăng ký kinh doanh" in chat.text and "dos:done" in payloads(chat)


async def test_a_first_dossier_offers_nothing(app: App, producer_chat: Chat) -> None:
    await start_dossier_from_idea(app, producer_chat, await producer_id(app))
    assert "reu:use" not in payloads(producer_chat) and "Dùng lại" not in producer_chat.text


async def test_a_renewal_starts_from_the_certified_dossier_and_names_what_expired(
    app: App, producer_chat: Chat
) -> None:
    chat = producer_chat
    first = await _first_dossier(app, chat)
    async with app.engine.sessions() as session, session.begin():
        dossier = await session.get_one(Dossier, first)
        dossier.status = DossierStatus.CERTIFIED_4.value
        session.add(
            Certificate(
                product_id=dossier.product_id,
                dossier_id=dossier.id,
                stars=4,
                decision_no="12/QĐ-UBND",
                issued_on=dt.date(2023, 3, 1),
                expires_on=dt.date(2026, 3, 1),
                status="expired",
            )
        )
        product_id = dossier.product_id
    await chat.press("menu")
    await chat.press("m:dossier")
    await chat.press(ChooseProduct(product=product_id))
    replies = await chat.press(ChooseCase(case="re-evaluation"))
    seen = "\n".join(r.text for r in replies if isinstance(r, Text))
    assert "hồ sơ đã được chứng nhận: 3 mục" in seen
    assert "Phiếu kết quả kiểm nghiệm sản phẩm: hết hạn 01/01/2026" in seen
    renewal = int(await scalar(app, select(Dossier.id).order_by(Dossier.id.desc()).limit(1)))
    old, new = await items_by_code(app, first), await items_by_code(app, renewal)
    for code in ("business_registration", "food_safety", "quality_declaration"):
        assert await _files_of(app, new[code]) == await _files_of(app, old[code])
    assert await _files_of(app, new["lab_test"]) == []
    assert "reu:use" not in payloads(chat)  # producer documents came from the certified dossier already


async def test_a_returned_idea_reopens_at_the_flagged_answer_and_keeps_the_rest(app: App) -> None:
    producer = await make_producer(app, "p1")
    idea_id = await make_idea(app, producer, "Chè shan tuyết")
    async with app.engine.sessions() as session, session.begin():
        await session.execute(
            update(ProductIdea)
            .where(ProductIdea.id == idea_id)
            .values(raw_materials="Lá chè", raw_material_origin="Xã Bình Lư", workers_total=12, workers_local=10)
            .values(market="Chợ địa phương, Bán online, bán cho khách du lịch", support_needed="Bao bì, nhãn mác")
        )
    await make_staff(app, "officer", "commune", BINH_LU, name="Cán bộ xã")
    officer = Chat(app.engine, user_id="officer")
    await officer.press(ReturnIdea(idea=idea_id))
    await officer.send("2")  # the second answer, "Nhóm", typed by its number as on Zalo
    await officer.send("Chè là đồ uống, vui lòng chọn lại nhóm")
    row = await scalar(app, select(ProductIdea).where(ProductIdea.id == idea_id))
    assert row.status == IdeaStatus.RETURNED and row.return_field == "group"
    notice = (await outbox(app, producer))[-1]
    rendered = render("idea_returned", notice.params, "vi")
    assert isinstance(rendered, Text) and "Cần sửa: Nhóm" in rendered.text

    chat = Chat(app.engine, user_id="p1")
    await chat.press(FixIdea(idea=idea_id))
    assert "vui lòng chọn lại nhóm" in chat.text and KEEP not in payloads(chat)  # the flagged one
    await chat.press(idea.PickGroup(group="drink"))
    kept = 0
    while KEEP in payloads(chat):
        assert "Hiện tại:" in chat.text
        await chat.press(idea.Keep())
        kept += 1
    assert kept == 7  # every later answer, one tap each
    assert "Lá chè" in chat.text and "Chợ địa phương" in chat.text and "bán cho khách du lịch" in chat.text
    await chat.press(idea.Submit())
    fixed = await scalar(app, select(ProductIdea).order_by(ProductIdea.id.desc()).limit(1))
    assert fixed.id != idea_id and fixed.status == IdeaStatus.SUBMITTED_COMMUNE and fixed.group_code == "drink"
    assert (fixed.workers_total, fixed.workers_local, fixed.raw_materials) == (12, 10, "Lá chè")
    assert fixed.market == "Chợ địa phương, Bán online, bán cho khách du lịch"
    assert fixed.support_needed == "Bao bì, nhãn mác"


async def test_a_fix_button_of_someone_elses_idea_is_stale(app: App) -> None:
    other = await make_producer(app, "p2", name="HTX Khác")
    idea_id = await make_idea(app, other)
    await make_producer(app, "p1")
    chat = Chat(app.engine, user_id="p1")
    await chat.press(FixIdea(idea=idea_id))
    assert KEEP not in payloads(chat) and MenuIdea().pack() in payloads(chat)


async def test_contact_the_commune_officer(app: App) -> None:
    await make_producer(app, "p1")
    producer = Chat(app.engine, user_id="p1")
    await producer.press("menu")
    assert ShowContacts().pack() in payloads(producer)
    await producer.press(ShowContacts())
    assert "Chưa có cán bộ OCOP" in producer.text

    await make_staff(app, "hoa", "commune", BINH_LU, name="Nguyễn Thị Hoa")
    await make_staff(app, "lan", "commune", BINH_LU, name="Trần Văn Lan")
    await producer.press(ShowContacts())
    assert "Nguyễn Thị Hoa: không chia sẻ số điện thoại" in producer.text  # default: hidden

    hoa = Chat(app.engine, user_id="hoa")
    await hoa.press("menu")
    assert PhoneSetting().pack() in payloads(hoa)
    await hoa.press(PhoneSetting())
    await hoa.press(SharePhone())
    await hoa.send("12345")
    await hoa.send("0987 654 321")
    assert "0987654321" in hoa.text
    await producer.press(ShowContacts())
    assert "Nguyễn Thị Hoa: +84987654321" in producer.text
    assert "Trần Văn Lan: không chia sẻ" in producer.text
    await hoa.press(PhoneSetting())
    await hoa.press(HidePhone())
    await producer.press(ShowContacts())
    assert "+84987654321" not in producer.text
    await producer.press(PhoneSetting())  # a producer cannot reach the staff setting
    assert SharePhone().pack() not in payloads(producer)


async def test_a_commune_officer_chooses_at_invite_redemption(app: App) -> None:
    from bot.communes import find_communes
    from storage import staff

    code = staff.new_invite_code()
    async with app.engine.sessions() as session, session.begin():
        await staff.create_invite(
            session,
            code=code,
            role="commune",
            province=app.settings.ocop.province,
            commune_code=find_communes(app.settings.ocop.province, BINH_LU)[0].code,
            created_by=None,
            now=app.engine.clock(),
            valid_for=dt.timedelta(days=7),
        )
    officer = Chat(app.engine, user_id="hoa")
    await officer.send(f"/start {code}")
    await officer.send("Nguyễn Thị Hoa")
    assert payloads(officer) == {SharePhone().pack(), HidePhone().pack()} and "Hiện tại: đang ẩn" in officer.text
    await officer.send("khong")  # typed words of "🙈 Không, giữ kín"
    await make_producer(app, "p1")
    producer = Chat(app.engine, user_id="p1")
    await producer.press(ShowContacts())
    assert "Nguyễn Thị Hoa: không chia sẻ" in producer.text
