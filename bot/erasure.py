"""Carrying out a deletion request (Law 91/2025/QH15): what goes, what the province must keep, and the shell left.

Deleted: phone, the person's name, consent records, link codes, the conversation, every spoken answer (the
recordings too), every idea, every dossier and product without an issued certificate or a council result,
files not needed for an issued certificate (the blob too, once no row references it), queued messages; the
chat identities go last, in ``purge``, once the person has been told what was kept (or the deadline came).

Kept, as administrative records of the province: an issued certificate, its decision, the council's result,
with the product and the organisation (the producer's registered name, type and commune) they belong to.
What stays of the user is a shell without any personal data (``users.erased_at``); with nothing to keep, the
user row goes too. The audit log records that a deletion happened and counts, never the deleted data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage import audit, outbox, stored_files, voice_answers
from storage.models import (
    Certificate,
    ChannelIdentity,
    ConsentRecord,
    Conversation,
    CouncilResult,
    Dossier,
    DossierItem,
    DossierItemFile,
    LinkCode,
    OutboxMessage,
    Producer,
    Product,
    ProductIdea,
    User,
    VoiceAnswer,
)


@dataclass
class Erased:
    """What one deletion did: the records kept (for the person and the request) and the blobs to unlink."""

    kept: list[dict[str, Any]] = field(default_factory=list)
    blob_paths: list[str] = field(default_factory=list)
    deleted: dict[str, int] = field(default_factory=dict)


async def erase_user(session: AsyncSession, user_id: int, *, now: dt.datetime) -> Erased:
    """Delete everything of ``user_id`` the province need not keep (in the caller's transaction)."""
    result = Erased()
    # A recorded voice is the person's own: every spoken answer goes, whatever else the province keeps.
    spoken = await voice_answers.files_of_user(session, user_id)
    gone = await session.execute(delete(VoiceAnswer).where(VoiceAnswer.user_id == user_id))
    result.deleted["voice_answers"] = int(gone.rowcount or 0)  # type: ignore[attr-defined]
    producer = await session.scalar(select(Producer).where(Producer.user_id == user_id))
    if producer is not None:
        await _erase_producer_records(session, producer, result)
    result.blob_paths += await stored_files.remove_unreferenced(session, spoken)
    user = await session.get(User, user_id)
    if user is not None:
        user.phone = None
        user.display_name = None
        user.consent_at = None
        user.consent_declined_at = None
        user.consent_version = None
        user.mute_nudges = False
        user.phone_public = False
        user.erased_at = now
    for model in (ConsentRecord, LinkCode, Conversation, OutboxMessage):
        gone = await session.execute(delete(model).where(model.user_id == user_id))
        result.deleted[model.__tablename__] = int(gone.rowcount or 0)  # type: ignore[attr-defined]
    await session.flush()
    return result


async def _erase_producer_records(session: AsyncSession, producer: Producer, result: Erased) -> None:
    product_ids = list(await session.scalars(select(Product.id).where(Product.producer_id == producer.id)))
    dossier_ids = list(await session.scalars(select(Dossier.id).where(Dossier.product_id.in_(product_ids))))
    certificates = list(await session.scalars(select(Certificate).where(Certificate.product_id.in_(product_ids))))
    results = list(await session.scalars(select(CouncilResult).where(CouncilResult.dossier_id.in_(dossier_ids))))
    certified = {c.dossier_id for c in certificates if c.dossier_id is not None}
    kept_dossiers = certified | {r.dossier_id for r in results}
    kept_products = {c.product_id for c in certificates} | set(
        await session.scalars(select(Dossier.product_id).where(Dossier.id.in_(kept_dossiers)))
    )

    # Files: only those of a dossier that led to an issued certificate stay.
    items_without_certificate = select(DossierItem.id).where(
        DossierItem.dossier_id.in_([d for d in dossier_ids if d not in certified])
    )
    candidates = list(
        await session.scalars(
            select(DossierItemFile.stored_file_id).where(DossierItemFile.item_id.in_(items_without_certificate))
        )
    )
    gone = await session.execute(delete(DossierItemFile).where(DossierItemFile.item_id.in_(items_without_certificate)))
    result.deleted["files"] = int(gone.rowcount or 0)  # type: ignore[attr-defined]
    # The files kept say nothing of who sent them or what the phone called them.
    await session.execute(
        update(DossierItemFile)
        .where(DossierItemFile.item_id.in_(select(DossierItem.id).where(DossierItem.dossier_id.in_(certified))))
        .values(original_name=None, uploaded_by=None)
    )
    gone = await session.execute(
        delete(Dossier).where(Dossier.id.in_(dossier_ids), Dossier.id.not_in(kept_dossiers or {-1}))
    )
    result.deleted["dossiers"] = int(gone.rowcount or 0)  # type: ignore[attr-defined]
    gone = await session.execute(delete(ProductIdea).where(ProductIdea.producer_id == producer.id))
    result.deleted["ideas"] = int(gone.rowcount or 0)  # type: ignore[attr-defined]
    gone = await session.execute(
        delete(Product).where(Product.id.in_(product_ids), Product.id.not_in(kept_products or {-1}))
    )
    result.deleted["products"] = int(gone.rowcount or 0)  # type: ignore[attr-defined]
    if not kept_products:
        await session.execute(delete(Producer).where(Producer.id == producer.id))
    result.blob_paths = await stored_files.remove_unreferenced(session, candidates)
    result.kept = await _kept(session, kept_products, certificates, results)


async def _kept(
    session: AsyncSession, product_ids: set[int], certificates: list[Certificate], results: list[CouncilResult]
) -> list[dict[str, Any]]:
    if not product_ids:
        return []
    names = dict((await session.execute(select(Product.id, Product.name).where(Product.id.in_(product_ids)))).all())
    dossier_product = dict(
        (
            await session.execute(
                select(Dossier.id, Dossier.product_id).where(Dossier.id.in_([r.dossier_id for r in results] or [-1]))
            )
        ).all()
    )
    kept: list[dict[str, Any]] = [
        {
            "what": "certificate",
            "product": names.get(c.product_id, ""),
            "stars": c.stars,
            "decision_no": c.decision_no,
            "issued_on": c.issued_on.isoformat(),
        }
        for c in sorted(certificates, key=lambda c: c.issued_on)
    ]
    certified = {c.dossier_id for c in certificates}
    kept += [
        {"what": "council_result", "product": names.get(dossier_product.get(r.dossier_id, -1), ""), "stars": r.stars}
        for r in results
        if r.dossier_id not in certified
    ]
    return kept


async def record(session: AsyncSession, *, request_id: int, erased: Erased, now: dt.datetime, actor: str) -> None:
    """The audit line: that a deletion happened and how much went, never what."""
    await audit.record(
        session,
        at=now,
        actor_user_id=None,
        actor_label=actor,
        action="privacy.erased",
        object_type="privacy_request",
        object_id=request_id,
        after={**erased.deleted, "kept_records": len(erased.kept), "blobs": len(erased.blob_paths)},
    )


async def has_unsent_messages(session: AsyncSession, user_id: int) -> bool:
    found = await session.scalar(
        select(OutboxMessage.id)
        .where(OutboxMessage.user_id == user_id, OutboxMessage.status.in_((outbox.PENDING, outbox.CLAIMED)))
        .limit(1)
    )
    return found is not None


async def purge(session: AsyncSession, user_id: int) -> None:
    """The last step: chat identities and every message row go; the user row too unless records are kept."""
    await session.execute(delete(ChannelIdentity).where(ChannelIdentity.user_id == user_id))
    await session.execute(delete(OutboxMessage).where(OutboxMessage.user_id == user_id))
    keeps = await session.scalar(select(Producer.id).where(Producer.user_id == user_id))
    if keeps is None:
        await session.execute(delete(User).where(User.id == user_id))


async def silence_erased(session: AsyncSession, keep_kinds: tuple[str, ...]) -> int:
    """Reminders stop: queued rows for erased users (a kept certificate still has reminders) are dropped."""
    erased = select(User.id).where(User.erased_at.is_not(None))
    gone = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.user_id.in_(erased),
            OutboxMessage.status == outbox.PENDING,
            OutboxMessage.kind.not_in(keep_kinds),
        )
    )
    return int(gone.rowcount or 0)  # type: ignore[attr-defined]
