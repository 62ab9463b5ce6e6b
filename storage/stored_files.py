"""Which stored files are still referenced: for the orphan sweep (``bot.orphans``) and for erasing a person's
data (``bot.erasure``), whose rows go in the caller's transaction and whose bytes go only after it commits
(a rolled-back deletion must not lose a file that is still referenced).

A ``stored_files`` row is referenced by every foreign key that points at it, found in the metadata rather
than listed here, so that a table added later (a signed decision, a council sheet) protects its files
without anyone remembering to come back to this module.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
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


async def remove_unreferenced(session: AsyncSession, candidates: Iterable[int] | None = None) -> list[str]:
    """Delete the rows (of ``candidates``, or all) that nothing references; return their paths as stored
    (relative to the file store), for ``unlink`` after the commit."""
    query = select(StoredFile.id, StoredFile.path).where(*_unreferenced())
    if candidates is not None:
        ids = sorted(set(candidates))
        if not ids:
            return []
        query = query.where(StoredFile.id.in_(ids))
    rows = (await session.execute(query)).all()
    if rows:
        await session.execute(delete(StoredFile).where(StoredFile.id.in_([row.id for row in rows])))
    return [str(row.path) for row in rows]


async def unlink(root: Path, paths: Iterable[str]) -> int:
    """Remove the files (paths relative to the store's ``root``, or absolute); returns how many went."""

    def remove() -> int:
        removed = 0
        for raw in paths:
            path = Path(raw)
            path = path if path.is_absolute() else root / path
            if path.is_file():
                path.unlink()
                removed += 1
        return removed

    return await asyncio.to_thread(remove)
