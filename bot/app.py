"""Composition root: wires engine, database and the conversations (listed in ``bot.wiring``, the only other
place that imports ``handlers``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock, utc_now
from bot.engine import Engine
from bot.i18n import require_catalogue
from bot.settings import Settings
from bot.wiring import build_registry
from storage import users
from storage.db import create_engine, migrate, session_factory
from storage.filestore import FileStore

PROCESSED_UPDATES_KEPT = dt.timedelta(days=30)


@dataclass
class App:
    settings: Settings
    db: AsyncEngine
    engine: Engine

    async def close(self) -> None:
        await self.db.dispose()


async def build_app(settings: Settings, *, clock: Clock = utc_now, run_migrations: bool | None = None) -> App:
    require_catalogue(settings.ocop.default_locale)
    db = create_engine(settings.database_url, pool_size=settings.database_pool_size)
    if run_migrations is None:
        run_migrations = db.dialect.name == "sqlite"  # PostgreSQL is migrated by `ocop-bot migrate`
    if run_migrations:
        await migrate(db)
    files = FileStore(settings.ocop.files_dir)
    sessions = session_factory(db)
    async with sessions() as session, session.begin():
        await users.prune_processed(session, clock() - PROCESSED_UPDATES_KEPT)
    engine = Engine(sessions, build_registry(), settings, files, clock=clock)
    return App(settings=settings, db=db, engine=engine)
