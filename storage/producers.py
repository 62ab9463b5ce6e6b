"""Producers (chủ thể OCOP)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import preloaded
from storage.models import Producer


async def producer_of_user(session: AsyncSession, user_id: int) -> Producer | None:
    """The user's producer row; the one the update's load read when it is this user (``storage.preloaded``)."""
    found, producer = preloaded.known(session, user_id, preloaded.PRODUCER)
    if found:
        return producer  # type: ignore[no-any-return]
    return await session.scalar(select(Producer).where(Producer.user_id == user_id))


async def save_producer(
    session: AsyncSession,
    user_id: int,
    *,
    kind: str,
    name: str,
    name_folded: str,
    commune_code: int,
    commune_name: str,
) -> Producer:
    """Create the user's producer, or update it when they go through onboarding again."""
    producer = await producer_of_user(session, user_id)
    if producer is None:
        producer = Producer(user_id=user_id)
        session.add(producer)
    producer.kind = kind
    producer.name = name
    producer.name_folded = name_folded
    producer.commune_code = commune_code
    producer.commune_name = commune_name
    await session.flush()
    return producer
