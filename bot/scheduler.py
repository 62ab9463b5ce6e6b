"""The timer: APScheduler runs the sweep every few minutes, the orphan-file sweep every few hours, and wakes
the sender; nothing more.

Jobs never call a platform: the sweep writes into the outbox, the sender (its own long-running task, woken
by the timer or by a sweep that wrote rows) drains it. The job store is in memory (the jobs are the same on
every start), ``coalesce`` folds missed runs into one, and one instance per job runs at a time. Several bot
processes may each run this: the sweep runs in one of them at a time (``storage.leader``: the others skip
that round), and the outbox's dedupe keys and leases keep them from writing or sending anything twice.

The province's default rounds (``OCOP_DEFAULT_ROUNDS="20/05,20/10"``) are seeded for the current year at
start and again when the year changes; staff may edit them afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.clock import Clock
from bot.dates import day_months
from bot.delivery import Delivery
from bot.orphans import OrphanResult, remove_orphans
from bot.privacy_sweep import after_privacy_sweep, privacy_sweep
from bot.sender import Sender
from bot.settings import Settings
from bot.sweep import SweepResult, local_today, sweep
from storage import leader, rounds
from storage.filestore import FileStore

log = logging.getLogger(__name__)

SWEEP_JOB = "reminder-sweep"

# Walking the file store costs a directory listing per blob: a few times a day is plenty for a one-day limit.
ORPHAN_SWEEP_EVERY = dt.timedelta(hours=6)


class Reminders:
    """The sweep job, the sender loop and their timer, started and stopped together."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        deliveries: Mapping[str, Delivery],
        *,
        clock: Clock,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.sender = Sender(sessions, settings, deliveries, clock=clock)
        self.scheduler = AsyncIOScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor()},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
            timezone=settings.ocop.timezone,
        )
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._sender_task: asyncio.Task[None] | None = None
        self._seeded_year: int | None = None
        self.files = FileStore(settings.ocop.files_dir)

    async def sweep_once(self) -> SweepResult:
        now = self.clock()
        year = local_today(now, self.settings).year
        async with self.sessions() as session, session.begin():
            if not await leader.lead(session, SWEEP_JOB):
                log.info("sweep skipped: another instance is running it")
                return SweepResult()
            if self._seeded_year != year:
                await rounds.seed_rounds(
                    session,
                    self.settings.ocop.province,
                    year,
                    day_months(self.settings.reminders.default_rounds),
                    now,
                    today=local_today(now, self.settings),
                )
                self._seeded_year = year
            result = await sweep(session, self.settings, now)
            private = await privacy_sweep(session, self.settings, now)
        await after_privacy_sweep(self.settings, private, now)
        if private.erased or private.reminded or private.retention_notices:
            self._wake.set()
        if result.total:
            log.info("sweep queued %d reminders", result.total, extra={"rows": result.total, "kinds": result.written})
            self._wake.set()
        return result

    async def _sweep_job(self) -> None:
        try:
            with metrics.timed_sweep():
                result = await self.sweep_once()
            metrics.sweep_rows(result.written)
        except Exception:  # logged, and the next run tries again
            log.exception("reminder sweep failed")

    async def remove_orphans_once(self) -> OrphanResult:
        return await remove_orphans(self.sessions, self.files, self.clock())

    async def _orphan_job(self) -> None:
        try:
            await self.remove_orphans_once()
        except Exception:  # logged, and the next run tries again
            log.exception("orphan file sweep failed")

    async def _tick(self) -> None:
        self._wake.set()

    def start(self) -> None:
        # APScheduler logs every run at INFO; the sender tick runs every few seconds.
        logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
        now = dt.datetime.now(dt.UTC)
        self.scheduler.add_job(
            self._sweep_job, "interval", minutes=self.settings.reminders.sweep_minutes, id="sweep", next_run_time=now
        )
        self.scheduler.add_job(
            self._orphan_job,
            "interval",
            seconds=ORPHAN_SWEEP_EVERY.total_seconds(),
            id="orphans",
            next_run_time=now + dt.timedelta(minutes=5),
        )
        self.scheduler.add_job(self._tick, "interval", seconds=self.settings.sender.poll_seconds, id="sender")
        self.scheduler.start()
        self._sender_task = asyncio.create_task(self.sender.run_forever(self._wake, self._stop), name="sender")

    async def stop(self) -> None:
        """Stop the timer and let the sender finish the row in hand; unsent claimed rows return after the lease."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._stop.set()
        if self._sender_task is not None:
            try:
                await asyncio.wait_for(self._sender_task, timeout=10)
            except TimeoutError:
                self._sender_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sender_task
