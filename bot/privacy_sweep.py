"""The privacy part of the sweep: deletion requests carried out in time, admins reminded, retention.

Runs in the reminder sweep's transaction (``bot.scheduler``); the blobs it frees are unlinked by the caller
after the commit (``storage.stored_files.unlink``).

* A deletion request is carried out ``OCOP_PRIVACY_DELETE_AFTER_HOURS`` (24) after it was made, unless an
  admin recorded a legal hold: ``bot.erasure.erase_user``, then a notice telling the person what was kept.
  Their chat identities go at the next sweep once that notice has left (at most an hour later).
* Admins are reminded of every request still pending ``OCOP_PRIVACY_REMIND_HOURS`` before its deadline.
* Retention: a draft dossier or idea untouched for ``OCOP_RETENTION_MONTHS`` (24) is deleted, after a notice
  ``OCOP_RETENTION_NOTICE_DAYS`` (30) before; a placeholder producer (imported, never claimed by anyone in
  chat) older than that with nothing left is deleted too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import erasure
from bot.rules import DossierStatus, IdeaStatus, Role, add_months
from bot.settings import Settings
from storage import outbox, stored_files
from storage import privacy as requests
from storage.models import (
    Certificate,
    ChannelIdentity,
    Dossier,
    DossierItem,
    DossierItemFile,
    OutboxMessage,
    Producer,
    Product,
    ProductIdea,
    StaffRole,
    User,
)

# Notice kinds (written in ``handlers.privacy_notices``).
ERASED = "privacy_erased"
REQUEST_STAFF = "privacy_request_staff"
DEADLINE_STAFF = "privacy_deadline_staff"
RETENTION_DOSSIER = "retention_dossier"
RETENTION_IDEA = "retention_idea"


@dataclass
class PrivacyResult:
    erased: int = 0
    purged: int = 0
    reminded: int = 0
    retention_notices: int = 0
    retention_deleted: int = 0
    silenced: int = 0
    blob_paths: list[str] = field(default_factory=list)
    erased_users: list[int] = field(default_factory=list)


async def carry_out(
    session: AsyncSession, request_id: int, user_id: int | None, *, now: dt.datetime, actor: str
) -> erasure.Erased:
    """Erase the request's user, record it, and queue the notice of what was kept."""
    request = await requests.request_by_id(session, request_id, lock=True)
    assert request is not None
    erased = erasure.Erased()
    if user_id is not None:
        erased = await erasure.erase_user(session, user_id, now=now)
        await erasure.record(session, request_id=request.id, erased=erased, now=now, actor=actor)
        await outbox.enqueue(
            session,
            user_id=user_id,
            kind=ERASED,
            params={"request": request.id, "kept": erased.kept},
            dedupe_key=f"privacy:erased:{request.id}",
            not_before=now,
            urgent=True,
        )
    request.kept = erased.kept
    request.status = requests.ERASED if user_id is not None else requests.DONE
    request.erased_at = now
    if user_id is None:
        request.done_at = now
    return erased


async def privacy_sweep(session: AsyncSession, settings: Settings, now: dt.datetime) -> PrivacyResult:
    result = PrivacyResult()
    hours = min(settings.privacy.delete_after_hours, settings.privacy.deadline_hours)
    for request in await requests.due_requests(session, now - dt.timedelta(hours=hours)):
        erased = await carry_out(session, request.id, request.user_id, now=now, actor="sweep")
        result.blob_paths += erased.blob_paths
        result.erased_users += [request.user_id] if request.user_id is not None else []
        result.erased += 1
    for request in await requests.erased_requests(session):
        user_id = request.user_id
        # The identities are how the person is told what was kept: they go once that notice has left, or an hour
        # after the erasure when the notice cannot leave (no channel running, the bot blocked).
        told_or_late = now >= _aware(request.erased_at or now) + NOTICE_WAIT
        if user_id is not None and not told_or_late and await erasure.has_unsent_messages(session, user_id):
            continue
        if user_id is not None:
            await erasure.purge(session, user_id)
        request.status = requests.DONE
        request.done_at = now
        result.purged += 1
    result.reminded = await _remind_admins(session, settings, now)
    result.silenced = await erasure.silence_erased(session, (ERASED,))
    await _retention(session, settings, now, result)
    return result


