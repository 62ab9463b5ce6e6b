"""The commune's review: its queue of ideas and dossiers, the four criteria, and optimistic locking.

Every lookup takes the reviewer's communes and filters on them *in the query*, so an id taken from a
button can never reach a dossier or idea of another commune. Status values are plain strings (the values of
``bot.rules`` enums), passed in by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from storage.models import CommuneCriterion, Dossier, Producer, Product, ProductIdea

# The queue ------------------------------------------------------------------------------------------------


async def ideas_waiting(session: AsyncSession, communes: Collection[int], status: str) -> list[ProductIdea]:
    """Ideas of these communes in ``status``, oldest submission first."""
    if not communes:
        return []
    rows = await session.scalars(
        select(ProductIdea)
        .where(ProductIdea.commune_code.in_(communes), ProductIdea.status == status)
        .order_by(ProductIdea.submitted_at, ProductIdea.id)
    )
    return list(rows)


async def dossiers_waiting(
    session: AsyncSession, communes: Collection[int], statuses: Collection[str]
) -> list[Dossier]:
    """Dossiers of products of these communes in one of ``statuses``, oldest submission first."""
    if not communes:
        return []
    rows = await session.scalars(
        select(Dossier)
        .join(Product, Dossier.product_id == Product.id)
        .where(Product.commune_code.in_(communes), Dossier.status.in_(statuses))
        .order_by(Dossier.submitted_at, Dossier.id)
        .options(contains_eager(Dossier.product))  # the product from the join above, not a second query
    )
    return list(rows)


async def count_waiting(
    session: AsyncSession, communes: Collection[int], idea_status: str, dossier_statuses: Collection[str]
) -> int:
    """How many ideas and dossiers wait for these communes (the number on the menu button)."""
    if not communes:
        return 0
    ideas = await session.scalar(
        select(func.count())
        .select_from(ProductIdea)
        .where(ProductIdea.commune_code.in_(communes), ProductIdea.status == idea_status)
    )
    dossiers = await session.scalar(
        select(func.count())
        .select_from(Dossier)
        .join(Product, Dossier.product_id == Product.id)
        .where(Product.commune_code.in_(communes), Dossier.status.in_(dossier_statuses))
    )
    return int(ideas or 0) + int(dossiers or 0)


# One dossier or idea, only inside the reviewer's communes -----------------------------------------------------


async def idea_in(session: AsyncSession, idea_id: int, communes: Collection[int]) -> ProductIdea | None:
    if not communes:
        return None
    return await session.scalar(
        select(ProductIdea)
        .where(ProductIdea.id == idea_id, ProductIdea.commune_code.in_(communes))
        .execution_options(populate_existing=True)
    )


async def producer_by_id(session: AsyncSession, producer_id: int) -> Producer | None:
    return await session.get(Producer, producer_id)


# Optimistic locking -----------------------------------------------------------------------------------------


async def bump_dossier(
    session: AsyncSession, dossier: Dossier, *, seen_version: int, now: dt.datetime, **values: Any
) -> bool:
    """Write ``values`` and bump the version, only if the dossier still has the version the reviewer saw.

    One conditional UPDATE: on PostgreSQL the second of two concurrent writers waits for the first and
    then matches no row; False means someone else changed the dossier meanwhile and nothing was written.
    """
    result = await session.execute(
        update(Dossier)
        .where(Dossier.id == dossier.id, Dossier.version == seen_version)
        .values(version=Dossier.version + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(dossier, ["version", "status", "review_note", "updated_at"])
    return True


async def decide_idea(
    session: AsyncSession,
    idea: ProductIdea,
    *,
    from_status: str,
    to_status: str,
    reviewer: int,
    note: str | None,
    now: dt.datetime,
) -> bool:
    """Accept or return an idea once: False when it had already left ``from_status`` (a double click, or
    another officer was quicker)."""
    result = await session.execute(
        update(ProductIdea)
        .where(ProductIdea.id == idea.id, ProductIdea.status == from_status)
        .values(status=to_status, reviewed_by=reviewer, reviewed_at=now, review_note=note, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(idea)
    return True


# The four criteria ------------------------------------------------------------------------------------------


async def criteria_of(session: AsyncSession, dossier_id: int, codes: Iterable[str]) -> dict[str, CommuneCriterion]:
    """The criterion rows of a dossier, created as ``pending`` where missing, in the order of ``codes``."""
    existing = {
        row.criterion: row
        for row in await session.scalars(
            select(CommuneCriterion)
            .where(CommuneCriterion.dossier_id == dossier_id)
            .execution_options(populate_existing=True)
        )
    }
    result: dict[str, CommuneCriterion] = {}
    for code in codes:
        row = existing.get(code)
        if row is None:
            row = CommuneCriterion(dossier_id=dossier_id, criterion=code, status="pending")
            session.add(row)
        result[code] = row
    await session.flush()
    return result


async def reset_criteria(session: AsyncSession, dossier_id: int) -> None:
    """A resubmitted dossier is reviewed afresh: every criterion back to pending."""
    await session.execute(
        update(CommuneCriterion)
        .where(CommuneCriterion.dossier_id == dossier_id)
        .values(status="pending", reason=None, decided_by=None, decided_at=None)
        .execution_options(synchronize_session=False)
    )


def set_criterion(row: CommuneCriterion, *, status: str, reason: str | None, decided_by: int, now: dt.datetime) -> None:
    row.status = status
    row.reason = reason
    row.decided_by = decided_by
    row.decided_at = now
