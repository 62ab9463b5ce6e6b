"""The council's result for a dossier and the OCOP certificates that follow from it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Certificate, CouncilResult, Product

VALID, REVOKED = "valid", "revoked"


async def result_of(session: AsyncSession, dossier_id: int) -> CouncilResult | None:
    return await session.scalar(select(CouncilResult).where(CouncilResult.dossier_id == dossier_id))


async def save_result(
    session: AsyncSession,
    *,
    dossier_id: int,
    points: tuple[float, float, float],
    mandatory_ok: bool,
    stars: int,
    rule_set: str,
    recorded_by: int | None,
    now: dt.datetime,
) -> CouncilResult:
    """One result per dossier (a unique column): a second recording replaces the first."""
    found = await result_of(session, dossier_id)
    if found is None:
        found = CouncilResult(dossier_id=dossier_id)
        session.add(found)
    found.points_a, found.points_b, found.points_c = points
    found.total = round(sum(points), 2)
    found.mandatory_ok = mandatory_ok
    found.stars = stars
    found.rule_set = rule_set
    found.recorded_by = recorded_by
    found.recorded_at = now
    await session.flush()
    return found


async def issue(
    session: AsyncSession,
    *,
    product_id: int,
    dossier_id: int,
    stars: int,
    decision_no: str,
    issued_on: dt.date,
    expires_on: dt.date,
    issued_by: int | None,
    now: dt.datetime,
) -> Certificate:
    certificate = Certificate(
        product_id=product_id,
        dossier_id=dossier_id,
        stars=stars,
        decision_no=decision_no,
        issued_on=issued_on,
        expires_on=expires_on,
        status=VALID,
        issued_by=issued_by,
        created_at=now,
    )
    session.add(certificate)
    await session.flush()
    return certificate


async def certificate_of_dossier(session: AsyncSession, dossier_id: int) -> Certificate | None:
    """The newest certificate issued on this dossier, whatever its status."""
    return await session.scalar(
        select(Certificate).where(Certificate.dossier_id == dossier_id).order_by(Certificate.id.desc()).limit(1)
    )


async def certificates_of_producer(session: AsyncSession, producer_id: int) -> list[Certificate]:
    rows = await session.scalars(
        select(Certificate)
        .join(Product, Certificate.product_id == Product.id)
        .where(Product.producer_id == producer_id)
        .order_by(Certificate.id.desc())
    )
    return list(rows)


async def revoke(session: AsyncSession, certificate: Certificate, reason: str, now: dt.datetime) -> bool:
    """Revoke a valid certificate; False when it was not valid any more (revoked twice, expired)."""
    if certificate.status != VALID:
        return False
    certificate.status = REVOKED
    certificate.revoked_reason = reason
    certificate.revoked_at = now
    await session.flush()
    return True


def certificate_snapshot(certificate: Certificate) -> dict[str, Any]:
    return {
        "stars": certificate.stars,
        "decision_no": certificate.decision_no,
        "issued_on": certificate.issued_on.isoformat(),
        "expires_on": certificate.expires_on.isoformat(),
        "status": certificate.status,
        "revoked_reason": certificate.revoked_reason,
    }


def result_snapshot(result: CouncilResult) -> dict[str, Any]:
    return {
        "points": [result.points_a, result.points_b, result.points_c],
        "total": result.total,
        "mandatory_ok": result.mandatory_ok,
        "stars": result.stars,
        "rule_set": result.rule_set,
    }


async def dossier_certificate_pairs(session: AsyncSession, dossier_ids: list[int]) -> dict[int, Certificate]:
    """The newest certificate of each of these dossiers (for status screens)."""
    if not dossier_ids:
        return {}
    rows = await session.scalars(
        select(Certificate).where(Certificate.dossier_id.in_(dossier_ids)).order_by(Certificate.id)
    )
    return {c.dossier_id: c for c in rows if c.dossier_id is not None}


async def dossier_results(session: AsyncSession, dossier_ids: list[int]) -> dict[int, CouncilResult]:
    if not dossier_ids:
        return {}
    rows = await session.scalars(select(CouncilResult).where(CouncilResult.dossier_id.in_(dossier_ids)))
    return {r.dossier_id: r for r in rows}