EXPORTS_KEPT = dt.timedelta(days=1)
NOTICE_WAIT = dt.timedelta(hours=1)
EXPORT_PREFIX = "du-lieu-"  # exports are named du-lieu-<user id>-<time>.zip (handlers.privacy, bot.privacy_cli)


async def after_privacy_sweep(settings: Settings, result: PrivacyResult, now: dt.datetime) -> None:
    """After the commit: the freed blobs leave the disk, and downloads older than a day are removed (they hold
    a person's data and were sent in chat already)."""
    await stored_files.unlink(settings.ocop.files_dir, result.blob_paths)
    exports = settings.ocop.data_dir / "exports"

    def old_exports() -> None:
        if not exports.is_dir():
            return
        for path in exports.glob("*.zip"):
            if dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC) < now - EXPORTS_KEPT:
                path.unlink(missing_ok=True)
        for user_id in result.erased_users:  # a download of someone just erased goes at once
            for path in exports.glob(f"{EXPORT_PREFIX}{user_id}-*.zip"):
                path.unlink(missing_ok=True)

    await asyncio.to_thread(old_exports)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def admins(session: AsyncSession, province: str) -> list[int]:
    rows = await session.scalars(
        select(StaffRole.user_id)
        .where(StaffRole.role == Role.ADMIN.value, StaffRole.revoked_at.is_(None), StaffRole.province == province)
        .distinct()
    )
    return list(rows)


async def _remind_admins(session: AsyncSession, settings: Settings, now: dt.datetime) -> int:
    soon = now + dt.timedelta(hours=settings.privacy.remind_hours)
    written = 0
    staff = await admins(session, settings.ocop.province)
    for request in await requests.pending_requests(session):
        if _aware(request.due_at) > soon:
            continue
        for admin in staff:
            written += await outbox.enqueue(
                session,
                user_id=admin,
                kind=DEADLINE_STAFF,
                params={"request": request.id, "due": _aware(request.due_at).isoformat(), "status": request.status},
                dedupe_key=f"privacy:due:{request.id}:user:{admin}",
                not_before=now,
                urgent=True,
            )
    return written


# Retention -----------------------------------------------------------------------------------------------------
async def _retention(session: AsyncSession, settings: Settings, now: dt.datetime, result: PrivacyResult) -> None:
    cutoff = dt.datetime.combine(
        add_months(now.date(), -settings.privacy.retention_months), now.timetz().replace(tzinfo=None), tzinfo=dt.UTC
    )
    notice = dt.timedelta(days=settings.privacy.retention_notice_days)
    candidates: list[int] = []
    for dossier_id, user_id, product, activity in await _stale_drafts(session, cutoff + notice):
        key = f"retention:dossier:{dossier_id}:{activity.date().isoformat()}"
        if await _noticed_long_enough(session, key, now - notice) and activity < cutoff:
            candidates += await session.scalars(
                select(DossierItemFile.stored_file_id)
                .join(DossierItem, DossierItem.id == DossierItemFile.item_id)
                .where(DossierItem.dossier_id == dossier_id)
            )
            await session.execute(delete(Dossier).where(Dossier.id == dossier_id))
            result.retention_deleted += 1
            continue
        result.retention_notices += await _notice(
            session, user_id, RETENTION_DOSSIER, key, {"product": product, "day": (activity + notice).date()}, now
        )
    for idea_id, user_id, name, activity in await _stale_ideas(session, cutoff + notice):
        key = f"retention:idea:{idea_id}:{activity.date().isoformat()}"
        if await _noticed_long_enough(session, key, now - notice) and activity < cutoff:
            await session.execute(delete(ProductIdea).where(ProductIdea.id == idea_id))
            result.retention_deleted += 1
            continue
        result.retention_notices += await _notice(
            session, user_id, RETENTION_IDEA, key, {"name": name, "day": (activity + notice).date()}, now
        )
    result.retention_deleted += await _unclaimed_placeholders(session, cutoff)
    result.blob_paths += await stored_files.remove_unreferenced(session, candidates)


