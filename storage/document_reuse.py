"""Documents sent once and used again: a producer's earlier copy of an item, the last certified dossier of a
product, and linking an earlier item's files to a new item.

A reused file is a new ``dossier_item_files`` row pointing at the same ``stored_files`` row (the bytes are
stored once, by their hash): the orphan sweep and erasure (``storage.stored_files``) then see it referenced
by both dossiers, and a person's erasure, which deletes all of their dossiers, still removes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.dossiers import link_file
from storage.models import Certificate, Dossier, DossierItem, DossierItemFile, Product


@dataclass(frozen=True, slots=True)
class Earlier:
    """The newest copy of one item the producer sent in another dossier, and when it was sent."""

    item: DossierItem
    sent_at: dt.datetime


async def earlier_items(
    session: AsyncSession, producer_id: int, codes: Collection[str], *, except_dossier: int
) -> dict[str, Earlier]:
    """Per code, the item with files of this producer's other dossiers whose newest file is the newest."""
    if not codes:
        return {}
    newest = func.max(DossierItemFile.created_at)
    rows = (
        await session.execute(
            select(DossierItem.id, DossierItem.code, newest.label("sent_at"))
            .join(DossierItemFile, DossierItemFile.item_id == DossierItem.id)
            .join(Dossier, DossierItem.dossier_id == Dossier.id)
            .join(Product, Dossier.product_id == Product.id)
            .where(
                Product.producer_id == producer_id,
                DossierItem.code.in_(list(codes)),
                Dossier.id != except_dossier,
            )
            .group_by(DossierItem.id, DossierItem.code)
        )
    ).all()
    best: dict[str, tuple[int, dt.datetime]] = {}
    for item_id, code, sent_at in rows:
        if code not in best or (sent_at, item_id) > best[code][::-1]:
            best[code] = (item_id, sent_at)
    found: dict[str, Earlier] = {}
    for code, (item_id, sent_at) in best.items():
        item = await item_with_files(session, item_id)
        if item is not None:
            found[code] = Earlier(item, sent_at if sent_at.tzinfo else sent_at.replace(tzinfo=dt.UTC))
    return found


async def item_with_files(session: AsyncSession, item_id: int) -> DossierItem | None:
    return await session.scalar(
        select(DossierItem)
        .where(DossierItem.id == item_id)
        .options(selectinload(DossierItem.files))
        .execution_options(populate_existing=True)
    )


async def last_certified_dossier(session: AsyncSession, producer_id: int, product_id: int) -> Dossier | None:
    """The dossier behind the product's newest certificate (valid, expired or superseded: a renewal starts
    from it), with its items and files; None when the product was never certified through a dossier."""
    return await session.scalar(
        select(Dossier)
        .join(Certificate, Certificate.dossier_id == Dossier.id)
        .join(Product, Dossier.product_id == Product.id)
        .where(Certificate.product_id == product_id, Product.producer_id == producer_id)
        .order_by(Certificate.issued_on.desc(), Certificate.id.desc())
        .limit(1)
        .options(selectinload(Dossier.items).selectinload(DossierItem.files))
        .execution_options(populate_existing=True)
    )


async def copy_files(
    session: AsyncSession, source: DossierItem, target: DossierItem, *, user_id: int, now: dt.datetime
) -> int:
    """Link every file of ``source`` to ``target`` (the same stored bytes) and carry its expiry date over;
    returns how many files were linked."""
    linked = 0
    for row in source.files:
        linked += await link_file(
            session,
            target.id,
            row.stored_file_id,
            original_name=row.original_name,
            uploaded_by=user_id,
            now=now,
        )
    if source.expires_on is not None:
        target.expires_on = source.expires_on
    await session.flush()
    return linked
