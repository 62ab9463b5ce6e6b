"""Registering a product idea through the engine: buttons, typing (with and without diacritics), numbered
replies, validation hints, editing from the summary, discarding, cancelling and stale buttons."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.app import App
from bot.callbacks import Button
from bot.i18n import _
from bot.menu_buttons import MenuIdea
from bot.rules import IdeaStatus
from handlers import idea
from storage.models import Conversation, ProductIdea
from tests.chat import Chat

MENU_IDEA = MenuIdea()


async def stored_ideas(app: App) -> list[ProductIdea]:
    async with app.engine.sessions() as session:
        return list(await session.scalars(select(ProductIdea).order_by(ProductIdea.id)))


async def conversation_of(app: App) -> Conversation:
    async with app.engine.sessions() as session:
        rows = list(await session.scalars(select(Conversation)))
    # producer_chat is the only user talking in these tests
    assert len(rows) == 1
    return rows[0]


def payloads(chat: Chat) -> list[Button | None]:
    """The buttons offered, read back as their classes."""
    return [Button.parse(choice.payload) for choice in chat.choices]


async def answer_until_summary(chat: Chat) -> None:
    """The quickest full pass by buttons, ending on the summary."""
    await chat.press(MENU_IDEA)
    await chat.send("Chè Shan tuyết")
    await chat.press(idea.PickGroup(group="drink"))
    await chat.send("Chè búp khô, sao tay.")
    await chat.send("Lá chè Shan tuyết cổ thụ")
    await chat.press(idea.PickOrigin(origin=idea.ORIGIN_COMMUNE))
    await chat.send("5")
    await chat.send("3")
    await chat.press(idea.TickMarket(option="local"))
    await chat.press(idea.TickMarket(option="online"))
    await chat.press(idea.MarketDone())
    await chat.press(idea.TickSupport(option="packaging"))
    await chat.press(idea.TickSupport(option="loans"))
    await chat.press(idea.SupportDone())
    assert payloads(chat) == [idea.Submit(), idea.Edit(), idea.Discard()]


async def test_full_path_by_buttons_stores_every_field(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await chat.press(MENU_IDEA)
    assert payloads(chat) == [idea.Back()]
    assert "(1/9)" in chat.text
    await chat.send("Chè Shan tuyết")
    assert len(chat.choices) == 7  # six groups and Back
    await chat.press(idea.PickGroup(group="drink"))
    await chat.send("Chè búp khô, sao tay.")
    await chat.send("Lá chè Shan tuyết cổ thụ")
    await chat.press(idea.PickOrigin(origin=idea.ORIGIN_COMMUNE))
    await chat.send("5 người")
    assert idea.AllLocal() in payloads(chat)
    await chat.press(idea.AllLocal())
    await chat.press(idea.TickMarket(option="local"))
    ticked = idea.TickMarket(option="local").pack()
    assert any(c.label.startswith("✓") and c.payload == ticked for c in chat.choices)
    await chat.press(idea.TickMarket(option="export"))
    await chat.press(idea.MarketDone())
    await chat.press(idea.TickSupport(option="packaging"))
    await chat.press(idea.TickSupport(option="trademark"))
    await chat.press(idea.SupportDone())
    assert payloads(chat) == [idea.Submit(), idea.Edit(), idea.Discard()]
    for value in ("Chè Shan tuyết", "Chè búp khô, sao tay.", "Lá chè Shan tuyết cổ thụ", "Xã Bình Lư"):
        assert value in chat.text
    assert not await stored_ideas(app), "nothing is stored before Submit"

    await chat.press(idea.Submit())
    assert "02/03/2026" in chat.text
    assert MENU_IDEA in payloads(chat), "the main menu follows"
    [row] = await stored_ideas(app)
    assert row.name == "Chè Shan tuyết"
    assert row.name_folded == "che shan tuyet"
    assert row.group_code == "drink"
    assert row.description == "Chè búp khô, sao tay."
    assert row.raw_materials == "Lá chè Shan tuyết cổ thụ"
    assert row.raw_material_origin == "Xã Bình Lư"
    assert (row.workers_total, row.workers_local) == (5, 5)
    assert row.market == f"{_('Local market')}, {_('Export')}"
    assert row.support_needed == f"{_('Packaging and labels')}, {_('Trademark')}"
    assert row.status == IdeaStatus.SUBMITTED_COMMUNE
    assert row.submitted_at is not None
    assert row.submitted_at.replace(tzinfo=dt.UTC) == dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)
    assert row.commune_code > 0
    conversation = await conversation_of(app)
    assert conversation.flow is None and conversation.data == {}


async def test_full_path_by_typing_without_diacritics_and_numbers(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await chat.press(MENU_IDEA)
    await chat.send("mat ong bac ha")
    await chat.send("1")  # the first group, by its number
    await chat.send("mat ong nguyen chat tu hoa bac ha")
    await chat.send("mat ong")
    await chat.send("Ha Giang")  # a place typed instead of a button
    await chat.send("khoang 12 nguoi")
    await chat.send("10")
    await chat.send("cho phien va khach du lich")
    await chat.send("vay von, tap huan")
    assert payloads(chat) == [idea.Submit(), idea.Edit(), idea.Discard()]
    await chat.send("1")  # Submit, by its number
    [row] = await stored_ideas(app)
    assert row.name == "mat ong bac ha"
    assert row.group_code == "food"
    assert row.raw_material_origin == "Ha Giang"
    assert (row.workers_total, row.workers_local) == (12, 10)
    assert row.market == "cho phien va khach du lich"
    assert row.support_needed == "vay von, tap huan"


async def test_numbered_replies_pick_options(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await chat.press(MENU_IDEA)
    await chat.send("Miến dong")
    await chat.send("2")  # the second group
    await chat.send("Miến làm từ củ dong riềng")
    await chat.send("Củ dong riềng")
    await chat.send("3")  # Elsewhere: asks for the place
    assert payloads(chat) == [idea.Back()]
    await chat.send("Tuyên Quang")
    await chat.send("4")
    await chat.send("0")  # zero local workers is allowed
    await chat.send("2")  # ticks the second market option
    await chat.send("2")  # and unticks it
    await chat.send("6")  # Done with nothing ticked: asked again
    assert idea.MarketDone() in payloads(chat)
    await chat.send("4")  # Online
    await chat.send("6")  # Done
    await chat.send("7")  # Nothing
    await chat.send("1")
    [row] = await stored_ideas(app)
    assert row.group_code == "drink"
    assert row.raw_material_origin == "Tuyên Quang"
    assert (row.workers_total, row.workers_local) == (4, 0)
    assert row.market == _("Sell online")
    assert row.support_needed == _("No support needed")


async def test_invalid_numbers_get_a_hint_and_the_question_again(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await chat.press(MENU_IDEA)
    await chat.send("Chè")
    await chat.press(idea.PickGroup(group="drink"))
    await chat.send("Chè xanh")
    await chat.send("Lá chè")
    await chat.press(idea.PickOrigin(origin=idea.ORIGIN_PROVINCE))
    for wrong in ("nam", "năm người", "5-7", "-3", "0", "🙂", "9999999"):
        await chat.send(wrong)
        assert "(6/9)" in chat.text, wrong
        assert payloads(chat) == [idea.Back()], wrong
    await chat.send("5")
    assert "(7/9)" in chat.text
    for wrong in ("9", "6 nguoi", "ba"):  # more local workers than in all, or not a number
        await chat.send(wrong)
        assert "(7/9)" in chat.text, wrong
        assert idea.AllLocal() in payloads(chat), wrong
    await chat.send("5")
    assert "(8/9)" in chat.text
    assert not await stored_ideas(app)


async def test_free_text_is_validated(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await chat.press(MENU_IDEA)
    for wrong in ("🍵🍵", "...", "a", "x" * 201):
        await chat.send(wrong)
        assert "(1/9)" in chat.text, wrong
    await chat.send("Chè")
    await chat.press(idea.PickGroup(group="drink"))
    await chat.send("x" * 1001)
    assert "(3/9)" in chat.text
    await chat.send("Ngon")  # short is fine
    assert "(4/9)" in chat.text
    assert not await stored_ideas(app)


async def test_typed_group_words_and_back(producer_chat: Chat) -> None:
    chat = producer_chat
    await chat.press(MENU_IDEA)
    await chat.send("Chè")
    await chat.send("không biết")
    assert "(2/9)" in chat.text and len(chat.choices) == 7
    await chat.press(idea.Back())
    assert "(1/9)" in chat.text
    await chat.send("Chè")
    await chat.send("7")  # Back, by its number
    assert "(1/9)" in chat.text


async def test_edit_one_field_from_the_summary(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await answer_until_summary(chat)
    await chat.press(idea.Edit())
    assert len(chat.choices) == 10  # nine fields and back to the summary
    await chat.press(idea.PickField(field="name"))
    assert "Chè Shan tuyết" in chat.text, "the current answer is shown"
    await chat.send("Chè Shan tuyết Tả Van")
    assert payloads(chat) == [idea.Submit(), idea.Edit(), idea.Discard()], "straight back to the summary"
    assert "Chè Shan tuyết Tả Van" in chat.text

    # A smaller total than the local workers given before asks for the local workers again.
    await chat.press(idea.Edit())
    await chat.press(idea.PickField(field="workers"))
    await chat.send("2")
    assert idea.AllLocal() in payloads(chat)
    await chat.send("1")
    assert payloads(chat) == [idea.Submit(), idea.Edit(), idea.Discard()]

    # Back from an edited question returns to the summary, unchanged.
    await chat.press(idea.Edit())
    await chat.press(idea.PickField(field="group"))
    await chat.press(idea.Back())
    assert payloads(chat) == [idea.Submit(), idea.Edit(), idea.Discard()]

    await chat.press(idea.Submit())
    [row] = await stored_ideas(app)
    assert row.name == "Chè Shan tuyết Tả Van"
    assert row.name_folded == "che shan tuyet ta van"
    assert (row.workers_total, row.workers_local) == (2, 1)
    assert row.group_code == "drink"
    assert row.market == f"{_('Local market')}, {_('Sell online')}"


async def test_discard_stores_nothing(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await answer_until_summary(chat)
    await chat.press(idea.Discard())
    await chat.press(idea.ToSummary())  # "No, keep it"
    assert payloads(chat) == [idea.Submit(), idea.Edit(), idea.Discard()]
    await chat.press(idea.Discard())
    await chat.press(idea.DiscardYes())
    assert MENU_IDEA in payloads(chat)
    assert not await stored_ideas(app)
    assert (await conversation_of(app)).flow is None


async def test_cancel_midway_stores_nothing_and_shows_the_menu(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await chat.press(MENU_IDEA)
    await chat.send("Chè")
    await chat.press(idea.PickGroup(group="drink"))
    await chat.send("huy")
    assert MENU_IDEA in payloads(chat)
    assert not await stored_ideas(app)
    conversation = await conversation_of(app)
    assert conversation.flow is None and conversation.data == {}


async def test_stale_summary_button_after_submit_is_answered_once(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await answer_until_summary(chat)
    await chat.press(idea.Submit())
    await chat.press(idea.Submit())
    assert chat.text and "Traceback" not in chat.text
    assert MENU_IDEA in payloads(chat)
    await chat.press(idea.Edit())
    assert MENU_IDEA in payloads(chat)
    assert len(await stored_ideas(app)) == 1


async def test_same_name_again_is_flagged_in_the_summary(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await answer_until_summary(chat)
    assert "⚠️" not in chat.text
    await chat.press(idea.Submit())
    await answer_until_summary(chat)
    assert "⚠️" in chat.text and "02/03/2026" in chat.text
    await chat.press(idea.Submit())
    assert len(await stored_ideas(app)) == 2


async def test_support_nothing_replaces_ticks(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await chat.press(MENU_IDEA)
    await chat.send("Chè")
    await chat.press(idea.PickGroup(group="drink"))
    await chat.send("Chè xanh")
    await chat.send("Lá chè")
    await chat.press(idea.PickOrigin(origin=idea.ORIGIN_PROVINCE))
    await chat.send("3")
    await chat.send("2")
    await chat.send("Chợ Tam Đường")
    await chat.press(idea.TickSupport(option="training"))
    await chat.press(idea.NoSupport())
    await chat.press(idea.Submit())
    [row] = await stored_ideas(app)
    assert row.support_needed == _("No support needed")
    assert row.market == "Chợ Tam Đường"
    assert "Lai Châu" in row.raw_material_origin


async def test_user_without_producer_is_sent_back_to_the_menu(app: App, chat: Chat) -> None:
    await chat.press(MENU_IDEA)
    assert chat.replies
    assert not any(type(button).__module__ == idea.__name__ for button in payloads(chat))
    assert not await stored_ideas(app)


async def test_a_conversation_saved_before_the_form_was_a_dataclass_carries_on(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await chat.press(MENU_IDEA)
    old = {  # the flow data as rows held it before IdeaDraft: no version, the same keys
        "started": True,
        "name": "Chè",
        "group": "drink",
        "description": "Chè xanh",
        "materials": "Lá chè",
        "origin": "Xã Bình Lư",
        "workers": 5,
        "local_workers": 3,
        "market_sel": ["local"],
    }
    async with app.engine.sessions() as session, session.begin():
        row = (await session.scalars(select(Conversation))).one()
        row.step, row.data = "market", old
    await chat.send("Chợ phiên")
    await chat.press(idea.NoSupport())
    assert payloads(chat) == [idea.Submit(), idea.Edit(), idea.Discard()]
    await chat.press(idea.Submit())
    [stored] = await stored_ideas(app)
    assert (stored.name, stored.workers_total, stored.workers_local) == ("Chè", 5, 3)
    assert stored.market == f"{_('Local market')}, Chợ phiên"