async def _notice(
    session: AsyncSession, user_id: int, kind: str, key: str, params: dict[str, object], now: dt.datetime
) -> int:
    params = {name: value.isoformat() if isinstance(value, dt.date) else value for name, value in params.items()}
    return int(await outbox.enqueue(session, user_id=user_id, kind=kind, params=params, dedupe_key=key, not_before=now))


async def _noticed_long_enough(session: AsyncSession, key: str, before: dt.datetime) -> bool:
    found = await session.scalar(
        select(OutboxMessage.id).where(OutboxMessage.dedupe_key == key, OutboxMessage.created_at <= before)
    )
    return found is not None


async def _stale_drafts(session: AsyncSession, older_than: dt.datetime) -> list[tuple[int, int, str, dt.datetime]]:
    """Draft dossiers whose last change (the dossier or a file added to it) is older than ``older_than``."""
    last_file = (
        select(func.max(DossierItemFile.created_at))
        .join(DossierItem, DossierItem.id == DossierItemFile.item_id)
        .where(DossierItem.dossier_id == Dossier.id)
        .correlate(Dossier)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Dossier.id, Producer.user_id, Product.name, Dossier.updated_at, last_file)
        .join(Product, Product.id == Dossier.product_id)
        .join(Producer, Producer.id == Product.producer_id)
        .where(Dossier.status == DossierStatus.DRAFT.value, Dossier.updated_at < older_than)
        .order_by(Dossier.id)
    )
    found = []
    for dossier_id, user_id, product, updated, file_added in rows.all():
        activity = max(_aware(updated), _aware(file_added) if file_added is not None else _aware(updated))
        if activity < older_than:
            found.append((int(dossier_id), int(user_id), str(product), activity))
    return found


async def _stale_ideas(session: AsyncSession, older_than: dt.datetime) -> list[tuple[int, int, str, dt.datetime]]:
    rows = await session.execute(
        select(ProductIdea.id, Producer.user_id, ProductIdea.name, ProductIdea.updated_at)
        .join(Producer, Producer.id == ProductIdea.producer_id)
        .where(ProductIdea.status == IdeaStatus.DRAFT.value, ProductIdea.updated_at < older_than)
        .order_by(ProductIdea.id)
    )
    return [(int(i), int(u), str(n), _aware(at)) for i, u, n, at in rows.all()]


async def _unclaimed_placeholders(session: AsyncSession, cutoff: dt.datetime) -> int:
    """Imported producers nobody claimed in chat (no identity, no phone, no consent), with no dossier and no
    certificate left: the user row goes, and the producer and products with it."""
    of_user = and_(Product.producer_id == Producer.id, Producer.user_id == User.id)
    unclaimed = select(User.id).where(
        User.created_at < cutoff,
        User.phone.is_(None),
        User.consent_at.is_(None),
        User.erased_at.is_(None),
        ~exists().where(ChannelIdentity.user_id == User.id),
        ~exists().where(StaffRole.user_id == User.id),
        exists().where(Producer.user_id == User.id),
        ~exists().where(Dossier.product_id == Product.id, of_user),
        ~exists().where(Certificate.product_id == Product.id, of_user),
    )
    ids = list(await session.scalars(unclaimed))
    if ids:
        await session.execute(delete(User).where(User.id.in_(ids)))
    return len(ids)
