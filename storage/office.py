"""The rows offices hand on: every dossier, certificate and producer with what a list needs to tell
namesakes apart (product, producer, commune, state), in one query each.

``communes`` scopes a query to a commune officer's communes; ``None`` is the province's view of everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import certificates
from storage.models import (
    Certificate,
    ChannelIdentity,
    CouncilResult,
    Dossier,
    Producer,
    Product,
    ProductIdea,
    Round,
    User,
)


@dataclass(frozen=True, slots=True)
class DossierRow:
    dossier_id: int
    product: str
    group_code: str
    producer: str
    producer_kind: str
    commune_code: int
    commune: str
    phone: str | None
    case: str
    status: str
    submitted_at: dt.datetime | None
    created_at: dt.datetime
    round_name: str | None
    points: tuple[float, float, float] | None
    total: float | None
    stars: int | None
    certificate_no: str | None
    certificate_issued: dt.date | None
    certificate_expires: dt.date | None


@dataclass(frozen=True, slots=True)
class CertificateRow:
    certificate_id: int
    product: str
    group_code: str
    producer: str
    producer_kind: str
    commune_code: int
    commune: str
    phone: str | None
    stars: int
    decision_no: str
    issued_on: dt.date
    expires_on: dt.date
    status: str


@dataclass(frozen=True, slots=True)
class ProducerRow:
    producer_id: int
    name: str
    kind: str
    commune_code: int
    commune: str
    phone: str | None
    products: int
    ideas: int
    has_chat: bool


async def dossier_rows(
    session: AsyncSession,
    *,
    communes: Collection[int] | None = None,
    round_id: int | None = None,
    commune_code: int | None = None,
    statuses: Collection[str] | None = None,
) -> list[DossierRow]:
    # The newest certificate of each dossier (a re-issued one replaces the first in the row).
    newest = (
        select(Certificate.dossier_id, func.max(Certificate.id).label("certificate_id"))
        .where(Certificate.dossier_id.is_not(None))
        .group_by(Certificate.dossier_id)
        .subquery()
    )
    statement = (
        select(Dossier, Product, Producer, User.phone, Round.name, CouncilResult, Certificate)
        .join(Product, Product.id == Dossier.product_id)
        .join(Producer, Producer.id == Product.producer_id)
        .join(User, User.id == Producer.user_id)
        .outerjoin(Round, Round.id == Dossier.round_id)
        .outerjoin(CouncilResult, CouncilResult.dossier_id == Dossier.id)
        .outerjoin(newest, newest.c.dossier_id == Dossier.id)
        .outerjoin(Certificate, Certificate.id == newest.c.certificate_id)
        .order_by(Producer.commune_name, Product.name_folded, Dossier.id)
    )
    if communes is not None:
        statement = statement.where(Product.commune_code.in_(list(communes)))
    if round_id is not None:
        statement = statement.where(Dossier.round_id == round_id)
    if commune_code is not None:
        statement = statement.where(Product.commune_code == commune_code)
    if statuses:
        statement = statement.where(Dossier.status.in_(list(statuses)))
    rows = []
    for dossier, product, producer, phone, round_name, result, certificate in (await session.execute(statement)).all():
        rows.append(
            DossierRow(
                dossier_id=dossier.id,
                product=product.name,
                group_code=product.group_code,
                producer=producer.name,
                producer_kind=producer.kind,
                commune_code=product.commune_code,
                commune=producer.commune_name,
                phone=phone,
                case=dossier.case,
                status=dossier.status,
                submitted_at=dossier.submitted_at,
                created_at=dossier.created_at,
                round_name=round_name,
                points=(result.points_a, result.points_b, result.points_c) if result else None,
                total=result.total if result else None,
                stars=result.stars if result else None,
                certificate_no=certificate.decision_no if certificate else None,
                certificate_issued=certificate.issued_on if certificate else None,
                certificate_expires=certificate.expires_on if certificate else None,
            )
        )
    return rows


async def certificate_rows(
    session: AsyncSession,
    *,
    communes: Collection[int] | None = None,
    expiring_before: dt.date | None = None,
    today: dt.date | None = None,
) -> list[CertificateRow]:
    """Every certificate; with ``expiring_before``, only valid ones that expire from ``today`` up to that day."""
    statement = (
        select(Certificate, Product, Producer, User.phone)
        .join(Product, Product.id == Certificate.product_id)
        .join(Producer, Producer.id == Product.producer_id)
        .join(User, User.id == Producer.user_id)
        .order_by(Certificate.expires_on, Product.name_folded)
    )
    if communes is not None:
        statement = statement.where(Product.commune_code.in_(list(communes)))
    if expiring_before is not None:
        statement = statement.where(Certificate.status == certificates.VALID, Certificate.expires_on <= expiring_before)
        if today is not None:
            statement = statement.where(Certificate.expires_on >= today)
    return [
        CertificateRow(
            certificate_id=certificate.id,
            product=product.name,
            group_code=product.group_code,
            producer=producer.name,
            producer_kind=producer.kind,
            commune_code=product.commune_code,
            commune=producer.commune_name,
            phone=phone,
            stars=certificate.stars,
            decision_no=certificate.decision_no,
            issued_on=certificate.issued_on,
            expires_on=certificate.expires_on,
            status=certificate.status,
        )
        for certificate, product, producer, phone in (await session.execute(statement)).all()
    ]


async def producer_rows(session: AsyncSession, *, communes: Collection[int] | None = None) -> list[ProducerRow]:
    products = select(Product.producer_id, func.count(Product.id).label("n")).group_by(Product.producer_id).subquery()
    ideas = (
        select(ProductIdea.producer_id, func.count(ProductIdea.id).label("n"))
        .group_by(ProductIdea.producer_id)
        .subquery()
    )
    chats = (
        select(ChannelIdentity.user_id, func.count(ChannelIdentity.id).label("n"))
        .group_by(ChannelIdentity.user_id)
        .subquery()
    )
    statement = (
        select(Producer, User.phone, products.c.n, ideas.c.n, chats.c.n)
        .join(User, User.id == Producer.user_id)
        .outerjoin(products, products.c.producer_id == Producer.id)
        .outerjoin(ideas, ideas.c.producer_id == Producer.id)
        .outerjoin(chats, chats.c.user_id == Producer.user_id)
        .order_by(Producer.commune_name, Producer.name_folded)
    )
    if communes is not None:
        statement = statement.where(Producer.commune_code.in_(list(communes)))
    return [
        ProducerRow(
            producer_id=producer.id,
            name=producer.name,
            kind=producer.kind,
            commune_code=producer.commune_code,
            commune=producer.commune_name,
            phone=phone,
            products=product_count or 0,
            ideas=idea_count or 0,
            has_chat=bool(chat_count),
        )
        for producer, phone, product_count, idea_count, chat_count in (await session.execute(statement)).all()
    ]


async def idea_counts_by_commune(session: AsyncSession, year: int) -> dict[int, int]:
    start, end = dt.datetime(year, 1, 1, tzinfo=dt.UTC), dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    statement = (
        select(ProductIdea.commune_code, func.count(ProductIdea.id))
        .where(ProductIdea.created_at >= start, ProductIdea.created_at < end)
        .group_by(ProductIdea.commune_code)
    )
    return {int(code): int(count) for code, count in (await session.execute(statement)).all()}


@dataclass(frozen=True, slots=True)
class FindRow:
    """One line of a staff search: a product (with its newest dossier and certificate) or a producer who
    has no product yet."""

    producer_id: int
    producer: str
    producer_kind: str
    commune_code: int
    commune: str
    phone: str | None
    product_id: int | None
    product: str | None
    dossier_status: str | None
    decision_no: str | None
    round_id: int | None = None
    stars: int | None = None
    certificate_status: str | None = None
    expires_on: dt.date | None = None


async def find_rows(session: AsyncSession, *, communes: Collection[int] | None = None) -> list[FindRow]:
    """Everything a staff member may search, in their scope, as plain rows (no ORM objects: a province of
    several hundred products is one light query)."""
    newest_dossier = (
        select(Dossier.product_id, func.max(Dossier.id).label("dossier_id")).group_by(Dossier.product_id).subquery()
    )
    newest_certificate = (
        select(Certificate.product_id, func.max(Certificate.id).label("certificate_id"))
        .group_by(Certificate.product_id)
        .subquery()
    )
    statement = (
        select(
            Producer.id,
            Producer.name,
            Producer.kind,
            Producer.commune_code,
            Producer.commune_name,
            User.phone,
            Product.id,
            Product.name,
            Dossier.status,
            Certificate.decision_no,
            Dossier.round_id,
            Certificate.stars,
            Certificate.status,
            Certificate.expires_on,
        )
        .join(User, User.id == Producer.user_id)
        .outerjoin(Product, Product.producer_id == Producer.id)
        .outerjoin(newest_dossier, newest_dossier.c.product_id == Product.id)
        .outerjoin(Dossier, Dossier.id == newest_dossier.c.dossier_id)
        .outerjoin(newest_certificate, newest_certificate.c.product_id == Product.id)
        .outerjoin(Certificate, Certificate.id == newest_certificate.c.certificate_id)
        .order_by(Product.name_folded, Producer.name_folded, Producer.id)
    )
    if communes is not None:
        # A product counts where it is made; a producer without products where they registered.
        statement = statement.where(func.coalesce(Product.commune_code, Producer.commune_code).in_(list(communes)))
    return [
        FindRow(
            producer_id=producer_id,
            producer=producer,
            producer_kind=kind,
            commune_code=commune_code,
            commune=commune,
            phone=phone,
            product_id=product_id,
            product=product,
            dossier_status=status,
            decision_no=decision_no,
            round_id=round_id,
            stars=stars,
            certificate_status=certificate_status,
            expires_on=expires_on,
        )
        for (
            producer_id,
            producer,
            kind,
            commune_code,
            commune,
            phone,
            product_id,
            product,
            status,
            decision_no,
            round_id,
            stars,
            certificate_status,
            expires_on,
        ) in (await session.execute(statement)).all()
    ]


async def last_seen(session: AsyncSession, user_id: int) -> dict[str, dt.datetime | None]:
    """Each chat app the user has, and when they last wrote there."""
    rows = await session.execute(
        select(ChannelIdentity.channel, ChannelIdentity.last_seen_at).where(ChannelIdentity.user_id == user_id)
    )
    return {channel: seen for channel, seen in rows.all()}


async def user_of_producer(session: AsyncSession, producer_id: int) -> int | None:
    return await session.scalar(select(Producer.user_id).where(Producer.id == producer_id))
