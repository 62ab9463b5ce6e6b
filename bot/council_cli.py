"""``ocop-bot council template|import``: the council's sheets through Excel, as the scoring software does.

    ocop-bot council template 3 -o dot1-2026.xlsx     (a round id or its exact name)
    ocop-bot council import 3 dot1-2026.xlsx

The template has one worksheet per dossier scheduled in the round and one column per council member (the
members already known, then empty columns whose header the secretary fills with a name). Import reads every
column that has a name and points, checks each value against the rule set's maximum, and saves nothing at all
unless the whole file is right; members not yet known are added to the round's council. It then prints, per
dossier, the mean, the star of the dossier's rule set, the spread and the sheets too far from the mean. The
result itself is saved in the chat (🏅 Council sheets and result), where the mandatory criteria are asked.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from bot import council_workbook as workbook
from bot.council_workbook import HEADER_ROW
from bot.i18n import current_locale
from bot.settings import Settings
from storage import council, rounds
from storage.models import Round

CLI_ACTOR = "cli"
__all__ = ["HEADER_ROW", "execute", "parser", "run"]


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="council_command")
    template = sub.add_parser("template", help="write the round's scoring workbook (one sheet per dossier)")
    template.add_argument("round", help="the round's id or exact name")
    template.add_argument("-o", "--output", required=True, help="the .xlsx file to write")
    load = sub.add_parser("import", help="read the council's filled workbook into the members' sheets")
    load.add_argument("round", help="the round's id or exact name")
    load.add_argument("path", help="the filled .xlsx file")


def add_parser(commands: Any) -> None:
    configure(commands.add_parser("council", help="council sheets through Excel: template, import"))


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog="ocop-bot council")
    configure(found)
    return found


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(execute(args, settings))


async def execute(
    args: argparse.Namespace, settings: Settings, *, now: dt.datetime | None = None, out: TextIO | None = None
) -> int:
    """Run one council command; 0 on success, 2 on bad input (nothing saved)."""
    from storage.db import create_engine, session_factory

    out = out or sys.stdout
    now = now or dt.datetime.now(dt.UTC)
    token = current_locale.set("vi")  # the workbook and the hints are for Vietnamese councils
    db = create_engine(settings.database_url)
    try:
        async with session_factory(db)() as session, session.begin():
            found = await _round(session, settings.ocop.province, str(args.round))
            if found is None:
                print(f"error: no round {args.round!r} in {settings.ocop.province}", file=out)
                return 2
            if args.council_command == "template":
                return await _template(session, settings, found, Path(args.output), out)
            if args.council_command == "import":
                code = await _import(session, settings, found, Path(args.path), now, out)
                if code != 0:
                    await session.rollback()
                return code
            print("error: say template or import", file=out)
            return 2
    finally:
        current_locale.reset(token)
        await db.dispose()


async def _round(session: AsyncSession, province_name: str, which: str) -> Round | None:
    found = await rounds.round_of(session, province_name, int(which)) if which.isdigit() else None
    return found or await rounds.round_named(session, province_name, which)


async def _template(session: AsyncSession, settings: Settings, found: Round, path: Path, out: TextIO) -> int:
    made = await workbook.template(session, settings.ocop.province, found)
    if made is None:
        print(f"error: no dossier of {found.name} waits for the council", file=out)
        return 2
    data, dossiers, members = made
    await asyncio.to_thread(path.write_bytes, data)
    print(f"wrote {path}: {dossiers} dossiers, {members} members", file=out)
    return 0


async def _import(
    session: AsyncSession, settings: Settings, found: Round, path: Path, now: dt.datetime, out: TextIO
) -> int:
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        print(f"error: cannot read {path} ({error.strerror})", file=out)
        return 2
    plan, errors = await workbook.read(session, settings.ocop.province, found, data)
    if errors:
        for line in errors:
            print(f"error: {line}", file=out)
        print("nothing was saved", file=out)
        return 2
    lines = await workbook.save(
        session,
        found,
        plan,
        now=now,
        source=council.XLSX,
        file_name=path.name,
        actor_user_id=None,
        actor_label=CLI_ACTOR,
    )
    for line in lines:
        print(line, file=out)
    return 0
