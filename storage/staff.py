"""Staff roles and invites. Role names are the string values of ``bot.rules.Role``.

Invite codes are random (``secrets``), single-use and expiring; only their SHA-256 is stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import preloaded
from storage.models import Invite, StaffRole, User


async def active_roles(session: AsyncSession, user_id: int) -> list[StaffRole]:
    found, staff = preloaded.known(session, user_id, preloaded.STAFF)
    if found and not staff:  # the update's load saw no role (``storage.preloaded``): most users
        return []
    rows = await session.scalars(
        select(StaffRole).where(StaffRole.user_id == user_id, StaffRole.revoked_at.is_(None)).order_by(StaffRole.id)
    )
    return list(rows)


async def grant(
    session: AsyncSession,
    *,
    user_id: int,
    role: str,
    province: str,
    commune_code: int | None,
    granted_by: int | None,
    now: dt.datetime,
) -> StaffRole:
    """Give a role (again, if it had been revoked)."""
    existing = await session.scalar(
        select(StaffRole).where(
            StaffRole.user_id == user_id,
            StaffRole.role == role,
            StaffRole.commune_code.is_(None) if commune_code is None else StaffRole.commune_code == commune_code,
        )
    )
    if existing is None:
        existing = StaffRole(user_id=user_id, role=role, commune_code=commune_code, province=province)
        session.add(existing)
    existing.granted_by = granted_by
    existing.granted_at = now
    existing.revoked_at = None
    await session.flush()
    return existing


async def role_by_id(session: AsyncSession, role_id: int, province: str) -> StaffRole | None:
    """One active role row of this province (``None`` when unknown, revoked or of another province)."""
    return await session.scalar(
        select(StaffRole).where(StaffRole.id == role_id, StaffRole.province == province, StaffRole.revoked_at.is_(None))
    )


async def revoke_role(session: AsyncSession, role_id: int, province: str, now: dt.datetime) -> StaffRole | None:
    """Revoke an active role; ``None`` when there was nothing to revoke (unknown, or already revoked).

    A conditional UPDATE, so two admins pressing at once revoke (and audit) it once."""
    result = await session.execute(
        update(StaffRole)
        .where(StaffRole.id == role_id, StaffRole.province == province, StaffRole.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return None
    return await session.get(StaffRole, role_id, populate_existing=True)


@dataclass(frozen=True, slots=True)
class StaffMember:
    role: StaffRole
    display_name: str | None
    phone: str | None


async def list_staff(session: AsyncSession, province: str) -> list[StaffMember]:
    """Active roles of the province, grouped by role then commune then person."""
    rows = await session.execute(
        select(StaffRole, User.display_name, User.phone)
        .join(User, User.id == StaffRole.user_id)
        .where(StaffRole.province == province, StaffRole.revoked_at.is_(None))
        .order_by(StaffRole.role, StaffRole.commune_code, StaffRole.user_id, StaffRole.id)
    )
    return [StaffMember(role, name, phone) for role, name, phone in rows]


# Invites ---------------------------------------------------------------------------------------------------

INVITE_PREFIX = "inv_"


def new_invite_code() -> str:
    """A random code that fits Telegram's deep-link parameter (≤ 64 of ``A-Za-z0-9_-``): 36 characters."""
    return INVITE_PREFIX + secrets.token_urlsafe(24)


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()


async def create_invite(
    session: AsyncSession,
    *,
    code: str,
    role: str,
    province: str,
    commune_code: int | None,
    created_by: int | None,
    now: dt.datetime,
    valid_for: dt.timedelta,
) -> Invite:
    """Store an invite; only the hash of ``code`` is kept, so the database cannot be used to join."""
    invite = Invite(
        code_hash=hash_code(code),
        role=role,
        commune_code=commune_code,
        province=province,
        created_by=created_by,
        created_at=now,
        expires_at=now + valid_for,
    )
    session.add(invite)
    await session.flush()
    return invite


class Redeemed(StrEnum):
    OK = "ok"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"


async def redeem_invite(
    session: AsyncSession, code: str, *, user_id: int, now: dt.datetime
) -> tuple[Redeemed, Invite | None]:
    """Use an invite once. The conditional UPDATE makes the use atomic: of two people redeeming one code
    at the same moment exactly one succeeds. The role itself is granted by the caller (``grant``)."""
    code_hash = hash_code(code)
    result = await session.execute(
        update(Invite)
        .where(
            Invite.code_hash == code_hash,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
        .values(used_at=now, used_by=user_id)
        .execution_options(synchronize_session=False)
    )
    invite = await session.scalar(
        select(Invite).where(Invite.code_hash == code_hash).execution_options(populate_existing=True)
    )
    if result.rowcount:  # type: ignore[attr-defined]
        return Redeemed.OK, invite
    if invite is None:
        return Redeemed.UNKNOWN, None
    if invite.revoked_at is not None:
        return Redeemed.REVOKED, invite
    if invite.used_at is not None:
        return Redeemed.USED, invite
    return Redeemed.EXPIRED, invite


async def pending_invites(session: AsyncSession, province: str, now: dt.datetime) -> list[Invite]:
    rows = await session.scalars(
        select(Invite)
        .where(
            Invite.province == province,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
            Invite.expires_at > now,
        )
        .order_by(Invite.id)
    )
    return list(rows)


async def revoke_invite(session: AsyncSession, invite_id: int, province: str, now: dt.datetime) -> bool:
    """Withdraw an unused invite; False when it was already used, revoked or unknown."""
    result = await session.execute(
        update(Invite)
        .where(
            Invite.id == invite_id,
            Invite.province == province,
            Invite.used_at.is_(None),
            Invite.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def commune_officers(session: AsyncSession, province: str, commune_code: int) -> list[User]:
    """The people holding a live commune-officer role for this commune, by name."""
    rows = await session.scalars(
        select(User)
        .join(StaffRole, StaffRole.user_id == User.id)
        .where(
            StaffRole.role == "commune",
            StaffRole.commune_code == commune_code,
            StaffRole.province == province,
            StaffRole.revoked_at.is_(None),
            User.erased_at.is_(None),
        )
        .distinct()
        .order_by(User.id)
    )
    return list(rows)
