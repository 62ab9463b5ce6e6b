"""The engine's promises: menu from anywhere, numbered replies, stale buttons, duplicates, no silence."""

from __future__ import annotations

import asyncio

from bot.app import App
from bot.flow import Answer
from bot.messages import Inbound, choices_of
from tests.chat import Chat


async def test_menu_word_shows_the_main_menu(chat: Chat) -> None:
    await chat.send("menu")
    assert len(chat.choices) >= 4


async def test_stale_payload_gets_a_friendly_answer_and_the_menu(producer_chat: Chat) -> None:
    """A button no message offered, pressed by a producer who has finished onboarding. The user must be
    onboarded: for a stranger the onboarding gate answers first (its consent question) and the stale path is
    never reached. Past the gates only the engine's stale-button path says these words; without it the press
    falls through to "not understood" (other words), so the assertion on the text fails."""
    chat = producer_chat
    await chat.press("dossier:item:999999")
    assert "Nút đó thuộc tin nhắn cũ nên không dùng được nữa" in chat.text
    assert chat.choices, "the menu must follow"
    assert chat.payload_for("Hồ sơ của tôi") == "m:dossier"


async def test_same_update_twice_is_processed_once(app: App) -> None:
    inbound = Inbound("console", "dup", "update-1", text="menu")
    first = await app.engine.handle(inbound)
    second = await app.engine.handle(inbound)
    assert first and second == []


async def test_concurrent_first_messages_of_one_user_make_one_user(app: App) -> None:
    from sqlalchemy import func, select

    from storage.models import ChannelIdentity

    inbounds = [Inbound("console", "race", f"r{i}", text="menu") for i in range(5)]
    results = await asyncio.gather(*(app.engine.handle(i) for i in inbounds))
    assert all(results)
    async with app.db.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(ChannelIdentity).where(ChannelIdentity.external_id == "race")
        )
    assert count == 1


def test_typed_words_select_an_offered_choice() -> None:
    from bot.engine import Offered, _match_choice

    offered = Offered.read([["Đồng ý", "ob:yes"], ["Không đồng ý", "ob:no"], ["Hồ sơ của tôi", "m:dossier"]])
    assert _match_choice("2", offered, Answer.CHOICE) == "ob:no"
    assert _match_choice("khong dong y", offered, Answer.CHOICE) == "ob:no"
    assert _match_choice("ho so", offered, Answer.CHOICE) == "m:dossier"  # a unique part of a label
    assert _match_choice("khong dong yy", offered, Answer.CHOICE) == "ob:no"  # a typo
    assert _match_choice("dong y", offered, Answer.CHOICE) == "ob:yes"  # exact beats "contains"
    assert _match_choice("❌ khong dong y", offered, Answer.TEXT) == "ob:no"  # a label sent with its emoji
    assert _match_choice("xyz", offered, Answer.CHOICE) is None
    assert _match_choice("9", offered, Answer.CHOICE) is None


def test_on_a_text_step_a_number_or_the_options_own_words_select_it() -> None:
    from bot.engine import Offered, _match_choice

    offered = Offered.read([["Giữ nguyên HTX Chè Tả Van", "keep"], ["Quay lại", "back"]])
    assert _match_choice("1", offered, Answer.TEXT) == "keep"
    assert _match_choice("2.", offered, Answer.TEXT) == "back"
    assert _match_choice("giu nguyen", offered, Answer.TEXT) == "keep"  # the start of the label
    assert _match_choice("Giữ nguyên", offered, Answer.TEXT) == "keep"
    assert _match_choice("giu nguyenn", offered, Answer.TEXT) == "keep"  # a near miss of its first words
    assert _match_choice("quay lai", offered, Answer.TEXT) == "back"
    # Data that merely contains an option's words, or part of the value quoted in it, stays data.
    assert _match_choice("HTX Giữ Nguyên Bản Sắc", offered, Answer.TEXT) is None
    assert _match_choice("HTX Chè", offered, Answer.TEXT) is None
    assert _match_choice("Nguyễn", offered, Answer.TEXT) is None
    assert _match_choice("Hộ Nguyên", offered, Answer.TEXT) is None
    assert _match_choice("Quảng Ninh", offered, Answer.TEXT) is None
    assert _match_choice("3", offered, Answer.TEXT) is None  # out of range: the step reads it
    dated = Offered.read([["Hôm nay 28/11/2026", "today"], ["Quay lại", "back"]])
    assert _match_choice("hom nay", dated, Answer.TEXT) == "today"
    assert _match_choice("1", dated, Answer.TEXT) == "today"
    assert _match_choice("28/11/2026", dated, Answer.TEXT) is None


