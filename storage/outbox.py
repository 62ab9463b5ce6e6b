"""The outbox: notifications written in the same transaction as the change that causes them, sent later
by the sender (``bot.sender``) under the platforms' limits. A unique dedupe key makes every writer
idempotent: the same reminder or notice is stored once however often it is written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_of, insert_ignore
from storage.models import ChannelIdentity, OutboxMessage, User


async def enqueue(
    session: AsyncSession,
    *,
    user_id: int,
    kind: str,
    params: dict[str, Any],
    dedupe_key: str,
    not_before: dt.datetime,
    urgent: bool = False,
) -> bool:
    """Queue one message; False when a message with this dedupe key was queued before."""
    statement = insert_ignore(
        OutboxMessage.__table__,  # type: ignore[arg-type]
        {
            "dedupe_key": dedupe_key,
            "user_id": user_id,
            "kind": kind,
            "params": params,
            "urgent": urgent,
            "status": PENDING,
            "not_before": not_before,
            "attempts": 0,
            "created_at": not_before,
        },
        dialect_of(session),
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


# Claiming and settling (used by ``bot.sender``) -------------------------------------------------------------

PENDING, CLAIMED, SENT, FAILED, UNDELIVERABLE = "pending", "claimed", "sent", "failed", "undeliverable"


@dataclass(frozen=True, slots=True)
class Claimed:
    """One claimed row, detached from the session: the sender works on it outside any transaction."""

    id: int
    user_id: int
    kind: str
    params: dict[str, Any]
    urgent: bool
    attempts: int


@dataclass(frozen=True, slots=True)
class Family:
    """Kinds whose due rows for one user are claimed, sent and settled together, as one message (a digest).

    ``urgent``: whether urgent rows of these kinds join the digest too; when False they go out alone.
    """

    name: str
    kinds: frozenset[str]
    urgent: bool = False

    def admits(self, kind: str, urgent: bool) -> bool:
        return kind in self.kinds and (self.urgent or not urgent)


Bundle = list[Claimed]
"""Rows sent as one message: a single row, or the rows of one user's digest (sorted by id)."""


@dataclass(frozen=True, slots=True)
class Reach:
    """Where a user is reachable: the active identity they used last, and their language."""

    identity_id: int
    channel: str
    chat_id: str
    locale: str


def family_of(kind: str, urgent: bool, families: Sequence[Family]) -> Family | None:
    return next((f for f in families if f.admits(kind, urgent)), None)


def _due(now: dt.datetime) -> ColumnElement[bool]:
    table = OutboxMessage
    return or_(
        and_(table.status == PENDING, table.not_before <= now),
        and_(table.status == CLAIMED, table.claimed_until < now),
    )


async def claim(
    session: AsyncSession,
    *,
    worker: str,
    now: dt.datetime,
    lease: dt.timedelta,
    limit: int,
    urgent_only: bool = False,
    families: Sequence[Family] = (),
    max_together: int = 50,
    user_ids: Collection[int] | None = None,
) -> list[Bundle]:
    """Take up to ``limit`` due rows for ``worker`` until ``now + lease``, plus their digest siblings.

    Due means pending with ``not_before`` reached, or claimed by a worker whose lease ran out (it crashed or
    hung): such a row is taken over. On PostgreSQL the candidate rows are locked ``FOR UPDATE SKIP LOCKED``, so
    two senders claiming at once take different rows without waiting for each other; SQLite has a single
    writer (``BEGIN IMMEDIATE``), which serialises claims by itself.

    A candidate whose kind belongs to one of ``families`` brings along every other due row of the same user
    and family (at most ``max_together`` in one bundle, oldest first; the rest wait for the next claim): they
    are claimed in this transaction with one lease and returned as one bundle, to be sent as one message.
    Rows stay one per reminder, so deduplication and idempotence are untouched; a sender that dies after
    claiming a digest leaves all of its rows claimed, and once the lease runs out the next claim takes them
    over together and the whole digest is sent again (at least once, as for a single row).

    ``user_ids``: only rows for these users (the console chat delivers to the person at its terminal only).
    """
    table = OutboxMessage
    due = _due(now)
    candidates = select(table.id, table.user_id, table.kind, table.urgent, table.not_before).where(due)
    if urgent_only:
        candidates = candidates.where(table.urgent.is_(True))
    if user_ids is not None:
        candidates = candidates.where(table.user_id.in_(list(user_ids)))
    candidates = candidates.order_by(table.not_before, table.id).limit(limit).with_for_update(skip_locked=True)
    found = list((await session.execute(candidates)).all())
    if not found:
        return []
    singles: list[int] = []
    groups: dict[tuple[int, str], list[tuple[Any, int]]] = {}
    for row in found:
        family = family_of(row.kind, bool(row.urgent), families)
        if family is None:
            singles.append(row.id)
        else:
            groups.setdefault((row.user_id, family.name), []).append((row.not_before, row.id))
    if groups:
        await _add_siblings(session, groups, families, due, urgent_only, {row.id for row in found})
    ids = [*singles, *(row_id for members in groups.values() for _at, row_id in sorted(members)[:max_together])]
    rows = await session.execute(
        update(table)
        .where(table.id.in_(ids), due)
        .values(status=CLAIMED, claimed_by=worker, claimed_until=now + lease)
        .returning(table.id, table.user_id, table.kind, table.params, table.urgent, table.attempts)
        .execution_options(synchronize_session=False)
    )
    claimed = {r.id: Claimed(r.id, r.user_id, r.kind, dict(r.params or {}), bool(r.urgent), r.attempts) for r in rows}
    bundles: list[Bundle] = [[claimed[i]] for i in singles if i in claimed]
    for members in groups.values():
        bundle = sorted((claimed[i] for _at, i in sorted(members)[:max_together] if i in claimed), key=lambda c: c.id)
        if bundle:
            bundles.append(bundle)
    return sorted(bundles, key=lambda b: b[0].id)


