"""Product ideas (đăng ký ý tưởng sản phẩm)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProductIdea

# The status report's (``storage.overview``), built once: a statement built anew costs its construction and its
# cache key every time (SQLAlchemy memoizes both on a statement kept).
IDEAS_OF = (
    select(ProductIdea).where(ProductIdea.producer_id == bindparam("producer_id")).order_by(ProductIdea.id.desc())
)


async def idea_of(session: AsyncSession, producer_id: int, idea_id: int) -> ProductIdea | None:
    """One idea, only if it belongs to this producer (never trust an id from a button)."""
    return await session.scalar(
        select(ProductIdea).where(ProductIdea.id == idea_id, ProductIdea.producer_id == producer_id)
    )


async def latest_idea_named(session: AsyncSession, producer_id: int, name_folded: str) -> ProductIdea | None:
    """The producer's newest idea with this (folded) name, to warn before registering the same idea twice."""
    return await session.scalar(
        select(ProductIdea)
        .where(ProductIdea.producer_id == producer_id, ProductIdea.name_folded == name_folded)
        .order_by(ProductIdea.id.desc())
        .limit(1)
    )


async def add_idea(session: AsyncSession, idea: ProductIdea) -> ProductIdea:
    """Store a new idea and give it its id (the caller fills every field, status included)."""
    session.add(idea)
    await session.flush()
    return idea