def test_on_a_number_step_numbers_are_answers_and_options_go_by_words() -> None:
    from bot.engine import Offered, _match_choice

    offered = Offered.read([["Tất cả 5", "all"], ["Quay lại", "back"]])
    assert _match_choice("1", offered, Answer.NUMBER) is None
    assert _match_choice("2", offered, Answer.NUMBER) is None
    assert _match_choice("tat ca", offered, Answer.NUMBER) == "all"
    assert _match_choice("quay lai", offered, Answer.NUMBER) == "back"
    assert _match_choice("5 nguoi", offered, Answer.NUMBER) is None


async def test_old_processed_update_ids_are_forgotten(app: App) -> None:
    import datetime as dt

    from storage import users

    await app.engine.handle(Inbound("console", "old", "update-old", text="menu"))
    async with app.engine.sessions() as session, session.begin():
        assert await users.prune_processed(session, app.engine.clock() - dt.timedelta(days=30)) == 0
        assert await users.prune_processed(session, app.engine.clock() + dt.timedelta(seconds=1)) >= 1


def test_a_number_means_the_newest_question_when_one_reply_has_several() -> None:
    from bot.engine import Offered, _match_choice

    offered = Offered.read([["Liên kết", "lk:start", 0], ["Đăng ký ý tưởng", "m:idea", 1], ["Hồ sơ", "m:dossier", 1]])
    assert _match_choice("1", offered, Answer.CHOICE) == "m:idea"
    assert _match_choice("lien ket", offered, Answer.CHOICE) == "lk:start"  # words still reach every message
    # rows saved before the groups existed:
    assert _match_choice("1", Offered.read([["Cũ", "old"]]), Answer.CHOICE) == "old"


async def test_help_then_a_number_picks_from_the_menu_shown_last(producer_chat: Chat) -> None:
    await producer_chat.send("giup")
    assert "lk:start" in {c.payload for c in producer_chat.choices}
    await producer_chat.send("1")  # "1." of the menu under the help text: register an idea
    assert producer_chat.choices and "idea:" in producer_chat.choices[-1].payload


async def test_the_menu_again_below_another_message_leaves_the_conversation_unwritten(
    app: App, producer_chat: Chat
) -> None:
    """A stale button is answered with a sentence and then the main menu, as the menu before it was: the
    conversation row is not written again (options are kept with their message's rank among the messages that
    offered any, not its position in the reply), and a number typed next still picks from that menu."""
    from sqlalchemy import select

    from storage.models import ChannelIdentity, Conversation

    async def version() -> int | None:
        async with app.engine.sessions() as session:
            return await session.scalar(
                select(Conversation.version)
                .join(ChannelIdentity, ChannelIdentity.user_id == Conversation.user_id)
                .where(ChannelIdentity.external_id == "p1")
            )

    await producer_chat.send("menu")
    before, menu = await version(), [c.payload for c in producer_chat.choices]
    replies = await producer_chat.press("dossier:item:999999")
    assert len(replies) == 2 and not choices_of(replies[0])
    assert [c.payload for c in producer_chat.choices] == menu
    assert await version() == before
    await producer_chat.send("2")  # the second option of the menu under the sentence
    assert producer_chat.choices and producer_chat.choices[0].payload.startswith("dos:")


async def test_unexpected_text_offers_the_last_buttons_again(producer_chat: Chat) -> None:
    await producer_chat.send("giup")
    shown = [(c.label, c.payload) for c in producer_chat.choices if not c.payload.startswith(("lk:", "pdo:"))]
    await producer_chat.send("xin chao ban oi")
    assert [(c.label, c.payload) for c in producer_chat.choices] == shown  # same buttons, emoji and all
    await producer_chat.send("2")  # and a number still means the second of them
    assert any(c.payload.startswith("dos:") for c in producer_chat.choices)
