"""Taking back a file: list an item's files, remove one (confirmed, audit-logged, bytes kept while referenced)
or move it to another item, by buttons and by numbers or words (Zalo Bot Platform, console)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from bot.app import App
from bot.rules import DossierStatus
from handlers.dossier import ItemFiles, OpenItem, SeeAll
from handlers.dossier_files import BackToItem, ChooseFile, Move, MoveTo, Remove, RemoveYes
from storage.models import Dossier, DossierItem, DossierItemFile, StoredFile
from tests import files
from tests.chat import Chat, force_offered
from tests.conftest import make_producer
from tests.staff_helpers import audit_log
from tests.test_dossier import count, items_by_code, payloads, producer_id, scalar, start_dossier_from_idea

STALE = "tin nhắn cũ"


async def _links(app: App, item_id: int) -> list[DossierItemFile]:
    async with app.engine.sessions() as session:
        return list(
            await session.scalars(
                select(DossierItemFile).where(DossierItemFile.item_id == item_id).order_by(DossierItemFile.id)
            )
        )


async def _two_files_in(app: App, chat: Chat, code: str = "registration_form") -> tuple[int, dict[str, int]]:
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    await chat.press(OpenItem(item=items[code]))
    await chat.send_file(files.pdf(1), "nham-muc.pdf")
    await chat.send_file(files.png(2), "dung.png")
    return dossier_id, items


async def test_remove_a_file_after_confirming(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    _dossier_id, items = await _two_files_in(app, chat)
    form = items["registration_form"]
    wrong, right = await _links(app, form)

    await chat.tap("Xem, xoá")
    assert "nham-muc.pdf · 02/03/2026 · " in chat.text and "KB" in chat.text and "• dung.png" in chat.text
    await chat.press(ChooseFile(link=wrong.id))
    await chat.press(Remove())
    assert "nham-muc.pdf" in chat.text and await count(app, DossierItemFile, DossierItemFile.item_id == form) == 2
    await chat.press(RemoveYes())

    assert [link.id for link in await _links(app, form)] == [right.id]
    assert "Đã xoá" in chat.text and "nham-muc.pdf" in chat.text and "• dung.png" in chat.text
    # The bytes stay on disk with their row: the orphan sweep decides later.
    stored = await scalar(app, select(StoredFile).where(StoredFile.id == wrong.stored_file_id))
    assert stored is not None and (app.settings.ocop.files_dir / stored.path).is_file()
    (entry,) = [e for e in await audit_log(app) if e.action == "dossier.file_removed"]
    assert entry.actor_user_id is not None and entry.before is not None
    assert entry.before["item"] == "registration_form" and entry.before["name"] == "nham-muc.pdf"

    # The confirmation pressed again: the engine's answer for an old button; nothing else goes.
    await chat.press("dof:rmok")
    assert STALE in chat.text and await count(app, DossierItemFile, DossierItemFile.item_id == form) == 1
    # A removed file's button forced back into the offer: a plain answer, the list as it is now.
    await force_offered(app.engine, "p1", f"dof:f:{wrong.id}")
    await chat.press(f"dof:f:{wrong.id}")
    assert "không còn trong mục" in chat.text and f"dof:f:{right.id}" in payloads(chat)

    await chat.press(BackToItem())  # back on the item, whose counter went down
    assert "Số tệp đã nhận: 1" in chat.text
    assert "dos:done" in payloads(chat)


async def test_move_a_file_to_the_right_item(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    _dossier_id, items = await _two_files_in(app, chat)
    form, plan = items["registration_form"], items["business_plan"]
    wrong, _right = await _links(app, form)

    await chat.press(ItemFiles())
    await chat.press(ChooseFile(link=wrong.id))
    await chat.press(Move())
    assert f"dof:to:{plan}" in payloads(chat) and f"dof:to:{form}" not in payloads(chat)
    assert f"dof:to:{items['commune_report']}" not in payloads(chat)  # the commune writes that one
    await chat.press(MoveTo(item=plan))

    assert [link.id for link in await _links(app, plan)] == [wrong.id]
    assert len(await _links(app, form)) == 1
    (entry,) = [e for e in await audit_log(app) if e.action == "dossier.file_moved"]
    assert entry.before and entry.before["item"] == "registration_form"
    assert entry.after == {"item": "business_plan"}

    # Another producer's item, forced into the offer, takes nothing.
    other_user = await make_producer(app, "p2", name="HTX Mật ong")
    other = Chat(app.engine, user_id="p2")
    other_items = await items_by_code(
        app, await start_dossier_from_idea(app, other, await producer_id(app, other_user))
    )
    (_remaining,) = await _links(app, form)
    await chat.press(ChooseFile(link=_remaining.id))
    await chat.press(Move())
    await force_offered(app.engine, "p1", f"dof:to:{other_items['business_plan']}")
    await chat.press(f"dof:to:{other_items['business_plan']}")
    assert await count(app, DossierItemFile, DossierItemFile.item_id == other_items["business_plan"]) == 0
    assert len(await _links(app, form)) == 1


async def test_by_numbers_and_words_on_the_zalo_bot_platform(app: App) -> None:
    await make_producer(app, "z1", channel="zalo_bot")
    chat = Chat(app.engine, user_id="z1", channel="zalo_bot")
    _dossier_id, items = await _two_files_in(app, chat)
    form = items["registration_form"]
    wrong, right = await _links(app, form)

    labels = [c.label for c in chat.choices]
    await chat.send(str(labels.index(next(label for label in labels if "Xem, xoá" in label)) + 1))
    await chat.send("1")  # the first file
    assert "nham-muc.pdf" in chat.text
    await chat.send("xoa tep")  # the words of "🗑 Xoá tệp này"
    assert "Đúng, xoá tệp" in " ".join(c.label for c in chat.choices)
    await chat.send("1")
    assert [link.id for link in await _links(app, form)] == [right.id]

    await chat.send("1")  # the remaining file
    await chat.send("chuyen sang muc khac")
    labels = [c.label for c in chat.choices]
    plan_label = next(label for label in labels if "Phương án" in label or "kinh doanh" in label.casefold())
    await chat.send(str(labels.index(plan_label) + 1))
    assert [link.id for link in await _links(app, items["business_plan"])] == [right.id]
    assert wrong.id != right.id


async def test_only_while_the_dossier_is_with_the_producer(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id, items = await _two_files_in(app, chat)
    form = items["registration_form"]
    wrong, _right = await _links(app, form)
    await chat.press(ItemFiles())
    await chat.press(ChooseFile(link=wrong.id))
    await chat.press(Remove())

    async with app.engine.sessions() as session, session.begin():  # submitted meanwhile, from another phone
        await session.execute(
            update(Dossier).where(Dossier.id == dossier_id).values(status=DossierStatus.SUBMITTED_COMMUNE.value)
        )
    await chat.press(RemoveYes())
    assert await count(app, DossierItemFile, DossierItemFile.item_id == form) == 2
    assert "không sửa được" in chat.text

    async with app.engine.sessions() as session, session.begin():  # the commune asked for a supplement
        await session.execute(
            update(Dossier).where(Dossier.id == dossier_id).values(status=DossierStatus.NEEDS_SUPPLEMENT.value)
        )
    await chat.press("m:dossier")
    await chat.press(next(p for p in payloads(chat) if p.startswith("dos:prod:")))
    await chat.press(SeeAll())  # done items are on the second page
    await chat.press(OpenItem(item=form))
    await chat.press(ItemFiles())
    await chat.press(ChooseFile(link=wrong.id))
    await chat.press(Remove())
    await chat.press(RemoveYes())
    assert await count(app, DossierItemFile, DossierItemFile.item_id == form) == 1


async def test_removing_the_last_file_of_a_dated_document_forgets_its_date(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    await chat.press(OpenItem(item=items["food_safety"]))
    await chat.send_file(files.pdf(5), "vsattp-cu.pdf")
    await chat.send("31/12/2026")
    assert (await scalar(app, select(DossierItem).where(DossierItem.id == items["food_safety"]))).expires_on == (
        dt.date(2026, 12, 31)
    )
    await chat.press(ItemFiles())
    (link,) = await _links(app, items["food_safety"])
    await chat.press(ChooseFile(link=link.id))
    await chat.press(Remove())
    await chat.press(RemoveYes())
    item = await scalar(app, select(DossierItem).where(DossierItem.id == items["food_safety"]))
    assert item.expires_on is None
    assert "dos:done" in payloads(chat) and "dos:files" not in payloads(chat)  # back on the item, empty


async def test_a_photo_sent_while_removing_goes_to_the_item(app: App, producer_chat: Chat) -> None:
    """The replacement often comes before the old file is removed: it is taken by the item, not lost."""
    chat = producer_chat
    _dossier_id, items = await _two_files_in(app, chat)
    form = items["registration_form"]
    wrong, _right = await _links(app, form)
    await chat.press(ItemFiles())
    await chat.press(ChooseFile(link=wrong.id))
    await chat.send_file(files.pdf(9), "ban-moi.pdf")
    assert "Đã nhận tệp thứ 3" in chat.text and "dos:files" in payloads(chat)
    assert [link.original_name for link in await _links(app, form)][-1] == "ban-moi.pdf"
