"""The council's result for a dossier and the OCOP certificates that follow from it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Certificate, CouncilResult, Product

VALID, REVOKED, EXPIRED, SUPERSEDED = "valid", "revoked", "expired", "superseded"
PROVINCE, CENTRAL = "province", "central"


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
    total: float | None = None,
    sheet_count: int = 0,
    spread: float = 0.0,
    failed_criterion: str | None = None,
    council_note: str | None = None,
    correction_reason: str | None = None,
) -> CouncilResult:
    """One result per dossier (a unique column): a correction replaces it (the audit log keeps both)."""
    found = await result_of(session, dossier_id)
    if found is None:
        found = CouncilResult(dossier_id=dossier_id)
        session.add(found)
    found.points_a, found.points_b, found.points_c = points
    found.total = round(sum(points), 2) if total is None else total
    found.sheet_count, found.spread = sheet_count, spread
    found.failed_criterion = None if mandatory_ok else failed_criterion
    found.council_note = None if mandatory_ok else council_note
    if correction_reason is not None:
        found.corrected_at, found.correction_reason = now, correction_reason
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
    public_code: str,
    authority: str = PROVINCE,
) -> Certificate:
    """Issue a certificate. The product's last certificate that was not revoked (a renewal, an upgrade, or a
    4★ after a 5★ proposal) becomes its predecessor; a still-valid one is superseded by this one."""
    previous = await session.scalar(
        select(Certificate)
        .where(Certificate.product_id == product_id, Certificate.status.in_((VALID, EXPIRED)))
        .order_by(Certificate.issued_on.desc(), Certificate.id.desc())
        .limit(1)
    )
    if previous is not None and previous.status == VALID:
        previous.status = SUPERSEDED
        previous.superseded_at = now
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
        public_code=public_code,
        authority=authority,
        previous_id=previous.id if previous is not None else None,
    )
    session.add(certificate)
    await session.flush()
    return certificate


async def certificate_of_dossier(session: AsyncSession, dossier_id: int) -> Certificate | None:
    """The newest certificate issued on this dossier, whatever its status."""
    return await session.scalar(
        select(Certificate).where(Certificate.dossier_id == dossier_id).order_by(Certificate.id.desc()).limit(1)
    )


# Built once: the status report runs it on every look (its construction and cache key are then memoized).
OF_PRODUCER = (
    select(Certificate)
    .join(Product, Certificate.product_id == Product.id)
    .where(Product.producer_id == bindparam("producer_id"))
    .order_by(Certificate.id.desc())
)


async def certificates_of_producer(session: AsyncSession, producer_id: int) -> list[Certificate]:
    rows = await session.scalars(OF_PRODUCER, {"producer_id": producer_id})
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
        "authority": certificate.authority,
        "public_code": certificate.public_code,
        "previous_id": certificate.previous_id,
        "decision_file_id": certificate.decision_file_id,
    }


def result_snapshot(result: CouncilResult) -> dict[str, Any]:
    return {
        "points": [result.points_a, result.points_b, result.points_c],
        "total": result.total,
        "mandatory_ok": result.mandatory_ok,
        "stars": result.stars,
        "rule_set": result.rule_set,
        "sheet_count": result.sheet_count,
        "spread": result.spread,
        "failed_criterion": result.failed_criterion,
        "council_note": result.council_note,
        "correction_reason": result.correction_reason,
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


async def by_public_code(session: AsyncSession, code: str) -> Certificate | None:
    return await session.scalar(select(Certificate).where(Certificate.public_code == code))


async def code_taken(session: AsyncSession, code: str) -> bool:
    return await by_public_code(session, code) is not None


async def history(session: AsyncSession, certificate: Certificate, limit: int = 10) -> list[Certificate]:
    """The certificates this one renewed or upgraded, newest first."""
    found: list[Certificate] = []
    previous_id = certificate.previous_id
    while previous_id is not None and len(found) < limit:
        previous = await session.get(Certificate, previous_id)
        if previous is None:
            break
        found.append(previous)
        previous_id = previous.previous_id
    return found
