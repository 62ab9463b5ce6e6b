"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from bot.app import App
from storage.models import Base


async def test_models_and_migrations_agree(app: App) -> None:
    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with app.db.connect() as connection:
        differences = await connection.run_sync(diff)
    assert differences == [], "models changed without a migration: run scripts/regen-initial-migration"
