"""Zero leaks: every role × every commune-review and admin action, with crafted payloads.

Two communes, X (Bình Lư) and Y (Phong Thổ), each with a producer, an idea and a dossier under review that
carries a file. Each role presses every staff button it should not have — with the real ids of the other
scope's objects, with invented ids and with malformed payloads — and afterwards nothing has been written,
no file was sent, no foreign product name appears, and the user got a friendly answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from bot import office_jobs
from bot.app import App
from bot.messages import SendFile
from bot.rules import DossierStatus
from handlers.admin import InviteRole, RevokeStaff
from tests.chat import Chat
from tests.conftest import make_producer
from tests.staff_helpers import BINH_LU, PHONG_THO, commune_code, make_dossier, make_idea, make_staff, snapshot


@dataclass
class World:
    x_dossier: int
    x_idea: int
    y_dossier: int
    y_idea: int
    admin_role: int
    officer_x_role: int


async def _world(app: App) -> World:
    px = await make_producer(app, "px", name="HTX Chè Bình Lư", commune=BINH_LU)
    py = await make_producer(app, "py", name="HTX Gạo Phong Thổ", commune=PHONG_THO)
    # Opened by the commune already: decisions on version 0 are what a real button would carry.
    x_dossier = await make_dossier(app, px, product="Chè X", status=DossierStatus.COMMUNE_REVIEW, seed=1)
    y_dossier = await make_dossier(app, py, product="Gạo Y", status=DossierStatus.COMMUNE_REVIEW, seed=2)
    x_idea = await make_idea(app, px, "Ý tưởng X")
    y_idea = await make_idea(app, py, "Ý tưởng Y")
    await make_staff(app, "officer-x", "commune", BINH_LU, name="Officer X")
    await make_staff(app, "officer-y", "commune", PHONG_THO, name="Officer Y")
    await make_staff(app, "province", "province", name="Province")
    await make_staff(app, "admin", "admin", name="Admin")
    from sqlalchemy import select

    from storage.models import StaffRole
    from tests.staff_helpers import in_session

    rows = await in_session(app, lambda s: s.scalars(select(StaffRole).order_by(StaffRole.id)))
    ids = {(r.role, r.commune_code): r.id for r in rows}
    return World(
        x_dossier,
        x_idea,
        y_dossier,
        y_idea,
        admin_role=ids[("admin", None)],
        officer_x_role=ids[("commune", commune_code(app, BINH_LU))],
    )


def commune_actions(dossier: int, idea: int) -> list[str]:
    """Every commune-review button on one dossier and one idea, as a real message would carry it."""
    return [
        f"cr:d:{dossier}",
        f"cr:v:{dossier}",
        f"cr:f:{dossier}",
        f"cr:ok:{dossier}:0:0",
        f"cr:no:{dossier}:0:1",
        f"cr:sup:{dossier}:0",
        f"cr:un:{dossier}:0:0",
        f"cr:end:{dossier}:0",
        f"cr:i:{idea}",
        f"cr:ia:{idea}",
        f"cr:ir:{idea}",
    ]


INVENTED = [
    "cr:d:999999",
    "cr:f:999999",
    "cr:ok:999999:0:0",
    "cr:ia:999999",
    "cr:ok:1:0:9",
    "cr:ok:1:0",
    "cr:d:-1",
    "cr:d:abc",
    "cr:ok:1:x:0",
    "cr:un:1:0:9",
    "cr:end:1",
    "cr:end:999999:0",
    "cr:d:" + "9" * 40,
    "cr:",
    "cr:nonsense",
]


def admin_actions(world: World) -> list[str]:
    return [
        "adm:home",
        "adm:inv",
        "adm:inv:admin",
        "adm:inv:province",
        "adm:inv:commune",
        "adm:ic:3390",
        "adm:staff",
        f"adm:rv:{world.admin_role}",
        f"adm:rvy:{world.admin_role}",
        f"adm:rvy:{world.officer_x_role}",
        "adm:rvy:999999",
        "adm:zzz",
    ]


async def _refused(app: App, chat: Chat, payload: str, *, foreign_words: tuple[str, ...]) -> None:
    before = await snapshot(app)
    replies = await chat.press(payload)
    assert replies, f"{payload}: silence"
    assert not any(isinstance(r, SendFile) for r in replies), f"{payload}: a file leaked"
    for word in foreign_words:
        assert word not in chat.text, f"{payload}: {word!r} leaked"
    assert "inv_" not in chat.text, f"{payload}: an invite code leaked"
    # A typed answer right after must not complete anything either (e.g. a reason for a refused reject).
    await chat.send("Lý do bịa đặt để thử")
    assert await snapshot(app) == before, f"{payload}: something was written"


ROLES = ["producer-x", "officer-y", "province", "admin"]


@pytest.mark.parametrize("who", ROLES)
async def test_nobody_outside_commune_x_touches_its_dossier_or_idea(app: App, who: str) -> None:
    world = await _world(app)
    external = {"producer-x": "px", "officer-y": "officer-y", "province": "province", "admin": "admin"}[who]
    chat = Chat(app.engine, user_id=external)
    for payload in commune_actions(world.x_dossier, world.x_idea) + INVENTED:
        await _refused(app, chat, payload, foreign_words=("Chè X", "Ý tưởng X"))


async def test_officer_x_cannot_reach_commune_y(app: App) -> None:
    world = await _world(app)
    chat = Chat(app.engine, user_id="officer-x")
    for payload in commune_actions(world.y_dossier, world.y_idea) + INVENTED:
        await _refused(app, chat, payload, foreign_words=("Gạo Y", "Ý tưởng Y", "HTX Gạo Phong Thổ"))
    await chat.press("cr:q")
    assert "Gạo Y" not in chat.text and "Ý tưởng Y" not in chat.text
    assert not any(str(world.y_dossier) in c.payload.split(":") for c in chat.choices if c.payload.startswith("cr:d"))


@pytest.mark.parametrize("who", ["producer-x", "officer-x", "officer-y", "province"])
async def test_only_admins_administer(app: App, who: str) -> None:
    world = await _world(app)
    external = {"producer-x": "px", "officer-x": "officer-x", "officer-y": "officer-y", "province": "province"}[who]
    chat = Chat(app.engine, user_id=external)
    for payload in admin_actions(world):
        await _refused(app, chat, payload, foreign_words=("Officer X", "Officer Y"))


async def test_the_matrix_is_not_vacuous(app: App) -> None:
    """The same payloads do work for the officer of commune X (so the refusals above are real refusals)."""
    world = await _world(app)
    chat = Chat(app.engine, user_id="officer-x")
    before = await snapshot(app)
    await chat.press(f"cr:f:{world.x_dossier}")
    await asyncio.gather(*office_jobs.RUNNING)  # the ZIP is packed in the background, then queued
    assert "ZIP" in chat.text
    await chat.press(f"cr:ok:{world.x_dossier}:0:0")
    await chat.press(f"cr:ia:{world.x_idea}")
    after = await snapshot(app)
    assert after["audit"] == before["audit"] + 3 and after["outbox"] == before["outbox"] + 2

    admin = Chat(app.engine, user_id="admin")
    await admin.press(InviteRole(role="province"))
    assert "inv_" in admin.text


async def test_a_revoked_officer_is_refused_on_the_next_press(app: App) -> None:
    world = await _world(app)
    officer = Chat(app.engine, user_id="officer-x")
    await officer.press(f"cr:d:{world.x_dossier}")
    admin = Chat(app.engine, user_id="admin")
    await admin.press(RevokeStaff(role=world.officer_x_role))
    await _refused(app, officer, f"cr:ok:{world.x_dossier}:0:0", foreign_words=())


async def test_help_is_written_for_each_role(app: App) -> None:
    """A commune officer's help is about reviewing their commune, not about registering an idea; a producer's
    help is the producer's; someone with two roles reads both paragraphs."""
    await make_staff(app, "xa", "commune", "Bình Lư")
    officer = Chat(app.engine, "xa")
    await officer.send("/help")
    assert "cán bộ xã (Xã Bình Lư)" in officer.text and "bốn tiêu chí" in officer.text
    assert "đăng ký ý tưởng sản phẩm với xã" not in officer.text
    assert "lk:start" not in {choice.payload for choice in officer.choices}  # staff link by invite only

    await make_staff(app, "tinh", "province")
    await make_staff(app, "tinh", "admin")
    province = Chat(app.engine, "tinh")
    await province.send("/help")
    assert "cán bộ OCOP tỉnh" in province.text and "quản trị viên" in province.text
    assert "cán bộ xã (" not in province.text

    await make_producer(app, "nong-dan")
    producer = Chat(app.engine, "nong-dan")
    await producer.send("/help")
    assert "đăng ký ý tưởng sản phẩm với xã" in producer.text and "cán bộ" not in producer.text
