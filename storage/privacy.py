"""Consent records and deletion requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import preloaded
from storage.models import ConsentRecord, PrivacyRequest, User

OPEN = "open"
HELD = "held"
ERASED = "erased"
DONE = "done"
CANCELLED = "cancelled"
PENDING = (OPEN, HELD)  # not carried out yet: what admins see


async def record_consent(
    session: AsyncSession, user: User, *, version: str, decision: str, channel: str, now: dt.datetime
) -> None:
    session.add(ConsentRecord(user_id=user.id, version=version, decision=decision, channel=channel, at=now))
    await session.flush()


async def pending_request_of(session: AsyncSession, user_id: int) -> PrivacyRequest | None:
    found, pending = preloaded.known(session, user_id, preloaded.PRIVACY_PENDING)
    if found and not pending:  # the update's load saw none (``storage.preloaded``): the privacy gate's usual case
        return None
    return await session.scalar(
        select(PrivacyRequest)
        .where(PrivacyRequest.user_id == user_id, PrivacyRequest.status.in_(PENDING))
        .order_by(PrivacyRequest.id)
        .limit(1)
    )


async def create_request(
    session: AsyncSession, user_id: int, *, source: str, now: dt.datetime, deadline: dt.timedelta
) -> PrivacyRequest:
    """A deletion request; a second one while the first is pending returns the first (one receipt, one date)."""
    found = await pending_request_of(session, user_id)
    if found is not None:
        return found
    request = PrivacyRequest(user_id=user_id, kind="delete", source=source, requested_at=now, due_at=now + deadline)
    session.add(request)
    await session.flush()
    return request


async def pending_requests(session: AsyncSession) -> Sequence[PrivacyRequest]:
    rows = await session.scalars(
        select(PrivacyRequest).where(PrivacyRequest.status.in_(PENDING)).order_by(PrivacyRequest.due_at)
    )
    return rows.all()


async def request_by_id(session: AsyncSession, request_id: int, *, lock: bool = False) -> PrivacyRequest | None:
    query = select(PrivacyRequest).where(PrivacyRequest.id == request_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def due_requests(session: AsyncSession, made_before: dt.datetime) -> Sequence[PrivacyRequest]:
    """Open requests made before ``made_before``, locked so two sweeps never carry out one request twice."""
    rows = await session.scalars(
        select(PrivacyRequest)
        .where(PrivacyRequest.status == OPEN, PrivacyRequest.requested_at <= made_before)
        .order_by(PrivacyRequest.id)
        .with_for_update(skip_locked=True)
    )
    return rows.all()


async def erased_requests(session: AsyncSession) -> Sequence[PrivacyRequest]:
    rows = await session.scalars(
        select(PrivacyRequest).where(PrivacyRequest.status == ERASED).order_by(PrivacyRequest.id).with_for_update()
    )
    return rows.all()


def hold(request: PrivacyRequest, *, reason: str, by: int | None, now: dt.datetime) -> None:
    """An admin's legal hold: the request waits, with the reason kept beside it."""
    request.status = HELD
    request.hold_reason = reason
    request.held_by = by
    request.held_at = now
