"""``ocop-bot privacy requests | export USER | delete USER | hold N --reason … | release N``.

For requests made on paper at the commune office, and for admins who prefer a terminal. ``USER`` is a user
number (``#12`` or ``12``) or a phone number. ``delete`` records the request with its legal deadline, as a
request in chat does; the sweep carries it out, or ``--now`` does it at once (the office has checked the
person's identity). Every change is audit-logged with the actor "cli".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import export
from bot.admin_cli import CLI_ACTOR, _session
from bot.clock import utc_now
from bot.privacy_sweep import EXPORT_PREFIX, after_privacy_sweep, carry_out
from bot.rules import CONSENT_VERSION
from bot.settings import Settings
from bot.text import normalise_phone
from storage import audit, privacy
from storage.models import User


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("privacy", help="personal data requests (see, export, delete, legal hold)")
    actions = parser.add_subparsers(dest="privacy_command", required=True)
    actions.add_parser("requests", help="list the pending deletion requests and their deadlines")
    export_parser = actions.add_parser("export", help="write a person's data as a ZIP (JSON, XLSX, their files)")
    export_parser.add_argument("user", help="user number (#12) or phone number")
    export_parser.add_argument("--out", default=".", help="directory for the ZIP (default: here)")
    delete = actions.add_parser("delete", help="record a deletion request made on paper")
    delete.add_argument("user", help="user number (#12) or phone number")
    delete.add_argument("--now", action="store_true", help="carry it out at once instead of by the sweep")
    hold = actions.add_parser("hold", help="put a request on legal hold")
    hold.add_argument("request", type=int)
    hold.add_argument("--reason", required=True, help="the legal ground, kept with the request")
    release = actions.add_parser("release", help="release a legal hold")
    release.add_argument("request", type=int)


def run(args: argparse.Namespace, settings: Settings, clock: Callable[[], dt.datetime] = utc_now) -> int:
    return asyncio.run(dispatch(args, settings, clock(), sys.stdout, sys.stderr))


async def dispatch(args: argparse.Namespace, settings: Settings, now: dt.datetime, out: TextIO, err: TextIO) -> int:
    command = args.privacy_command
    if command == "requests":
        return await list_requests(settings, out)
    if command == "export":
        return await export_user(settings, args.user, Path(args.out), now, out, err)
    if command == "delete":
        return await delete_user(settings, args.user, now, out, err, at_once=args.now)
    if command in ("hold", "release"):
        return await change_hold(settings, args.request, getattr(args, "reason", None), now, out, err)
    raise ValueError(command)


def _when(settings: Settings, moment: dt.datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return f"{moment.astimezone(ZoneInfo(settings.ocop.timezone)):%d/%m/%Y %H:%M}"


async def find_user(session: AsyncSession, raw: str) -> User | None:
    number = raw.removeprefix("#")
    if number.isdigit() and len(number) < 9:
        return await session.get(User, int(number))
    phone = normalise_phone(raw)
    if phone is None:
        return None
    return await session.scalar(select(User).where(User.phone == phone).order_by(User.id).limit(1))


async def list_requests(settings: Settings, out: TextIO) -> int:
    async with _session(settings) as session:
        pending = await privacy.pending_requests(session)
        for request in pending:
            line = f"no. {request.id}\tuser #{request.user_id}\t{request.source}\t{request.status}\t"
            line += f"received {_when(settings, request.requested_at)}\tdeadline {_when(settings, request.due_at)}"
            if request.hold_reason:
                line += f"\thold: {request.hold_reason}"
            print(line, file=out)
    if not pending:
        print("no pending requests", file=out)
    return 0


async def export_user(settings: Settings, raw: str, out_dir: Path, now: dt.datetime, out: TextIO, err: TextIO) -> int:
    async with _session(settings) as session:
        user = await find_user(session, raw)
        if user is None:
            print(f"no user {raw!r}", file=err)
            return 1
        data, files = await export.collect(session, user.id, settings.ocop.files_dir)
        await audit.record(
            session,
            at=now,
            actor_user_id=None,
            actor_label=CLI_ACTOR,
            action="privacy.exported",
            object_type="user",
            object_id=user.id,
        )
    stem = f"{EXPORT_PREFIX}{user.id}-{now:%Y%m%d%H%M%S}"
    paths = await asyncio.to_thread(export.build_zip, data, files, out_dir, stem, 1024 * 1024 * 1024)
    for path in paths:
        print(path, file=out)
    print(f"{len(data['ideas'])} ideas, {len(data['dossiers'])} dossiers, {len(files)} files", file=out)
    return 0


async def delete_user(
    settings: Settings, raw: str, now: dt.datetime, out: TextIO, err: TextIO, *, at_once: bool
) -> int:
    async with _session(settings) as session:
        user = await find_user(session, raw)
        if user is None or user.erased_at is not None:
            print(f"no user {raw!r} (or already deleted)", file=err)
            return 1
        request = await privacy.create_request(
            session, user.id, source="paper", now=now, deadline=dt.timedelta(hours=settings.privacy.deadline_hours)
        )
        if user.consent_at is not None:
            await privacy.record_consent(
                session, user, version=CONSENT_VERSION, decision="withdrawn", channel="paper", now=now
            )
        user.consent_at = None
        user.consent_version = None
        await audit.record(
            session,
            at=now,
            actor_user_id=None,
            actor_label=CLI_ACTOR,
            action="privacy.requested",
            object_type="privacy_request",
            object_id=request.id,
        )
        print(f"request no. {request.id}: deadline {_when(settings, request.due_at)}", file=out)
        erased = None
        if at_once:
            erased = await carry_out(session, request.id, user.id, now=now, actor=CLI_ACTOR)
    if erased is not None:
        from bot.privacy_sweep import PrivacyResult

        await after_privacy_sweep(settings, PrivacyResult(blob_paths=erased.blob_paths, erased_users=[user.id]), now)
        print("deleted; kept as administrative records:" if erased.kept else "deleted; nothing kept", file=out)
        for record in erased.kept:
            print("  " + ", ".join(f"{key}={value}" for key, value in record.items()), file=out)
    return 0


async def change_hold(
    settings: Settings, request_id: int, reason: str | None, now: dt.datetime, out: TextIO, err: TextIO
) -> int:
    async with _session(settings) as session:
        request = await privacy.request_by_id(session, request_id, lock=True)
        if request is None or request.status not in privacy.PENDING:
            print(f"request no. {request_id} is not pending", file=err)
            return 1
        if reason is not None:
            privacy.hold(request, reason=reason, by=None, now=now)
        else:
            request.status = privacy.OPEN
        await audit.record(
            session,
            at=now,
            actor_user_id=None,
            actor_label=CLI_ACTOR,
            action="privacy.held" if reason is not None else "privacy.released",
            object_type="privacy_request",
            object_id=request.id,
            note=reason,
        )
        print(f"request no. {request.id}: {request.status}", file=out)
    return 0
