"""Users, their channel identities, conversations and the processed-update ledger."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, delete, exists, func, inspect, literal, literal_column, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached

from storage import preloaded
from storage.db import dialect_of, insert_ignore
from storage.models import (
    Certificate,
    ChannelIdentity,
    Conversation,
    PrivacyRequest,
    ProcessedUpdate,
    Producer,
    Product,
    ProductIdea,
    StaffRole,
    User,
)
from storage.privacy import PENDING

_Row = TypeVar("_Row", User, ChannelIdentity, Producer)
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


# The hot path of every update: statements built once, so SQLAlchemy compiles each once per dialect (its
# compiled cache) and every update only binds values.
_LEDGER: Table = ProcessedUpdate.__table__  # type: ignore[assignment]
_USERS: Table = User.__table__  # type: ignore[assignment]
_IDENTITIES: Table = ChannelIdentity.__table__  # type: ignore[assignment]
_CONVERSATIONS: Table = Conversation.__table__  # type: ignore[assignment]
_PRODUCERS: Table = Producer.__table__  # type: ignore[assignment]
_PRIVACY: Table = PrivacyRequest.__table__  # type: ignore[assignment]
_STAFF: Table = StaffRole.__table__  # type: ignore[assignment]
_PRODUCTS: Table = Product.__table__  # type: ignore[assignment]
_IDEAS: Table = ProductIdea.__table__  # type: ignore[assignment]
_CERTIFICATES: Table = Certificate.__table__  # type: ignore[assignment]
_MARK = {
    "postgresql": postgresql.insert(_LEDGER).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(_LEDGER).on_conflict_do_nothing(),
}
_PRODUCER_LISTS = (preloaded.HAS_PRODUCTS, preloaded.HAS_IDEAS, preloaded.HAS_CERTIFICATES)
_USER_COLUMNS = [column.key for column in _USERS.columns]
_IDENTITY_COLUMNS = [column.key for column in _IDENTITIES.columns]
_CONVERSATION_COLUMNS = [column.key for column in _CONVERSATIONS.columns]
_PRODUCER_COLUMNS = [column.key for column in _PRODUCERS.columns]
# Besides the rows the engine needs, what nearly every update asks next (``storage.preloaded``): the producer
# (the gates, the menu, the status report), a pending deletion request (the privacy gate), any staff role, and
# which of the producer's lists have anything in them (the status report and the dossier screen skip the rest).
_SEEN = _CONVERSATIONS.alias("seen")
_SEEN_VERSION = select(_SEEN.c.version).where(_SEEN.c.user_id == _USERS.c.id).scalar_subquery()
_LOAD = (
    select(
        *(column.label(f"i_{column.key}") for column in _IDENTITIES.columns),
        *(column.label(f"u_{column.key}") for column in _USERS.columns),
        *(column.label(f"c_{column.key}") for column in _CONVERSATIONS.columns),
        *(column.label(f"p_{column.key}") for column in _PRODUCERS.columns),
        exists()
        # The statuses as literals: a list of bound values would be re-rendered into the SQL on every update.
        .where(_PRIVACY.c.user_id == _USERS.c.id, _PRIVACY.c.status.in_([literal_column(f"'{s}'") for s in PENDING]))
        .label(f"x_{preloaded.PRIVACY_PENDING}"),
        exists().where(_STAFF.c.user_id == _USERS.c.id, _STAFF.c.revoked_at.is_(None)).label(f"x_{preloaded.STAFF}"),
        exists().where(_PRODUCTS.c.producer_id == _PRODUCERS.c.id).label(f"x_{preloaded.HAS_PRODUCTS}"),
        exists().where(_IDEAS.c.producer_id == _PRODUCERS.c.id).label(f"x_{preloaded.HAS_IDEAS}"),
        exists()
        .where(_CERTIFICATES.c.product_id == _PRODUCTS.c.id, _PRODUCTS.c.producer_id == _PRODUCERS.c.id)
        .label(f"x_{preloaded.HAS_CERTIFICATES}"),
        # The conversation's version as the statement's snapshot saw it. When the row lock had to wait for
        # another process's update of this user, the locked row comes back as that update left it, but every
        # other table of the statement (the user, the producer) still as it was before: a version that differs
        # here says so, and the load is read again (``mark_and_load``).
        _SEEN_VERSION.label("c_seen_version"),
    )
    .select_from(
        _IDENTITIES.join(_USERS, _USERS.c.id == _IDENTITIES.c.user_id)
        .join(_CONVERSATIONS, _CONVERSATIONS.c.user_id == _USERS.c.id)
        .outerjoin(_PRODUCERS, _PRODUCERS.c.user_id == _USERS.c.id)
    )
    .where(_IDENTITIES.c.channel == bindparam("channel"), _IDENTITIES.c.external_id == bindparam("external_id"))
    # The conversation row lock serialises two bot processes handling the same user (PostgreSQL; SQLite has
    # one writer at a time anyway and renders no lock clause).
    .with_for_update(of=_CONVERSATIONS)
)
# PostgreSQL: the ledger entry and the load in one round trip. The INSERT runs as a CTE whatever the rest
# finds (PostgreSQL executes a data-modifying WITH exactly once), the load keeps its row lock in a CTE of its
# own, and the outer join keeps one row even for a first contact, whose ``marked`` then says whether to go on.
_MARKED = (
    postgresql.insert(_LEDGER)
    .values(channel=bindparam("l_channel"), update_id=bindparam("l_update_id"), processed_at=bindparam("l_at"))
    .on_conflict_do_nothing()
    .returning(_LEDGER.c.update_id)
    .cte("marked")
)
_MARKED_COUNT = select(func.count().label("marked")).select_from(_MARKED).subquery("m")
_LOADED = _LOAD.cte("loaded")
_MARK_AND_LOAD_PG = select(_MARKED_COUNT.c.marked, *_LOADED.c).select_from(_MARKED_COUNT.outerjoin(_LOADED, true()))
_START_CONVERSATION = {
    name: dialect_insert(_CONVERSATIONS)
    .from_select(
        ["user_id", "data", "last_choices", "version"],
        select(
            _IDENTITIES.c.user_id,
            literal({}, _CONVERSATIONS.c.data.type),
            literal([], _CONVERSATIONS.c.last_choices.type),
            literal(0),
        ).where(_IDENTITIES.c.channel == bindparam("channel"), _IDENTITIES.c.external_id == bindparam("external_id")),
    )
    .on_conflict_do_nothing()
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_SAVE_CONVERSATION = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.user_id == bindparam("b_user_id"))
    .values(
        flow=bindparam("b_flow"),
        step=bindparam("b_step"),
        data=bindparam("b_data", type_=_CONVERSATIONS.c.data.type),
        last_choices=bindparam("b_last_choices", type_=_CONVERSATIONS.c.last_choices.type),
        version=bindparam("b_version"),
        updated_at=bindparam("b_updated_at", type_=_CONVERSATIONS.c.updated_at.type),
    )
)


async def mark_and_load(
    session: AsyncSession,
    channel: str,
    update_id: str,
    external_id: str,
    *,
    chat_id: str | None,
    display_name: str | None,
    locale: str,
    now: dt.datetime,
) -> tuple[User, ChannelIdentity, Conversation] | None:
    """Everything one update needs, in two statements: the ledger entry (None when the update was handled
    before), then the identity, its user and their conversation, the conversation locked for this
    transaction. The user and identity join the session as if loaded (no query), so handlers read and change
    them as ORM objects; the conversation is the engine's alone and stays outside the session: it is written
    back by ``finish``. A first contact takes the longer way (``identity_user``)."""
    # One trip into SQLAlchemy's synchronous core for the whole load: every async call of the session starts
    # a greenlet of its own, which costs more than the statement itself on a busy event loop.
    loaded = await session.run_sync(
        _mark_and_load, channel, update_id, external_id, chat_id=chat_id, display_name=display_name, now=now
    )
    if not isinstance(loaded, _FirstContact):
        return loaded
    user, identity = await identity_user(
        session, channel, external_id, chat_id=chat_id, display_name=display_name, locale=locale, now=now
    )
    conversation = await lock_conversation(session, user.id)
    session.expunge(conversation)
    return user, identity, conversation


class _FirstContact:
    """What the load says when no identity matches: the async path creates the user."""


def _mark_and_load(
    session: Session,
    channel: str,
    update_id: str,
    external_id: str,
    *,
    chat_id: str | None,
    display_name: str | None,
    now: dt.datetime,
) -> tuple[User, ChannelIdentity, Conversation] | _FirstContact | None:
    # Core on the session's connection: the session's own execute adds ORM work these statements do not need.
    connection = session.connection()
    who = {"channel": channel, "external_id": external_id}
    row: Any
    if connection.dialect.name == "postgresql":
        row = connection.execute(
            _MARK_AND_LOAD_PG, {**who, "l_channel": channel, "l_update_id": update_id, "l_at": now}
        ).one()
        if not row.marked:
            return None
        if row.i_id is None:
            row = None
        elif row.c_version != row.c_seen_version:
            # Another process changed this user while we waited for the lock: read them again, under the lock
            # we now hold (a new statement, a new snapshot).
            row = connection.execute(_LOAD, who).first()
    else:
        marked = connection.execute(
            _MARK[connection.dialect.name], {"channel": channel, "update_id": update_id, "processed_at": now}
        )
        if not marked.rowcount:
            return None
        row = connection.execute(_LOAD, who).first()
    if row is None:
        # A known user's first update (their conversation row comes with it), or a first contact.
        connection.execute(_START_CONVERSATION[connection.dialect.name], who)
        row = connection.execute(_LOAD, who).first()
    if row is None:
        return _FirstContact()
    values = row._mapping
    user = _as_loaded(session, User, {key: values[f"u_{key}"] for key in _USER_COLUMNS})
    identity = _as_loaded(session, ChannelIdentity, {key: values[f"i_{key}"] for key in _IDENTITY_COLUMNS})
    conversation = _loaded(Conversation, {key: values[f"c_{key}"] for key in _CONVERSATION_COLUMNS})
    producer = None
    if values["p_id"] is not None:
        producer = _as_loaded(session, Producer, {key: values[f"p_{key}"] for key in _PRODUCER_COLUMNS})
    preloaded.remember(
        session,
        user.id,
        {
            preloaded.PRODUCER: producer,
            preloaded.PRIVACY_PENDING: bool(values[f"x_{preloaded.PRIVACY_PENDING}"]),
            preloaded.STAFF: bool(values[f"x_{preloaded.STAFF}"]),
            **{fact: bool(values[f"x_{fact}"]) for fact in _PRODUCER_LISTS},
        },
    )
    _seen(user, identity, chat_id=chat_id, display_name=_fitting(display_name), now=now)
    return user, identity, conversation


def _as_loaded(session: Session, model: type[_Row], values: dict[str, Any]) -> _Row:
    """An ORM object from a row read with Core, in the session as if a query had loaded it."""
    instance = _loaded(model, values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


_Loaded = TypeVar("_Loaded", User, ChannelIdentity, Producer, Conversation)


def _loaded(model: type[_Loaded], values: dict[str, Any]) -> _Loaded:
    """An instance with ``values`` as its loaded state, the way the ORM's own loading fills one: straight into
    its ``__dict__``. The mapped ``__init__`` would record each value as a change, to be undone again at once;
    for the three rows of every update that cost as much as reading them."""
    instance: _Loaded = inspect(model).class_manager.new_instance()
    instance.__dict__.update(values)
    return instance


async def finish(session: AsyncSession, conversation: Conversation | None) -> None:
    """Write the conversation back (when it moved) and commit the update, in one trip into SQLAlchemy's
    synchronous core (see ``mark_and_load``); the session is closed afterwards."""
    await session.run_sync(_finish, conversation)


def _finish(session: Session, conversation: Conversation | None) -> None:
    try:
        if conversation is not None:
            session.connection().execute(
                _SAVE_CONVERSATION,
                {
                    "b_user_id": conversation.user_id,
                    "b_flow": conversation.flow,
                    "b_step": conversation.step,
                    "b_data": conversation.data,
                    "b_last_choices": conversation.last_choices,
                    "b_version": conversation.version,
                    "b_updated_at": conversation.updated_at,
                },
            )
        session.commit()
    finally:
        session.close()


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
    display_name = _fitting(display_name)
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
    _seen(user, identity, chat_id=chat_id, display_name=display_name, now=now)
    return user, identity


def _fitting(display_name: str | None) -> str | None:
    """Whatever a platform sends, never more than the column holds."""
    return display_name[:DISPLAY_NAME_MAX] or None if display_name is not None else None


def _seen(
    user: User, identity: ChannelIdentity, *, chat_id: str | None, display_name: str | None, now: dt.datetime
) -> None:
    """What a message tells about its sender, kept on their identity and user."""
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
