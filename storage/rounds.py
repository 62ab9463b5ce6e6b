"""Evaluation rounds (đợt đánh giá) of a province: name, submission deadline, council meeting, open/closed.

Every lookup names the province in the query, so a round id from a button never reaches another
province's round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Dossier, Round

OPEN, CLOSED = "open", "closed"

# The Lai Châu 2025 plan (Tam Đường KH OCOP 2025): dossiers before 20/05 and before 20/10 (ocop-domain.md §7).
DEFAULT_ROUNDS: tuple[tuple[int, int, int], ...] = ((1, 5, 20), (2, 10, 20))  # (number, month, day)


def default_round_name(number: int, year: int) -> str:
    return f"Đợt {number}/{year}"


async def create_round(
    session: AsyncSession,
    *,
    province: str,
    name: str,
    submit_deadline: dt.date,
    meeting_date: dt.date | None,
    now: dt.datetime,
) -> Round:
    found = Round(
        province=province,
        name=name,
        submit_deadline=submit_deadline,
        meeting_date=meeting_date,
        status=OPEN,
        created_at=now,
    )
    session.add(found)
    await session.flush()
    return found


async def round_of(session: AsyncSession, province: str, round_id: int) -> Round | None:
    return await session.scalar(select(Round).where(Round.id == round_id, Round.province == province))


async def round_named(session: AsyncSession, province: str, name: str) -> Round | None:
    return await session.scalar(
        select(Round).where(Round.province == province, Round.name == name).order_by(Round.id).limit(1)
    )


async def rounds_of(session: AsyncSession, province: str, statuses: Collection[str] | None = None) -> list[Round]:
    """The province's rounds, the nearest deadline first among open ones, then the older ones."""
    statement = select(Round).where(Round.province == province)
    if statuses is not None:
        statement = statement.where(Round.status.in_(statuses))
    rows = await session.scalars(statement.order_by(Round.submit_deadline.desc(), Round.id.desc()))
    return list(rows)


async def open_rounds(session: AsyncSession, province: str) -> list[Round]:
    rows = await session.scalars(
        select(Round).where(Round.province == province, Round.status == OPEN).order_by(Round.submit_deadline, Round.id)
    )
    return list(rows)


async def dossier_counts(session: AsyncSession, round_ids: Collection[int]) -> dict[int, int]:
    """How many dossiers each round holds."""
    if not round_ids:
        return {}
    rows = await session.execute(
        select(Dossier.round_id, func.count(Dossier.id))
        .where(Dossier.round_id.in_(round_ids))
        .group_by(Dossier.round_id)
    )
    return {int(round_id): int(count) for round_id, count in rows if round_id is not None}


async def seed_default_rounds(
    session: AsyncSession, province: str, year: int, now: dt.datetime | None = None
) -> list[Round]:
    """This year's two rounds of the Lai Châu plan (deadlines 20/05 and 20/10), created once.

    Idempotent: a round with the same name or the same deadline in this province counts as already there
    (an officer may have typed it by hand), so running it twice, or after manual entry, adds nothing.
    """
    now = now or dt.datetime.now(dt.UTC)
    result: list[Round] = []
    for number, month, day in DEFAULT_ROUNDS:
        name = default_round_name(number, year)
        deadline = dt.date(year, month, day)
        existing = await session.scalar(
            select(Round)
            .where(Round.province == province, or_(Round.name == name, Round.submit_deadline == deadline))
            .order_by(Round.id)
            .limit(1)
        )
        if existing is None:
            existing = await create_round(
                session, province=province, name=name, submit_deadline=deadline, meeting_date=None, now=now
            )
        result.append(existing)
    return result


def snapshot(found: Round) -> dict[str, str | None]:
    """The round as plain values, for the audit log's before/after."""
    return {
        "name": found.name,
        "submit_deadline": found.submit_deadline.isoformat(),
        "meeting_date": found.meeting_date.isoformat() if found.meeting_date else None,
        "status": found.status,
    }
