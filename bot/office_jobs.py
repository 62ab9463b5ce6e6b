"""Excel files asked for in the chat, built in the background and sent when ready.

Building a workbook of hundreds of rows takes a moment; done inside the officer's update it would hold the
update's transaction (and, on SQLite, every other user's turn) for that long. So the update only answers
"being prepared"; a task reads the rows in its own read-only session, writes the file under the data folder,
and queues it in the outbox, from where the sender delivers it like any notice (and retries it, at least
once, if the process dies after queueing). A task lost to a crash before queueing loses only the request:
the officer asks again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Collection, Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import office_export, year_report
from bot.i18n import _, current_locale
from bot.messages import SendFile
from bot.notices import notice
from bot.spreadsheet import save
from storage import audit, outbox

log = logging.getLogger(__name__)

KIND = "office_file"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
KEEP_EXPORTS = dt.timedelta(days=2)
WHATS = ("dossiers", "expiring", "producers", "report")
EXPIRING_DAYS = 90

# Tasks in flight: a reference keeps each alive until it ends (asyncio holds only weak ones).
RUNNING: set[asyncio.Task[None]] = set()


def start(
    sessions: async_sessionmaker[AsyncSession],
    *,
    files_root: Path,
    user_id: int,
    locale: str,
    what: str,
    communes: Collection[int] | None,
    today: dt.date,
    year: int,
    tz: str,
) -> None:
    _spawn(_run(sessions, files_root, user_id, locale, what, communes, today, year, tz))


def _spawn(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    RUNNING.add(task)
    task.add_done_callback(RUNNING.discard)


async def _run(
    sessions: async_sessionmaker[AsyncSession],
    files_root: Path,
    user_id: int,
    locale: str,
    what: str,
    communes: Collection[int] | None,
    today: dt.date,
    year: int,
    tz: str,
) -> None:
    token = current_locale.set(locale)
    try:
        folder = files_root / "exports"
        await asyncio.to_thread(_forget_old, folder)
        async with sessions() as session:
            if what == "report":
                report = await year_report.build(session, year, communes=set(communes) if communes else None)
                workbook, rows, caption = (
                    year_report.workbook(report),
                    len(report.lines),
                    year_report.summary_text(report),
                )
                name = _("ocop-report-{year}.xlsx").format(year=year)
            elif what == "expiring":
                workbook, rows = await office_export.certificates_workbook(
                    session, communes=communes, expiring_days=EXPIRING_DAYS, today=today
                )
                caption = _("Certificates expiring within {days} days: {count}").format(days=EXPIRING_DAYS, count=rows)
                name = _("certificates-expiring.xlsx")
            elif what == "producers":
                workbook, rows = await office_export.producers_workbook(session, communes=communes)
                caption = _("Producers: {count}").format(count=rows)
                name = _("producers.xlsx")
            else:
                workbook, rows = await office_export.dossiers_workbook(session, communes=communes, tz=tz)
                caption = _("Dossiers: {count}").format(count=rows)
                name = _("dossiers.xlsx")
        path = folder / f"{uuid.uuid4().hex}.xlsx"
        await asyncio.to_thread(save, workbook, path)
        now = dt.datetime.now(dt.UTC)
        async with sessions() as session, session.begin():
            await outbox.enqueue(
                session,
                user_id=user_id,
                kind=KIND,
                params={"path": str(path), "name": name, "caption": caption},
                dedupe_key=f"{KIND}:{path.stem}",
                not_before=now,
                urgent=True,
            )
            await audit.record(
                session,
                at=now,
                actor_user_id=user_id,
                action="personal_data.export",
                object_type=what,
                object_id=None,
                before=None,
                after={"rows": rows, "communes": sorted(communes) if communes else None},
                note="chat",
            )
    except Exception:  # the officer is told nothing arrived only by its absence: log loudly
        log.exception("chat export %s for user %s failed", what, user_id)
    finally:
        current_locale.reset(token)


UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024  # Telegram bots upload at most 50 MB
ZIP = "application/zip"


def start_dossier_zip(
    sessions: async_sessionmaker[AsyncSession],
    *,
    files_root: Path,
    user_id: int,
    locale: str,
    dossier_id: int,
    communes: Collection[int] | None,
) -> None:
    """ "📦 Download the dossier": one ZIP (or its parts) of every file, sent through the outbox when ready."""
    _spawn(_zip(sessions, files_root, user_id, locale, dossier_id, set(communes) if communes is not None else None))


async def _zip(
    sessions: async_sessionmaker[AsyncSession],
    files_root: Path,
    user_id: int,
    locale: str,
    dossier_id: int,
    communes: set[int] | None,
) -> None:
    from bot import dossier_zip

    token = current_locale.set(locale)
    try:
        folder = files_root / "exports"
        await asyncio.to_thread(_forget_old, folder)
        async with sessions() as session:
            found = await dossier_zip.load(session, dossier_id, files_root, communes)
        if found is None:
            return  # outside the officer's communes: the button was checked before, so this is a race
        target = folder / uuid.uuid4().hex / f"{found.base_name}.zip"
        paths = await asyncio.to_thread(dossier_zip.write, found, target, UPLOAD_LIMIT_BYTES)
        now = dt.datetime.now(dt.UTC)
        async with sessions() as session, session.begin():
            for number, path in enumerate(paths, start=1):
                caption = _("📦 {name}: {count} files").format(name=found.base_name, count=len(found.entries))
                if len(paths) > 1:
                    caption += " · " + _("part {number} of {parts}").format(number=number, parts=len(paths))
                await outbox.enqueue(
                    session,
                    user_id=user_id,
                    kind=KIND,
                    params={"path": str(path), "name": path.name, "caption": caption, "mime": ZIP},
                    dedupe_key=f"{KIND}:{path.parent.name}:{number}",
                    not_before=now,
                    urgent=True,
                )
            await audit.record(
                session,
                at=now,
                actor_user_id=user_id,
                action="personal_data.export",
                object_type="dossier",
                object_id=dossier_id,
                before=None,
                after={"files": len(found.entries), "parts": len(paths)},
                note="dossier zip",
            )
    except Exception:
        log.exception("dossier zip %s for user %s failed", dossier_id, user_id)
    finally:
        current_locale.reset(token)


def _forget_old(folder: Path) -> None:
    """Exports are handed on, not kept: files older than two days go (the sender had them long before)."""
    if not folder.is_dir():
        return
    cutoff = time.time() - KEEP_EXPORTS.total_seconds()
    for path in folder.rglob("*"):
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


@notice(KIND)
def _office_file(params: dict[str, object]) -> SendFile:
    return SendFile(
        path=Path(str(params["path"])),
        name=str(params["name"]),
        mime=str(params.get("mime") or XLSX),
        caption=str(params["caption"]),
    )
