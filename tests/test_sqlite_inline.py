"""SQLite statements run on the event loop's thread: a transaction that waits for another connection's write
lock waits without blocking the loop, and goes on once the lock is free; rows come back whole."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from storage.db import create_engine


async def test_a_writer_waits_for_the_lock_while_the_loop_keeps_running(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n INTEGER)"))
        first = await engine.connect()
        await first.begin()  # BEGIN IMMEDIATE: holds the write lock
        await first.execute(text("INSERT INTO t VALUES (1)"))

        async def second_writer() -> None:
            async with engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (2)"))

        waiting = asyncio.create_task(second_writer())
        ticks = 0
        for _ in range(20):  # the loop runs while the second writer waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not waiting.done()
        assert ticks == 20
        await first.commit()
        await first.close()
        await asyncio.wait_for(waiting, 5)
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
        assert rows == [1, 2]
    finally:
        await engine.dispose()


async def test_many_rows_come_back_whole_and_in_chunks(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'rows.db'}")
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (n INTEGER)"))
            await connection.execute(text("INSERT INTO t VALUES (:n)"), [{"n": n} for n in range(500)])
        async with engine.connect() as connection:
            everything = (await connection.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
            streamed = [row.n async for row in await connection.stream(text("SELECT n FROM t ORDER BY n"))]
        assert everything == list(range(500))
        assert streamed == list(range(500))
    finally:
        await engine.dispose()
