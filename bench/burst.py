"""A burst: thousands of users write to the Telegram bot at once. Does the process stay flat and fair?

    .venv/bin/python -m bench.burst [--users 10000] [--database-url URL]

The bot runs as its own process, exactly as in production (``python -m bot run``), long-polling the fake Bot
API server (``tests/fakes/telegram_api.py``) that this process serves. Every user is an onboarded producer
(written straight to the database first) and sends two messages, "menu" then "kiem tra ho so"; all of them are
queued at once. A calibration user sends the same two first, which warms the bot up and counts how many
messages it answers to each.

Prints the bot process's RSS when idle (after the warm-up), at its peak and at the end (target: the end within
50 MB of idle), the reply latency of the updates (from the push to the last message answering it: p50, p95,
max), and checks that every update was answered exactly once (each user got exactly the calibrated number of
messages). The machine's load average is printed too: on a shared machine, latency is also other people's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert

from bench.throughput import Step, calibrate, push, scratch_schema
from bot.app import App, build_app
from bot.communes import find_communes
from bot.settings import Settings
from bot.text import fold
from storage.models import ChannelIdentity, Producer, User
from tests.fakes.telegram_api import SEND_METHODS, TOKEN, Call, FakeBotAPI

STEPS: list[Step] = [("text", "menu"), ("text", "kiem tra ho so")]
TARGET_GROWTH_MB = 50
ANSWER_WITHIN_S = 1800.0  # a loaded 2-core machine needed 860 s
SETTLE_S = 3.0  # after the last expected reply: time for any extra (duplicate) reply to show up


@dataclass(frozen=True)
class Memory:
    rss_mb: float
    peak_mb: float


def memory_of(pid: int) -> Memory:
    """VmRSS and VmHWM (the peak resident set) of a process, from /proc (Linux)."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return Memory(fields["VmRSS"], fields["VmHWM"])


async def onboard(app: App, telegram_ids: list[int]) -> None:
    """Onboarded producers (consent, phone, producer row), bulk-inserted into a fresh database."""
    commune = find_communes(app.settings.ocop.province, "Bình Lư")[0]
    now = app.engine.clock()
    chunk = 2_000
    async with app.engine.sessions() as session, session.begin():
        for start in range(0, len(telegram_ids), chunk):
            ids = list(enumerate(telegram_ids[start : start + chunk], start=start + 1))
            users = [{"id": uid, "locale": "vi", "phone": "0912345678", "consent_at": now} for uid, _t in ids]
            await session.execute(insert(User), users)
            identities = [
                {"channel": "telegram", "external_id": str(t), "chat_id": str(t), "user_id": uid, "last_seen_at": now}
                for uid, t in ids
            ]
            await session.execute(insert(ChannelIdentity), identities)
            producers = [
                {
                    "user_id": uid,
                    "kind": "htx",
                    "name": f"HTX Chè {t}",
                    "name_folded": fold(f"HTX Chè {t}"),
                    "commune_code": commune.code,
                    "commune_name": commune.name,
                }
                for uid, t in ids
            ]
            await session.execute(insert(Producer), producers)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} cores"


def bot_environment(api: FakeBotAPI, database_url: str, data_dir: Path) -> dict[str, str]:
    """The bot's environment: ours only (no Zalo, no settings of the person running the bench)."""
    ours = ("TELEGRAM_", "ZALO_", "OCOP_", "WEBHOOK_", "DATABASE_URL", "LOG_LEVEL")
    env = {key: value for key, value in os.environ.items() if not key.startswith(ours)}
    env.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_BASE=api.base_url,
        DATABASE_URL=database_url,
        OCOP_DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
    )
    return env


