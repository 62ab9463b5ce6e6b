"""Throughput of our Telegram bot against a bare aiogram echo bot and a template bot, all polling the same
fake Bot API.

    .venv/bin/python -m bench.throughput [--users 200] [--updates-per-user 5] [--database-url URL]

Every user is an onboarded producer and sends the same mix, in order: "menu", "kiem tra ho so" (a status
question typed without accents), the 🔎 Status button, the 📂 Dossier button, "menu" again (cycled when more
updates per user are asked for). All updates are queued at once; the clock runs from the first push until
every expected reply has arrived. The echo bot answers each update with one message; our bot answers with
whatever the flows say, counted beforehand on a calibration user who sends the same mix. The template bot
(``bench.template_bot``) is what most aiogram bots look like: a session per update, get-or-create the user,
FSM state in memory, a reply with a keyboard.

With ``--portfolio`` every producer of our bot also has a product with a draft dossier (its whole checklist, one
document in it), as a producer in the middle of a round does: the status report and the dossier screen then
show what such a producer sees, with the reads that takes. The template bot has no such data; its work is
the same either way.

Latency is measured per update inside each bot: from the dispatcher taking the update to its handler having
sent every reply (an outer middleware), so it includes waiting for locks but not the polling queue. Last, the
engine-alone run is repeated under cProfile and the top functions by cumulative time are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import logging
import pstats
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiogram import BaseMiddleware, Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, Message, TelegramObject
from pydantic import SecretStr

from bench.template_bot import create_users, template_dispatcher
from bot.app import App, build_app
from bot.channels.telegram import build_dispatcher, polling
from bot.gc_tuning import tune_for_serving
from bot.settings import Settings
from tests.fakes.telegram_api import TOKEN, FakeBotAPI

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


# One step of a user's mix: ("text", words) or ("press", callback data).
Step = tuple[str, str]
MIX: tuple[Step, ...] = (
    ("text", "menu"),
    ("text", "kiem tra ho so"),
    ("press", "m:status"),
    ("press", "m:dossier"),
    ("text", "menu"),
)
TARGETS = {"sqlite": 0.50, "postgresql": 0.40}
PROFILED_USERS = 40
QUIET_SECONDS = 0.4  # no new reply for this long: the calibration user's step is fully answered


@dataclass(frozen=True)
class Result:
    updates: int
    replies: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # seconds per update, inside the bot
    cpu: float = 0.0  # seconds of this process's CPU (the bot and the fake Bot API it talks to)

    @property
    def per_second(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


class Timed(BaseMiddleware):
    """How long each update took from the dispatcher to its last reply sent."""

    def __init__(self) -> None:
        self.latencies: list[float] = []

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        started = time.perf_counter()
        try:
            return await handler(event, data)
        finally:
            self.latencies.append(time.perf_counter() - started)


def timed(dispatcher: Dispatcher) -> Timed:
    """``dispatcher`` timed per update (it has no middleware of its own, so this one wraps everything)."""
    timing = Timed()
    dispatcher.update.outer_middleware(timing)
    return timing


def steps_for(updates_per_user: int) -> list[Step]:
    return [MIX[index % len(MIX)] for index in range(updates_per_user)]


def push(api: FakeBotAPI, user_id: int, step: Step) -> None:
    kind, value = step
    if kind == "text":
        api.push_text(user_id, value)
    else:
        api.push_callback(user_id, value)


async def run_load(
    api: FakeBotAPI,
    user_ids: list[int],
    steps: list[Step],
    expected: int,
    within: float,
    timing: Timed | None = None,
    rate: float = 0.0,
) -> Result:
    """Queue every user's steps (round by round, as users type in parallel) and wait for the replies; with a
    ``rate``, the updates arrive at that many per second instead of all at once."""
    if timing is not None:
        timing.latencies.clear()  # calibration and warm-up are not part of the run
    start_replies = api.reply_count
    started = time.perf_counter()
    cpu_started = time.process_time()
    pushed = 0
    for step in steps:
        for user_id in user_ids:
            if rate:
                await asyncio.sleep(max(0.0, started + pushed / rate - time.perf_counter()))
            push(api, user_id, step)
            pushed += 1
    await api.wait_for(lambda: api.reply_count - start_replies >= expected, within)
    seconds = time.perf_counter() - started
    latencies = list(timing.latencies) if timing is not None else []
    cpu = time.process_time() - cpu_started
    return Result(len(user_ids) * len(steps), api.reply_count - start_replies, seconds, latencies, cpu)


async def run_repeated(
    api: FakeBotAPI,
    user_ids: list[int],
    steps: list[Step],
    expected: int,
    within: float,
    timing: Timed | None,
    repeat: int,
) -> Result:
    """``run_load`` ``repeat`` times with the same users, and the run of median throughput: on a shared machine
    one run can be off by a fifth either way."""
    results = [await run_load(api, user_ids, steps, expected, within, timing) for _ in range(max(1, repeat))]
    return sorted(results, key=lambda result: result.per_second)[len(results) // 2]


# The baseline ---------------------------------------------------------------------------------------------
def echo_dispatcher() -> Dispatcher:
    router = Router()

    @router.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    @router.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()
        if query.message is not None:
            await query.message.answer(query.data or "?")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def bench_echo(users: int, steps: list[Step], repeat: int) -> Result:
    async with FakeBotAPI() as api:
        bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
        dispatcher = echo_dispatcher()
        timing = timed(dispatcher)
        async with polling(dispatcher, bot, polling_timeout=1):
            user_ids = list(range(1_000_000, 1_000_000 + users))
            return await run_repeated(api, user_ids, steps, users * len(steps), 120, timing, repeat)


# The template bot -----------------------------------------------------------------------------------------
async def bench_template(
    users: int, steps: list[Step], database_url: str | None, rate: float, repeat: int
) -> tuple[Result, Result | None]:
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from storage.db import create_engine

    with tempfile.TemporaryDirectory(prefix="ocop-bench-") as data_dir:
        async with contextlib.AsyncExitStack() as stack:
            if database_url is None:
                # The template's own engine: no BEGIN IMMEDIATE, its reads do not queue for SQLite's writer.
                engine = create_async_engine(f"sqlite+aiosqlite:///{Path(data_dir) / 'template.db'}")
            else:
                engine = create_engine(await stack.enter_async_context(scratch_schema(database_url)))
            stack.push_async_callback(engine.dispose)
            user_ids = list(range(2_000_000, 2_000_000 + users))
            await create_users(engine, user_ids)
            api = await stack.enter_async_context(FakeBotAPI())
            bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
            timing = Timed()
            dispatcher = template_dispatcher(async_sessionmaker(engine, expire_on_commit=False), timing)
            async with polling(dispatcher, bot, polling_timeout=1):
                result = await run_repeated(api, user_ids, steps, users * len(steps), 120, timing, repeat)
                paced = None
                if rate:
                    expected = users * len(steps)
                    paced = await run_load(api, user_ids, steps, expected, within=120, timing=timing, rate=rate)
                return result, paced


@contextlib.contextmanager
def collector_tuned() -> Iterator[None]:
    """The garbage collector as ``ocop-bot run`` sets it (``bot.gc_tuning``), then back to the defaults: the
    setting is one any bot could copy, so the template is also measured with it."""
    threshold = gc.get_threshold()
    tune_for_serving()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


# Our bot --------------------------------------------------------------------------------------------------
async def onboard(app: App, user_ids: list[int], *, portfolio: bool = False) -> None:
    """Producers who finished onboarding (consent, phone, producer row), written straight to the database;
    with ``portfolio``, each with a product and its draft dossier (``give_portfolio``)."""
    from bot.communes import find_communes
    from bot.rules import CONSENT_VERSION
    from bot.text import fold
    from storage import producers, users

    commune = find_communes(app.settings.ocop.province, "Bình Lư")[0]
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        for user_id in user_ids:
            user, _identity = await users.identity_user(
                session, "telegram", str(user_id), chat_id=str(user_id), display_name=None, locale="vi", now=now
            )
            user.consent_at = now
            user.consent_version = CONSENT_VERSION
            user.phone = "0912345678"
            name = f"HTX Chè {user_id}"
            await producers.save_producer(
                session,
                user.id,
                kind="htx",
                name=name,
                name_folded=fold(name),
                commune_code=commune.code,
                commune_name=commune.name,
            )
            if portfolio:
                await give_portfolio(app, session, user.id, user_id)


async def give_portfolio(app: App, session: AsyncSession, user_id: int, seed: int) -> None:
    """A product and its draft dossier with the whole checklist of a new product, one photo in its first
    item: what a producer has while gathering documents for a round."""
    from bot.rules import DossierStatus
    from tests.files import png
    from tests.staff_helpers import add_dossier

    await add_dossier(
        app, session, user_id, product=f"Chè Shan tuyết {seed}", status=DossierStatus.DRAFT, data=png(seed)
    )


async def calibrate(api: FakeBotAPI, user_id: int, steps: list[Step]) -> int:
    """How many messages our bot sends for one user's mix: each step, waited out until the bot is quiet."""
    for step in steps:
        push(api, user_id, step)
        await _answered(api, api.reply_count)
        await _quiet(api)
    return len(api.replies_to(user_id))


