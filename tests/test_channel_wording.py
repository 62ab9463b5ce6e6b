"""Numbers mean one thing where choices are a numbered list (Zalo Bot Platform, console): content above the
choices is never numbered, a number step lists its options without numbers, and prompts say "gõ số" there
and "bấm" only where there are buttons."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from bot.app import App
from bot.channels import console
from bot.channels.menus import numbered_messages
from bot.i18n import LOCALES_DIR, NUMBERED
from bot.messages import NUMBERED_MENU_CHANNELS, Choice, Text
from handlers import idea
from tests.chat import Chat
from tests.conftest import make_producer

# Shown only with a button (Telegram's contact button): never on a channel without buttons.
BUTTON_ONLY = {"Press here to share your phone number."}


def _entries(locale: str) -> tuple[dict[str, str], dict[str, str]]:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    plain = {str(m.id): str(m.string) for m in catalog if isinstance(m.id, str) and m.id and m.context is None}
    numbered = {str(m.id): str(m.string) for m in catalog if isinstance(m.id, str) and m.context == NUMBERED}
    return plain, numbered


def test_every_press_sentence_has_a_numbered_wording() -> None:
    plain, numbered = _entries("vi")
    needing = {msgid for msgid, text in plain.items() if "bấm" in text.casefold()} - BUTTON_ONLY
    assert needing, "the catalogue has sentences that say bấm"
    assert sorted(needing - set(numbered)) == []
    for msgid, text in numbered.items():
        assert msgid in plain, f"a numbered wording of a sentence the code no longer has: {msgid!r}"
        assert text and "bấm" not in text.casefold(), msgid
    _english, english_numbered = _entries("en")
    pressing = {msgid for msgid in plain if re.search(r"\bpress\b", msgid, re.IGNORECASE)} - BUTTON_ONLY
    assert sorted(pressing - set(english_numbered)) == []
    assert not [text for text in english_numbered.values() if re.search(r"\bpress\b", text, re.IGNORECASE)]


async def test_help_says_bam_with_buttons_and_go_so_without(app: App) -> None:
    for channel in ("telegram", "zalo_bot", "console"):
        await make_producer(app, f"p-{channel}", channel=channel)
        chat = Chat(app.engine, f"p-{channel}", channel=channel)
        await chat.send("giup")
        if channel in NUMBERED_MENU_CHANNELS:
            assert "bấm" not in chat.text.casefold() and "Gõ số của một mục" in chat.text, channel
        else:
            assert "Bấm một nút" in chat.text


async def test_the_idea_summary_is_not_numbered_only_its_choices_are(app: App) -> None:
    await make_producer(app, "p1", channel="zalo_bot")
    chat = Chat(app.engine, "p1", channel="zalo_bot")
    await chat.press("m:idea")
    for answer in (
        "Mật ong bạc hà",
        "1",
        "Mật ong hoa bạc hà rừng",
        "Mật ong",
        "1",
        "5",
        "3",
        "Chợ xã",
        "khong can ho tro",
    ):
        await chat.send(answer)
    assert any(choice.payload == idea.Submit().pack() for choice in chat.choices), chat.text
    text = "\n".join(
        console.render(reply, numbered=numbered)
        for reply, numbered in zip(chat.replies, numbered_messages(chat.replies), strict=True)
    )
    assert "• " in text and "Mật ong bạc hà" in text
    labels = {choice.label for choice in chat.choices}
    numbered_lines = [line.strip() for line in text.splitlines() if re.match(r"^\s*\d+\. ", line)]
    assert numbered_lines and all(line.split(". ", 1)[1] in labels for line in numbered_lines), numbered_lines


def test_a_number_step_lists_its_options_without_numbers_and_says_how_to_choose() -> None:
    asked = Text("Bao nhiêu người?", (Choice("Tất cả (5)", "all"), Choice("⬅️ Quay lại", "back")), by_words=True)
    text = console.render(asked)
    assert not re.search(r"^\s*\d+\. ", text, re.MULTILINE)
    assert "• ⬅️ Quay lại" in text and "“tat ca 5”" in text


def test_only_the_last_message_of_a_reply_numbers_its_choices() -> None:
    first = Text("Trợ giúp", (Choice("🔗 Liên kết", "lk:start"),))
    last = Text("Bạn muốn làm gì?", (Choice("📝 Ý tưởng", "m:idea"), Choice("📂 Hồ sơ", "m:dossier")))
    rendered = [console.render(first, numbered=False), console.render(last, numbered=True)]
    assert numbered_messages([first, Text("chỉ chữ"), last, Text("cuối")]) == [False, False, True, False]
    assert "• 🔗 Liên kết" in rendered[0] and "1. 📝 Ý tưởng" in rendered[1]


async def test_a_notice_says_go_so_to_a_zalo_bot_user_and_bam_on_telegram(app: App) -> None:
    from bot.sender import Sender
    from storage import outbox
    from tests import reminder_data as data
    from tests.reminder_data import RecordingDelivery
    from tests.test_sender import NOON, Clock, fast

    async with app.engine.sessions() as session, session.begin():
        for channel in ("zalo_bot", "telegram"):
            person = await data.user(session, channel=channel, chat_id=f"chat-{channel}")
            await outbox.enqueue(
                session,
                user_id=person.id,
                kind="commune_supplement",
                params={"product": "Mật ong", "reason": "Thiếu ảnh nhãn"},
                dedupe_key=f"wording:{channel}",
                not_before=NOON,
                urgent=True,
            )
    zalo, telegram = RecordingDelivery("zalo_bot"), RecordingDelivery("telegram")
    sender = Sender(app.engine.sessions, fast(app), {"zalo_bot": zalo, "telegram": telegram}, clock=Clock(NOON))
    await sender.run_once()
    [(_chat, on_zalo)] = zalo.sent
    [(_chat, on_telegram)] = telegram.sent
    assert "gõ số của “📤 Nộp hồ sơ”" in on_zalo and "bấm" not in on_zalo.casefold()
    assert "bấm “📤 Nộp hồ sơ”" in on_telegram
