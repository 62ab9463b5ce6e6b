"""Blobs no row references any more: their ``stored_files`` rows go in the caller's transaction, the bytes on
disk only after it commits (a rolled-back deletion must not lose a file that is still referenced).

Which columns reference a blob is read from the schema (every foreign key to ``stored_files.id``), so a table
added later that points at stored files is respected without changing this module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Column, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base, StoredFile


def _referencing_columns() -> list[Column[int]]:
    target = StoredFile.__table__.c.id
    return [
        foreign_key.parent
        for table in Base.metadata.sorted_tables
        for foreign_key in table.foreign_keys
        if foreign_key.column is target
    ]


async def remove_unreferenced(session: AsyncSession, candidates: Iterable[int] | None = None) -> list[str]:
    """Delete the ``stored_files`` rows (of ``candidates``, or all) that no row references; return their paths
    relative to the file store, for ``unlink`` after the commit."""
    query = select(StoredFile.id, StoredFile.path)
    if candidates is not None:
        ids = sorted(set(candidates))
        if not ids:
            return []
        query = query.where(StoredFile.id.in_(ids))
    for column in _referencing_columns():
        query = query.where(~exists().where(column == StoredFile.id))
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
