"""The sender: drains the outbox through each channel's ``Delivery``, inside the platforms' limits.

```mermaid
stateDiagram-v2
    [*] --> pending: sweep / Context.notify
    pending --> claimed: claim (lease; SKIP LOCKED on PostgreSQL)
    claimed --> claimed: lease ran out (sender died) → another sender takes it over
    claimed --> sent: delivered
    claimed --> pending: network error (back-off 30 s, 60 s, 120 s…), 429 for too long
    claimed --> failed: network error and max attempts reached (last_error kept)
    claimed --> undeliverable: no active identity, or the user blocked the bot (identity made inactive)
```

* Rows are claimed in batches with a lease, and each row is marked in its own short transaction right after
  its send: a sender killed mid-batch leaves only the rows it had not sent as ``claimed``; they are claimed
  again once their lease runs out.
* Two token buckets gate every send: one for the whole bot (≤ 30/s by default) and one per chat (≤ 1/s).
  The buckets hold one token, so sends are spread evenly rather than bursting, and run a few per cent under
  the configured rate so that network jitter never earns a 429 from a rolling-window limiter.
* ``RetryAfter`` (429) pauses every send of this sender for the time asked, then the row is tried again.
* Quiet hours (21:00–07:00 local by default): only urgent rows are claimed; the rest wait for the morning.
* The message is rendered at send time (``bot.notices``) in the recipient's language, for the channel
  identity they used last.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import reminders  # noqa: F401 - registers the reminder templates the sender renders
from bot.delivery import Delivery, DeliveryError, OutsideWindow, RetryAfter, Unreachable
from bot.notices import TEMPLATES, render
from bot.settings import Settings
from storage import outbox
from storage.outbox import Claimed, Reach

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
Sleep = Callable[[float], Awaitable[None]]

# Keep this far under the configured rate: a rolling one-second window on the platform's side sees our sends
# with a few milliseconds of jitter.
RATE_SAFETY = 0.97
# A little more than one token: a worker that wakes a millisecond late (asyncio timers do) does not lose that
# time for good, while any rolling second still sees at most 1.2 + 0.97 × 30 < 31 sends.
GLOBAL_BURST = 1.2
# A 429 that keeps coming back: hand the row back rather than hold a worker forever.
MAX_RETRY_AFTERS = 5


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TokenBucket:
    """``rate`` tokens a second, at most ``capacity`` saved up; ``acquire`` waits for one.

    Uses the monotonic clock (not the injectable wall clock): rate limits are about real seconds.
    """

    def __init__(self, rate: float, capacity: float = 1.0, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = capacity
        self._monotonic = monotonic
        self._tokens = capacity
        self._updated = monotonic()
        self.paused_until = 0.0

    def _refill(self) -> float:
        now = self._monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        return now

    def pause(self, seconds: float) -> None:
        """Nothing passes for ``seconds`` (a 429's ``retry_after``); the bucket starts empty afterwards."""
        self.paused_until = max(self.paused_until, self._monotonic() + seconds)
        self._tokens = 0.0

    async def acquire(self) -> None:
        while True:
            now = self._refill()
            if now < self.paused_until:
                await asyncio.sleep(self.paused_until - now)
                self._tokens = 0.0
                self._updated = self._monotonic()
                continue
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await asyncio.sleep((1.0 - self._tokens) / self.rate)


@dataclass
class SendStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    undeliverable: int = 0
    rate_limited: int = 0
    lost_leases: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def settled(self) -> int:
        return self.sent + self.retried + self.failed + self.undeliverable


class Sender:
    """One sender; several may run at once, in one process or many (they share nothing but the database)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        deliveries: Mapping[str, Delivery],
        *,
        clock: Clock = utc_now,
        worker: str | None = None,
        batch: int = 100,
        concurrency: int = 8,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.deliveries = dict(deliveries)
        self.clock = clock
        self.worker = worker or f"sender-{uuid.uuid4().hex[:12]}"
        self.batch = batch
        self.concurrency = concurrency
        self.global_bucket = TokenBucket(settings.ocop_send_per_second * RATE_SAFETY, GLOBAL_BURST)
        self._chat_buckets: dict[tuple[str, str], TokenBucket] = {}
        self.stats = SendStats()

    # Time ----------------------------------------------------------------------------------------------
    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.ocop_outbox_lease_seconds)

    def quiet_now(self, now: dt.datetime) -> bool:
        local = now.astimezone(ZoneInfo(self.settings.ocop_timezone)).time()
        start, end = self.settings.ocop_quiet_start, self.settings.ocop_quiet_end
        if start == end:
            return False
        if start < end:
            return start <= local < end
        return local >= start or local < end  # across midnight: 21:00–07:00

    def _chat_bucket(self, reach: Reach) -> TokenBucket:
        key = (reach.channel, reach.chat_id)
        bucket = self._chat_buckets.get(key)
        if bucket is None:
            if len(self._chat_buckets) > 50_000:  # a full bucket is no different from a new one
                self._chat_buckets.clear()
            bucket = TokenBucket(self.settings.ocop_send_per_chat_per_second)
            self._chat_buckets[key] = bucket
        return bucket

    # Draining ------------------------------------------------------------------------------------------
    async def run_once(self, *, max_batches: int | None = None) -> SendStats:
        """Claim and send due rows until none is left (or ``max_batches`` batches); returns running totals.

        The next batch is claimed while the current one is still being sent, so the rate limit, not the
        database round trips between batches, sets the pace.
        """
        queue: asyncio.Queue[Claimed | None] = asyncio.Queue(maxsize=self.batch)
        reaches: dict[int, Reach] = {}
        workers_count = max(1, self.concurrency)

        async def feed() -> None:
            batches = 0
            try:
                while max_batches is None or batches < max_batches:
                    claimed = await self._claim()
                    if not claimed:
                        break
                    batches += 1
                    async with self.sessions() as session:
                        reaches.update(
                            await outbox.reach(session, {row.user_id for row in claimed}, self.deliveries.keys())
                        )
                    for row in claimed:
                        await queue.put(row)
            finally:
                for _ in range(workers_count):
                    await queue.put(None)

        async def work() -> None:
            while (row := await queue.get()) is not None:
                await self._send_one(row, reaches.get(row.user_id))

        tasks = [asyncio.create_task(feed()), *(asyncio.create_task(work()) for _ in range(workers_count))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:  # cancelled from outside (shutdown, a crash test): unsent rows stay claimed
                task.cancel()
        return self.stats

    async def run_forever(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        """Drain whenever woken (the scheduler's tick, a sweep that wrote rows) until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # a database hiccup must not end the loop; the next tick tries again
                log.exception("sender pass failed")
            wake.clear()
            waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    async def _claim(self) -> list[Claimed]:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            return await outbox.claim(
                session,
                worker=self.worker,
                now=now,
                lease=self.lease,
                limit=self.batch,
                urgent_only=self.quiet_now(now),
            )

    async def _send_one(self, row: Claimed, reach: Reach | None) -> None:
        if reach is None:
            await self._settle_undeliverable(row, None, "no active channel identity")
            return
        if row.kind not in TEMPLATES:
            await self._fail(row, f"unknown notice kind {row.kind!r}")
            return
        try:
            message = render(row.kind, row.params, reach.locale)
        except Exception as error:  # a template bug: visible as failed, never retried in a loop
            log.exception("rendering %s failed", row.kind)
            await self._fail(row, f"render: {error!r}")
            return
        delivery = self.deliveries[reach.channel]
        chat_bucket = self._chat_bucket(reach)
        for _attempt in range(MAX_RETRY_AFTERS):
            await chat_bucket.acquire()
            await self.global_bucket.acquire()
            try:
                await delivery.deliver(reach.chat_id, [message])
            except RetryAfter as error:
                self.stats.rate_limited += 1
                log.warning("%s asks to wait %s s", reach.channel, error.seconds)
                self.global_bucket.pause(error.seconds)
                continue
            except Unreachable as error:
                async with self.sessions() as session, session.begin():
                    await outbox.deactivate_identity(session, reach.identity_id)
                await self._settle_undeliverable(row, reach.channel, f"unreachable: {error}")
                return
            except OutsideWindow as error:
                await self._settle_undeliverable(row, reach.channel, f"outside window: {error}")
                return
            except DeliveryError as error:
                await self._retry_or_fail(row, f"{type(error).__name__}: {error}")
                return
            await self._settle(
                row, "sent", lambda s: outbox.mark_sent(s, row.id, self.worker, channel=reach.channel, now=self.clock())
            )
            return
        async with self.sessions() as session, session.begin():
            await outbox.release(session, row.id, self.worker, not_before=self.clock())

    # Settling --------------------------------------------------------------------------------------------
    async def _settle(self, row: Claimed, outcome: str, change: Callable[[AsyncSession], Awaitable[bool]]) -> None:
        async with self.sessions() as session, session.begin():
            kept = await change(session)
        if not kept:
            self.stats.lost_leases += 1
            log.warning("outbox row %s: lease lost before it was marked %s", row.id, outcome)
            return
        if outcome == "sent":
            self.stats.sent += 1
        elif outcome == "retry":
            self.stats.retried += 1
        elif outcome == "failed":
            self.stats.failed += 1
        else:
            self.stats.undeliverable += 1

    async def _settle_undeliverable(self, row: Claimed, channel: str | None, error: str) -> None:
        await self._settle(
            row,
            "undeliverable",
            lambda s: outbox.mark_undeliverable(s, row.id, self.worker, channel=channel, error=error),
        )

    async def _fail(self, row: Claimed, error: str) -> None:
        await self._settle(
            row, "failed", lambda s: outbox.mark_failed(s, row.id, self.worker, attempts=row.attempts + 1, error=error)
        )

    async def _retry_or_fail(self, row: Claimed, error: str) -> None:
        attempts = row.attempts + 1
        if attempts >= self.settings.ocop_outbox_max_attempts:
            log.warning("outbox row %s failed for good after %d attempts: %s", row.id, attempts, error)
            await self._fail(row, error)
            return
        delay = dt.timedelta(seconds=self.settings.ocop_outbox_retry_base_seconds * 2 ** (attempts - 1))
        not_before = self.clock() + delay
        await self._settle(
            row,
            "retry",
            lambda s: outbox.mark_retry(s, row.id, self.worker, attempts=attempts, not_before=not_before, error=error),
        )
