"""Dossiers as the province sees them: every query is limited to the province's communes (passed in by
the caller, from ``bot.communes``), and every change is a compare-and-set on ``Dossier.version`` so two
officers acting on one dossier at once cannot both succeed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from storage.models import Dossier, Producer, Product

_UNSET: Any = object()


async def dossiers_at_province(
    session: AsyncSession,
    communes: Collection[int],
    statuses: Collection[str],
    *,
    round_id: int | None = None,
    without_round: bool = False,
) -> list[Dossier]:
    """Dossiers of these communes in one of ``statuses``, oldest submission first, products loaded."""
    statement = (
        select(Dossier)
        .join(Product, Dossier.product_id == Product.id)
        .where(Product.commune_code.in_(communes), Dossier.status.in_(statuses))
        .options(contains_eager(Dossier.product))  # the product from the join above, not a second query
    )
    if round_id is not None:
        statement = statement.where(Dossier.round_id == round_id)
    elif without_round:
        statement = statement.where(Dossier.round_id.is_(None))
    rows = await session.scalars(statement.order_by(Dossier.submitted_at, Dossier.id))
    return list(rows)


async def count_by_round(
    session: AsyncSession, communes: Collection[int], statuses: Collection[str]
) -> dict[int | None, int]:
    """How many such dossiers each round holds (None: not in a round yet)."""
    rows = await session.execute(
        select(Dossier.round_id, func.count(Dossier.id))
        .join(Product, Dossier.product_id == Product.id)
        .where(Product.commune_code.in_(communes), Dossier.status.in_(statuses))
        .group_by(Dossier.round_id)
    )
    return {round_id: int(count) for round_id, count in rows}


async def producers_of_products(session: AsyncSession, product_ids: Collection[int]) -> dict[int, Producer]:
    """The producer of each product, in one query (a page of a staff list)."""
    if not product_ids:
        return {}
    rows = await session.execute(
        select(Product.id, Producer)
        .join(Producer, Producer.id == Product.producer_id)
        .where(Product.id.in_(product_ids))
    )
    return {product_id: producer for product_id, producer in rows.all()}


async def producer_of_dossier(session: AsyncSession, dossier: Dossier) -> Producer | None:
    return await session.scalar(
        select(Producer).join(Product, Product.producer_id == Producer.id).where(Product.id == dossier.product_id)
    )


async def change(
    session: AsyncSession,
    dossier: Dossier,
    expected_version: int,
    *,
    now: dt.datetime,
    status: str | None = None,
    round_id: int | None = _UNSET,
    review_note: str | None = _UNSET,
) -> bool:
    """Apply the change only if the dossier is still at ``expected_version``; bumps the version.

    False when someone else changed it meanwhile: nothing is written, the caller answers "changed".
    """
    values: dict[str, Any] = {"version": Dossier.version + 1, "updated_at": now}
    if status is not None:
        values["status"] = status
    if round_id is not _UNSET:
        values["round_id"] = round_id
    if review_note is not _UNSET:
        values["review_note"] = review_note
    result = await session.execute(
        update(Dossier)
        .where(Dossier.id == dossier.id, Dossier.version == expected_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(dossier, ["status", "version", "round_id", "review_note", "updated_at"])
    return True


def dossier_snapshot(dossier: Dossier) -> dict[str, Any]:
    """The dossier's state as plain values, for the audit log's before/after."""
    return {
        "status": dossier.status,
        "version": dossier.version,
        "round_id": dossier.round_id,
        "review_note": dossier.review_note,
    }