async def _answered(api: FakeBotAPI, before: int) -> None:
    await api.wait_for(lambda: api.reply_count > before, 10)


async def _quiet(api: FakeBotAPI) -> None:
    last = api.reply_count
    while True:
        await asyncio.sleep(QUIET_SECONDS)
        if api.reply_count == last:
            return
        last = api.reply_count


@contextlib.asynccontextmanager
async def scratch_schema(database_url: str) -> AsyncIterator[str]:
    """A PostgreSQL schema of our own for one run, dropped afterwards: the database is left as it was."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    schema = f"bench_{random.randrange(16**8):08x}"
    admin = create_async_engine(database_url, hide_parameters=True)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in database_url else "?"
        yield f"{database_url}{separator}search_path={schema}"
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@contextlib.asynccontextmanager
async def our_app(database_url: str | None, data_dir: Path, api: FakeBotAPI) -> AsyncIterator[tuple[App, Settings]]:
    async with contextlib.AsyncExitStack() as stack:
        if database_url is None:
            database_url = f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
        elif database_url.startswith("postgresql"):
            database_url = await stack.enter_async_context(scratch_schema(database_url))
        settings = Settings(
            _env_file=None,
            database_url=database_url,
            ocop_data_dir=data_dir,
            telegram_bot_token=SecretStr(TOKEN),
            telegram_api_base=api.base_url,
            log_level="WARNING",
        )
        app = await build_app(settings, run_migrations=True)
        stack.push_async_callback(app.close)
        yield app, settings


async def bench_ours(
    users: int, steps: list[Step], database_url: str | None, rate: float, repeat: int, *, portfolio: bool = False
) -> tuple[Result, Result | None, Result, int, cProfile.Profile]:
    # Fresh ids each run, so a reused PostgreSQL database has no users or processed updates in the way.
    base = random.randrange(10_000, 90_000) * 100_000
    with tempfile.TemporaryDirectory(prefix="ocop-bench-") as data_dir:
        async with (
            FakeBotAPI(first_update_id=base) as api,
            our_app(database_url, Path(data_dir), api) as (app, settings),
        ):
            calibration_user = base
            user_ids = list(range(base + 1, base + 1 + users))
            direct_ids = list(range(base + 1 + users, base + 1 + 2 * users))
            # Fewer users under the profiler: it slows every step, and 200 at once would wait out the pool.
            profiled_ids = list(range(base + 1 + 2 * users, base + 1 + 2 * users + min(users, PROFILED_USERS)))
            await onboard(app, [calibration_user, *user_ids, *direct_ids, *profiled_ids], portfolio=portfolio)
            dispatcher, bot, channel = build_dispatcher(app.engine, settings)
            # As `ocop-bot run` does once loaded. The echo and template bots ran before, with the defaults.
            tune_for_serving()
            timing = timed(dispatcher)
            async with polling(dispatcher, bot, polling_timeout=1, drain=channel.drain):
                per_user = await calibrate(api, calibration_user, steps)
                result = await run_repeated(api, user_ids, steps, users * per_user, 110, timing, repeat)
                paced = None
                if rate:  # the same users again: the mix ends on the menu it starts from
                    expected = users * per_user
                    paced = await run_load(api, user_ids, steps, expected, within=110, timing=timing, rate=rate)
            refused = [c for c in api.calls if c.status != 200]
            if refused:
                print(f"warning: {len(refused)} Bot API calls were refused, e.g. {refused[0].method}", file=sys.stderr)
            direct = await engine_only(app, direct_ids, steps, per_user)
            profile = cProfile.Profile()
            profile.enable()
            await engine_only(app, profiled_ids, steps, per_user)
            profile.disable()
            return result, paced, direct, per_user, profile


async def engine_only(app: App, user_ids: list[int], steps: list[Step], per_user: int) -> Result:
    """The same mix straight into the engine, no Telegram at all: what the channel costs on top of it."""
    from bot.messages import Inbound

    async def user(user_id: int) -> int:
        replies = 0
        for index, (kind, value) in enumerate(steps):
            inbound = Inbound(
                "telegram",
                str(user_id),
                f"direct-{user_id}-{index}",
                chat_id=str(user_id),
                text=value if kind == "text" else None,
                payload=value if kind == "press" else None,
            )
            replies += len(await app.engine.handle(inbound))
        return replies

    started, cpu_started = time.perf_counter(), time.process_time()
    counts = await asyncio.gather(*(user(user_id) for user_id in user_ids))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if sum(counts) != per_user * len(user_ids):
        print(f"warning: the engine gave {sum(counts)} replies, {per_user * len(user_ids)} expected", file=sys.stderr)
    return Result(updates=len(user_ids) * len(steps), replies=sum(counts), seconds=seconds, cpu=cpu)


def _print(label: str, result: Result) -> None:
    latency = f"  cpu {result.cpu / result.updates * 1000:4.2f} ms/update" if result.cpu else ""
    if result.latencies:
        latency += f"  p50 {result.percentile(0.5) * 1000:>6.1f} ms  p95 {result.percentile(0.95) * 1000:>6.1f} ms"
    print(
        f"{label:<28} {result.updates:>6} updates  {result.replies:>6} replies  "
        f"{result.seconds:>7.2f} s  {result.per_second:>8.1f} updates/s{latency}"
    )


def _print_profile(profile: cProfile.Profile, top: int) -> None:
    """The top functions by cumulative and by own time, without the event loop's plumbing (which every
    coroutine step passes through) and the bench's own frames."""
    stats = pstats.Stats(profile)
    rows = [
        (cumulative, own, calls, f"{Path(file).name}:{line}({name})" if line else name)
        for (file, line, name), (_primitive, calls, own, cumulative, _callers) in stats.stats.items()  # type: ignore[attr-defined]
        if not any(part in file for part in _PLUMBING) and name not in _PLUMBING_NAMES
    ]
    total = max((row[0] for row in rows), default=0.0)
    print(f"engine alone under cProfile ({total:.2f} s in handle; event loop thread only, so not the SQLite thread):")
    for title, key in (("cumulative", 0), ("own time", 1)):
        print(f"  top {top} by {title}:      calls   own s   cum s")
        for cumulative, own, calls, where in sorted(rows, key=lambda row: row[key], reverse=True)[:top]:
            print(f"    {where[:60]:<60} {calls:>8} {own:>7.3f} {cumulative:>7.3f}")


