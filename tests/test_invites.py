"""Staff invites: created by the CLI or an admin in chat, redeemed once, stored hashed; staff list, revoke."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import admin_cli, invites
from bot.app import App
from bot.callbacks import Button
from bot.rules import INVITE_VALID_DAYS, Role
from handlers.admin import AdminHome, ConfirmRevoke, InviteCommune, InviteRole, NewInvite, RevokeStaff, StaffList
from handlers.commune_contact import HidePhone, SharePhone
from handlers.review_buttons import ReviewButton, ShowQueue
from storage import staff
from storage.models import Invite, StaffRole
from tests.chat import Chat, FrozenClock
from tests.conftest import make_producer
from tests.staff_helpers import BINH_LU, audit_log, commune_code, in_session, make_staff, outbox, snapshot

_CODE = re.compile(r"inv_[A-Za-z0-9_-]+")


async def _invite(app: App, role: Role, commune: str | None = None) -> str:
    async def work(session: AsyncSession) -> str:
        created = await invites.create(
            session,
            app.settings,
            role=role,
            commune_code=commune_code(app, commune) if commune else None,
            created_by=None,
            actor_label="test",
            now=app.engine.clock(),
        )
        return created.code

    return await in_session(app, work)


async def _roles(app: App) -> list[tuple[int, str, int | None, bool]]:
    async def work(session: AsyncSession) -> list[tuple[int, str, int | None, bool]]:
        rows = await session.scalars(select(StaffRole).order_by(StaffRole.id))
        return [(r.user_id, r.role, r.commune_code, r.revoked_at is None) for r in rows]

    return await in_session(app, work)


def test_codes_fit_telegram_deep_links() -> None:
    codes = {staff.new_invite_code() for _ in range(50)}
    assert len(codes) == 50
    for code in codes:
        assert code.startswith("inv_") and len(code) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", code)


async def test_brand_new_user_redeems_a_commune_invite(app: App) -> None:
    code = await _invite(app, Role.COMMUNE, BINH_LU)
    stored = await in_session(app, lambda s: s.scalar(select(Invite)))
    assert stored is not None and stored.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert code not in repr(stored.__dict__)  # only the hash is kept

    newcomer = Chat(app.engine, user_id="new-officer")
    await newcomer.send(f"/start {code}")
    roles = await _roles(app)
    assert len(roles) == 1 and roles[0][1:] == ("commune", commune_code(app, BINH_LU), True)
    assert "họ và tên" in newcomer.text.casefold()  # staff are named to colleagues and producers
    await newcomer.send("😀")
    assert "họ và tên" in newcomer.text.casefold()
    await newcomer.send("Nguyễn Thị  Hoa")
    # may producers see the phone?
    assert {c.payload for c in newcomer.choices} == {
        SharePhone().pack(),
        HidePhone().pack(),
    }  # may producers see the phone?
    await newcomer.press(HidePhone())
    assert any(c.payload == ShowQueue().pack() for c in newcomer.choices)  # then the staff menu, no onboarding
    assert [e.action for e in await audit_log(app)][-3:] == ["role.grant", "staff.name", "staff.phone_public"]
    assert (await audit_log(app))[-2].actor_label == "Nguyễn Thị Hoa"
    # Still no producer onboarding on the next message.
    await newcomer.send("chao")
    assert any(c.payload == ShowQueue().pack() for c in newcomer.choices)


async def test_used_unknown_expired_and_revoked_codes_are_refused(app: App, clock: FrozenClock) -> None:
    code = await _invite(app, Role.PROVINCE)
    await Chat(app.engine, user_id="first").send(f"/start {code}")
    before = await snapshot(app)

    second = Chat(app.engine, user_id="second")
    await second.send(f"/start {code}")  # used
    assert second.replies and await snapshot(app) == before
    await second.send("/start inv_doesnotexist")  # unknown
    assert second.replies and await snapshot(app) == before

    expiring = await _invite(app, Role.PROVINCE)
    clock.advance(days=INVITE_VALID_DAYS, seconds=1)
    before = await snapshot(app)
    await second.send(f"/start {expiring}")
    assert second.replies and await snapshot(app) == before

    withdrawn = await _invite(app, Role.ADMIN)

    async def revoke(session: AsyncSession) -> bool:
        invite = await session.scalar(select(Invite).where(Invite.code_hash == staff.hash_code(withdrawn)))
        assert invite is not None
        return await staff.revoke_invite(session, invite.id, app.settings.ocop.province, clock())

    assert await in_session(app, revoke)
    before = await snapshot(app)
    await second.send(f"/start {withdrawn}")
    assert second.replies and await snapshot(app) == before
    roles = await _roles(app)
    assert [r[1] for r in roles] == ["province"]  # only the first redemption granted anything


async def test_each_refusal_has_its_own_answer(app: App, clock: FrozenClock) -> None:
    used = await _invite(app, Role.PROVINCE)
    await Chat(app.engine, user_id="first").send(f"/start {used}")
    expired = await _invite(app, Role.PROVINCE)
    clock.advance(days=INVITE_VALID_DAYS + 1)
    someone = Chat(app.engine, user_id="someone")
    answers = []
    for code in (used, expired, "inv_unknown"):
        await someone.send(f"/start {code}")
        answers.append(someone.text)
    assert len(set(answers)) == 3


async def test_admin_invites_in_chat_lists_staff_and_revokes(app: App) -> None:
    await make_staff(app, "boss", "admin", name="Quản trị")
    officer_id = await make_staff(app, "officer", "commune", BINH_LU, name="Cán bộ Bình Lư")
    admin = Chat(app.engine, user_id="boss")
    await admin.send("menu")
    await admin.press(AdminHome())
    await admin.press(NewInvite())
    await admin.press(InviteRole(role="commune"))
    await admin.send("binh lu")
    code = _CODE.search(admin.text)
    assert code is not None  # no bot username configured: the /start form is shown
    await Chat(app.engine, user_id="newbie").send(f"/start {code.group(0)}")
    assert len(await _roles(app)) == 3

    await admin.press(StaffList())
    assert "Cán bộ Bình Lư" in admin.text
    revoke = Button.parse(next(c.payload for c in admin.choices if "Cán bộ Bình Lư" in c.label))
    assert isinstance(revoke, ConfirmRevoke)
    await admin.press(revoke)
    await admin.press(RevokeStaff(role=revoke.role))
    await admin.press(RevokeStaff(role=revoke.role))  # double click: revoked once
    roles = await _roles(app)
    assert (officer_id, "commune", commune_code(app, BINH_LU), False) in roles
    actions = [e.action for e in await audit_log(app)]
    assert actions.count("role.revoke") == 1 and actions.count("invite.create") == 1
    assert [n.kind for n in await outbox(app, officer_id)] == ["role_revoked"]
    # The revoked officer lost access at once.
    officer = Chat(app.engine, user_id="officer")
    before = await snapshot(app)
    await officer.press(ShowQueue())
    assert not any(isinstance(Button.parse(c.payload), ReviewButton) for c in officer.choices)
    assert await snapshot(app) == before


async def test_admin_cannot_revoke_themself(app: App) -> None:
    await make_staff(app, "boss", "admin")
    admin = Chat(app.engine, user_id="boss")
    own = await in_session(app, lambda s: s.scalar(select(StaffRole.id)))
    assert own is not None
    before = await snapshot(app)
    await admin.press(RevokeStaff(role=own))
    assert await snapshot(app) == before


async def test_invite_link_uses_the_bot_username(app: App) -> None:
    settings = app.settings.replaced(telegram_bot_username="@OcopLaiChauBot")

    async def work(session: AsyncSession) -> invites.NewInvite:
        return await invites.create(
            session,
            settings,
            role=Role.ADMIN,
            commune_code=None,
            created_by=None,
            actor_label="t",
            now=app.engine.clock(),
        )

    created = await in_session(app, work)
    assert created.link == f"https://t.me/OcopLaiChauBot?start={created.code}"
    assert created.expires_at - app.engine.clock() == dt.timedelta(days=INVITE_VALID_DAYS)


# The command line ------------------------------------------------------------------------------------------------


async def test_cli_invite_staff_and_audit(app: App) -> None:
    settings = app.settings
    now = app.engine.clock()
    out, err = io.StringIO(), io.StringIO()
    assert await admin_cli.invite(settings, "commune", "Bình Lư", now, out, err) == 0
    code = _CODE.search(out.getvalue())
    assert code is not None and f"/start {code.group(0)}" in out.getvalue()
    assert "09/03/2026" in out.getvalue()  # expiry, 7 days on, local time

    ambiguous_out, ambiguous_err = io.StringIO(), io.StringIO()
    assert await admin_cli.invite(settings, "commune", "Phong", now, ambiguous_out, ambiguous_err) != 0
    assert "Xã Phong Thổ" in ambiguous_err.getvalue() and "Phường Tân Phong" in ambiguous_err.getvalue()
    assert await admin_cli.invite(settings, "commune", "Hà Nội", now, io.StringIO(), io.StringIO()) != 0
    assert await admin_cli.invite(settings, "commune", None, now, io.StringIO(), io.StringIO()) != 0
    assert await admin_cli.invite(settings, "province", "Bình Lư", now, io.StringIO(), io.StringIO()) != 0

    await Chat(app.engine, user_id="cli-officer").send(f"/start {code.group(0)}")
    listing = io.StringIO()
    assert await admin_cli.list_staff(settings, listing) == 0
    assert "commune Xã Bình Lư" in listing.getvalue()

    log = io.StringIO()
    assert await admin_cli.print_audit(settings, dt.date(2026, 1, 1), log) == 0
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("02/03/2026 10:00\tcli\tinvite.create\tinvite #1")
    assert any("role.grant" in line and "→" in line and "invite #1" in line for line in lines)
    empty = io.StringIO()
    await admin_cli.print_audit(settings, dt.date(2026, 12, 1), empty)
    assert "no audit entries" in empty.getvalue()


async def test_cli_main_parses_the_commands(app: App, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    from bot import cli

    monkeypatch.setenv("DATABASE_URL", app.settings.database_url)
    monkeypatch.setenv("OCOP_DATA_DIR", str(app.settings.ocop.data_dir))
    monkeypatch.chdir(app.settings.ocop.data_dir.parent)  # no stray .env
    assert await _in_thread(cli.main, ["audit", "--since", "nonsense"]) == 2
    assert await _in_thread(cli.main, ["staff"]) == 0
    assert await _in_thread(cli.main, ["invite", "--role", "admin"]) == 0


async def _in_thread(function: object, argv: list[str]) -> int:
    import asyncio

    assert callable(function)
    result = await asyncio.to_thread(function, argv)
    assert isinstance(result, int)
    return result


async def test_producers_are_not_admins(app: App) -> None:
    await make_producer(app, "p1")
    producer = Chat(app.engine, user_id="p1")
    before = await snapshot(app)
    pressed = (AdminHome(), InviteRole(role="admin"), StaffList(), RevokeStaff(role=1), InviteCommune(commune=1))
    for button in pressed:
        await producer.press(button)
        assert producer.replies
    assert await snapshot(app) == before
