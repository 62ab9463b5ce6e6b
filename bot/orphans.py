"""The orphan sweep: files on disk that no row references any more are removed after a day.

Orphans come from a file removed from a dossier item (the row goes, the bytes stay until nothing points at
them), a stray file never placed in an item, a file answered with a question that never used it, or a crash
between writing the bytes and committing the row. Two passes:

1. ``stored_files`` rows created more than a day ago that no foreign key points at, and whose blob was not
   touched for a day, are deleted by statements that re-check the references (a batch that meets a link
   made meanwhile is retried row by row, and the linked row stays);
2. blobs older than a day whose hash no row names are removed, by the file store's move-aside-and-look-again,
   which a ``put`` in flight always wins (``storage.filestore``).

A blob that a row references is never removed: the row's presence is checked once more after the blob was
moved aside, and an update that is still writing its row has touched the blob (or writes it anew).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage import stored_files
from storage.filestore import FileStore

log = logging.getLogger(__name__)

# How long an unreferenced file may stay: long enough for any update in flight and a producer who sends a
# file, then chooses its item tomorrow; short enough that what was removed or never consented to goes.
ORPHAN_AGE = dt.timedelta(days=1)
ROW_BATCH = 500


@dataclass
class OrphanResult:
    rows: int = 0
    blobs: int = 0


async def remove_orphans(
    sessions: async_sessionmaker[AsyncSession], store: FileStore, now: dt.datetime, age: dt.timedelta = ORPHAN_AGE
) -> OrphanResult:
    cutoff = now - age
    older_than = cutoff.timestamp()
    result = OrphanResult()

    async with sessions() as session:
        candidates = [(row.id, row.path) for row in await stored_files.unreferenced_before(session, cutoff)]
    # Sent again just now: an update is about to link it.
    unused = [row_id for row_id, stored in candidates if not _touched_since(store.located(stored), older_than)]
    for start in range(0, len(unused), ROW_BATCH):
        batch = unused[start : start + ROW_BATCH]
        try:
            result.rows += await _delete_rows(sessions, batch)
        except IntegrityError:  # one was linked meanwhile (PostgreSQL checks at delete): row by row, links win
            for row_id in batch:
                try:
                    result.rows += await _delete_rows(sessions, [row_id])
                except IntegrityError:
                    log.info("stored file %s was linked while the sweep looked at it; kept", row_id)

    async def referenced(sha256: str) -> bool:
        async with sessions() as session:
            return await stored_files.is_referenced(session, sha256)

    async with sessions() as session:
        named = await stored_files.all_hashes(session)
    entries = await asyncio.to_thread(lambda: list(store.entries()))
    for path, sha256 in entries:
        if sha256 in named:
            continue  # named by a row a moment ago: never a candidate (a row deleted since waits for the next run)
        if await store.remove_if_orphan(path, sha256, older_than, referenced):
            result.blobs += 1
    if result.rows or result.blobs:
        log.info("orphan sweep removed %d file rows and %d files", result.rows, result.blobs)
    return result


async def _delete_rows(sessions: async_sessionmaker[AsyncSession], row_ids: list[int]) -> int:
    async with sessions() as session, session.begin():
        return await stored_files.delete_if_unreferenced(session, row_ids)


def _touched_since(path: Path, moment: float) -> bool:
    try:
        return path.stat().st_mtime >= moment
    except FileNotFoundError:
        return False
