"""How much of an update SQLite's COMMIT costs: the most a group commit could save.

    .venv/bin/python -m bench.commit_share [--users 200] [--rounds 3]

A group commit (one writer connection committing the updates that arrive within a few milliseconds together,
each answered only after that commit) saves commits, nothing else: the statements, the Python around them and
the replies stay. So before building one, this measures the commit's share. The bench's mix (menu, a typed
status question, 🔎, 📂, menu) goes straight into the engine, as in ``bench.throughput``'s "engine alone",
under cProfile; it prints the time inside ``sqlite3.Connection.commit`` and inside statement execution per
update, and their share of the engine's time. The database is a temporary file in WAL mode with
``synchronous=NORMAL`` (``storage.db``): a commit appends to the WAL and does not wait for the disk.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import tempfile
from pathlib import Path

from bench.throughput import engine_only, onboard, our_app, steps_for
from bot.gc_tuning import tune_for_serving
from tests.fakes.telegram_api import FakeBotAPI

_COMMIT = "<method 'commit' of 'sqlite3.Connection' objects>"
_EXECUTE = frozenset(
    {"<method 'execute' of 'sqlite3.Cursor' objects>", "<method 'execute' of 'sqlite3.Connection' objects>"}
)


async def main_async(users: int, rounds: int) -> None:
    steps = steps_for(5)
    base = random.randrange(10_000, 90_000) * 100_000
    with tempfile.TemporaryDirectory(prefix="ocop-bench-") as data_dir:
        async with FakeBotAPI(first_update_id=base) as api, our_app(None, Path(data_dir), api) as (app, _settings):
            ids = list(range(base + 1, base + 1 + users * (rounds + 1)))
            await onboard(app, ids)
            tune_for_serving()
            await engine_only(app, ids[:users], steps, 5)  # warm-up: caches, prepared statements
            print(f"{users} users × {len(steps)} updates per round, SQLite, engine alone under cProfile")
            for round_ in range(1, rounds + 1):
                profile = cProfile.Profile()
                profile.enable()
                result = await engine_only(app, ids[round_ * users : (round_ + 1) * users], steps, 5)
                profile.disable()
                stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
                commit = sum(row[3] for (_file, _line, name), row in stats.items() if name == _COMMIT)
                execute = sum(row[3] for (_file, _line, name), row in stats.items() if name in _EXECUTE)
                total = pstats.Stats(profile).total_tt  # type: ignore[attr-defined]
                per = 1000 / result.updates
                print(
                    f"round {round_}: engine {total * per:.2f} ms/update (profiled); "
                    f"commit {commit * per:.3f} ms/update ({commit / total:.1%}); "
                    f"statements {execute * per:.3f} ms/update ({execute / total:.1%})"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.commit_share", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.users, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
