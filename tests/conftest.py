"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL is chosen by ``OCOP_TEST_DATABASE_URL`` (``.ci/run`` sets it); without it those tests are skipped
with a visible reason. Each test session works in its own PostgreSQL schema, so two developers' runs (or a
run and CI) on one server do not see each other's rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.app import App, build_app
from bot.i18n import LOCALES_DIR, translations
from bot.settings import Settings
from storage.db import create_engine, migrate
from tests.chat import Chat, FrozenClock

PG_URL = os.environ.get("OCOP_TEST_DATABASE_URL")
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgresql",
        id="postgresql",
        marks=pytest.mark.skipif(not PG_URL, reason="PostgreSQL tests need OCOP_TEST_DATABASE_URL (set by .ci/run)"),
    ),
]


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the catalogues so tests see the current translations (the .mo files are not committed)."""
    for po_path in LOCALES_DIR.glob("*/LC_MESSAGES/messages.po"):
        with po_path.open("rb") as handle:
            catalog = read_po(handle)
        with po_path.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog)
    translations.cache_clear()


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str | None]:
    if not PG_URL:
        yield None
        return
    schema = f"t_{uuid.uuid4().hex[:10]}"

    async def run(statement: str) -> None:
        assert PG_URL
        engine = create_async_engine(PG_URL, hide_parameters=True)
        async with engine.begin() as connection:
            await connection.execute(text(statement))
        await engine.dispose()

    asyncio.run(run(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        asyncio.run(run(f'DROP SCHEMA "{schema}" CASCADE'))


def pg_url_for(schema: str) -> str:
    assert PG_URL
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}search_path={schema}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each test: faster than migrating every time."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


_pg_migrated: set[str] = set()


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path, pg_schema: str | None
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "ocop.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    assert pg_schema is not None
    url = pg_url_for(pg_schema)
    engine = create_engine(url)
    try:
        if pg_schema not in _pg_migrated:
            await migrate(engine)
            _pg_migrated.add(pg_schema)
        async with engine.begin() as connection:
            tables = (
                await connection.execute(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = :schema AND tablename <> 'alembic_version'"
                    ),
                    {"schema": pg_schema},
                )
            ).scalars()
            names = ", ".join(f'"{pg_schema}"."{name}"' for name in tables)
            if names:
                await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
    yield url


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC))  # 10:00 in Lai Châu


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        ocop_data_dir=tmp_path / "data",
        telegram_bot_token=None,
    )


@pytest.fixture
async def app(settings: Settings, clock: FrozenClock) -> AsyncIterator[App]:
    application = await build_app(settings, clock=clock, run_migrations=False)
    try:
        yield application
    finally:
        await application.close()


@pytest.fixture
def db(app: App) -> AsyncEngine:
    return app.db


@pytest.fixture
def chat(app: App) -> Chat:
    """A producer talking to the engine through the console channel's vocabulary."""
    return Chat(app.engine, user_id="u1")


async def make_producer(
    app: App,
    external_id: str,
    *,
    name: str = "HTX Chè Tả Van",
    kind: str = "htx",
    commune: str = "Bình Lư",
    channel: str = "console",
) -> int:
    """Create an onboarded producer directly in the database (consent, phone, producer row); returns the
    user id. Flow tests of idea/dossier/status start from here instead of replaying onboarding."""
    from bot.communes import find_communes
    from bot.rules import CONSENT_VERSION
    from bot.text import fold
    from storage import producers, users

    found = find_communes(app.settings.ocop.province, commune)[0]
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        user, _identity = await users.identity_user(
            session, channel, external_id, chat_id=external_id, display_name=None, locale="vi", now=now
        )
        user.consent_at = now
        user.consent_version = CONSENT_VERSION
        user.phone = "0912345678"
        await producers.save_producer(
            session,
            user.id,
            kind=kind,
            name=name,
            name_folded=fold(name),
            commune_code=found.code,
            commune_name=found.name,
        )
        return user.id


@pytest.fixture
async def producer_chat(app: App) -> Chat:
    """A chat of a producer who has already finished onboarding."""
    await make_producer(app, "p1")
    return Chat(app.engine, user_id="p1")