_PLUMBING = ("asyncio/", "bench/throughput.py", "concurrent/futures")
_PLUMBING_NAMES = frozenset({"<method 'run' of '_contextvars.Context' objects>", "<built-in method select>"})


async def main_async(args: argparse.Namespace) -> int:
    steps = steps_for(args.updates_per_user)
    backend = "postgresql" if args.database_url and args.database_url.startswith("postgresql") else "sqlite"
    who = "producers with a draft dossier" if args.portfolio else "producers with nothing yet"
    print(f"{args.users} users × {len(steps)} updates ({', '.join(value for _kind, value in steps)}); {backend}; {who}")
    echo = await bench_echo(args.users, steps, args.repeat)
    _print("aiogram echo bot", echo)
    template, template_paced = await bench_template(args.users, steps, args.database_url, args.rate, args.repeat)
    _print("aiogram template bot", template)
    with collector_tuned():
        tuned, _paced = await bench_template(args.users, steps, args.database_url, 0, args.repeat)
    _print("  the same, collector as ours", tuned)
    ours, ours_paced, direct, per_user, profile = await bench_ours(
        args.users, steps, args.database_url, args.rate, args.repeat, portfolio=args.portfolio
    )
    _print(f"ocop bot ({per_user} replies/user)", ours)
    _print("  engine alone, no Telegram", direct)
    if template_paced is not None and ours_paced is not None:
        print(f"paced at {args.rate:g} updates/s (latency is the bots' own work, not the queue):")
        _print("  aiogram template bot", template_paced)
        _print("  ocop bot", ours_paced)
    ratio = ours.per_second / echo.per_second if echo.per_second else 0.0
    template_ratio = template.per_second / echo.per_second if echo.per_second else 0.0
    versus_template = ours.per_second / template.per_second if template.per_second else 0.0
    target = TARGETS[backend]
    verdict = "meets" if ratio >= target else "BELOW"
    print(f"ratio ocop/echo: {ratio:.0%} ({verdict} the {target:.0%} target on {backend})")
    print(f"ratio template/echo: {template_ratio:.0%}")
    verdict = "meets" if versus_template >= 1.0 else "BELOW"
    print(f"ratio ocop/template: {versus_template:.2f} ({verdict} the 1.00 target)")
    if tuned.per_second:
        print(f"ratio ocop/template, the template's collector tuned as ours: {ours.per_second / tuned.per_second:.2f}")
    if args.profile:
        _print_profile(profile, args.profile)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--updates-per-user", type=int, default=len(MIX))
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument(
        "--rate", type=float, default=0.0, help="also a run paced at this many updates/s (0: none), e.g. 40"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per bot; the run of median throughput is printed (default 3)"
    )
    parser.add_argument("--profile", type=int, default=10, help="functions of the profile to print (0: none)")
    parser.add_argument(
        "--portfolio", action="store_true", help="our producers have a product with a draft dossier (default: none)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The per-update INFO lines of aiogram would measure our terminal, not our bot.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    raise SystemExit(main())
