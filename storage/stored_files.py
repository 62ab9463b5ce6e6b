"""Which stored files are still referenced, for the orphan sweep.

A ``stored_files`` row is referenced by every foreign key that points at it, found in the metadata rather
than listed here, so that a table added later (a signed decision, a council sheet) protects its files
without anyone remembering to come back to this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base, StoredFile


def _references() -> list[Column[Any]]:
    target = StoredFile.__table__
    return [
        fk.parent
        for table in Base.metadata.tables.values()
        for fk in table.foreign_keys
        if fk.column.table is target and fk.parent.table is not target
    ]


def _unreferenced() -> list[Any]:
    return [~exists().where(column == StoredFile.id) for column in _references()]


async def is_referenced(session: AsyncSession, sha256: str) -> bool:
    """Whether a row for these bytes exists (the blob on disk must then stay)."""
    return await session.scalar(select(StoredFile.id).where(StoredFile.sha256 == sha256)) is not None


async def all_hashes(session: AsyncSession) -> set[str]:
    """Every hash that has a row now: a first filter, so that only the few unnamed blobs cost a query each."""
    return set(await session.scalars(select(StoredFile.sha256)))


async def unreferenced_before(session: AsyncSession, cutoff: dt.datetime, limit: int = 1000) -> list[StoredFile]:
    """Rows created before ``cutoff`` that nothing points at any more (a removed file, a stray never placed)."""
    rows = await session.scalars(
        select(StoredFile).where(StoredFile.created_at < cutoff, *_unreferenced()).order_by(StoredFile.id).limit(limit)
    )
    return list(rows)


async def delete_if_unreferenced(session: AsyncSession, stored_file_ids: list[int]) -> int:
    """Delete the rows in one statement that re-checks every reference, so a link made meanwhile wins."""
    result = await session.execute(
        delete(StoredFile)
        .where(StoredFile.id.in_(stored_file_ids), *_unreferenced())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
