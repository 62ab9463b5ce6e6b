"""Composition root: the only place that imports ``handlers`` and wires engine, database and channels."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import ModuleType

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine import Clock, Engine, utc_now
from bot.flow import Registry
from bot.i18n import require_catalogue
from bot.settings import Settings
from storage import users
from storage.db import create_engine, migrate, session_factory
from storage.filestore import FileStore

PROCESSED_UPDATES_KEPT = dt.timedelta(days=30)


def build_registry() -> Registry:
    from handlers import menu

    registry = Registry()
    menu.register(registry)
    handler_modules = (
        "onboarding",
        "idea",
        "idea_return",  # after idea: it adds "✅ Keep" to the idea flow's questions
        "dossier",
        "dossier_reuse",
        "status",
        "commune_review",
        "producer_claims",
        "admin",
        "province",
        "link",
        "staff_search",
        "office_reports",
        "commune_report",
        "commune_contact",
        "public_check",  # after onboarding and link: it wraps their gate
    )
    # privacy last: its gate runs before the gates it wraps (onboarding, the public certificate check).
    for module_name in (*handler_modules, "calendar", "privacy", "privacy_admin"):
        module = _optional_handler(module_name)
        if module is not None:
            module.register(registry)
    return registry


def _optional_handler(name: str) -> ModuleType | None:
    import importlib

    try:
        return importlib.import_module(f"handlers.{name}")
    except ModuleNotFoundError as error:
        if error.name == f"handlers.{name}":
            return None
        raise


@dataclass
class App:
    settings: Settings
    db: AsyncEngine
    engine: Engine

    async def close(self) -> None:
        await self.db.dispose()


async def build_app(settings: Settings, *, clock: Clock = utc_now, run_migrations: bool | None = None) -> App:
    require_catalogue(settings.ocop_default_locale)
    db = create_engine(settings.database_url)
    if run_migrations is None:
        run_migrations = db.dialect.name == "sqlite"  # PostgreSQL is migrated by `ocop-bot migrate`
    if run_migrations:
        await migrate(db)
    files = FileStore(settings.files_dir)
    sessions = session_factory(db)
    async with sessions() as session, session.begin():
        await users.prune_processed(session, clock() - PROCESSED_UPDATES_KEPT)
    engine = Engine(sessions, build_registry(), settings, files, clock=clock)
    return App(settings=settings, db=db, engine=engine)
