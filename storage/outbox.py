"""The outbox: notifications written in the same transaction as the change that causes them, sent later
by the sender (``bot.sender``) under the platforms' limits. A unique dedupe key makes every writer
idempotent: the same reminder or notice is stored once however often it is written."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_of, insert_ignore
from storage.models import OutboxMessage


async def enqueue(
    session: AsyncSession,
    *,
    user_id: int,
    kind: str,
    params: dict[str, Any],
    dedupe_key: str,
    not_before: dt.datetime,
    urgent: bool = False,
) -> bool:
    """Queue one message; False when a message with this dedupe key was queued before."""
    statement = insert_ignore(
        OutboxMessage.__table__,  # type: ignore[arg-type]
        {
            "dedupe_key": dedupe_key,
            "user_id": user_id,
            "kind": kind,
            "params": params,
            "urgent": urgent,
            "status": "pending",
            "not_before": not_before,
            "attempts": 0,
            "created_at": not_before,
        },
        dialect_of(session),
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]
