"""The audit log: every staff action and role change, with who, when, what, and before/after."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry


async def record(
    session: AsyncSession,
    *,
    at: dt.datetime,
    actor_user_id: int | None,
    action: str,
    object_type: str,
    object_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
    actor_label: str = "",
) -> AuditEntry:
    entry = AuditEntry(
        at=at,
        actor_user_id=actor_user_id,
        actor_label=actor_label,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        note=note,
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries_since(session: AsyncSession, since: dt.datetime) -> list[AuditEntry]:
    rows = await session.scalars(select(AuditEntry).where(AuditEntry.at >= since).order_by(AuditEntry.id))
    return list(rows)
