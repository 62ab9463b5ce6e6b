"""One bot process against two on one PostgreSQL: does a second instance add throughput?

    .venv/bin/python -m bench.scale                     # 200 users × 8 updates each, one instance then two
    .venv/bin/python -m bench.scale --users 400
    .venv/bin/python -m bench.scale --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Each run starts real ``ocop-bot run`` processes in webhook mode on a fresh schema (created, migrated and
dropped), and this process plays Telegram: the fake Bot API, plus a driver posting every user's updates to
the instances in turn, as a round-robin load balancer would (``tests/instances.py``). Every user types the
onboarding script, one message after the whole answer to the one before. The clock runs from the first
user's first message to the last answer. Prints updates/s for each run, the speed-up, and where the CPU
went (the bot processes, this driver + fake Bot API), which is what limits the speed-up on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.telegram_api import FakeBotAPI
from tests.instances import ONBOARDING, Instance, drive, fresh_schema, instances

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
TARGET = 1.3


@dataclass
class Result:
    instances: int
    updates: int
    seconds: float
    refused: int
    bot_cpu: float
    driver_cpu: float
    postgres_cpu: float
    machine_busy: float  # share of all cores busy during the run (every process, ours or not)

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0


def _process_cpu(pid: int | str) -> float:
    """User + system CPU seconds of a running process (Linux ``/proc``); 0 elsewhere or when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds(instance: Instance) -> float:
    return _process_cpu(instance.process.pid)


def _postgres_cpu() -> float:
    """CPU seconds of the PostgreSQL server's processes that exist now (backends come and go: approximate)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name.startswith("postgres"):
                total += _process_cpu(entry.name)
    return total


def _machine_times() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


async def one_run(count: int, users: int, base_url: str, folder: Path) -> Result:
    people = [700_000 + n for n in range(users)]
    async with (
        FakeBotAPI() as api,
        fresh_schema(base_url, prefix="bench") as url,
        instances(count, url, api, folder / f"x{count}") as started,
    ):
        await asyncio.sleep(2)  # let the start-up sweep and the first sender pass finish
        cpu_before = [_cpu_seconds(instance) for instance in started]
        driver_before, postgres_before, machine_before = time.process_time(), _postgres_cpu(), _machine_times()
        run = await drive(api, started, people)
        driver_cpu = time.process_time() - driver_before
        postgres_cpu = _postgres_cpu() - postgres_before
        machine_after = _machine_times()
        bot_cpu = sum(_cpu_seconds(i) - before for i, before in zip(started, cpu_before, strict=True))
    total = machine_after[1] - machine_before[1]
    busy = (machine_after[0] - machine_before[0]) / total if total else 0.0
    return Result(count, run.updates, run.seconds, run.refused, bot_cpu, driver_cpu, postgres_cpu, busy)


def report(result: Result) -> None:
    print(
        f"  {result.instances} instance(s): {result.updates} updates in {result.seconds:.1f} s = "
        f"{result.rate:.1f} updates/s; CPU: bots {result.bot_cpu:.1f} s, PostgreSQL ≈ {result.postgres_cpu:.1f} s, "
        f"driver + fake Bot API {result.driver_cpu:.1f} s; machine busy {result.machine_busy:.0%}; "
        f"503 (queue full) {result.refused}"
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument(
        "--database-url", default=os.environ.get("OCOP_TEST_DATABASE_URL", DEFAULT_URL), help="PostgreSQL server"
    )
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        print("bench.scale needs PostgreSQL (several processes share one database)", file=sys.stderr)
        return 2
    print(
        f"bench.scale: {args.users} users × {len(ONBOARDING)} updates (onboarding), webhook mode, "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at start"
    )
    with tempfile.TemporaryDirectory(prefix="ocop-scale-") as folder:
        one = await one_run(1, args.users, args.database_url, Path(folder))
        report(one)
        two = await one_run(2, args.users, args.database_url, Path(folder))
        report(two)
    speedup = two.rate / one.rate if one.rate else 0.0
    verdict = "met" if speedup >= TARGET else "NOT met"
    print(f"speed-up, two instances over one: {speedup:.2f}× (target ≥ {TARGET}×: {verdict})")
    per_update = [(r.bot_cpu / r.updates * 1000 if r.updates else 0.0) for r in (one, two)]
    print(
        f"bot CPU per update: {per_update[0]:.1f} ms with one instance, {per_update[1]:.1f} ms with two; "
        f"load average now {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
