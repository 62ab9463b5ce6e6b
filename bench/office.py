"""Office work at a large province's volume: importing a list, exporting it, the year's report, searching.

    .venv/bin/python -m bench.office [--products 2000] [--database-url URL]

Writes an ``.xlsx`` list of ``--products`` certified products (four per producer, spread over the province's
communes, with phone numbers and decision dates), then times on a temporary SQLite file (and, when
``OCOP_TEST_DATABASE_URL`` is set, on that PostgreSQL server in a schema of its own, dropped at the end):

- ``import products`` of the list, and the same list again (nothing changes the second time);
- ``export dossiers``, ``export certificates``, ``export producers`` and ``report year``;
- the staff search's one query plus the folded match over every row ("che shan"-style partial words).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from sqlalchemy import text

from bot import office_cli
from bot.communes import communes_of
from bot.search import matches
from bot.settings import Settings
from storage import office
from storage.db import create_engine, migrate, session_factory

WORDS = ("Chè", "Mật ong", "Gạo", "Miến dong", "Thảo quả", "Rượu", "Măng", "Thịt trâu", "Nấm", "Tinh dầu")


def write_list(path: Path, products: int, province: str) -> None:
    communes = communes_of(province)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["STT", "Tên sản phẩm", "Tên chủ thể", "Xã", "Hạng sao", "Ngày quyết định", "Số điện thoại"])
    for n in range(products):
        producer = n // 4
        commune = communes[producer % len(communes)]
        sheet.append(
            [
                n + 1,
                f"{WORDS[n % len(WORDS)]} số {n}",
                f"HTX Sản xuất {producer}",
                commune.name,
                3 + n % 2,
                dt.datetime(2024 + n % 2, 1 + n % 12, 1 + n % 28),
                f"09{producer:08d}",
            ]
        )
    book.save(path)


async def timed(label: str, work: Callable[[], Awaitable[Any]]) -> Any:
    started = time.perf_counter()
    result = await work()
    print(f"  {label:<38} {time.perf_counter() - started:7.2f} s")
    return result


async def run_on(url: str, folder: Path, source: Path, products: int) -> None:
    db = create_engine(url)
    await migrate(db)
    await db.dispose()
    settings = Settings(_env_file=None, database_url=url, ocop_data_dir=folder / "data", telegram_bot_token=None)
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command")
    office_cli.add_parsers(commands)

    async def cli(*argv: str) -> int:
        out = io.StringIO()
        return await office_cli.execute(
            parser.parse_args(argv), settings, out=out, progress=office_cli.Progress(io.StringIO())
        )

    assert await timed(f"import {products} products", lambda: cli("import", "products", str(source))) == 0
    assert await timed("import the same list again", lambda: cli("import", "products", str(source))) == 0
    for what in ("dossiers", "certificates", "producers"):

        async def export(what: str = what) -> int:
            return await cli("export", what, "-o", str(folder / f"{what}.xlsx"))

        await timed(f"export {what}", export)
    await timed("report year 2025", lambda: cli("report", "year", "2025", "-o", str(folder / "report.xlsx")))

    db = create_engine(url)
    try:
        async with session_factory(db)() as session:
            rows = await timed("search: load the rows", lambda: office.find_rows(session))

        async def match_all() -> int:
            return sum(1 for row in rows if matches("mat ong so 1", (row.product, row.producer, row.commune)))

        found = await timed("search: folded match over every row", match_all)
        print(f"  ({len(rows)} rows, {found} matches for 'mat ong so 1')")
    finally:
        await db.dispose()


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "list.xlsx"
        write_list(source, args.products, Settings(_env_file=None).ocop.province)
        targets: list[tuple[str, str]] = []
        if args.database_url:
            targets.append(("given database", args.database_url))
        else:
            targets.append(("SQLite", f"sqlite+aiosqlite:///{folder}/bench.db"))
            if os.environ.get("OCOP_TEST_DATABASE_URL"):
                targets.append(("PostgreSQL", os.environ["OCOP_TEST_DATABASE_URL"]))
        for name, url in targets:
            print(f"{name}:")
            if url.startswith("postgresql"):
                await _on_schema(url, lambda scoped: run_on(scoped, folder / "pg", source, args.products))
            else:
                await run_on(url, folder / "sqlite", source, args.products)


async def _on_schema(url: str, work: Callable[[str], Awaitable[None]]) -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in url else "?"
        await work(f"{url}{separator}search_path={schema}")
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
