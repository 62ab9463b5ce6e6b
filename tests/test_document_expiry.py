"""Documents that expire on their own (food-safety certificate, lab test): the date is asked once, stored on
the item, shown on the item, the checklist and the status report, and feeds the reminder sweep.

The test clock says 02/03/2026 (see ``tests/conftest.py``)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from bot import reminders as kinds
from bot.app import App
from bot.notices import render
from bot.sweep import sweep
from handlers.dossier import (
    Back,
    ChooseProduct,
    ExpiryDate,
    ItemDone,
    NoExpiry,
    OpenItem,
    SeeAll,
    SeeRequired,
    Skip,
    ToMenu,
)
from storage import rounds
from storage.models import Dossier, DossierItem, DossierItemFile, OutboxMessage, Producer
from tests import files
from tests.chat import Chat, FrozenClock
from tests.test_dossier import count, items_by_code, payloads, producer_id, scalar, start_dossier_from_idea


async def expires_on(app: App, item_id: int) -> dt.date | None:
    found: dt.date | None = await scalar(app, select(DossierItem.expires_on).where(DossierItem.id == item_id))
    return found


async def open_item_with_a_file(app: App, chat: Chat, code: str = "food_safety") -> tuple[int, int]:
    """A new food dossier, its ``code`` item opened and a first file sent: (dossier id, item id)."""
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    item_id = (await items_by_code(app, dossier_id))[code]
    await chat.press(OpenItem(item=item_id))
    await chat.send_file(files.jpeg(7), "attp.jpg")
    return dossier_id, item_id


def asks_for_expiry(chat: Chat) -> bool:
    return payloads(chat) == {"dos:noexp", "dos:skip"}


async def test_the_date_is_asked_after_the_first_file_and_stored(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    _dossier_id, item_id = await open_item_with_a_file(app, chat)
    assert await count(app, DossierItemFile, DossierItemFile.item_id == item_id) == 1
    assert asks_for_expiry(chat) and "31/12/2027" in chat.text  # the example is a date, not words

    await chat.send("31/12/2027")
    assert await expires_on(app, item_id) == dt.date(2027, 12, 31)
    # Back on the item: more files can come, and the date has its own button to change it.
    assert "dos:done" in payloads(chat) and "dos:exp" in payloads(chat)
    assert any("31/12/2027" in c.label for c in chat.choices)

    # A second file is not a reason to ask again, nor is ✅ Done.
    await chat.send_file(files.jpeg(8), "attp-2.jpg")
    assert "dos:done" in payloads(chat) and not asks_for_expiry(chat)
    await chat.press(ItemDone())
    assert "dos:submit" in payloads(chat) or "dos:menu" in payloads(chat)
    await chat.press(SeeAll())  # done items and their dates are on "See all"
    line = next(line for line in chat.text.splitlines() if "31/12/2027" in line)
    assert line.startswith("✓")


async def test_typed_nonsense_is_asked_again(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    _dossier_id, item_id = await open_item_with_a_file(app, chat, "lab_test")
    for nonsense in ("abc", "😀😀", "31/02/2027", "9", "12/2027/99"):  # "1"/"2" are the two buttons
        await chat.send(nonsense)
        assert asks_for_expiry(chat), nonsense
        assert await expires_on(app, item_id) is None
    # A date without a year is the next such day; dashes work as well as slashes.
    await chat.send("20-5")
    assert await expires_on(app, item_id) == dt.date(2026, 5, 20)


async def test_skip_stores_nothing_and_is_not_asked_again(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    _dossier_id, item_id = await open_item_with_a_file(app, chat)
    await chat.press(Skip())
    assert await expires_on(app, item_id) is None
    assert "dos:done" in payloads(chat) and "dos:exp" in payloads(chat)
    await chat.press(ItemDone())
    assert not asks_for_expiry(chat) and "dos:menu" in payloads(chat)


async def test_done_asks_once_in_a_later_conversation(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id, item_id = await open_item_with_a_file(app, chat)
    await chat.press(Skip())
    await chat.press(ItemDone())
    # Another day: back to the dossier, the item already has its file, ✅ Done asks for the date.
    await chat.press(ToMenu())
    product_id = await scalar(app, select(Dossier.product_id).where(Dossier.id == dossier_id))
    await chat.press("m:dossier")
    await chat.press(ChooseProduct(product=product_id))
    await chat.press(SeeAll())  # items with a file are on the second page
    await chat.press(OpenItem(item=item_id))
    await chat.press(ItemDone())
    assert asks_for_expiry(chat)
    await chat.press(NoExpiry())
    assert await expires_on(app, item_id) is None
    assert "dos:menu" in payloads(chat)  # the checklist, since the item was finished


async def test_change_it_later_and_no_expiry(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    _dossier_id, item_id = await open_item_with_a_file(app, chat)
    await chat.send("30/06/2027")
    await chat.press(ExpiryDate())
    assert "30/06/2027" in chat.text and payloads(chat) == {"dos:noexp", "dos:skip"}
    await chat.press(Skip())  # ⬅️ Back keeps the date
    assert await expires_on(app, item_id) == dt.date(2027, 6, 30)
    await chat.press(ExpiryDate())
    await chat.send("1/7/2028")
    assert await expires_on(app, item_id) == dt.date(2028, 7, 1)
    await chat.press(ExpiryDate())
    await chat.press(NoExpiry())
    assert await expires_on(app, item_id) is None
    assert "dos:exp" in payloads(chat) and not any("📅" in c.label and "/" in c.label for c in chat.choices)


async def test_a_file_while_the_date_is_asked_is_kept(app: App, producer_chat: Chat, clock: FrozenClock) -> None:
    chat = producer_chat
    _dossier_id, item_id = await open_item_with_a_file(app, chat)
    await chat.send_file(files.png(8), "attp-page-2.png")  # the next page of the same batch: no second question
    assert await count(app, DossierItemFile, DossierItemFile.item_id == item_id) == 2
    assert chat.replies == []
    clock.advance(minutes=2)
    await chat.send_file(files.png(9), "attp-page-3.png")  # a page sent later: kept, and the date asked again
    assert await count(app, DossierItemFile, DossierItemFile.item_id == item_id) == 3
    assert asks_for_expiry(chat)
    await chat.send("31/12/2027")  # the date question still answers after the quiet page
    assert await expires_on(app, item_id) == dt.date(2027, 12, 31)


async def test_an_expired_document_is_recorded_and_warned(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    _dossier_id, item_id = await open_item_with_a_file(app, chat)
    await chat.send("15/01/2026")
    assert await expires_on(app, item_id) == dt.date(2026, 1, 15)
    assert "⚠️" in chat.text and "15/01/2026" in chat.text
    await chat.press(ItemDone())
    line = next(line for line in chat.text.splitlines() if "15/01/2026" in line)
    assert "⚠️" in line
    assert f"dos:item:{item_id}" in payloads(chat)  # on the first page, with its button, to send a new one

    await chat.press("m:status")
    report = [line for line in chat.text.splitlines() if "15/01/2026" in line]
    assert len(report) == 1 and report[0].startswith("⚠️")


async def test_status_shows_only_documents_expiring_soon(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id, food_id = await open_item_with_a_file(app, chat)
    await chat.send("20/04/2026")  # within 60 days
    lab_id = (await items_by_code(app, dossier_id))["lab_test"]
    await chat.press(Back())
    await chat.press(OpenItem(item=lab_id))
    await chat.send_file(files.pdf(10), "kiem-nghiem.pdf")
    await chat.send("31/12/2027")  # far away, and no council date yet
    assert await expires_on(app, food_id) == dt.date(2026, 4, 20)
    assert await expires_on(app, lab_id) == dt.date(2027, 12, 31)

    await chat.press("m:status")
    assert "20/04/2026" in chat.text and "31/12/2027" not in chat.text


async def test_expiry_before_the_meeting_feeds_the_sweep(app: App, producer_chat: Chat, clock: FrozenClock) -> None:
    chat = producer_chat
    owner = await producer_id(app)
    dossier_id = await start_dossier_from_idea(app, chat, owner)
    async with app.engine.sessions() as session, session.begin():
        found = await rounds.create_round(
            session,
            province=app.settings.ocop.province,
            name="Đợt 1/2026",
            submit_deadline=dt.date(2026, 5, 20),
            meeting_date=dt.date(2026, 6, 10),
            now=clock.now,
        )
        await session.execute(update(Dossier).where(Dossier.id == dossier_id).values(round_id=found.id))
    item_id = (await items_by_code(app, dossier_id))["lab_test"]
    await chat.press(SeeRequired())  # the checklist again, so the item's button is on the newest message
    await chat.press(OpenItem(item=item_id))
    await chat.send_file(files.pdf(11), "kiem-nghiem.pdf")
    await chat.send("31/5/2026")
    assert await expires_on(app, item_id) == dt.date(2026, 5, 31)
    assert "⚠️" in chat.text and "10/06/2026" in chat.text  # told at once that the council meets later

    await chat.press("m:status")
    report = next(line for line in chat.text.splitlines() if "31/05/2026" in line)
    assert report.startswith("⚠️") and "10/06/2026" in report

    async with app.engine.sessions() as session, session.begin():
        await sweep(session, app.settings, clock.now)
    user_id = await scalar(app, select(Producer.user_id).where(Producer.id == owner))
    async with app.engine.sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kinds.DOCUMENT_EXPIRING)))
    assert [(r.user_id, r.params["item"]) for r in rows] == [(user_id, "lab_test")]
    text = render(rows[0].kind, rows[0].params, "vi").text  # type: ignore[union-attr]
    assert "31/05/2026" in text and "10/06/2026" in text
