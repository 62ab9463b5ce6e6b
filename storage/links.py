"""Channel identities across apps: one-time link codes, joining two users into one, the identity a message
should go to, and the small lookups the Zalo OA channel needs (follow state, offered choices, window)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Base, ChannelIdentity, Conversation, LinkAttempt, LinkCode, Producer, StaffRole, User

# Tables whose user column is not simply moved to the kept user.
_NOT_MOVED = frozenset({"conversations", "link_codes", "staff_roles"})


# Link codes -------------------------------------------------------------------------------------------------
async def create_code(session: AsyncSession, user_id: int, code_hash: str, expires_at: dt.datetime) -> None:
    """Store a new code for ``user_id``; the user's earlier unused codes stop working."""
    await session.execute(delete(LinkCode).where(LinkCode.user_id == user_id, LinkCode.used_at.is_(None)))
    session.add(LinkCode(code_hash=code_hash, user_id=user_id, expires_at=expires_at))
    await session.flush()


async def recent_attempts(session: AsyncSession, identity_id: int, since: dt.datetime) -> int:
    """How many codes this account typed since ``since``."""
    count = await session.scalar(
        select(func.count()).where(LinkAttempt.identity_id == identity_id, LinkAttempt.at >= since)
    )
    return int(count or 0)


async def record_attempt(session: AsyncSession, identity_id: int, now: dt.datetime, forget_before: dt.datetime) -> None:
    """Count one typed code; the account's attempts older than ``forget_before`` are dropped on the way."""
    await session.execute(
        delete(LinkAttempt).where(LinkAttempt.identity_id == identity_id, LinkAttempt.at < forget_before)
    )
    session.add(LinkAttempt(identity_id=identity_id, at=now))
    await session.flush()


async def take_code(session: AsyncSession, code_hash: str, now: dt.datetime, max_wrong: int) -> LinkCode | None:
    """The live code with this hash, marked used (single use); None when unknown, used, expired, or killed
    by ``max_wrong`` wrong tries."""
    code = await session.scalar(
        select(LinkCode)
        .where(
            LinkCode.code_hash == code_hash,
            LinkCode.used_at.is_(None),
            LinkCode.expires_at > now,
            LinkCode.wrong_tries < max_wrong,
        )
        .with_for_update()
    )
    if code is not None:
        code.used_at = now
        await session.flush()
    return code


async def count_wrong_try(session: AsyncSession, now: dt.datetime) -> None:
    """A wrong code was typed: every live code is one try closer to dying. A wrong guess cannot be pinned to
    the code it aimed at, so each code counts every wrong try made while it lives."""
    await session.execute(
        update(LinkCode)
        .where(LinkCode.used_at.is_(None), LinkCode.expires_at > now)
        .values(wrong_tries=LinkCode.wrong_tries + 1)
        .execution_options(synchronize_session=False)
    )


async def claim_code(session: AsyncSession, code: LinkCode, identity_id: int, now: dt.datetime) -> None:
    """The account ``identity_id`` typed ``code``: it waits for the code's owner to allow the join."""
    code.claimed_by = identity_id
    code.claimed_at = now
    await session.flush()


async def pending_claim(
    session: AsyncSession, user_id: int, *, code_id: int | None, since: dt.datetime
) -> LinkCode | None:
    """A code of ``user_id`` typed in another account since ``since`` and not decided yet (locked); the
    newest, or the one with ``code_id``."""
    query = select(LinkCode).where(
        LinkCode.user_id == user_id,
        LinkCode.claimed_by.is_not(None),
        LinkCode.decided_at.is_(None),
        LinkCode.claimed_at >= since,
    )
    if code_id is not None:
        query = query.where(LinkCode.id == code_id)
    return await session.scalar(query.order_by(LinkCode.claimed_at.desc()).limit(1).with_for_update())


# Joining two users ------------------------------------------------------------------------------------------
async def has_producer(session: AsyncSession, user_id: int) -> bool:
    return await session.scalar(select(Producer.id).where(Producer.user_id == user_id)) is not None


