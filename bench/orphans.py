"""The orphan sweep over a large file store: how long one run takes, and a run with nothing to do.

    .venv/bin/python -m bench.orphans [--files 20000] [--database-url URL]

Without ``--database-url`` it runs on a temporary SQLite file and, when ``OCOP_TEST_DATABASE_URL`` is set, also
on that PostgreSQL server (in a schema of its own, dropped at the end). The store holds ``--files`` small blobs,
all two days old: 90 % named by a ``stored_files`` row linked to a dossier item, 5 % named by a row nothing
links any more (files producers removed), 5 % named by no row (files never kept). The first run removes the
last two groups; the second finds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from bot.orphans import remove_orphans
from storage.db import create_engine, is_sqlite, migrate, session_factory
from storage.filestore import FileStore
from storage.models import Dossier, DossierItem, DossierItemFile, Producer, Product, StoredFile, User

NOW = dt.datetime(2026, 5, 17, 3, 0, tzinfo=dt.UTC)
CHUNK = 5000


async def fill(url: str, store: FileStore, count: int) -> None:
    old = (NOW - dt.timedelta(days=2)).timestamp()
    blobs = []
    for n in range(count):
        sha, path = store._put(f"blob {n}".encode(), "pdf")
        os.utime(path, (old, old))
        blobs.append((sha, str(path.relative_to(store.root))))
    db = create_engine(url)
    await migrate(db)
    linked, unlinked = int(count * 0.9), int(count * 0.05)
    created = NOW - dt.timedelta(days=2)
    async with session_factory(db)() as session, session.begin():
        user = await session.scalar(insert(User).values(locale="vi").returning(User.id))
        producer = await session.scalar(
            insert(Producer)
            .values(user_id=user, kind="htx", name="p", name_folded="p", commune_code=1, commune_name="x")
            .returning(Producer.id)
        )
        product = await session.scalar(
            insert(Product)
            .values(producer_id=producer, name="p", name_folded="p", group_code="food", commune_code=1)
            .returning(Product.id)
        )
        dossier = await session.scalar(
            insert(Dossier)
            .values(product_id=product, case="new", status="draft", rule_set="QD148_1489")
            .returning(Dossier.id)
        )
        item = await session.scalar(
            insert(DossierItem)
            .values(dossier_id=dossier, code="registration_form", position=0, required=True)
            .returning(DossierItem.id)
        )
        rows = [
            {"sha256": sha, "size": 10, "mime": "application/pdf", "path": path, "created_at": created}
            for sha, path in blobs[: linked + unlinked]
        ]
        for start in range(0, len(rows), CHUNK):
            await session.execute(insert(StoredFile), rows[start : start + CHUNK])
        ids = list(await session.scalars(select(StoredFile.id).order_by(StoredFile.id).limit(linked)))
        links: list[dict[str, Any]] = [{"item_id": item, "stored_file_id": i, "created_at": created} for i in ids]
        for start in range(0, len(links), CHUNK):
            await session.execute(insert(DossierItemFile), links[start : start + CHUNK])
    await db.dispose()


async def measure(url: str, label: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = FileStore(Path(directory) / "files")
        started = time.monotonic()
        await fill(url, store, count)
        print(f"{label}: {count} blobs and their rows written in {time.monotonic() - started:.1f} s")
        db = create_engine(url)
        sessions = session_factory(db)
        if not is_sqlite(url):
            async with db.begin() as connection:
                await connection.execute(text("ANALYZE"))
        try:
            for attempt in ("first", "again"):
                started = time.monotonic()
                result = await remove_orphans(sessions, store, NOW)
                print(
                    f"{label}: orphan sweep ({attempt}) {time.monotonic() - started:.2f} s, "
                    f"{result.rows} rows and {result.blobs} blobs removed"
                )
        finally:
            await db.dispose()


async def on_postgresql(url: str, count: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    try:
        await measure(f"{url}{separator}search_path={schema}", "postgresql", count)
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def main_async(args: argparse.Namespace) -> int:
    if args.database_url is None:
        with tempfile.TemporaryDirectory() as directory:
            await measure(f"sqlite+aiosqlite:///{Path(directory) / 'orphans.db'}", "sqlite", args.files)
        pg_url = os.environ.get("OCOP_TEST_DATABASE_URL")
        if pg_url:
            await on_postgresql(pg_url, args.files)
    elif is_sqlite(args.database_url):
        await measure(args.database_url, "sqlite", args.files)
    else:
        await on_postgresql(args.database_url, args.files)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
