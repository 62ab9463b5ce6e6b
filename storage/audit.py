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


# The same action the staff search writes when it shows a producer's card: one name for every staff read of a
# producer's personal data.
READ = "personal_data.read"
# A staff officer paging through one dossier opens it many times; one line per officer and object per hour is
# enough to tell the producer who looked.
_READ_QUIET = dt.timedelta(hours=1)


async def record_read(
    session: AsyncSession,
    *,
    at: dt.datetime,
    actor_user_id: int,
    actor_label: str,
    object_type: str,
    object_id: int,
    roles: list[dict[str, Any]],
) -> None:
    """That a staff officer opened a producer's record (shown to the producer under "🔒 My data")."""
    recent = await session.scalar(
        select(AuditEntry.id)
        .where(
            AuditEntry.action == READ,
            AuditEntry.actor_user_id == actor_user_id,
            AuditEntry.object_type == object_type,
            AuditEntry.object_id == object_id,
            AuditEntry.at > at - _READ_QUIET,
        )
        .limit(1)
    )
    if recent is None:
        await record(
            session,
            at=at,
            actor_user_id=actor_user_id,
            actor_label=actor_label,
            action=READ,
            object_type=object_type,
            object_id=object_id,
            after={"roles": roles},
        )


async def reads_of(session: AsyncSession, objects: dict[str, list[int]]) -> list[AuditEntry]:
    """Staff reads of the given objects (``{"producer": [ids], "dossier": [ids], "idea": [ids]}``), oldest first."""
    from sqlalchemy import and_, or_

    conditions = [
        and_(AuditEntry.object_type == kind, AuditEntry.object_id.in_(ids)) for kind, ids in objects.items() if ids
    ]
    if not conditions:
        return []
    rows = await session.scalars(
        select(AuditEntry).where(AuditEntry.action == READ, or_(*conditions)).order_by(AuditEntry.at, AuditEntry.id)
    )
    return list(rows)
