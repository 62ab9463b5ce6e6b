"""Evaluation rounds (đợt đánh giá) of a province: name, submission deadline, council meeting, open/closed.

Every lookup names the province in the query, so a round id from a button never reaches another
province's round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Dossier, Round

OPEN, CLOSED = "open", "closed"


def default_round_name(number: int, year: int) -> str:
    return f"Đợt {number}/{year}"


def planned_rounds(year: int, deadlines: Iterable[tuple[int, int]]) -> list[tuple[str, dt.date]]:
    """Name and submission deadline of each of ``year``'s rounds, from (day, month) deadlines such as the
    Lai Châu plan's ``[(20, 5), (20, 10)]``: "Đợt 1/2026" is the earliest. A day the year lacks (29/02) is
    left out."""
    days: list[dt.date] = []
    for day, month in deadlines:
        try:
            days.append(dt.date(year, month, day))
        except ValueError:
            continue
    return [(default_round_name(number, year), day) for number, day in enumerate(sorted(days), start=1)]


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


def year_ahead(today: dt.date, deadlines: Iterable[tuple[int, int]]) -> int:
    """The year whose planned rounds a province should create now: this year while one of its deadlines is
    still ahead, else the next (pressed in November, "create this year's rounds" means next year's)."""
    planned = planned_rounds(today.year, list(deadlines))
    return today.year if any(deadline >= today for _name, deadline in planned) else today.year + 1


async def seed_rounds(
    session: AsyncSession,
    province: str,
    year: int,
    deadlines: Iterable[tuple[int, int]],
    now: dt.datetime,
    *,
    today: dt.date | None = None,
) -> list[Round]:
    """This year's rounds with these (day, month) submission deadlines (``planned_rounds``), created once.

    Idempotent: a round with the same name or the same deadline in this province counts as already there
    (an officer may have typed it by hand), so running it twice, or after manual entry, adds nothing.
    With ``today``, a round whose deadline has already passed is not created: an open round nobody can
    submit to any more would only invite late dossiers. Returns the rounds of the plan, found or created.
    """
    result: list[Round] = []
    for name, deadline in planned_rounds(year, deadlines):
        if today is not None and deadline < today:
            continue
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


def days_left(found: Round, today: dt.date) -> int:
    """Days until the submission deadline (0 on the day itself, negative once it passed)."""
    return (found.submit_deadline - today).days


def snapshot(found: Round) -> dict[str, str | None]:
    """The round as plain values, for the audit log's before/after."""
    return {
        "name": found.name,
        "submit_deadline": found.submit_deadline.isoformat(),
        "meeting_date": found.meeting_date.isoformat() if found.meeting_date else None,
        "status": found.status,
    }
