"""Users, their channel identities, conversations and the processed-update ledger."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_of, insert_ignore
from storage.models import ChannelIdentity, Conversation, ProcessedUpdate, User

DISPLAY_NAME_MAX = User.display_name.type.length or 200
# How precisely we track when a user last wrote (Zalo's reply window counts in hours, not seconds).
SEEN_PRECISION = dt.timedelta(minutes=1)


async def mark_processed(session: AsyncSession, channel: str, update_id: str, now: dt.datetime) -> bool:
    """Record an update as handled; False when it was handled before (a redelivery)."""
    statement = insert_ignore(
        ProcessedUpdate.__table__,  # type: ignore[arg-type]
        {"channel": channel, "update_id": update_id, "processed_at": now},
        dialect_of(session),
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def was_processed(session: AsyncSession, channel: str, update_id: str) -> bool:
    """Whether an update is in the ledger already (a cheap look before queueing a redelivery)."""
    found = await session.scalar(
        select(ProcessedUpdate.update_id).where(
            ProcessedUpdate.channel == channel, ProcessedUpdate.update_id == update_id
        )
    )
    return found is not None


async def identity_user(
    session: AsyncSession,
    channel: str,
    external_id: str,
    *,
    chat_id: str | None,
    display_name: str | None,
    locale: str,
    now: dt.datetime,
) -> tuple[User, ChannelIdentity]:
    """The user behind a platform account, created on first contact."""
    if display_name is not None:  # whatever a platform sends, never more than the column holds
        display_name = display_name[:DISPLAY_NAME_MAX] or None
    found = (
        await session.execute(
            select(ChannelIdentity, User)
            .join(User, User.id == ChannelIdentity.user_id)
            .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
        )
    ).first()
    if found is None:
        user = User(locale=locale, display_name=display_name, created_at=now)
        identity = ChannelIdentity(
            channel=channel, external_id=external_id, chat_id=chat_id, user=user, last_seen_at=now
        )
        session.add_all([user, identity])
        await session.flush()
        return user, identity
    identity, user = found
    # Written only when it says something new: an UPDATE per message would cost every update a write.
    if identity.last_seen_at is None or now - _aware(identity.last_seen_at) >= SEEN_PRECISION:
        identity.last_seen_at = now
    if not identity.active:
        identity.active = True
    if chat_id and identity.chat_id != chat_id:
        identity.chat_id = chat_id
    # Someone who refused consent asked us to keep nothing: their app's name is not taken again.
    if display_name and not user.display_name and user.consent_declined_at is None:
        user.display_name = display_name
    return user, identity


def _aware(moment: dt.datetime) -> dt.datetime:
    """SQLite hands datetimes back without a zone; they are stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


async def lock_conversation(session: AsyncSession, user_id: int) -> Conversation:
    """The user's conversation row, locked for this transaction (FOR UPDATE on PostgreSQL).

    The row lock is what serialises two bot processes handling the same user at once.
    """
    locked = (
        select(Conversation)
        .where(Conversation.user_id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    conversation = await session.scalar(locked)
    if conversation is None:  # first message ever: create the row (another process may race us to it)
        await session.execute(
            insert_ignore(
                Conversation.__table__,  # type: ignore[arg-type]
                {"user_id": user_id, "data": {}, "last_choices": [], "version": 0},
                dialect_of(session),
            )
        )
        conversation = await session.scalar(locked)
    assert conversation is not None
    return conversation


async def user_id_of(session: AsyncSession, channel: str, external_id: str) -> int | None:
    """The user behind a platform account, if it has written before."""
    return await session.scalar(
        select(ChannelIdentity.user_id).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )


async def identities_of(session: AsyncSession, user_id: int) -> list[ChannelIdentity]:
    rows = await session.scalars(select(ChannelIdentity).where(ChannelIdentity.user_id == user_id))
    return list(rows)


async def prune_processed(session: AsyncSession, before: dt.datetime) -> int:
    """Forget processed-update ids older than ``before``: platforms redeliver within minutes, not weeks."""
    result = await session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]
