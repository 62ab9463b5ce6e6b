"""Several real ``ocop-bot run`` processes on one PostgreSQL, fed by webhook as Telegram would feed them
from behind a round-robin load balancer; used by ``tests/test_instances.py`` and ``bench/scale.py``.

Each process is started exactly as an operator starts it (``python -m bot.cli run`` with settings in the
environment), in webhook mode, against the fake Bot API of the tests running in the caller's process. The
driver plays the users: each user types a script, one message after the answer to the one before (people
read before they type), and message *n* of user *u* goes to instance ``(u + n) % count``, so every user's
updates alternate between the instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select, text

from storage.db import create_engine, migrate
from storage.models import ChannelIdentity, Conversation, Producer, User
from tests.fakes.server import free_port
from tests.fakes.telegram_api import TOKEN, FakeBotAPI

SECRET = "instances-shared-secret"
PUBLIC_URL = "https://bot.example.vn/webhook/telegram"  # what the load balancer would be
ROOT = Path(__file__).resolve().parent.parent
# The onboarding of a producer, typed (numbers for the choices), as every user's script.
ONBOARDING = ("/start", "1", "0912345678", "2", "HTX Chè Sạch", "binh lu", "1", "menu")


@dataclass
class Instance:
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook/telegram"


@dataclass
class Run:
    """What the users saw (every reply text with its buttons, per user) and how long it took."""

    replies: dict[int, list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    seconds: float = 0.0
    updates: int = 0
    refused: int = 0


def schema_url(base_url: str, schema: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}search_path={schema}"


@contextlib.asynccontextmanager
async def fresh_schema(base_url: str, prefix: str = "inst") -> AsyncIterator[str]:
    """A migrated schema of its own on the PostgreSQL server at ``base_url``; dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = schema_url(base_url, schema)
    engine = create_engine(url)
    try:
        await migrate(engine)
        yield url
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@contextlib.asynccontextmanager
async def instances(
    count: int, database_url: str, api: FakeBotAPI, folder: Path, **settings: str
) -> AsyncIterator[list[Instance]]:
    """``count`` bot processes serving webhooks on free ports; stopped (SIGTERM, as compose does) at the end."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    started: list[Instance] = []
    try:
        for number in range(count):
            port = free_port("127.0.0.1")
            env = {key: value for key, value in os.environ.items() if not key.startswith(("OCOP_", "TELEGRAM_"))}
            env.update(
                {
                    "DATABASE_URL": database_url,
                    "OCOP_DATA_DIR": str(folder / "data"),  # shared, as a volume would be
                    "TELEGRAM_BOT_TOKEN": TOKEN,
                    "TELEGRAM_API_BASE": api.base_url,
                    "TELEGRAM_WEBHOOK_URL": PUBLIC_URL,
                    "TELEGRAM_WEBHOOK_SECRET": SECRET,
                    "WEBHOOK_HOST": "127.0.0.1",
                    "WEBHOOK_PORT": str(port),
                    "LOG_LEVEL": "WARNING",
                    "PYTHONPATH": str(ROOT),
                    **settings,
                }
            )
            log = folder / f"instance-{number}.log"
            with log.open("wb") as output:
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot.cli", "run", env=env, cwd=folder, stdout=output, stderr=output
                )
            started.append(Instance(process, port, log))
        for instance in started:
            await _wait_until_serving(instance)
        yield started
    finally:
        for instance in started:
            if instance.process.returncode is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in started:
            try:
                await asyncio.wait_for(instance.process.wait(), 30)
            except TimeoutError:
                instance.process.kill()
                await instance.process.wait()


async def _wait_until_serving(instance: Instance, within: float = 180.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if instance.process.returncode is not None:
                raise RuntimeError(f"instance exited: {instance.log.read_text()[-3000:]}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{instance.port}/webhook/health") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"instance did not start: {instance.log.read_text()[-3000:]}")


def update_for(api: FakeBotAPI, user: int, text: str, update_id: int) -> dict[str, Any]:
    update = api.make_text(user, text)
    update["update_id"] = update_id  # the same ids in every run, so runs can be compared
    update["message"]["message_id"] = update_id
    return update


async def _send(api: FakeBotAPI, target: Instance, update: dict[str, Any], run: Run) -> None:
    while True:
        status = await api.deliver(update, url=target.webhook_url, secret=SECRET)
        if status == 200:
            run.updates += 1
            return
        assert status == 503, f"webhook answered {status}"
        run.refused += 1  # a full queue: Telegram would deliver it again a little later
        await asyncio.sleep(0.5)


async def calibrate(
    api: FakeBotAPI, targets: Sequence[Instance], user: int, script: Sequence[str], quiet: float = 1.0
) -> list[int]:
    """How many messages answer each step of ``script`` (one user, alone, waiting for the chat to go quiet):
    the driver then waits for a whole answer before typing on, as a person who reads it does. Without that
    the next message could overtake the tail of the last answer, which a second instance really would do."""
    counts: list[int] = []
    scratch = Run()
    for number, typed in enumerate(script):
        before = api.reply_count_to(user)
        await _send(api, targets[number % len(targets)], update_for(api, user, typed, 900_000 + number), scratch)
        await api.wait_for_reply_count(user, before + 1, within=60)
        seen = -1
        while seen != api.reply_count_to(user):
            seen = api.reply_count_to(user)
            await asyncio.sleep(quiet)
        counts.append(seen - before)
    return counts


async def drive(
    api: FakeBotAPI,
    targets: Sequence[Instance],
    users: Sequence[int],
    script: Sequence[str] = ONBOARDING,
    *,
    within: float = 300.0,
) -> Run:
    """Every user types ``script``; message n of user u goes to ``targets[(u + n) % len(targets)]``. The
    clock runs from the first message of the users (a calibration user goes first, alone)."""
    answers = await calibrate(api, targets, users[0] - 1, script)
    run = Run()

    async def person(index: int, user: int) -> None:
        expected = 0
        for number, typed in enumerate(script):
            expected += answers[number]
            update = update_for(api, user, typed, 1_000_000 + index * 100 + number)
            await _send(api, targets[(index + number) % len(targets)], update, run)
            await api.wait_for_reply_count(user, expected, within=within)

    started = time.monotonic()
    await asyncio.gather(*(person(index, user) for index, user in enumerate(users)))
    run.seconds = time.monotonic() - started
    for user in users:
        run.replies[user] = [
            (str(call.params.get("text", "")), tuple(call.callback_data())) for call in api.replies_to(user)
        ]
    return run


async def database_state(database_url: str) -> dict[str, tuple[Any, ...]]:
    """Per Telegram user: what onboarding stored and where the conversation stands (ids left out: they
    depend on which instance inserted first)."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(
                    ChannelIdentity.external_id,
                    User.phone,
                    User.consent_at.is_not(None),
                    Producer.kind,
                    Producer.name,
                    Producer.commune_code,
                    Conversation.flow,
                    Conversation.step,
                    Conversation.data,
                    Conversation.version,
                )
                .join(User, User.id == ChannelIdentity.user_id)
                .outerjoin(Producer, Producer.user_id == User.id)
                .outerjoin(Conversation, Conversation.user_id == User.id)
                .where(ChannelIdentity.channel == "telegram")
            )
            return {str(row[0]): tuple(row[1:]) for row in rows}
    finally:
        await engine.dispose()
