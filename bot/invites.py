"""Creating staff invites, shared by ``ocop-bot invite`` and the admin's chat panel.

The code is random, single-use and expires after ``INVITE_VALID_DAYS``; the database keeps its SHA-256
only, so the code is shown exactly once, to whoever created it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.rules import INVITE_VALID_DAYS, Role
from bot.settings import Settings
from storage import audit, staff


@dataclass(frozen=True, slots=True)
class NewInvite:
    code: str
    invite_id: int
    expires_at: dt.datetime
    link: str | None  # None when TELEGRAM_BOT_USERNAME is not set: use "/start <code>" instead

    @property
    def start_command(self) -> str:
        return f"/start {self.code}"


def invite_link(settings: Settings, code: str) -> str | None:
    username = (settings.telegram.username or "").strip().lstrip("@")
    return f"https://t.me/{username}?start={code}" if username else None


async def create(
    session: AsyncSession,
    settings: Settings,
    *,
    role: Role,
    commune_code: int | None,
    created_by: int | None,
    actor_label: str,
    now: dt.datetime,
) -> NewInvite:
    """Store a new invite (audit-logged) and return its one-time code and link."""
    if (role is Role.COMMUNE) != (commune_code is not None):
        raise ValueError("a commune invite needs a commune; other roles must not have one")
    code = staff.new_invite_code()
    invite = await staff.create_invite(
        session,
        code=code,
        role=role.value,
        province=settings.ocop.province,
        commune_code=commune_code,
        created_by=created_by,
        now=now,
        valid_for=dt.timedelta(days=INVITE_VALID_DAYS),
    )
    await audit.record(
        session,
        at=now,
        actor_user_id=created_by,
        actor_label=actor_label,
        action="invite.create",
        object_type="invite",
        object_id=invite.id,
        after={"role": role.value, "commune_code": commune_code, "expires_at": invite.expires_at.isoformat()},
    )
    return NewInvite(code, invite.id, invite.expires_at, invite_link(settings, code))
