"""What the update's first statement already read about its user (``users.mark_and_load``): their producer row,
whether a deletion request of theirs is pending, whether they hold any staff role. Nearly every update asks
these (the gates, the menu, the status report); kept on the session, they cost no query of their own.

The facts live as long as the session (one update) and are dropped as soon as the session writes to one of
those tables (a flush with such a row added, changed or removed, or a DML statement through the session), so a
step that registers a producer, grants a role or files a request reads the database again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from storage.models import PrivacyRequest, Producer, StaffRole

_KEY = "ocop.preloaded"
PRODUCER = "producer"
PRIVACY_PENDING = "privacy_pending"
STAFF = "staff"
_WATCHED = (Producer, PrivacyRequest, StaffRole)


def remember(session: Session, user_id: int, facts: dict[str, Any]) -> None:
    session.info[_KEY] = (user_id, facts)


def known(session: AsyncSession, user_id: int, fact: str) -> tuple[bool, Any]:
    """(True, value) when the load read ``fact`` for ``user_id`` and nothing has changed it since."""
    entry = session.sync_session.info.get(_KEY)
    if entry is None or entry[0] != user_id or fact not in entry[1]:
        return False, None
    return True, entry[1][fact]


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    # Changed rows count too: a role granted again is an old row whose revoked_at is cleared.
    if _KEY in session.info and any(
        isinstance(row, _WATCHED) for row in (*session.new, *session.dirty, *session.deleted)
    ):
        del session.info[_KEY]


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if _KEY in state.session.info and (state.is_insert or state.is_update or state.is_delete):
        del state.session.info[_KEY]
