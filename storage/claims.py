"""Claims on imported producers: a person who starts the bot with the phone of a producer imported from an
office list (a user without any channel identity) asks to take it over; the producer's commune decides.

The transfer moves the producer row to the claimant's user (``Producer.user_id``), never the other way:
the claimant keeps their account, consent, conversation and channel identities, and the imported user,
which nobody can write from, is left empty. Products, dossiers and certificates hang off the producer and
follow it; queued notices of the imported user are moved too, and the sweep's dedupe keys contain the user
id, so the next reminders are made for the claimant. Two producer profiles are never merged: a claimant
who has a producer of their own cannot receive another one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import ColumnElement, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ChannelIdentity, OutboxMessage, Producer, ProducerClaim, Product, User

PENDING, CONFIRMED, REFUSED, WITHDRAWN = "pending", "confirmed", "refused", "withdrawn"


def _without_identity() -> ColumnElement[bool]:
    return ~exists().where(ChannelIdentity.user_id == User.id)


async def imported_with_phone(session: AsyncSession, phone: str, *, limit: int = 5) -> list[Producer]:
    """Producers whose user has this phone and no chat account at all (imported from a list)."""
    rows = await session.scalars(
        select(Producer)
        .join(User, Producer.user_id == User.id)
        .where(User.phone == phone, _without_identity())
        .order_by(Producer.id)
        .limit(limit)
    )
    return list(rows)


async def is_imported(session: AsyncSession, producer: Producer) -> bool:
    """Still without any chat account (not claimed meanwhile)."""
    found = await session.scalar(
        select(User.id).where(User.id == producer.user_id, User.phone.is_not(None), _without_identity())
    )
    return found is not None


async def request(session: AsyncSession, producer_id: int, claimant_user_id: int, phone: str, now: dt.datetime) -> int:
    """A new pending claim (an earlier pending claim of the same person is withdrawn: one at a time)."""
    await withdraw(session, claimant_user_id, now)
    claim = ProducerClaim(
        producer_id=producer_id, claimant_user_id=claimant_user_id, phone=phone, status=PENDING, created_at=now
    )
    session.add(claim)
    await session.flush()
    return claim.id


async def pending_of(session: AsyncSession, claimant_user_id: int) -> ProducerClaim | None:
    return await session.scalar(
        select(ProducerClaim)
        .where(ProducerClaim.claimant_user_id == claimant_user_id, ProducerClaim.status == PENDING)
        .order_by(ProducerClaim.id.desc())
        .limit(1)
    )


async def withdraw(session: AsyncSession, claimant_user_id: int, now: dt.datetime) -> int:
    result = await session.execute(
        update(ProducerClaim)
        .where(ProducerClaim.claimant_user_id == claimant_user_id, ProducerClaim.status == PENDING)
        .values(status=WITHDRAWN, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# The commune's side: only claims on producers of the officer's communes ------------------------------------


async def pending_in(session: AsyncSession, communes: Collection[int]) -> list[tuple[ProducerClaim, Producer]]:
    if not communes:
        return []
    rows = await session.execute(
        select(ProducerClaim, Producer)
        .join(Producer, ProducerClaim.producer_id == Producer.id)
        .where(Producer.commune_code.in_(communes), ProducerClaim.status == PENDING)
        .order_by(ProducerClaim.created_at, ProducerClaim.id)
    )
    return [(claim, producer) for claim, producer in rows]


async def count_pending(session: AsyncSession, communes: Collection[int]) -> int:
    if not communes:
        return 0
    count = await session.scalar(
        select(func.count())
        .select_from(ProducerClaim)
        .join(Producer, ProducerClaim.producer_id == Producer.id)
        .where(Producer.commune_code.in_(communes), ProducerClaim.status == PENDING)
    )
    return int(count or 0)


async def claim_in(
    session: AsyncSession, claim_id: int, communes: Collection[int]
) -> tuple[ProducerClaim, Producer] | None:
    """The claim only if its producer (as stored) is in one of these communes."""
    if not communes:
        return None
    row = (
        await session.execute(
            select(ProducerClaim, Producer)
            .join(Producer, ProducerClaim.producer_id == Producer.id)
            .where(ProducerClaim.id == claim_id, Producer.commune_code.in_(communes))
            .execution_options(populate_existing=True)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def decide(session: AsyncSession, claim: ProducerClaim, status: str, by: int, now: dt.datetime) -> bool:
    """Move a pending claim to ``status`` once: False for a double click or another officer's decision."""
    result = await session.execute(
        update(ProducerClaim)
        .where(ProducerClaim.id == claim.id, ProducerClaim.status == PENDING)
        .values(status=status, decided_by=by, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(claim)
    return True


async def transfer(
    session: AsyncSession, producer: Producer, claim: ProducerClaim, imported_user: int, now: dt.datetime
) -> bool:
    """The imported producer becomes the claimant's, only if it still belongs to ``imported_user`` (two
    officers confirming two claims on it at once: the second finds it moved and gets False, nothing moved).
    The other pending claims on it are refused: only one person can be this producer."""
    moved = await session.execute(
        update(Producer)
        .where(Producer.id == producer.id, Producer.user_id == imported_user)
        .values(user_id=claim.claimant_user_id)
        .execution_options(synchronize_session=False)
    )
    if not moved.rowcount:  # type: ignore[attr-defined]
        return False
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.user_id == imported_user)
        .values(user_id=claim.claimant_user_id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(ProducerClaim)
        .where(ProducerClaim.producer_id == producer.id, ProducerClaim.status == PENDING, ProducerClaim.id != claim.id)
        .values(status=REFUSED, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(producer)
    return True


async def set_status(session: AsyncSession, claim: ProducerClaim, status: str) -> None:
    await session.execute(
        update(ProducerClaim)
        .where(ProducerClaim.id == claim.id)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(claim)


async def other_claimants(session: AsyncSession, producer_id: int, except_claim: int) -> list[int]:
    """Users whose pending claims on this producer are still open besides ``except_claim``."""
    rows = await session.scalars(
        select(ProducerClaim.claimant_user_id).where(
            ProducerClaim.producer_id == producer_id,
            ProducerClaim.status == PENDING,
            ProducerClaim.id != except_claim,
        )
    )
    return list(rows)


async def product_names(session: AsyncSession, producer_id: int) -> list[str]:
    return list(
        await session.scalars(select(Product.name).where(Product.producer_id == producer_id).order_by(Product.id))
    )