@contextlib.asynccontextmanager
async def bot_process(env: dict[str, str], workdir: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m bot run`` in ``workdir`` (no stray .env); stopped with SIGTERM as a service manager would."""
    log_path = workdir / "bot.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 60)
                except TimeoutError:
                    process.kill()
                    await process.wait()
    log_text = log_path.read_text(errors="replace")
    tail = log_text.strip().splitlines()[-15:]
    if process.returncode not in (0, -signal.SIGTERM) or "Traceback" in log_text:
        print("bot process log (last lines):\n  " + "\n  ".join(tail), file=sys.stderr)


async def sample_peak(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    """Our own view of the peak (VmHWM also counts the start-up), sampled twice a second."""
    while not stop.is_set():
        with contextlib.suppress(FileNotFoundError, KeyError):
            peak[0] = max(peak[0], memory_of(pid).rss_mb)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def replies_by_chat(calls: list[Call]) -> dict[int, list[Call]]:
    found: dict[int, list[Call]] = defaultdict(list)
    for call in calls:
        if call.name in SEND_METHODS and call.status == 200 and call.chat_id is not None:
            found[call.chat_id].append(call)
    return found


def latencies(
    by_chat: dict[int, list[Call]], pushed: dict[int, list[float]], per_step: list[int]
) -> tuple[list[float], list[int]]:
    """Seconds from each update's push to the last message answering it, and the users whose count is off.

    One user's replies come in the order of their updates (the channel keeps a chat's replies in order), so
    the first ``per_step[0]`` messages answer the first update, and so on."""
    seconds: list[float] = []
    wrong: list[int] = []
    expected = sum(per_step)
    for user_id, pushes in pushed.items():
        replies = sorted(by_chat.get(user_id, []), key=lambda call: call.at)
        if len(replies) != expected:
            wrong.append(user_id)
            continue
        end = 0
        for step, count in enumerate(per_step):
            end += count
            seconds.append(replies[end - 1].at - pushes[step])
    return seconds, wrong


async def calibrate_steps(api: FakeBotAPI, user_id: int) -> list[int]:
    """Messages the bot sends for each step, counted on one user (this also warms the bot up)."""
    counts: list[int] = []
    for step in STEPS:
        before = len(api.replies_to(user_id))
        await calibrate(api, user_id, [step])
        counts.append(len(api.replies_to(user_id)) - before)
    return counts


async def run(users: int, database_url: str | None) -> int:
    with tempfile.TemporaryDirectory(prefix="ocop-burst-") as scratch:
        workdir = Path(scratch)
        async with contextlib.AsyncExitStack() as stack:
            if database_url is None:
                database_url = f"sqlite+aiosqlite:///{workdir / 'burst.db'}"
            elif database_url.startswith("postgresql"):
                database_url = await stack.enter_async_context(scratch_schema(database_url))
            settings = Settings(_env_file=None, database_url=database_url, ocop_data_dir=workdir / "data")
            app = await build_app(settings, run_migrations=True)
            base = random.randrange(10_000, 90_000) * 100_000
            calibration_user, user_ids = base, list(range(base + 1, base + 1 + users))
            started = time.perf_counter()
            await onboard(app, [calibration_user, *user_ids])
            await app.close()
            print(f"{users + 1} producers written in {time.perf_counter() - started:.1f} s")

            api = await stack.enter_async_context(FakeBotAPI(first_update_id=base))
            env = bot_environment(api, database_url, workdir / "data")
            process = await stack.enter_async_context(bot_process(env, workdir))
            await api.wait_for(lambda: bool(api.calls_of("getUpdates")) or process.returncode is not None, 120)
            if process.returncode is not None:
                print("the bot process exited at start", file=sys.stderr)
                return 1
            per_step = await calibrate_steps(api, calibration_user)
            await asyncio.sleep(1.0)
            idle = memory_of(process.pid)
            print(f"bot process idle: RSS {idle.rss_mb:.0f} MB; replies per update: {per_step}")

            first_call = len(api.calls)
            pushed: dict[int, list[float]] = defaultdict(list)
            peak = [idle.rss_mb]
            stop = asyncio.Event()
            sampler = asyncio.create_task(sample_peak(process.pid, peak, stop))
            expected = users * sum(per_step)
            baseline = api.reply_count
            print(f"burst: {users} users × {len(STEPS)} updates, load average {load_average()}")
            burst_started = time.monotonic()
            for step in STEPS:
                for user_id in user_ids:
                    pushed[user_id].append(time.monotonic())
                    push(api, user_id, step)
            try:
                await api.wait_for(lambda: api.reply_count - baseline >= expected, ANSWER_WITHIN_S)
            except AssertionError:
                print(f"only {api.reply_count - baseline} of {expected} replies within {ANSWER_WITHIN_S:.0f} s")
            answered_in = time.monotonic() - burst_started
            await asyncio.sleep(SETTLE_S)
            stop.set()
            await sampler
            end = memory_of(process.pid)
            print(f"load average after the burst: {load_average()}")

    seconds, wrong = latencies(replies_by_chat(api.calls[first_call:]), pushed, per_step)
    growth = end.rss_mb - idle.rss_mb
    verdict = "meets" if growth <= TARGET_GROWTH_MB else "ABOVE"
    print(
        f"RSS: idle {idle.rss_mb:.0f} MB, peak {max(peak[0], end.rss_mb):.0f} MB (sampled; VmHWM "
        f"{end.peak_mb:.0f} MB), end {end.rss_mb:.0f} MB: {growth:+.0f} MB ({verdict} the "
        f"+{TARGET_GROWTH_MB} MB target)"
    )
    if seconds:
        print(
            f"reply latency over {len(seconds)} updates: p50 {statistics.median(seconds):.1f} s, "
            f"p95 {percentile(seconds, 0.95):.1f} s, max {max(seconds):.1f} s; "
            f"all answered in {answered_in:.1f} s ({len(seconds) / answered_in:.0f} updates/s)"
        )
    if wrong:
        sample = wrong[0]
        print(f"NOT answered exactly once: {len(wrong)} of {users} users (e.g. {sample})")
        return 1
    print(f"every update answered exactly once ({users * len(STEPS)} updates, {expected} messages)")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(args.users, args.database_url))


if __name__ == "__main__":
    raise SystemExit(main())
