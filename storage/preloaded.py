"""What the update's first statement already read about its user (``users.mark_and_load``): their producer row,
whether a deletion request of theirs is pending, whether they hold any staff role, and whether their producer
has any product, product idea or certificate at all. Nearly every update asks the first three (the gates, the
menu); the last three spare the status report and the dossier screen, the screens producers open most, a
query for each list that is empty (a new producer has none of them, and most producers have no certificate
for years). Kept on the session, they cost no query of their own.

A fact lives as long as the session (one update) and is dropped as soon as the session writes to its table (a
flush with such a row added, changed or removed; any DML statement through the session drops them all), or
while such a row waits in the session to be flushed, so a step that registers a producer, grants a role, files
a request or adds an idea reads the database again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from storage.models import Certificate, PrivacyRequest, Producer, Product, ProductIdea, StaffRole

_KEY = "ocop.preloaded"
PRODUCER = "producer"
PRIVACY_PENDING = "privacy_pending"
STAFF = "staff"
# Whether the user's producer has any row of these (False for a user who is not a producer).
HAS_PRODUCTS = "has_products"
HAS_IDEAS = "has_ideas"
HAS_CERTIFICATES = "has_certificates"
# The rows each fact was read from: a write to one of them drops the fact.
_WATCHED: dict[str, tuple[type, ...]] = {
    PRODUCER: (Producer,),
    PRIVACY_PENDING: (PrivacyRequest,),
    STAFF: (StaffRole,),
    HAS_PRODUCTS: (Product,),
    HAS_IDEAS: (ProductIdea,),
    HAS_CERTIFICATES: (Certificate,),
}


def remember(session: Session, user_id: int, facts: dict[str, Any]) -> None:
    session.info[_KEY] = (user_id, facts)


def known(session: AsyncSession, user_id: int, fact: str) -> tuple[bool, Any]:
    """(True, value) when the load read ``fact`` for ``user_id`` and nothing has changed it since."""
    sync = session.sync_session
    entry = sync.info.get(_KEY)
    if entry is None or entry[0] != user_id or fact not in entry[1]:
        return False, None
    if _waiting(sync, _WATCHED[fact]):
        # A query would flush the row first and see it; the fact cannot.
        return False, None
    return True, entry[1][fact]


def producer_has_none(session: AsyncSession, producer_id: int, fact: str) -> bool:
    """True only when the load read that producer ``producer_id`` has no row of ``fact`` (``HAS_PRODUCTS``, …)
    and nothing has changed that since; False whenever a query has to tell."""
    entry = session.sync_session.info.get(_KEY)
    if entry is None:
        return False
    producer = entry[1].get(PRODUCER)
    if producer is None or producer.id != producer_id:
        return False
    found, has = known(session, entry[0], fact)
    return found and has is False


def _waiting(session: Session, types: tuple[type, ...]) -> bool:
    """Whether a row of ``types`` is added, changed or deleted in the session and not flushed yet."""
    return any(isinstance(row, types) for row in (*session.new, *session.dirty, *session.deleted))


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    # Changed rows count too: a role granted again is an old row whose revoked_at is cleared.
    entry = session.info.get(_KEY)
    if entry is None:
        return
    facts = entry[1]
    for fact in [fact for fact in facts if _waiting(session, _WATCHED[fact])]:
        del facts[fact]


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if _KEY in state.session.info and (state.is_insert or state.is_update or state.is_delete):
        del state.session.info[_KEY]
