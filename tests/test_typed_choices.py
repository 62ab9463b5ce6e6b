"""The questions that take typed data and also offer buttons, answered the way a Zalo Bot or console user
must: by the button's number or its words. (The walk in ``test_every_step_choices`` covers every step; these
are the cases people met.)"""

from __future__ import annotations

import re

from sqlalchemy import select

from bot.app import App
from bot.channels import console
from bot.rules import Role
from handlers.admin import AdminHome, InviteRole, NewInvite
from handlers.province_common import Back, OpenList
from handlers.province_council import Save
from handlers.province_dossiers import IssueCertificate
from storage.models import Certificate
from tests.chat import Chat
from tests.conftest import make_producer
from tests.test_document_expiry import expires_on, open_item_with_a_file
from tests.test_dossier import payloads
from tests.test_province import S, make_round, open_dossier, scalar, score, setup
from tests.test_province import make_staff as make_province_staff


async def test_the_certificate_date_by_number_or_by_hom_nay(app: App) -> None:
    round_id = await make_round(app)
    _producer, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await score(officer, "32", "20", "30")
    await officer.press(Save())
    for typed in ("1", "hom nay"):
        await officer.press(IssueCertificate())
        await officer.send("1234/QĐ-UBND")
        await officer.send(typed)  # "📅 Hôm nay, 02/03/2026" is the first button
        assert Save().pack() in payloads(officer), (typed, officer.text)
        assert "02/03/2026" in officer.text
        await officer.press(Back()) if typed == "1" else await officer.press(Save())
    certificate = await scalar(app, select(Certificate))
    assert certificate.decision_no == "1234/QĐ-UBND" and certificate.issued_on.isoformat() == "2026-03-02"


async def test_no_expiry_date_by_its_number(app: App, producer_chat: Chat) -> None:
    _dossier_id, item_id = await open_item_with_a_file(app, producer_chat, "lab_test")
    await producer_chat.send("1")  # "Giấy không ghi ngày hết hạn"
    assert "không có ngày hết hạn" in producer_chat.text
    assert await expires_on(app, item_id) is None
    assert "dos:noexp" not in payloads(producer_chat)


async def test_the_admins_commune_question_takes_its_button_by_number(app: App) -> None:
    await make_province_staff(app, "a1", Role.ADMIN)
    admin = Chat(app.engine, "a1")
    await admin.send("menu")
    await admin.press(AdminHome())
    await admin.press(NewInvite())
    await admin.press(InviteRole(role="commune"))
    assert "Bình Lư" in admin.text  # "Which commune? Type its name, for example: Bình Lư"
    await admin.send("1")  # ⬅️ Back, not a commune called "1"
    assert "Không tìm thấy xã" not in admin.text
    assert NewInvite().pack() in payloads(admin)


async def test_the_workers_question_takes_numbers_as_answers_and_lists_its_buttons_without_numbers(app: App) -> None:
    await make_producer(app, "z1", channel="zalo_bot")
    chat = Chat(app.engine, "z1", channel="zalo_bot")
    await chat.press("m:idea")
    for answer in ("Mật ong bạc hà", "1", "Mật ong hoa bạc hà rừng", "Mật ong", "1"):
        await chat.send(answer)
    shown = "\n".join(console.render(reply) for reply in chat.replies)
    assert not re.search(r"^\s*\d+\. ", shown, re.MULTILINE), shown  # "1" here is one worker
    assert "• ⬅️ Quay lại" in shown and "“quay lai”" in shown
    await chat.send("1")
    shown = "\n".join(console.render(reply) for reply in chat.replies)
    assert "• Tất cả (1 người)" in shown  # the local workers question, its "all" button by words only
    await chat.send("tat ca")
    assert "(8/9)" in chat.text  # on to where it sells: 1 local worker of 1
