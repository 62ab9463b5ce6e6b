"""What ``/lich`` shows: upcoming rounds, a producer's unfinished dossiers, certificates and expiring
documents, and the counts staff care about. Read-only; every query names its owner (producer or communes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import certificates, rounds
from storage.models import Certificate, Dossier, DossierItem, Product, Round


async def upcoming_rounds(session: AsyncSession, province: str, today: dt.date, limit: int = 3) -> list[Round]:
    rows = await session.scalars(
        select(Round)
        .where(Round.province == province, Round.status == rounds.OPEN, Round.submit_deadline >= today)
        .order_by(Round.submit_deadline, Round.id)
        .limit(limit)
    )
    return list(rows)


async def live_certificates(session: AsyncSession, producer_id: int) -> list[tuple[Certificate, str]]:
    """The producer's valid certificates with their product's name, the soonest expiry first."""
    rows = await session.execute(
        select(Certificate, Product.name)
        .join(Product, Product.id == Certificate.product_id)
        .where(Product.producer_id == producer_id, Certificate.status == certificates.VALID)
        .order_by(Certificate.expires_on, Certificate.id)
    )
    return [(certificate, name) for certificate, name in rows]


async def expiring_documents(
    session: AsyncSession, producer_id: int, statuses: Collection[str], today: dt.date
) -> list[tuple[str, str, dt.date]]:
    """(item code, product name, expiry) of documents in the producer's active dossiers expiring from today."""
    rows = await session.execute(
        select(DossierItem.code, Product.name, DossierItem.expires_on)
        .join(Dossier, Dossier.id == DossierItem.dossier_id)
        .join(Product, Product.id == Dossier.product_id)
        .where(
            Product.producer_id == producer_id,
            Dossier.status.in_(statuses),
            DossierItem.expires_on.is_not(None),
            DossierItem.expires_on >= today,
        )
        .order_by(DossierItem.expires_on, DossierItem.id)
    )
    return [(code, name, expires) for code, name, expires in rows if expires is not None]


async def dossiers_waiting(session: AsyncSession, communes: Collection[int], statuses: Collection[str]) -> int:
    if not communes:
        return 0
    count = await session.scalar(
        select(func.count())
        .select_from(Dossier)
        .join(Product, Product.id == Dossier.product_id)
        .where(Product.commune_code.in_(communes), Dossier.status.in_(statuses))
    )
    return int(count or 0)


async def certificates_expiring(session: AsyncSession, today: dt.date, until: dt.date) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Certificate)
        .where(
            Certificate.status == certificates.VALID, Certificate.expires_on >= today, Certificate.expires_on <= until
        )
    )
    return int(count or 0)
