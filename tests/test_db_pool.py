"""The bot's PostgreSQL pool is fixed: a burst of updates waits for the connections it has instead of opening
(and closing) more; and the serving process sets the garbage collector once (``bot.gc_tuning``)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import event, text

from bot.app import build_app
from bot.settings import Settings
from storage.db import is_sqlite


async def test_a_burst_reuses_the_pool_connections(database_url: str) -> None:
    if is_sqlite(database_url):
        pytest.skip("SQLite has one writer connection; the pool size is PostgreSQL's")
    settings = Settings(_env_file=None, database_url=database_url, database_pool_size=3)
    app = await build_app(settings, run_migrations=False)
    opened: list[Any] = []
    event.listen(app.db.sync_engine, "connect", lambda connection, record: opened.append(connection))
    try:

        async def work() -> int:
            async with app.engine.sessions() as session:
                return int((await session.execute(text("SELECT 1 FROM pg_sleep(0.02)"))).scalar_one())

        results = await asyncio.gather(*(work() for _ in range(12)))
        assert results == [1] * 12
        assert app.db.pool.size() == 3  # type: ignore[attr-defined]
        assert len(opened) <= 3, f"{len(opened)} connections opened for a pool of 3"
        again = await asyncio.gather(*(work() for _ in range(12)))
        assert again == [1] * 12
        assert len(opened) <= 3, "the second burst opened connections again"
    finally:
        await app.close()


def test_the_pool_size_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_POOL_SIZE", "7")
    assert Settings(_env_file=None).database_pool_size == 7


def test_serving_freezes_what_is_loaded_and_collects_less_often() -> None:
    # In a process of its own: a frozen heap is never freed, which the test process must not inherit.
    probe = (
        "import gc, bot.app; from bot.gc_tuning import YOUNG_THRESHOLD, tune_for_serving; "
        "before = gc.get_threshold(); tune_for_serving(); "
        "print(gc.get_freeze_count() > 10_000, gc.get_threshold()[0] == YOUNG_THRESHOLD, "
        "gc.get_threshold()[1:] == before[1:])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "True"]
