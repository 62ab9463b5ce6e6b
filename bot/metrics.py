"""Every Prometheus instrument of the bot, in one place, and the small hooks the runtime calls.

The engine, the sender, the timer and the webhook server each call one function here; nothing else in the
code knows about Prometheus. ``GET /metrics`` (``bot.ops``) renders ``REGISTRY``.

Counters and histograms count what *this process* did; scrape every instance and ``sum`` them. The outbox
gauges are read from the database at scrape time, so every instance reports the same numbers: use ``max``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import Delivery, OutsideWindow, RetryAfter, Unreachable
from bot.messages import Outbound
from storage import outbox

# Our own registry (with the process's CPU, memory and open files): no library's instruments leak in, and
# tests can read exact values.
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

UPDATES = Counter(
    "ocop_updates",
    "Updates handled by the engine, by channel and outcome (answered, duplicate, failed).",
    ["channel", "outcome"],
    registry=REGISTRY,
)
UPDATE_SECONDS = Histogram(
    "ocop_update_seconds",
    "Time to handle one update (file download, transaction, replies built), by channel.",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
OUTBOX = Gauge(
    "ocop_outbox_messages",
    "Outbox rows not yet sent, and those that gave up, by status and kind (read from the database).",
    ["status", "kind"],
    registry=REGISTRY,
)
OUTBOX_OLDEST_DUE = Gauge(
    "ocop_outbox_oldest_due_seconds",
    "How long the oldest pending outbox row the sender should be sending has been due (0: none).",
    registry=REGISTRY,
)
SENDS = Counter(
    "ocop_sends",
    "Sends of outbox messages by channel and result (sent, 429, 403, outside_window, failed).",
    ["channel", "result"],
    registry=REGISTRY,
)
SWEEP_SECONDS = Histogram(
    "ocop_sweep_seconds",
    "Duration of one reminder sweep.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
    registry=REGISTRY,
)
SWEEP_ROWS = Counter("ocop_sweep_rows", "Outbox rows written by the sweep, by kind.", ["kind"], registry=REGISTRY)
SWEEP_FAILURES = Counter("ocop_sweep_failures", "Reminder sweeps that raised an error.", registry=REGISTRY)
SWEEP_LAST_SUCCESS = Gauge(
    "ocop_sweep_last_success_timestamp_seconds",
    "Unix time of the last sweep that finished without error (0: none yet in this process).",
    registry=REGISTRY,
)
WEBHOOK_REJECTIONS = Counter(
    "ocop_webhook_rejections",
    "Webhook requests answered with a 4xx status (bad secret or signature, junk body, replay), by route and status.",
    ["route", "status"],
    registry=REGISTRY,
)

# Outbox statuses worth a gauge: "sent" only grows and says nothing about health.
OUTBOX_STATUSES = ("pending", "claimed", "failed", "undeliverable")
# Labels for the send results, from the errors a ``Delivery`` raises.
SEND_RESULTS = ((RetryAfter, "429"), (Unreachable, "403"), (OutsideWindow, "outside_window"))


# Hooks ------------------------------------------------------------------------------------------------------
@contextmanager
def timed_update(channel: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        UPDATE_SECONDS.labels(channel).observe(time.perf_counter() - started)


def update_outcome(channel: str, outcome: str) -> None:
    UPDATES.labels(channel, outcome).inc()


@contextmanager
def timed_sweep() -> Iterator[None]:
    """Times a sweep; a sweep that raises counts as a failure (and the error goes on)."""
    started = time.perf_counter()
    try:
        yield
    except Exception:
        SWEEP_FAILURES.inc()
        raise
    finally:
        SWEEP_SECONDS.observe(time.perf_counter() - started)
    SWEEP_LAST_SUCCESS.set(time.time())


def sweep_rows(written: dict[str, int]) -> None:
    for kind, count in written.items():
        SWEEP_ROWS.labels(kind).inc(count)


class CountedDelivery:
    """A ``Delivery`` that counts each send's result; the sender wraps every channel's delivery in one."""

    def __init__(self, inner: Delivery) -> None:
        self.inner = inner
        self.channel = inner.channel

    async def deliver(self, chat_id: str, outbounds: Sequence[Outbound]) -> None:
        try:
            await self.inner.deliver(chat_id, outbounds)
        except Exception as error:
            result = next((label for kind, label in SEND_RESULTS if isinstance(error, kind)), "failed")
            SENDS.labels(self.channel, result).inc()
            raise
        SENDS.labels(self.channel, "sent").inc()


def webhook_rejected(route: str, status: int) -> None:
    WEBHOOK_REJECTIONS.labels(route, str(status)).inc()


async def refresh_outbox(sessions: async_sessionmaker[AsyncSession], now: dt.datetime, *, quiet: bool) -> None:
    """Read the outbox's depth into the gauges (called by ``GET /metrics`` before rendering). During quiet
    hours only urgent rows count as due: the others wait for the morning on purpose."""
    async with sessions() as session:
        depth = await outbox.depth(session, OUTBOX_STATUSES)
        oldest = await outbox.oldest_due(session, now, urgent_only=quiet)
    OUTBOX.clear()  # a kind whose rows are all sent must drop to nothing, not keep its last value
    for (status, kind), count in depth.items():
        OUTBOX.labels(status, kind).set(count)
    OUTBOX_OLDEST_DUE.set(0.0 if oldest is None else max(0.0, (now - oldest).total_seconds()))
