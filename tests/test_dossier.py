"""The dossier flow: product, case, checklist, files per item, samples, submit, stray files, ownership."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.app import App
from bot.rules import DossierStatus, SuppliedBy, requirement
from handlers.dossier import (
    AnotherItem,
    AttachTo,
    Back,
    ChooseCase,
    ChooseGroup,
    ChooseIdea,
    ChooseProduct,
    HandedIn,
    ItemDone,
    NewProduct,
    OpenItem,
    SeeAll,
    SeeRequired,
    Skip,
    Submit,
    ToMenu,
)
from storage.models import (
    Dossier,
    DossierItem,
    DossierItemFile,
    Producer,
    Product,
    ProductIdea,
    StoredFile,
)
from tests import files
from tests.chat import Chat, force_offered
from tests.conftest import make_producer

# food / new: the required items the producer supplies (commune_report is written by the commune).
FOOD_NEW_REQUIRED = 8


async def producer_id(app: App, user_id: int | None = None) -> int:
    async with app.engine.sessions() as session:
        statement = select(Producer.id).order_by(Producer.id)
        if user_id is not None:
            statement = statement.where(Producer.user_id == user_id)
        found = await session.scalar(statement.limit(1))
    assert found is not None
    return found


async def insert_idea(app: App, owner: int, name: str = "Chè Shan tuyết Tả Van", group: str = "food") -> int:
    async with app.engine.sessions() as session, session.begin():
        producer = await session.get_one(Producer, owner)
        idea = ProductIdea(
            producer_id=owner,
            commune_code=producer.commune_code,
            name=name,
            name_folded="che shan tuyet ta van",
            group_code=group,
            status="submitted_commune",
            submitted_at=dt.datetime(2026, 2, 1, 3, 0, tzinfo=dt.UTC),
        )
        session.add(idea)
        await session.flush()
        return idea.id


async def scalar(app: App, statement: Any) -> Any:
    async with app.engine.sessions() as session:
        return await session.scalar(statement)


async def count(app: App, model: Any, *where: Any) -> int:
    return int(await scalar(app, select(func.count()).select_from(model).where(*where)))


async def items_by_code(app: App, dossier_id: int) -> dict[str, int]:
    async with app.engine.sessions() as session:
        rows = await session.execute(
            select(DossierItem.code, DossierItem.id).where(DossierItem.dossier_id == dossier_id)
        )
        return {code: item_id for code, item_id in rows}


def payloads(chat: Chat) -> set[str]:
    return {c.payload for c in chat.choices}


async def start_dossier_from_idea(app: App, chat: Chat, owner: int) -> int:
    """Menu → the submitted idea → new product case; returns the dossier id."""
    idea_id = await insert_idea(app, owner)
    await chat.press("m:dossier")
    assert f"dos:idea:{idea_id}" in payloads(chat)
    assert "dos:new" in payloads(chat)
    await chat.press(ChooseIdea(idea=idea_id))
    await chat.press(ChooseCase(case="new"))
    dossier_id = await scalar(app, select(Dossier.id).order_by(Dossier.id.desc()).limit(1))
    assert dossier_id is not None
    return int(dossier_id)


async def test_full_dossier_path(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    owner = await producer_id(app)
    dossier_id = await start_dossier_from_idea(app, chat, owner)

    product = await scalar(app, select(Product).where(Product.producer_id == owner))
    assert product.idea_id is not None and product.group_code == "food"
    dossier = await scalar(app, select(Dossier).where(Dossier.id == dossier_id))
    assert dossier.status == DossierStatus.DRAFT and dossier.case == "new" and dossier.rule_set == "QD148_1489"
    assert "✗" in chat.text and f"0/{FOOD_NEW_REQUIRED}" in chat.text and "▱▱▱▱▱" in chat.text
    assert "dos:submit" not in payloads(chat)

    items = await items_by_code(app, dossier_id)
    assert "commune_report" in items
    assert f"dos:item:{items['commune_report']}" not in payloads(chat)
    # Short pages: the missing required items, "See all" and "Menu"; every item one press away.
    assert len(chat.choices) == FOOD_NEW_REQUIRED + 2 and "dos:more" in payloads(chat)
    assert f"dos:item:{items['label_packaging']}" not in payloads(chat)
    await chat.press(SeeAll())
    assert f"dos:item:{items['label_packaging']}" in payloads(chat)
    assert f"dos:item:{items['lab_test']}" in payloads(chat)
    await chat.press(SeeRequired())
    assert f"dos:item:{items['lab_test']}" in payloads(chat)

    # Two files for one item, each acknowledged at once, staying on the item.
    await chat.press(OpenItem(item=items["registration_form"]))
    await chat.send_file(files.pdf(1), "phieu.pdf")
    assert "1" in chat.text and "dos:done" in payloads(chat)
    await chat.send_file(files.jpeg(2), "phieu.jpg")
    assert "2" in chat.text and "dos:done" in payloads(chat)
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["registration_form"]) == 2
    await chat.press(ItemDone())
    # The first page lists what is still missing; the done item is under "See all", marked ✓.
    assert f"1/{FOOD_NEW_REQUIRED}" in chat.text and f"dos:item:{items['registration_form']}" not in payloads(chat)
    await chat.press(SeeAll())
    assert any(c.label.startswith("✓") and c.payload == f"dos:item:{items['registration_form']}" for c in chat.choices)
    await chat.press(SeeRequired())

    seed = 10
    for code, item_id in items.items():
        found = requirement(code)
        assert found is not None
        if not found.required or code == "registration_form" or found.supplied_by is SuppliedBy.COMMUNE:
            continue
        await chat.press(OpenItem(item=item_id))
        if found.supplied_by is SuppliedBy.HAND_IN:
            await chat.press(HandedIn())
        else:
            seed += 1
            await chat.send_file(files.png(seed) if seed % 2 else files.docx(seed), f"f{seed}.png")
            if found.has_expiry:  # its expiry date is asked once (tests/test_document_expiry.py)
                assert "dos:noexp" in payloads(chat)
                await chat.press(Skip())
            await chat.press(ItemDone())

    assert f"{FOOD_NEW_REQUIRED}/{FOOD_NEW_REQUIRED}" in chat.text and "▰▰▰▰▰" in chat.text
    samples = await scalar(app, select(DossierItem).where(DossierItem.id == items["samples"]))
    assert samples.handed_in_at is not None
    await chat.press(Submit())

    dossier = await scalar(app, select(Dossier).where(Dossier.id == dossier_id))
    assert dossier.status == DossierStatus.SUBMITTED_COMMUNE
    assert dossier.submitted_at is not None
    assert "02/03/2026" in chat.text
    assert "m:dossier" in payloads(chat)  # back at the main menu

    async with app.engine.sessions() as session:
        stored = list(await session.scalars(select(StoredFile)))
    assert len(stored) == FOOD_NEW_REQUIRED - 1 + 1  # 2 files for the form, none for the samples
    for row in stored:
        on_disk = app.settings.ocop.files_dir / row.path
        assert on_disk.is_file() and on_disk.name.startswith(row.sha256)
        assert not Path(row.path).is_absolute()  # relative to the files directory, so it can move


async def test_submit_refused_while_required_items_are_missing(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    await chat.press(OpenItem(item=items["registration_form"]))
    await chat.send_file(files.pdf(1))
    await chat.press(Back())
    assert "dos:submit" not in payloads(chat)

    await chat.send("nop ho so")
    dossier = await scalar(app, select(Dossier).where(Dossier.id == dossier_id))
    assert dossier.status == DossierStatus.DRAFT and dossier.submitted_at is None
    lab_test = requirement("lab_test")
    assert f"còn thiếu {FOOD_NEW_REQUIRED - 1} mục bắt buộc" in chat.text  # how many, in one short line
    assert lab_test is not None and any(lab_test.label in c.label for c in chat.choices)  # named on buttons
    assert f"dos:item:{items['lab_test']}" in payloads(chat)  # and the checklist follows

    await chat.press("dos:submit")  # never offered: a stale button, nothing submitted
    dossier = await scalar(app, select(Dossier).where(Dossier.id == dossier_id))
    assert dossier.status == DossierStatus.DRAFT


async def test_rejected_files_store_nothing(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    await chat.press(OpenItem(item=items["lab_test"]))

    await chat.send_file(files.pdf(1), "big.pdf", size=25 * 1024 * 1024)
    assert "20" in chat.text and "dos:done" in payloads(chat)
    await chat.send_file(b"just some plain text, not a document", "note.txt")
    assert "PDF" in chat.text and "JPEG" in chat.text and "dos:done" in payloads(chat)
    await chat.send_file(files.exe(), "photo.jpg")
    assert "PDF" in chat.text and "dos:done" in payloads(chat)
    await chat.send_file(b"", "empty.pdf")
    assert "dos:done" in payloads(chat)

    assert await count(app, StoredFile) == 0
    assert await count(app, DossierItemFile) == 0
    assert not app.settings.ocop.files_dir.exists() or not any(
        p.is_file() for p in app.settings.ocop.files_dir.rglob("*")
    )

    # Still on the item: a good file after the bad ones is taken.
    await chat.send_file(files.png(5), "ok.png")
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["lab_test"]) == 1


async def test_same_bytes_are_stored_once(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    data = files.pdf(42)

    await chat.press(OpenItem(item=items["organisation"]))
    await chat.send_file(data, "a.pdf")
    await chat.send_file(data, "a-again.pdf")
    assert "dos:done" in payloads(chat)
    await chat.press(ItemDone())
    await chat.press(OpenItem(item=items["business_plan"]))
    await chat.send_file(data, "same.pdf")

    assert await count(app, StoredFile) == 1
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["organisation"]) == 1
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["business_plan"]) == 1


async def test_stray_file_is_attached_later(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    await chat.press(ToMenu())  # out of the flow

    await chat.send_file(files.jpeg(9), "IMG_001.jpg")
    # Photos first: one question naming the first missing required item, three buttons.
    assert chat.text == "Ảnh này là “Phiếu đăng ký sản phẩm OCOP”?"
    assert payloads(chat) == {f"dos:att:{items['registration_form']}", "dos:attall", "dos:drop"}
    assert await count(app, StoredFile) == 1

    await chat.press(AnotherItem())  # 📂 Another item: the whole list
    assert f"dos:att:{items['food_safety']}" in payloads(chat)
    assert f"dos:att:{items['commune_report']}" not in payloads(chat)
    await chat.press(AttachTo(item=items["food_safety"]))
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["food_safety"]) == 1
    assert f"1/{FOOD_NEW_REQUIRED}" in chat.text  # back on the checklist


async def test_one_tap_files_a_photo_in_the_first_missing_item(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    await chat.send_file(files.jpeg(21), "phieu.jpg")  # at the checklist, no item chosen
    await chat.tap("Đúng")
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["registration_form"]) == 1
    assert f"1/{FOOD_NEW_REQUIRED}" in chat.text
    # The next photo goes to the next missing item: again one tap.
    await chat.send_file(files.jpeg(22), "ke-hoach.jpg")
    assert "“Phương án/kế hoạch sản xuất kinh doanh”" in chat.text
    await chat.tap("Đúng")
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["business_plan"]) == 1


async def test_left_out_files_are_not_added(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await start_dossier_from_idea(app, chat, await producer_id(app))
    await chat.send_file(files.jpeg(23), "nham.jpg")
    await chat.tap("Bỏ")
    assert "Đã bỏ 1 tệp" in chat.text and "dos:more" in payloads(chat)  # back on the checklist
    assert await count(app, DossierItemFile) == 0


async def test_stray_file_without_a_dossier_is_kept_on_disk(app: App, producer_chat: Chat) -> None:
    await producer_chat.send_file(files.png(3), "anh.png")
    assert await count(app, DossierItemFile) == 0
    assert any(p.is_file() for p in app.settings.ocop.files_dir.rglob("*.png"))
    assert "m:dossier" in payloads(producer_chat)


async def test_file_at_the_checklist_asks_for_its_item(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    await chat.send_file(files.pdf(8))
    await chat.send_file(files.pdf(9))  # sent together: both go to the chosen item
    await chat.press(AnotherItem())
    await chat.press(AttachTo(item=items["quality_declaration"]))
    assert await count(app, DossierItemFile, DossierItemFile.item_id == items["quality_declaration"]) == 2


async def test_button_naming_another_producers_item_links_nothing(app: App, producer_chat: Chat) -> None:
    other_user = await make_producer(app, "p2", name="HTX Mật ong")
    other = Chat(app.engine, user_id="p2")
    other_dossier = await start_dossier_from_idea(app, other, await producer_id(app, other_user))
    other_items = await items_by_code(app, other_dossier)
    target = other_items["registration_form"]

    chat = producer_chat
    await start_dossier_from_idea(app, chat, await producer_id(app))
    await chat.press(f"dos:item:{target}")  # not offered: the engine's stale answer
    assert chat.choices and f"dos:item:{target}" not in payloads(chat)
    await chat.press(ToMenu())

    await chat.press("m:dossier")
    await chat.press(next(p for p in payloads(chat) if p.startswith("dos:prod:")))
    await force_offered(app.engine, "p1", f"dos:item:{target}")
    await chat.press(f"dos:item:{target}")  # offered, but not theirs: still refused
    assert "m:dossier" in payloads(chat)
    await chat.send_file(files.pdf(77))  # now a stray file, not a file for the other producer's item
    assert target not in {int(p.rsplit(":", 1)[1]) for p in payloads(chat) if p.startswith("dos:att:")}
    await force_offered(app.engine, "p1", f"dos:att:{target}")
    await chat.press(f"dos:att:{target}")
    assert await count(app, DossierItemFile, DossierItemFile.item_id == target) == 0
    assert "m:dossier" in payloads(chat)


async def test_another_product_by_name_and_group(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await chat.press("m:dossier")
    await chat.press(NewProduct())
    await chat.send("😀😀")
    await chat.send("x")
    assert await count(app, Product) == 0
    await chat.send("Mật ong   bạc hà")
    assert "dos:grp:food" in payloads(chat)
    await chat.press(ChooseGroup(group="food"))
    await chat.press(ChooseCase(case="re-evaluation"))
    product = await scalar(app, select(Product))
    assert product.name == "Mật ong bạc hà" and product.name_folded == "mat ong bac ha"
    dossier_id = await scalar(app, select(Dossier.id))
    items = await items_by_code(app, dossier_id)
    assert "renewal_report" in items and "business_plan" not in items

    # The product now goes straight to its open dossier.
    await chat.press(ToMenu())
    await chat.press("m:dossier")
    await chat.press(ChooseProduct(product=product.id))
    assert f"dos:item:{items['renewal_report']}" in payloads(chat)
    assert await count(app, Dossier) == 1


async def test_two_producers_sending_the_same_bytes_at_once(app: App, producer_chat: Chat) -> None:
    import asyncio

    other_user = await make_producer(app, "p2", name="HTX Mật ong")
    other = Chat(app.engine, user_id="p2")
    chats = [(producer_chat, await producer_id(app)), (other, await producer_id(app, other_user))]
    targets = []
    for chat, owner in chats:
        items = await items_by_code(app, await start_dossier_from_idea(app, chat, owner))
        await chat.press(OpenItem(item=items["organisation"]))
        targets.append(items["organisation"])

    data = files.pdf(2024)
    await asyncio.gather(*(chat.send_file(data, "to-chuc.pdf") for chat, _owner in chats))

    assert await count(app, StoredFile) == 1
    for target in targets:
        assert await count(app, DossierItemFile, DossierItemFile.item_id == target) == 1
