"""Public certificate checks, counted per identity to rate-limit them (nothing else about the asker is kept)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CertificateLookup


async def allow(session: AsyncSession, identity_id: int, *, now: dt.datetime, window: dt.timedelta, limit: int) -> bool:
    """Record one check and say whether it is within ``limit`` per ``window``; older rows of this identity go."""
    since = now - window
    await session.execute(
        delete(CertificateLookup).where(CertificateLookup.identity_id == identity_id, CertificateLookup.at < since)
    )
    count = await session.scalar(
        select(func.count(CertificateLookup.id)).where(CertificateLookup.identity_id == identity_id)
    )
    if (count or 0) >= limit:
        return False
    session.add(CertificateLookup(identity_id=identity_id, at=now))
    await session.flush()
    return True