async def _add_siblings(
    session: AsyncSession,
    groups: dict[tuple[int, str], list[tuple[Any, int]]],
    families: Sequence[Family],
    due: ColumnElement[bool],
    urgent_only: bool,
    taken: set[int],
) -> None:
    """Add to each (user, family) group the other due rows of that user and family (one query for all)."""
    table = OutboxMessage
    names = {name for _user, name in groups}
    kinds = sorted({kind for f in families if f.name in names for kind in f.kinds})
    siblings = select(table.id, table.user_id, table.kind, table.urgent, table.not_before).where(
        due, table.user_id.in_(sorted({user for user, _name in groups})), table.kind.in_(kinds)
    )
    if urgent_only:
        siblings = siblings.where(table.urgent.is_(True))
    siblings = siblings.order_by(table.not_before, table.id).with_for_update(skip_locked=True)
    for row in await session.execute(siblings):
        family = family_of(row.kind, bool(row.urgent), families)
        members = groups.get((row.user_id, family.name)) if family is not None else None
        if members is not None and row.id not in taken:
            members.append((row.not_before, row.id))
            taken.add(row.id)


async def _settle(session: AsyncSession, row_ids: Collection[int], worker: str, **values: Any) -> int:
    """Change the rows this worker holds; returns how many it still held (a lease lost meanwhile: fewer)."""
    result = await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(list(row_ids)), OutboxMessage.status == CLAIMED, OutboxMessage.claimed_by == worker)
        .values(claimed_by=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def mark_sent(
    session: AsyncSession, row_ids: Collection[int], worker: str, *, channel: str, now: dt.datetime
) -> int:
    return await _settle(session, row_ids, worker, status=SENT, channel=channel, sent_at=now, last_error=None)


async def mark_retry(
    session: AsyncSession, row_ids: Collection[int], worker: str, *, attempts: int, not_before: dt.datetime, error: str
) -> int:
    """Back to pending, to be tried again from ``not_before``."""
    return await _settle(
        session, row_ids, worker, status=PENDING, attempts=attempts, not_before=not_before, last_error=error[:2000]
    )


async def mark_failed(
    session: AsyncSession, row_ids: Collection[int], worker: str, *, attempts: int, error: str
) -> int:
    """Given up after too many attempts: stays visible as ``failed`` with the last error."""
    return await _settle(session, row_ids, worker, status=FAILED, attempts=attempts, last_error=error[:2000])


async def mark_undeliverable(
    session: AsyncSession, row_ids: Collection[int], worker: str, *, channel: str | None, error: str
) -> int:
    """Nobody to send it to (no active identity, the bot was blocked): never retried."""
    return await _settle(session, row_ids, worker, status=UNDELIVERABLE, channel=channel, last_error=error[:2000])


async def release(session: AsyncSession, row_ids: Collection[int], worker: str, *, not_before: dt.datetime) -> int:
    """Hand claimed rows back untouched (shutting down, rate limited for too long)."""
    return await _settle(session, row_ids, worker, status=PENDING, not_before=not_before)


async def release_lease(
    session: AsyncSession, worker: str, claimed_until: dt.datetime, *, not_before: dt.datetime
) -> int:
    """Hand back every row still claimed by ``worker`` under the lease ending at ``claimed_until`` (one claim's
    rows: a claim whose commit went unanswered, so nothing of it was sent)."""
    table = OutboxMessage
    result = await session.execute(
        update(table)
        .where(table.status == CLAIMED, table.claimed_by == worker, table.claimed_until == claimed_until)
        .values(status=PENDING, claimed_by=None, claimed_until=None, not_before=not_before)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def reach(session: AsyncSession, user_ids: Collection[int], channels: Collection[str]) -> dict[int, Reach]:
    """For each user, the active identity on one of ``channels`` they wrote from last (newest first)."""
    if not user_ids or not channels:
        return {}
    rows = await session.execute(
        select(
            ChannelIdentity.id, ChannelIdentity.user_id, ChannelIdentity.channel, ChannelIdentity.chat_id, User.locale
        )
        .join(User, User.id == ChannelIdentity.user_id)
        .where(
            ChannelIdentity.user_id.in_(user_ids),
            ChannelIdentity.active.is_(True),
            ChannelIdentity.channel.in_(channels),
            ChannelIdentity.chat_id.is_not(None),
        )
        .order_by(ChannelIdentity.user_id, ChannelIdentity.last_seen_at.desc().nulls_last(), ChannelIdentity.id.desc())
    )
    found: dict[int, Reach] = {}
    for identity_id, user_id, channel, chat_id, locale in rows:
        found.setdefault(user_id, Reach(identity_id, channel, str(chat_id), locale or "vi"))
    return found


# A notice's parameter naming the one account it must go to (e.g. the app where a link code was typed), when
# "the app the user wrote from last" would be the wrong one.
TO_IDENTITY = "to_identity"


async def targeted_reaches(
    session: AsyncSession, bundles: Sequence[Bundle], channels: Collection[str]
) -> dict[int, Reach]:
    """For single-row bundles addressed to one account (``TO_IDENTITY``): row id → that account, when it is
    active on one of ``channels``. Rows whose account is gone fall back to the user's usual reach."""
    wanted = {
        bundle[0].id: int(bundle[0].params[TO_IDENTITY])
        for bundle in bundles
        if len(bundle) == 1 and isinstance(bundle[0].params.get(TO_IDENTITY), int)
    }
    if not wanted or not channels:
        return {}
    rows = await session.execute(
        select(ChannelIdentity.id, ChannelIdentity.channel, ChannelIdentity.chat_id, User.locale)
        .join(User, User.id == ChannelIdentity.user_id)
        .where(
            ChannelIdentity.id.in_(set(wanted.values())),
            ChannelIdentity.active.is_(True),
            ChannelIdentity.channel.in_(channels),
            ChannelIdentity.chat_id.is_not(None),
        )
    )
    found = {row.id: Reach(row.id, row.channel, str(row.chat_id), row.locale or "vi") for row in rows}
    return {row_id: found[identity_id] for row_id, identity_id in wanted.items() if identity_id in found}


async def deactivate_identity(session: AsyncSession, identity_id: int) -> None:
    """The platform says this account cannot be reached (blocked the bot): stop trying it until they write."""
    await session.execute(
        update(ChannelIdentity)
        .where(ChannelIdentity.id == identity_id)
        .values(active=False)
        .execution_options(synchronize_session=False)
    )


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    return {status: int(count) for status, count in rows}


async def depth(session: AsyncSession, statuses: Collection[str]) -> dict[tuple[str, str], int]:
    """How many rows of each (status, kind) there are, for the given statuses (the metrics' outbox gauges)."""
    rows = await session.execute(
        select(OutboxMessage.status, OutboxMessage.kind, func.count())
        .where(OutboxMessage.status.in_(statuses))
        .group_by(OutboxMessage.status, OutboxMessage.kind)
    )
    return {(status, kind): int(count) for status, kind, count in rows}


async def oldest_due(session: AsyncSession, now: dt.datetime, *, urgent_only: bool) -> dt.datetime | None:
    """When the longest-waiting pending row the sender would send now became due (aware UTC), or None."""
    due = [OutboxMessage.status == PENDING, OutboxMessage.not_before <= now]
    if urgent_only:
        due.append(OutboxMessage.urgent.is_(True))
    oldest = await session.scalar(select(func.min(OutboxMessage.not_before)).where(*due))
    if oldest is not None and oldest.tzinfo is None:  # SQLite hands back naive UTC
        oldest = oldest.replace(tzinfo=dt.UTC)
    return oldest
