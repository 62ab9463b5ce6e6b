"""A round's council: its members and each member's sheet (points A, B, C) for each dossier."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CouncilMember, ScoreSheet

CHAT, XLSX = "chat", "xlsx"


async def members_of(session: AsyncSession, round_id: int) -> list[CouncilMember]:
    rows = await session.scalars(
        select(CouncilMember).where(CouncilMember.round_id == round_id).order_by(CouncilMember.id)
    )
    return list(rows)


async def member_of(session: AsyncSession, round_id: int, member_id: int) -> CouncilMember | None:
    return await session.scalar(
        select(CouncilMember).where(CouncilMember.round_id == round_id, CouncilMember.id == member_id)
    )


async def member_by_name(session: AsyncSession, round_id: int, name_folded: str) -> CouncilMember | None:
    return await session.scalar(
        select(CouncilMember).where(CouncilMember.round_id == round_id, CouncilMember.name_folded == name_folded)
    )


async def add_member(
    session: AsyncSession, *, round_id: int, name: str, name_folded: str, role: str, now: dt.datetime
) -> CouncilMember:
    member = CouncilMember(round_id=round_id, name=name, name_folded=name_folded, role=role, created_at=now)
    session.add(member)
    await session.flush()
    return member


async def sheets_of(session: AsyncSession, dossier_id: int) -> dict[int, ScoreSheet]:
    """The dossier's sheets by member id."""
    rows = await session.scalars(select(ScoreSheet).where(ScoreSheet.dossier_id == dossier_id))
    return {row.member_id: row for row in rows}


async def save_sheet(
    session: AsyncSession,
    *,
    dossier_id: int,
    member_id: int,
    points: tuple[float, float, float],
    source: str,
    recorded_by: int | None,
    now: dt.datetime,
) -> ScoreSheet:
    """One sheet per member and dossier: typing or importing it again replaces the points."""
    sheet = await session.scalar(
        select(ScoreSheet).where(ScoreSheet.dossier_id == dossier_id, ScoreSheet.member_id == member_id)
    )
    if sheet is None:
        sheet = ScoreSheet(dossier_id=dossier_id, member_id=member_id)
        session.add(sheet)
    sheet.points_a, sheet.points_b, sheet.points_c = points
    sheet.source = source
    sheet.recorded_by = recorded_by
    sheet.recorded_at = now
    await session.flush()
    return sheet