async def merge_users(session: AsyncSession, *, keep: int, drop: int) -> None:
    """Move everything of user ``drop`` to user ``keep``: identities, producer (with its ideas and dossiers),
    staff roles, queued notices, file uploads… The dropped user stays as an empty row, so that the update
    being handled can still save its own conversation. The caller refuses when both have a producer."""
    await session.flush()  # pending changes first: the bulk updates below bypass the loaded objects
    kept = await session.get_one(User, keep)
    dropped = await session.get_one(User, drop)
    # What the kept user lacks (a phone, a consent) is taken from the other; nothing is overwritten.
    for attribute in ("phone", "consent_at", "display_name"):
        if getattr(kept, attribute) is None and getattr(dropped, attribute) is not None:
            setattr(kept, attribute, getattr(dropped, attribute))
    kept_roles = {
        (role, commune)
        for role, commune in await session.execute(
            select(StaffRole.role, StaffRole.commune_code).where(StaffRole.user_id == keep)
        )
    }
    for role, commune in kept_roles:
        await session.execute(
            delete(StaffRole).where(
                StaffRole.user_id == drop,
                StaffRole.role == role,
                StaffRole.commune_code.is_(None) if commune is None else StaffRole.commune_code == commune,
            )
        )
    await session.execute(update(StaffRole).where(StaffRole.user_id == drop).values(user_id=keep))
    await session.execute(delete(LinkCode).where(LinkCode.user_id == drop, LinkCode.used_at.is_(None)))
    for table, column in _user_columns():
        if table.name in _NOT_MOVED:
            continue
        await session.execute(update(table).where(table.c[column] == drop).values({column: keep}))
    # Objects loaded before the bulk updates must not write their old user ids back.
    for identity in await session.scalars(select(ChannelIdentity).where(ChannelIdentity.user_id == keep)):
        await session.refresh(identity)
    dropped.phone = None


def _user_columns() -> list[tuple[Table, str]]:
    """Every column that points at ``users.id``."""
    found: list[tuple[Table, str]] = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if any(key.column.table.name == "users" for key in column.foreign_keys):
                found.append((table, column.name))
    return found


async def reset_conversation(session: AsyncSession, user_id: int, last_choices: list[Any]) -> None:
    """Put the user at the main menu (after a join, the kept user's old step is out of date)."""
    conversation = await session.scalar(select(Conversation).where(Conversation.user_id == user_id).with_for_update())
    if conversation is None:
        session.add(Conversation(user_id=user_id, data={}, last_choices=last_choices, version=0))
        return
    conversation.flow = None
    conversation.step = None
    conversation.data = {}
    conversation.last_choices = last_choices
    conversation.version += 1


# Identities ------------------------------------------------------------------------------------------------
async def preferred_identity(session: AsyncSession, user_id: int) -> ChannelIdentity | None:
    """The active identity the user wrote from last: where a reminder reaches them best."""
    return await session.scalar(
        select(ChannelIdentity)
        .where(ChannelIdentity.user_id == user_id, ChannelIdentity.active.is_(True))
        .order_by(ChannelIdentity.last_seen_at.desc().nulls_last(), ChannelIdentity.id.desc())
        .limit(1)
    )


async def set_active(session: AsyncSession, channel: str, external_id: str, active: bool) -> bool:
    """Follow/unfollow; False when we never met this account."""
    result = await session.execute(
        update(ChannelIdentity)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
        .values(active=active)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def identity_by_chat(session: AsyncSession, channel: str, chat_id: str) -> tuple[ChannelIdentity, User] | None:
    row = (
        await session.execute(
            select(ChannelIdentity, User)
            .join(User, User.id == ChannelIdentity.user_id)
            .where(ChannelIdentity.channel == channel, ChannelIdentity.chat_id == chat_id)
            .order_by(ChannelIdentity.id)
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


async def offered_payloads(session: AsyncSession, channel: str, external_id: str) -> set[str]:
    """The payloads of the choices last offered to this account's user."""
    last = await session.scalar(
        select(Conversation.last_choices)
        .join(ChannelIdentity, ChannelIdentity.user_id == Conversation.user_id)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
    )
    return {str(choice[1]) for choice in (last or []) if isinstance(choice, list | tuple) and len(choice) >= 2}
