"""``ocop-bot invite | staff | audit``: staff administration from the command line.

The first administrator is invited from here (``ocop-bot invite --role admin``); later ones can be invited
in chat. Every change made here is audit-logged with the actor "cli".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot import invites
from bot.clock import utc_now
from bot.communes import commune_by_code, find_communes
from bot.rules import Role
from bot.settings import Settings
from storage import audit, staff

COMMANDS = ("invite", "staff", "audit")
CLI_ACTOR = "cli"


def add_commands(commands: Any) -> None:
    """Add the subcommands to ``ocop-bot``'s subparsers."""
    invite = commands.add_parser("invite", help="create a single-use staff invite link")
    invite.add_argument("--role", required=True, choices=[role.value for role in Role])
    invite.add_argument("--commune", help='the commune of a commune officer, e.g. "Bình Lư"')
    commands.add_parser("staff", help="list the active staff roles")
    audit_parser = commands.add_parser("audit", help="print the audit log")
    audit_parser.add_argument("--since", required=True, help="a day, YYYY-MM-DD (local time)")


def run(args: argparse.Namespace, settings: Settings, clock: Callable[[], dt.datetime] = utc_now) -> int:
    """Run one of ``COMMANDS``; returns the exit status."""
    if args.command == "invite":
        return asyncio.run(invite(settings, args.role, args.commune, clock(), sys.stdout, sys.stderr))
    if args.command == "staff":
        return asyncio.run(list_staff(settings, sys.stdout))
    if args.command == "audit":
        try:
            since = dt.date.fromisoformat(args.since)
        except ValueError:
            print(f"--since: expected a day like 2026-01-01, got {args.since!r}", file=sys.stderr)
            return 2
        return asyncio.run(print_audit(settings, since, sys.stdout))
    raise ValueError(args.command)


@asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    from storage.db import create_engine, migrate, session_factory

    db = create_engine(settings.database_url)
    try:
        if db.dialect.name == "sqlite":  # as ``bot.app``: PostgreSQL is migrated by `ocop-bot migrate`
            await migrate(db)
        async with session_factory(db)() as session, session.begin():
            yield session
    finally:
        await db.dispose()


async def invite(
    settings: Settings, role_code: str, commune: str | None, now: dt.datetime, out: TextIO, err: TextIO
) -> int:
    role = Role(role_code)
    commune_code: int | None = None
    if role is Role.COMMUNE:
        if not commune:
            print('A commune officer invite needs --commune "<name>".', file=err)
            return 2
        found = find_communes(settings.ocop.province, commune)
        if not found:
            print(f"No commune of {settings.ocop.province} matches {commune!r}.", file=err)
            return 1
        if len(found) > 1:
            print(f"{commune!r} matches several communes; be more precise:", file=err)
            for candidate in found:
                print(f"  {candidate.name}", file=err)
            return 1
        commune_code = found[0].code
    elif commune:
        print(f"--commune is only for --role {Role.COMMUNE.value}.", file=err)
        return 2
    async with _session(settings) as session:
        created = await invites.create(
            session, settings, role=role, commune_code=commune_code, created_by=None, actor_label=CLI_ACTOR, now=now
        )
    tz = ZoneInfo(settings.ocop.timezone)
    chosen = commune_by_code(settings.ocop.province, commune_code) if commune_code is not None else None
    where = f" ({chosen.name})" if chosen is not None else ""
    print(f"Invite for {role.value}{where}, single use:", file=out)
    if created.link:
        print(created.link, file=out)
    else:
        print(f"code: {created.code}", file=out)
        print(f"(TELEGRAM_BOT_USERNAME is not set; in the console chat type: {created.start_command})", file=out)
    print(f"expires: {created.expires_at.astimezone(tz):%d/%m/%Y %H:%M}", file=out)
    return 0


async def list_staff(settings: Settings, out: TextIO) -> int:
    async with _session(settings) as session:
        members = await staff.list_staff(session, settings.ocop.province)
    if not members:
        print("no staff yet", file=out)
        return 0
    for member in members:
        row = member.role
        commune = commune_by_code(settings.ocop.province, row.commune_code) if row.commune_code else None
        where = f" {commune.name}" if commune else ""
        who = member.display_name or member.phone or "-"
        print(
            f"role #{row.id}\tuser #{row.user_id}\t{who}\t{row.role}{where}\tsince {row.granted_at:%d/%m/%Y}", file=out
        )
    return 0


def _state(value: dict[str, Any] | None) -> str:
    if not value:
        return "-"
    return ", ".join(f"{key}={item}" for key, item in value.items())


async def print_audit(settings: Settings, since: dt.date, out: TextIO) -> int:
    tz = ZoneInfo(settings.ocop.timezone)
    start = dt.datetime.combine(since, dt.time(), tzinfo=tz)
    async with _session(settings) as session:
        entries = await audit.entries_since(session, start)
    for entry in entries:
        at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=dt.UTC)
        actor = entry.actor_label or (f"user #{entry.actor_user_id}" if entry.actor_user_id else "-")
        if entry.actor_user_id and entry.actor_label:
            actor = f"{entry.actor_label} (#{entry.actor_user_id})"
        obj = f"{entry.object_type} #{entry.object_id}" if entry.object_id is not None else entry.object_type
        line = f"{at.astimezone(tz):%d/%m/%Y %H:%M}\t{actor}\t{entry.action}\t{obj}\t"
        line += f"{_state(entry.before)} → {_state(entry.after)}"
        if entry.note:
            line += f"\t{entry.note}"
        print(line, file=out)
    if not entries:
        print(f"no audit entries since {since:%d/%m/%Y}", file=out)
    return 0
