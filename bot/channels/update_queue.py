"""The one queue between our webhook routes and the engine, shared by every channel on the server.

A route checks a request, puts the event here and answers at once (Telegram and Zalo both want a quick
answer and redeliver when they do not get one). The queue then runs the work:

* per user, in arrival order: two quick messages of one user never race one step, and replies come out in
  order; different users run side by side;
* at most ``concurrency`` jobs at a time (each holds a database connection while it runs);
* bounded: at most ``limit`` events waiting or running in all, and ``per_key`` for one user. When it is full
  ``put`` refuses and the route answers **503 with ``Retry-After``** instead of taking the event: the event
  stays with the platform, which delivers it again later (Telegram retries any non-2xx answer; Zalo retries
  too). Refusing is better than waiting: a route that waits holds the platform's connection open until it
  times out, and Telegram then slows every delivery down, not only the refused one.

What a refused event costs: a redelivery a little later. What an accepted one promises: it runs in this
process (an event accepted and then lost in a crash is the one case the platform cannot redeliver; the
ledger of processed updates makes every redelivery otherwise harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[None]]


class KeyedQueue:
    """Jobs with the same key run one after another in arrival order; different keys run concurrently,
    at most ``concurrency`` at a time; at most ``limit`` jobs (``per_key`` of one key) are held at once."""

    def __init__(self, concurrency: int = 32, *, limit: int = 1000, per_key: int = 50) -> None:
        self.limit = limit
        self.per_key = per_key
        self._pending: dict[Hashable, deque[Job]] = {}
        self._workers: dict[Hashable, asyncio.Task[None]] = {}
        self._slots = asyncio.Semaphore(concurrency)
        self._held = 0  # waiting or running
        self._idle = asyncio.Event()
        self._idle.set()
        self.refused = 0

    def __len__(self) -> int:
        return self._held

    def put(self, key: Hashable, job: Job) -> bool:
        """Take ``job``; False (and nothing queued) when the queue or this key's share of it is full."""
        waiting = self._pending.get(key)
        if self._held >= self.limit or (waiting is not None and len(waiting) >= self.per_key):
            self.refused += 1
            return False
        self._pending.setdefault(key, deque()).append(job)
        self._held += 1
        self._idle.clear()
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._drain(key))
        return True

    async def _drain(self, key: Hashable) -> None:
        try:
            while self._pending.get(key):
                job = self._pending[key].popleft()
                try:
                    async with self._slots:
                        await job()
                except Exception:  # a job's failure must not stop the user's later jobs
                    log.exception("queued job failed")
                finally:
                    self._held -= 1
        finally:
            self._held -= len(self._pending.pop(key, ()))  # cancelled at shutdown: the rest is dropped
            self._workers.pop(key, None)
            if not self._workers:
                self._idle.set()

    async def join(self) -> None:
        """Wait until every queued job has run (shutdown, tests)."""
        await self._idle.wait()

    async def close(self, within: float = 10.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.join(), within)
        for task in list(self._workers.values()):
            task.cancel()
