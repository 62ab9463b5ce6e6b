"""Riding out a database that goes away for a moment (a PostgreSQL restart, a failover).

The pool checks a connection that sat idle before use (``storage.db``), and a disconnect seen on any connection
invalidates the whole pool, so once the server is back the next transaction gets a fresh connection by itself.
What is left is the work that was running when it went: a transaction cut off mid-way was rolled back by the
server, so running it again from the start is safe. ``retrying`` does that with a short back-off for as long as
the caller can wait; after that the error goes up, and the caller says something useful (the engine: "try
again in a few minutes").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from storage.db import is_disconnect

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_WAIT_S = 0.2
LONGEST_WAIT_S = 2.0


async def retrying(work: Callable[[], Awaitable[T]], *, within: float, what: str) -> T:
    """``work()``, run again while the database is unreachable, for at most ``within`` seconds in all."""
    deadline = time.monotonic() + within
    wait = FIRST_WAIT_S
    while True:
        try:
            return await work()
        except Exception as error:
            if not is_disconnect(error) or time.monotonic() + wait > deadline:
                raise
            log.warning("%s: database unreachable (%s); trying again in %.1f s", what, type(error).__name__, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, LONGEST_WAIT_S)
