"""The sender: drains the outbox through each channel's ``Delivery``, inside the platforms' limits.

```mermaid
stateDiagram-v2
    [*] --> pending: sweep / Context.notify
    pending --> claimed: claim (lease; SKIP LOCKED on PostgreSQL)
    claimed --> claimed: lease ran out (sender died) → another sender takes it over
    claimed --> sent: delivered (a digest: all its rows at once)
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
* Digests: a due row whose kind is in a family of ``bot.reminders.DIGESTS`` is claimed together with the
  user's other due rows of that family (``outbox.claim``), rendered as one message (a title and one line per
  row) and all its rows are marked together: sent, back to pending, failed or undeliverable. It is one send
  for the chat's rate limit (and one per part it is split into for the bot-wide one). A sender that dies
  after claiming a digest leaves all of its rows claimed: after the lease another sender claims them again,
  together, and sends the whole digest once more. Urgent rows outside such a family (the producer's legal
  certificate notices) always go alone, and at night only urgent rows are claimed, siblings included.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import reminders  # also registers the reminder templates the sender renders
from bot.clock import Clock, utc_now
from bot.delivery import Delivery, DeliveryError, OutsideWindow, RetryAfter, Unreachable
from bot.i18n import has_buttons
from bot.messages import NUMBERED_MENU_CHANNELS, Outbound, Text
from bot.metrics import CountedDelivery
from bot.notices import render
from bot.resilience import retrying
from bot.settings import Settings
from bot.text import split_message
from bot.wiring import TEMPLATES
from storage import outbox
from storage.db import is_disconnect
from storage.outbox import Bundle, Reach

log = logging.getLogger(__name__)


# Keep this far under the configured rate: a rolling one-second window on the platform's side sees our sends
# with a few milliseconds of jitter.
RATE_SAFETY = 0.97
# A little more than one token: a worker that wakes a millisecond late (asyncio timers do) does not lose that
# time for good, while any rolling second still sees at most 1.2 + 0.97 × 30 < 31 sends.
GLOBAL_BURST = 1.2
# A 429 that keeps coming back: hand the row back rather than hold a worker forever.
MAX_RETRY_AFTERS = 5
# The shortest text a channel sends in one piece (Zalo; Telegram takes 4,096): how a long digest is counted
# against the bot-wide rate.
PART_CHARS = 2000
# The digest families of ``bot.reminders.DIGESTS`` as the outbox claims them.
FAMILIES = tuple(
    outbox.Family(name, frozenset(digest.lines), digest.urgent) for name, digest in reminders.DIGESTS.items()
)


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
    sent: int = 0  # rows; ``messages`` counts the sends (a digest of 39 rows is one)
    messages: int = 0
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
        only_users: Collection[int] | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.deliveries: dict[str, Delivery] = {name: CountedDelivery(d) for name, d in deliveries.items()}
        self.clock = clock
        self.worker = worker or f"sender-{uuid.uuid4().hex[:12]}"
        self.batch = batch
        self.concurrency = concurrency
        self.only_users = only_users  # None: everyone's rows; the console chat sends only its own user's
        self.global_bucket = TokenBucket(settings.sender.per_second * RATE_SAFETY, GLOBAL_BURST)
        self._chat_buckets: dict[tuple[str, str], TokenBucket] = {}
        self.stats = SendStats()
        # Leases of claims whose commit the database may have made without our hearing of it (the connection
        # dropped on COMMIT). Nothing of theirs was sent, so the next pass hands them back at once rather than
        # leaving them to wait out the lease.
        self._uncertain_claims: list[dt.datetime] = []

    # Time ----------------------------------------------------------------------------------------------
    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.sender.lease_seconds)

    def quiet_now(self, now: dt.datetime) -> bool:
        return quiet_hours(self.settings, now)

    def _chat_bucket(self, reach: Reach) -> TokenBucket:
        key = (reach.channel, reach.chat_id)
        bucket = self._chat_buckets.get(key)
        if bucket is None:
            if len(self._chat_buckets) > 50_000:  # a full bucket is no different from a new one
                self._chat_buckets.clear()
            bucket = TokenBucket(self.settings.sender.per_chat_per_second)
            self._chat_buckets[key] = bucket
        return bucket

    # Draining ------------------------------------------------------------------------------------------
    async def run_once(self, *, max_batches: int | None = None) -> SendStats:
        """Claim and send due rows until none is left (or ``max_batches`` batches); returns running totals.

        The next batch is claimed while the current one is still being sent, so the rate limit, not the
        database round trips between batches, sets the pace.
        """
        queue: asyncio.Queue[Bundle | None] = asyncio.Queue(maxsize=self.batch)
        reaches: dict[int, Reach] = {}
        targeted: dict[int, Reach] = {}  # row id → the one account a notice is addressed to
        workers_count = max(1, self.concurrency)

        async def feed() -> None:
            batches = 0
            try:
                await self._release_uncertain_claims()
                while max_batches is None or batches < max_batches:
                    claimed, found, addressed = await self._claim()
                    if not claimed:
                        break
                    batches += 1
                    reaches.update(found)
                    targeted.update(addressed)
                    for bundle in claimed:
                        await queue.put(bundle)
            except Exception as error:
                if not is_disconnect(error):
                    raise
                # The database went away: send what is in hand; the next pass claims the rest.
                log.warning("sender: database unreachable while claiming (%s)", type(error).__name__)
            finally:
                for _ in range(workers_count):
                    await queue.put(None)

        async def work() -> None:
            while (bundle := await queue.get()) is not None:
                try:
                    await self._send_one(bundle, targeted.get(bundle[0].id) or reaches.get(bundle[0].user_id))
                except Exception:  # rows stay claimed: after the lease they are claimed and sent again
                    log.exception("outbox rows %s: sending failed", _ids(bundle))

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

    async def _claim(self) -> tuple[list[Bundle], dict[int, Reach], dict[int, Reach]]:
        """Claim a batch and look up where each of its rows goes, in one transaction: if the database goes
        away in between, the claim is rolled back rather than left claimed with nobody sending it."""
        now = self.clock()
        try:
            async with self.sessions() as session, session.begin():
                bundles = await outbox.claim(
                    session,
                    worker=self.worker,
                    now=now,
                    lease=self.lease,
                    limit=self.batch,
                    urgent_only=self.quiet_now(now),
                    families=FAMILIES,
                    max_together=reminders.DIGEST_MAX_ITEMS,
                    user_ids=self.only_users,
                )
                if not bundles:
                    return [], {}, {}
                channels = self.deliveries.keys()
                reaches = await outbox.reach(session, {b[0].user_id for b in bundles}, channels)
                targeted = await outbox.targeted_reaches(session, bundles, channels)
        except Exception as error:
            if is_disconnect(error):
                self._uncertain_claims.append(now + self.lease)
            raise
        return bundles, reaches, targeted

    async def _release_uncertain_claims(self) -> None:
        while self._uncertain_claims:
            until = self._uncertain_claims[0]
            async with self.sessions() as session, session.begin():
                released = await outbox.release_lease(session, self.worker, until, not_before=self.clock())
            if released:
                log.warning("sender: %d row(s) of a claim interrupted on commit handed back", released)
            self._uncertain_claims.pop(0)

    @staticmethod
    def _render(bundle: Bundle, locale: str) -> Outbound:
        """A single row exactly as its own template writes it; several rows as their family's digest."""
        if len(bundle) == 1:
            return render(bundle[0].kind, bundle[0].params, locale)
        family = outbox.family_of(bundle[0].kind, bundle[0].urgent, FAMILIES)
        if family is None:  # claim() only bundles rows of one family
            raise ValueError(f"rows {[row.id for row in bundle]} share no digest family")
        return reminders.render_digest(family.name, [(row.kind, row.params) for row in bundle], locale)

    async def _send_one(self, bundle: Bundle, reach: Reach | None) -> None:
        if reach is None:
            await self._settle_undeliverable(bundle, None, "no active channel identity")
            return
        unknown = sorted({row.kind for row in bundle if row.kind not in TEMPLATES})
        if unknown:
            await self._fail(bundle, f"unknown notice kind {unknown[0]!r}")
            return
        buttons = has_buttons.set(reach.channel not in NUMBERED_MENU_CHANNELS)  # "bấm" or "gõ số"
        try:
            message = self._render(bundle, reach.locale)
        except Exception as error:  # a template bug: visible as failed, never retried in a loop
            log.exception("rendering %s failed", sorted({row.kind for row in bundle}))
            await self._fail(bundle, f"render: {error!r}")
            return
        finally:
            has_buttons.reset(buttons)
        delivery = self.deliveries[reach.channel]
        chat_bucket = self._chat_bucket(reach)
        for _attempt in range(MAX_RETRY_AFTERS):
            # A digest is one send for the chat; for the bot-wide limit it counts once per part the channel
            # splits it into (estimated at the shortest channel's limit: over-counting only slows a little).
            await chat_bucket.acquire()
            for _part in range(_parts(message)):
                await self.global_bucket.acquire()
            try:
                await delivery.deliver(reach.chat_id, [message])
            except RetryAfter as error:
                self.stats.rate_limited += 1
                log.warning(
                    "%s asks to wait %s s",
                    reach.channel,
                    error.seconds,
                    extra={"channel": reach.channel, "retry_after": error.seconds},
                )
                self.global_bucket.pause(error.seconds)
                continue
            except Unreachable as error:
                async with self.sessions() as session, session.begin():
                    await outbox.deactivate_identity(session, reach.identity_id)
                await self._settle_undeliverable(bundle, reach.channel, f"unreachable: {error}")
                return
            except OutsideWindow as error:
                await self._settle_undeliverable(bundle, reach.channel, f"outside window: {error}")
                return
            except DeliveryError as error:
                await self._retry_or_fail(bundle, f"{type(error).__name__}: {error}")
                return
            self.stats.messages += 1
            await self._settle_sent(bundle, reach.channel)
            return
        async with self.sessions() as session, session.begin():
            await outbox.release(session, _ids(bundle), self.worker, not_before=self.clock())

    # Settling (all rows of a bundle together) ------------------------------------------------------------
    async def _settle(self, bundle: Bundle, outcome: str, change: Callable[[AsyncSession], Awaitable[int]]) -> None:
        """Record a bundle's outcome. A database restart must not turn a message already sent into one sent
        again, so the write waits for the database for as long as the lease runs (after that another sender
        may have taken the rows over, and the write changes nothing: the ``claimed_by`` check)."""

        async def write() -> int:
            async with self.sessions() as session, session.begin():
                return await change(session)

        kept = await retrying(write, within=float(self.settings.sender.lease_seconds), what="outbox settle")
        lost = len(bundle) - kept
        if lost:
            self.stats.lost_leases += lost
            log.warning("outbox rows %s: %d lease(s) lost before marked %s", _ids(bundle), lost, outcome)
        if outcome == "sent":
            self.stats.sent += kept
        elif outcome == "retry":
            self.stats.retried += kept
        elif outcome == "failed":
            self.stats.failed += kept
        else:
            self.stats.undeliverable += kept

    async def _settle_sent(self, bundle: Bundle, channel: str) -> None:
        ids, now = _ids(bundle), self.clock()
        await self._settle(bundle, "sent", lambda s: outbox.mark_sent(s, ids, self.worker, channel=channel, now=now))

    async def _settle_undeliverable(self, bundle: Bundle, channel: str | None, error: str) -> None:
        ids = _ids(bundle)
        await self._settle(
            bundle,
            "undeliverable",
            lambda s: outbox.mark_undeliverable(s, ids, self.worker, channel=channel, error=error),
        )

    async def _fail(self, bundle: Bundle, error: str) -> None:
        ids, attempts = _ids(bundle), _attempts(bundle) + 1
        await self._settle(
            bundle, "failed", lambda s: outbox.mark_failed(s, ids, self.worker, attempts=attempts, error=error)
        )

    async def _retry_or_fail(self, bundle: Bundle, error: str) -> None:
        """Back off; a digest's rows share one count of attempts from now on (the most any of them had)."""
        attempts = _attempts(bundle) + 1
        if attempts >= self.settings.sender.max_attempts:
            log.warning("outbox rows %s failed for good after %d attempts: %s", _ids(bundle), attempts, error)
            await self._fail(bundle, error)
            return
        delay = dt.timedelta(seconds=self.settings.sender.retry_base_seconds * 2 ** (attempts - 1))
        not_before = self.clock() + delay
        ids = _ids(bundle)
        await self._settle(
            bundle,
            "retry",
            lambda s: outbox.mark_retry(s, ids, self.worker, attempts=attempts, not_before=not_before, error=error),
        )


def quiet_hours(settings: Settings, now: dt.datetime) -> bool:
    """Inside the quiet hours, when only urgent rows are sent (also what the outbox metrics count as due)."""
    local = now.astimezone(ZoneInfo(settings.ocop.timezone)).time()
    start, end = settings.reminders.quiet_start, settings.reminders.quiet_end
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # across midnight: 21:00–07:00


def _ids(bundle: Bundle) -> list[int]:
    return [row.id for row in bundle]


def _attempts(bundle: Bundle) -> int:
    return max(row.attempts for row in bundle)


def _parts(message: Outbound) -> int:
    text = message.text if isinstance(message, Text) else ""
    return max(1, len(split_message(text, PART_CHARS)))
