"""Staff roles and invites. Role names are the string values of ``bot.rules.Role``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import StaffRole


async def active_roles(session: AsyncSession, user_id: int) -> list[StaffRole]:
    rows = await session.scalars(
        select(StaffRole).where(StaffRole.user_id == user_id, StaffRole.revoked_at.is_(None)).order_by(StaffRole.id)
    )
    return list(rows)


async def grant(
    session: AsyncSession,
    *,
    user_id: int,
    role: str,
    province: str,
    commune_code: int | None,
    granted_by: int | None,
    now: dt.datetime,
) -> StaffRole:
    """Give a role (again, if it had been revoked)."""
    existing = await session.scalar(
        select(StaffRole).where(
            StaffRole.user_id == user_id,
            StaffRole.role == role,
            StaffRole.commune_code.is_(None) if commune_code is None else StaffRole.commune_code == commune_code,
        )
    )
    if existing is None:
        existing = StaffRole(user_id=user_id, role=role, commune_code=commune_code, province=province)
        session.add(existing)
    existing.granted_by = granted_by
    existing.granted_at = now
    existing.revoked_at = None
    await session.flush()
    return existing
