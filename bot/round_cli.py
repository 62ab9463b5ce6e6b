"""``ocop-bot round add|list|close|seed``: the province's evaluation rounds from the command line.

    ocop-bot round add --name "Đợt 1/2026" --deadline 20/05/2026 --meeting 15/06/2026
    ocop-bot round list
    ocop-bot round close 3            (a round id, or its exact name)
    ocop-bot round seed --year 2026   (the rounds of OCOP_DEFAULT_ROUNDS, by default deadlines 20/05 and 20/10)

Dates are typed as in the chat (``20/5``, ``20/05/2026``, ``20-5-2026``); every change is audit-logged
with the actor "cli".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dates import BadDate, When, day_months, parse_day
from bot.settings import Settings
from bot.text import tidy
from storage import audit, rounds
from storage.models import Round

CLI_ACTOR = "cli"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="round_command")
    add = sub.add_parser("add", help="create an open round")
    add.add_argument("--name", required=True, help='e.g. "Đợt 1/2026"')
    add.add_argument("--deadline", required=True, help="submission deadline, e.g. 20/05/2026")
    add.add_argument("--meeting", help="council meeting date, e.g. 15/06/2026")
    sub.add_parser("list", help="list the province's rounds")
    close = sub.add_parser("close", help="close a round (no more dossiers assigned to it)")
    close.add_argument("round", help="the round's id or exact name")
    seed = sub.add_parser(
        "seed", help="create the rounds of OCOP_DEFAULT_ROUNDS (20/05,20/10) whose deadline is ahead, once"
    )
    seed.add_argument("--year", type=int, help="default: this year, or next year once this year's have passed")


def add_parser(commands: Any) -> None:
    """Hook ``round`` into the ``ocop-bot`` subcommands (``commands`` is argparse's subparsers action)."""
    configure(commands.add_parser("round", help="evaluation rounds: add, list, close, seed"))


def parser() -> argparse.ArgumentParser:
    """A stand-alone parser of the same arguments (tests)."""
    found = argparse.ArgumentParser(prog="ocop-bot round")
    configure(found)
    return found


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(execute(args, settings))


def local_today(settings: Settings) -> dt.date:
    return dt.datetime.now(ZoneInfo(settings.ocop.timezone)).date()


async def execute(
    args: argparse.Namespace, settings: Settings, *, now: dt.datetime | None = None, out: TextIO | None = None
) -> int:
    """Run one round command; the exit code is 0 on success, 2 on bad input."""
    from storage.db import create_engine, session_factory

    out = out or sys.stdout
    now = now or dt.datetime.now(dt.UTC)
    today = now.astimezone(ZoneInfo(settings.ocop.timezone)).date()
    db = create_engine(settings.database_url)
    try:
        async with session_factory(db)() as session, session.begin():
            return await _dispatch(session, args, settings, now, today, out)
    finally:
        await db.dispose()


async def _dispatch(
    session: AsyncSession, args: argparse.Namespace, settings: Settings, now: dt.datetime, today: dt.date, out: TextIO
) -> int:
    province = settings.ocop.province
    command = args.round_command
    if command == "add":
        return await _add(session, args, province, now, today, out)
    if command == "close":
        return await _close(session, str(args.round), province, now, out)
    if command == "seed":
        deadlines = day_months(settings.reminders.default_rounds)
        year = args.year or rounds.year_ahead(today, deadlines)
        before = {r.id for r in await rounds.rounds_of(session, province)}
        for found in await rounds.seed_rounds(session, province, year, deadlines, now, today=today):
            if found.id not in before:
                await _audit(session, now, "round.create", found, before=None)
            print(_line(found), file=out)
        return 0
    # "list", and a bare "round"
    found_rounds = await rounds.rounds_of(session, province)
    if not found_rounds:
        print(f"no rounds yet in {province}", file=out)
    counts = await rounds.dossier_counts(session, [r.id for r in found_rounds])
    for found in found_rounds:
        print(f"{_line(found)}  dossiers={counts.get(found.id, 0)}", file=out)
    return 0


async def _add(
    session: AsyncSession, args: argparse.Namespace, province: str, now: dt.datetime, today: dt.date, out: TextIO
) -> int:
    name = tidy(str(args.name))
    if not 3 <= len(name) <= 100:
        print("error: the name must have 3 to 100 characters", file=out)
        return 2
    try:
        deadline = parse_day(args.deadline, today, When.FUTURE)
        meeting = parse_day(args.meeting, today, When.FUTURE) if args.meeting else None
    except BadDate as error:
        print(f"error: {error.hint}", file=out)
        return 2
    if meeting is not None and meeting < deadline:
        print("error: the council meeting must not come before the submission deadline", file=out)
        return 2
    if await rounds.round_named(session, province, name) is not None:
        print(f"error: a round named {name!r} already exists", file=out)
        return 2
    created = await rounds.create_round(
        session, province=province, name=name, submit_deadline=deadline, meeting_date=meeting, now=now
    )
    await _audit(session, now, "round.create", created, before=None)
    print(f"created {_line(created)}", file=out)
    return 0


async def _close(session: AsyncSession, which: str, province: str, now: dt.datetime, out: TextIO) -> int:
    found = await rounds.round_of(session, province, int(which)) if which.isdigit() else None
    if found is None:
        found = await rounds.round_named(session, province, which)
    if found is None:
        print(f"error: no round {which!r} in {province}", file=out)
        return 2
    if found.status == rounds.CLOSED:
        print(f"already closed: {_line(found)}", file=out)
        return 0
    before = rounds.snapshot(found)
    found.status = rounds.CLOSED
    await session.flush()
    await _audit(session, now, "round.close", found, before=before)
    print(f"closed {_line(found)}", file=out)
    return 0


async def _audit(
    session: AsyncSession, now: dt.datetime, action: str, found: Round, *, before: dict[str, Any] | None
) -> None:
    await audit.record(
        session,
        at=now,
        actor_user_id=None,
        actor_label=CLI_ACTOR,
        action=action,
        object_type="round",
        object_id=found.id,
        before=before,
        after=rounds.snapshot(found),
    )


def _line(found: Round) -> str:
    meeting = found.meeting_date.strftime("%d/%m/%Y") if found.meeting_date else "-"
    return (
        f"#{found.id} {found.name}  deadline {found.submit_deadline.strftime('%d/%m/%Y')}  "
        f"meeting {meeting}  {found.status}"
    )
