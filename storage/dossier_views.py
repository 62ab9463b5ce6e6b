"""What a staff member last saw of a dossier (``DossierView``): read before a dossier is shown, written after."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import insert_ignore
from storage.models import DossierView


async def last_view(session: AsyncSession, user_id: int, dossier_id: int, view: str) -> DossierView | None:
    return await session.scalar(
        select(DossierView).where(
            DossierView.user_id == user_id, DossierView.dossier_id == dossier_id, DossierView.view == view
        )
    )


async def save_view(
    session: AsyncSession, user_id: int, dossier_id: int, view: str, snapshot: dict[str, Any], now: dt.datetime
) -> None:
    """Insert or replace; insert-ignore first, so two screens of one officer never fail on the unique key."""
    where = (DossierView.user_id == user_id, DossierView.dossier_id == dossier_id, DossierView.view == view)
    await session.execute(
        insert_ignore(
            DossierView.__table__,  # type: ignore[arg-type]
            {"user_id": user_id, "dossier_id": dossier_id, "view": view, "seen_at": now, "snapshot": snapshot},
            session.get_bind().dialect.name,
        )
    )
    await session.execute(
        update(DossierView)
        .where(*where)
        .values(seen_at=now, snapshot=snapshot)
        .execution_options(synchronize_session=False)
    )
