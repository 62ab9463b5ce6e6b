"""Onboarding through the engine: consent, phone, producer type, name, commune; resuming; the gate."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import App
from bot.communes import find_communes
from bot.menu_buttons import MenuDossier, MenuIdea
from bot.messages import AskPhone
from handlers import onboarding
from storage.models import ChannelIdentity, Conversation, Producer, User
from tests.chat import Chat
from tests.conftest import make_producer

CONSENT_PAYLOADS = [b.pack() for b in (onboarding.ConsentYes(), onboarding.ConsentNo(), onboarding.ConsentMore())]


async def _user(app: App, external_id: str = "u1") -> User:
    async with app.engine.sessions() as session:
        user = await session.scalar(
            select(User).join(ChannelIdentity).where(ChannelIdentity.external_id == external_id)
        )
        assert user is not None
        return user


async def _producer(app: App, external_id: str = "u1") -> Producer | None:
    user = await _user(app, external_id)
    async with app.engine.sessions() as session:
        return await session.scalar(select(Producer).where(Producer.user_id == user.id))


async def _conversation(app: App, external_id: str = "u1") -> Conversation:
    user = await _user(app, external_id)
    async with app.engine.sessions() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.user_id == user.id))
        assert conversation is not None
        return conversation


async def _step(app: App, external_id: str = "u1") -> tuple[str | None, str | None]:
    conversation = await _conversation(app, external_id)
    return conversation.flow, conversation.step


def _payloads(chat: Chat) -> list[str]:
    return [choice.payload for choice in chat.choices]


def _asked_phone(chat: Chat) -> bool:
    return any(isinstance(reply, AskPhone) for reply in chat.replies)


def _commune_code(name: str) -> int:
    return find_communes("Lai Châu", name)[0].code


async def _through_consent_and_phone(chat: Chat) -> None:
    await chat.send("/start")
    await chat.press(onboarding.ConsentYes())
    await chat.share_phone("+84912345678")


async def test_full_path_with_contact_button(app: App, chat: Chat) -> None:
    await chat.send("/start")
    assert _payloads(chat) == [
        onboarding.ConsentYes().pack(),
        onboarding.ConsentNo().pack(),
        onboarding.ConsentMore().pack(),
    ]
    assert await _step(app) == ("onboarding", "consent")

    await chat.press(onboarding.ConsentYes())
    assert _asked_phone(chat)
    user = await _user(app)
    assert user.consent_at is not None and user.phone is None

    await chat.share_phone("84912345678")
    assert (await _user(app)).phone == "0912345678"
    assert len([p for p in _payloads(chat) if onboarding.PickKind.matches(p)]) == 4
    assert all(len(p.encode()) <= 64 for p in _payloads(chat))

    await chat.press(onboarding.PickKind(kind="htx"))
    assert await _step(app) == ("onboarding", "name")
    await chat.send("  HTX   Chè Tả Van  ")
    assert await _step(app) == ("onboarding", "commune")
    await chat.send("Bình Lư")
    # One exact match is still confirmed with a button showing the full name.
    assert "Xã Bình Lư" in [c.label.removeprefix("📍 ") for c in chat.choices]
    await chat.press(onboarding.PickCommune(commune=_commune_code("Bình Lư")))

    producer = await _producer(app)
    assert producer is not None
    assert (producer.kind, producer.name, producer.name_folded) == ("htx", "HTX Chè Tả Van", "htx che ta van")
    assert producer.commune_code == _commune_code("Bình Lư")
    assert producer.commune_name == "Xã Bình Lư"
    assert "HTX Chè Tả Van" in chat.text and "0912345678" in chat.text
    assert await _step(app) == (None, None)
    assert MenuIdea().pack() in _payloads(chat)  # the main menu follows


async def test_typed_phone_with_plus84_and_spaces(app: App, chat: Chat) -> None:
    await chat.send("/start")
    await chat.press(onboarding.ConsentYes())
    await chat.send("+84 98 765 4321")
    assert (await _user(app)).phone == "0987654321"
    assert await _step(app) == ("onboarding", "kind")


async def test_invalid_phone_is_asked_again(app: App, chat: Chat) -> None:
    await chat.send("/start")
    await chat.press(onboarding.ConsentYes())
    await chat.send("12345")
    assert _asked_phone(chat)
    assert "0912 345 678" in chat.text  # the hint carries an example
    assert (await _user(app)).phone is None
    assert await _step(app) == ("onboarding", "phone")
    await chat.send("0912.345.678")
    assert (await _user(app)).phone == "0912345678"


async def test_decline_consent_stores_nothing_then_change_of_mind(app: App, chat: Chat) -> None:
    await chat.send("xin chào")
    assert onboarding.ConsentYes().pack() in _payloads(chat)
    await chat.press(onboarding.ConsentNo())
    user = await _user(app)
    assert user.consent_declined_at is not None
    assert user.consent_at is None and user.phone is None
    assert _payloads(chat) == [onboarding.ConsentYes().pack()]  # a way back is offered

    # Any later message offers consent again; the user is never stuck.
    await chat.send("toi muon lam ho so")
    assert set(_payloads(chat)) == {
        onboarding.ConsentYes().pack(),
        onboarding.ConsentNo().pack(),
        onboarding.ConsentMore().pack(),
    }
    await chat.press(onboarding.ConsentNo())
    await chat.tap("✅")  # the single "agree now" button
    user = await _user(app)
    assert user.consent_at is not None
    assert _asked_phone(chat)


async def test_declined_user_typing_menu_is_offered_consent_on_the_next_message(app: App, chat: Chat) -> None:
    await chat.send("/start")
    await chat.press(onboarding.ConsentNo())
    await chat.send("menu")  # the engine shows the menu before the gate
    await chat.press(MenuIdea())
    assert onboarding.ConsentYes().pack() in _payloads(chat)
    assert await _step(app) == ("onboarding", "consent")


async def test_commune_typed_without_diacritics(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.press(onboarding.PickKind(kind="hkd"))
    await chat.send("Hộ kinh doanh Lò Văn Minh")
    await chat.send("binh lu")
    code = _commune_code("Bình Lư")
    assert onboarding.PickCommune(commune=code).pack() in _payloads(chat)
    await chat.send("1")  # numbered replies work where the user picks from a list
    producer = await _producer(app)
    assert producer is not None and producer.commune_code == code and producer.kind == "hkd"


async def test_commune_fragment_matching_several(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.press(onboarding.PickKind(kind="tht"))
    await chat.send("Tổ hợp tác Mường")
    await chat.send("muong")
    commune_payloads = [p for p in _payloads(chat) if onboarding.PickCommune.matches(p)]
    assert len(commune_payloads) == 5
    assert onboarding.CommuneAgain().pack() in _payloads(chat)
    code = _commune_code("Mường Tè")
    await chat.press(onboarding.PickCommune(commune=code))
    producer = await _producer(app)
    assert producer is not None and producer.commune_code == code


async def test_commune_typed_again_at_the_pick_step(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.press(onboarding.PickKind(kind="dn"))
    await chat.send("Công ty ABC")
    await chat.send("muong")
    await chat.send("muong te")  # typing the full name of one offered commune picks it
    producer = await _producer(app)
    assert producer is not None and producer.commune_code == _commune_code("Mường Tè")


async def test_commune_no_match_shows_examples_and_asks_again(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.press(onboarding.PickKind(kind="htx"))
    await chat.send("HTX Chè")
    await chat.send("xyz khong co")
    assert "xyz khong co" in chat.text
    assert await _step(app) == ("onboarding", "commune")
    assert await _producer(app) is None
    await chat.send("than uyen")
    await chat.press(onboarding.PickCommune(commune=_commune_code("Than Uyên")))
    assert (await _producer(app)) is not None


async def test_forged_commune_payload_is_refused(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.press(onboarding.PickKind(kind="htx"))
    await chat.send("HTX Chè")
    await chat.send("muong")
    await chat.press("ob:commune:1")  # not offered: the engine treats it as stale
    assert await _producer(app) is None


async def test_typed_number_at_the_name_step_picks_the_numbered_button_else_is_a_name(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.press(onboarding.PickKind(kind="htx"))
    assert await _step(app) == ("onboarding", "name")
    await chat.send("1")  # button 1 is "Back": the console and Zalo Bot show it as "1."
    assert await _step(app) == ("onboarding", "kind")
    await chat.press(onboarding.PickKind(kind="htx"))
    await chat.send("2")  # no button 2: a (too short) name, asked again
    assert await _step(app) == ("onboarding", "name")
    await chat.send("22")
    conversation = await _conversation(app)
    assert (conversation.step, conversation.data["name"], conversation.data["kind"]) == ("commune", "22", "htx")


async def test_profile_keep_by_number_or_words_and_names_that_contain_the_words_stay_names(app: App) -> None:
    await make_producer(app, "p1", name="HTX Chè Tả Van", kind="htx", commune="Bình Lư", channel="zalo_bot")
    chat = Chat(app.engine, user_id="p1", channel="zalo_bot")
    for typed in ("giu nguyen", "1", "Giữ nguyên"):
        await chat.send("/profile")
        await chat.press(onboarding.PickKind(kind="htx"))
        await chat.send(typed)
        assert await _step(app, "p1") == ("onboarding", "commune"), typed
        await chat.send("1")  # "✅ Giữ nguyên: Bình Lư" by its number on the commune question
        producer = await _producer(app, "p1")
        assert producer is not None
        assert (producer.name, producer.commune_code) == ("HTX Chè Tả Van", _commune_code("Bình Lư")), typed
    for name in ("HTX Giữ Nguyên Bản Sắc", "HTX Chè"):
        await chat.send("/profile")
        await chat.press(onboarding.PickKind(kind="htx"))
        await chat.send(name)
        await chat.send("giu nguyen")
        producer = await _producer(app, "p1")
        assert producer is not None
        assert producer.name == name


async def test_name_validation(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.press(onboarding.PickKind(kind="htx"))
    for bad in ("🍵🍵🍵", "   ", "x" * 201, "!!"):
        await chat.send(bad)
        assert await _step(app) == ("onboarding", "name"), bad
    await chat.send("x" * 200)
    assert await _step(app) == ("onboarding", "commune")


async def test_typed_kind_words_and_back_buttons(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.send("hop tac xa")
    assert (await _conversation(app)).data["kind"] == "htx"
    await chat.press(onboarding.Back())
    assert await _step(app) == ("onboarding", "kind")
    await chat.send("to hop tac")
    assert (await _conversation(app)).data["kind"] == "tht"
    await chat.send("HTX Chè")
    await chat.press(onboarding.Back())
    assert await _step(app) == ("onboarding", "name")


async def test_resume_after_menu_word_keeps_consent_and_phone(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.press(onboarding.PickKind(kind="htx"))
    await chat.send("menu")
    assert await _step(app) == (None, None)
    # A main-menu button does not start a flow that needs a producer: back to onboarding.
    await chat.press(MenuIdea())
    assert await _step(app) == ("onboarding", "kind")
    assert (await _user(app)).phone == "0912345678"
    await chat.press(onboarding.PickKind(kind="htx"))
    await chat.send("HTX Chè")
    await chat.send("binh lu")
    await chat.send("1")
    assert (await _producer(app)) is not None


async def test_start_mid_way_resumes_at_the_current_step(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.press(onboarding.PickKind(kind="tht"))
    await chat.send("/start")
    assert await _step(app) == ("onboarding", "name")
    assert (await _conversation(app)).data["kind"] == "tht"
    await chat.send("Tổ hợp tác Chè")
    await chat.send("binh lu")
    await chat.send("1")
    producer = await _producer(app)
    assert producer is not None and producer.kind == "tht"


async def test_start_after_menu_resumes_at_the_first_missing_piece(app: App, chat: Chat) -> None:
    await chat.send("/start")
    await chat.press(onboarding.ConsentYes())
    await chat.send("menu")
    await chat.send("/start")
    assert await _step(app) == ("onboarding", "phone")
    assert _asked_phone(chat)


async def test_old_menu_button_mid_onboarding_is_refused(app: App, chat: Chat) -> None:
    await _through_consent_and_phone(chat)
    await chat.press(MenuDossier())
    assert await _step(app) == ("onboarding", "kind")


async def test_onboarded_user_start_says_welcome_back(app: App) -> None:
    await make_producer(app, "p1", name="HTX Chè Tả Van")
    chat = Chat(app.engine, user_id="p1")
    await chat.send("/start")
    assert "HTX Chè Tả Van" in chat.text
    assert MenuIdea().pack() in _payloads(chat)
    assert await _step(app, "p1") == (None, None)


async def test_profile_redo_with_keep_buttons(app: App) -> None:
    await make_producer(app, "p1", name="HTX Chè Tả Van", kind="htx", commune="Bình Lư")
    chat = Chat(app.engine, user_id="p1")
    await chat.send("/profile")
    assert "HTX Chè Tả Van" in chat.text
    assert await _step(app, "p1") == ("onboarding", "kind")
    await chat.press(onboarding.PickKind(kind="dn"))
    await chat.press(onboarding.KeepName())
    await chat.press(onboarding.KeepCommune())
    producer = await _producer(app, "p1")
    assert producer is not None
    assert (producer.kind, producer.name, producer.commune_code) == ("dn", "HTX Chè Tả Van", _commune_code("Bình Lư"))
    async with app.engine.sessions() as session:
        count = len((await session.scalars(select(Producer))).all())
    assert count == 1  # updated, not duplicated


async def test_onboarded_user_passes_the_gate(app: App) -> None:
    await make_producer(app, "p1")
    chat = Chat(app.engine, user_id="p1")
    await chat.send("something random")
    assert await _step(app, "p1") == (None, None)
    assert MenuIdea().pack() in _payloads(chat)


async def test_profile_mentions_keep_only_where_the_button_is(app: App) -> None:
    await make_producer(app, "p1", name="HTX Chè Tả Van")
    chat = Chat(app.engine, user_id="p1")

    def keep_said_without_the_button() -> bool:
        offered = any("Giữ nguyên" in choice.label for choice in chat.choices)
        return any(words in chat.text for words in ("Giữ nguyên", "Keep")) and not offered

    await chat.send("/profile")  # the producer-type step: no ✅ Keep there
    assert not any("Giữ nguyên" in choice.label for choice in chat.choices)
    assert not keep_said_without_the_button(), chat.text
    await chat.press(onboarding.PickKind(kind="dn"))  # the name step offers it
    assert any("Giữ nguyên" in choice.label for choice in chat.choices)
