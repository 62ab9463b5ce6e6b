"""One instance at a time for periodic jobs (the reminder sweep) when several bot processes share a database.

PostgreSQL: a transaction-level advisory lock, ``pg_try_advisory_xact_lock``. The job's transaction asks
for it first; whoever gets it runs the job, the others skip this round instead of queueing behind it. The
lock goes with the transaction (commit, rollback, or a process that dies), so there is no lease to expire
and nothing to clean up; it also works through a pooler in transaction mode. SQLite: one process, one
writer (``BEGIN IMMEDIATE``): the transaction itself already runs alone.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_of


def lock_key(job: str) -> int:
    """A stable signed 64-bit key per job name (advisory locks are keyed by a bigint)."""
    return int.from_bytes(hashlib.sha256(f"ocop:{job}".encode()).digest()[:8], "big", signed=True)


async def lead(session: AsyncSession, job: str) -> bool:
    """True when this transaction is the one to run ``job`` now; False when another instance is running it."""
    if dialect_of(session) != "postgresql":
        return True
    got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(job)})
    return bool(got)
