"""“Where is my dossier?”: from the menu or typed words, ideas and dossiers with what is missing."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import App
from bot.menu_buttons import MenuDossier, MenuIdea, MenuStatus
from bot.rules import requirement
from storage.models import Conversation
from tests import files
from tests.chat import Chat
from tests.test_dossier import items_by_code, payloads, producer_id, start_dossier_from_idea


def _label(code: str) -> str:
    found = requirement(code)
    assert found is not None
    return found.label


async def test_status_with_nothing_yet_offers_idea_and_dossier(producer_chat: Chat) -> None:
    await producer_chat.press(MenuStatus())
    assert {MenuIdea().pack(), MenuDossier().pack()} <= payloads(producer_chat)
    assert "✗" not in producer_chat.text


async def test_typed_status_lists_ideas_dossiers_and_missing_items(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    await chat.press(f"dos:item:{items['registration_form']}")
    await chat.send_file(files.pdf(1))
    await chat.send("menu")

    for words in ("ho so toi den dau roi", "Kiểm tra hồ sơ"):
        await chat.send(words)
        text = chat.text
        assert "Chè Shan tuyết Tả Van" in text  # the idea and the product
        assert "01/02/2026" in text  # the idea's submitted date, dd/MM/yyyy in Vietnam
        assert "1/8" in text  # required items done
        assert _label("lab_test") in text and _label("samples") in text  # missing, by name
        assert f"✗ {_label('registration_form')}" not in text  # done items are not listed as missing
        assert f"✗ {_label('commune_report')}" not in text  # never blocks the producer
        assert MenuDossier().pack() in payloads(chat)


async def test_status_from_the_menu_ends_its_flow(app: App, producer_chat: Chat) -> None:
    chat = producer_chat
    await start_dossier_from_idea(app, chat, await producer_id(app))
    await chat.send("menu")
    await chat.press(MenuStatus())
    assert "0/8" in chat.text
    async with app.engine.sessions() as session:
        conversation = await session.scalar(select(Conversation))
    assert conversation is not None and conversation.flow is None  # the report ends its flow


async def test_after_the_council_no_checklist_and_no_samples_to_bring(app: App) -> None:
    """A scored dossier is past the point where anything can be added: the status lists no missing items
    (the samples among them) and shows the council's part instead."""
    from bot.rules import DossierStatus
    from storage import users
    from tests.test_province import make_round, setup

    round_id = await make_round(app)
    producer_user, _dossier_id, _officer = await setup(app, status=DossierStatus.SCORED, round_id=round_id)
    async with app.engine.sessions() as session:
        (identity,) = await users.identities_of(session, producer_user)
    chat = Chat(app.engine, identity.external_id, identity.channel)
    await chat.send("kiem tra ho so")
    assert "Hội đồng đã chấm điểm" in chat.text
    assert "mẫu" not in chat.text.casefold() and "✗" not in chat.text
