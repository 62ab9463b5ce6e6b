"""Fan-out: one reminder to each of N recipients through the sender, against a fake Bot API that allows 30
sends per rolling second and answers 429 beyond.

    .venv/bin/python -m bench.fanout [--recipients 3000] [--database-url URL]

The outbox is filled first (synthetic users, one Telegram identity each); the clock runs from the first send
the fake receives to the last. Prints the sustained rate and how many 429s the fake answered. Target:
≥ 28.5 messages/s and zero 429s. 3,000 recipients at 30/s take about 100 s; ``--recipients 600`` is quicker.
With a PostgreSQL URL the run works in a schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from sqlalchemy import insert, select, text

from bot.channels.telegram_delivery import TelegramDelivery
from bot.sender import Sender
from bot.settings import Settings
from storage.db import create_engine, is_sqlite, migrate, session_factory
from storage.models import ChannelIdentity, OutboxMessage, User
from tests.fakes.telegram_api import SEND_METHODS, TOKEN, FakeBotAPI

NOON = dt.datetime(2026, 3, 2, 5, 0, tzinfo=dt.UTC)  # 12:00 in Lai Châu: outside quiet hours


async def fill(url: str, recipients: int) -> None:
    db = create_engine(url)
    await migrate(db)
    async with session_factory(db)() as session, session.begin():
        await session.execute(insert(User), [{"locale": "vi", "display_name": f"bench {n}"} for n in range(recipients)])
        user_ids = list(await session.scalars(select(User.id).order_by(User.id)))
        await session.execute(
            insert(ChannelIdentity),
            [
                {
                    "channel": "telegram",
                    "external_id": str(50_000 + i),
                    "chat_id": str(50_000 + i),
                    "user_id": uid,
                    "active": True,
                    "last_seen_at": NOON,
                }
                for i, uid in enumerate(user_ids)
            ],
        )
        params = {"product": "Chè Shan tuyết", "stars": 4, "decision": "1/QĐ", "expires": "2026-04-01", "days": 30}
        await session.execute(
            insert(OutboxMessage),
            [
                {
                    "dedupe_key": f"bench:{uid}",
                    "user_id": uid,
                    "kind": "certificate_expiry",
                    "params": params,
                    "urgent": True,
                    "status": "pending",
                    "not_before": NOON,
                    "attempts": 0,
                    "created_at": NOON,
                }
                for uid in user_ids
            ],
        )
    await db.dispose()


async def run(url: str, recipients: int) -> int:
    await fill(url, recipients)
    settings = Settings(_env_file=None, database_url=url)
    db = create_engine(url)
    async with FakeBotAPI(sends_per_second=30) as api:
        bot = Bot(token=TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        sender = Sender(session_factory(db), settings, {"telegram": TelegramDelivery(bot)}, clock=lambda: NOON)
        started = time.monotonic()
        try:
            await sender.run_once()
        finally:
            await bot.session.close()
            await db.dispose()
        wall = time.monotonic() - started
    sends = [c for c in api.calls if c.name in SEND_METHODS and c.status == 200]
    span = sends[-1].at - sends[0].at if len(sends) > 1 else 0.0
    rate = (len(sends) - 1) / span if span else 0.0
    print(f"recipients            {recipients}")
    print(f"delivered             {len(sends)}  (sender: sent={sender.stats.sent} failed={sender.stats.failed})")
    print(f"wall time             {wall:.1f} s")
    print(f"sustained rate        {rate:.2f} messages/s   (target ≥ 28.5)")
    print(f"429 answers           {api.too_many}   (target 0)")
    ok = rate >= 28.5 and api.too_many == 0 and len(sends) == recipients
    print("result                " + ("OK" if ok else "BELOW TARGET"))
    return 0 if ok else 1


async def main_async(args: argparse.Namespace) -> int:
    if args.database_url is None or is_sqlite(args.database_url):
        with tempfile.TemporaryDirectory() as directory:
            url = args.database_url or f"sqlite+aiosqlite:///{Path(directory) / 'fanout.db'}"
            return await run(url, args.recipients)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.database_url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in args.database_url else "?"
    try:
        return await run(f"{args.database_url}{separator}search_path={schema}", args.recipients)
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=3000)
    parser.add_argument("--database-url", default=None)
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
