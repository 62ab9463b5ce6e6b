"""Building blocks for staff tests: staff users, submitted ideas and dossiers with real files, DB reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.communes import find_communes
from bot.rules import DossierCase, DossierStatus, IdeaStatus, ProductGroup, requirements_for, rule_set_for
from bot.text import fold
from storage import certificates, dossiers, producers, staff, users
from storage.models import (
    AuditEntry,
    Certificate,
    CommuneCriterion,
    Dossier,
    OutboxMessage,
    ProductIdea,
)
from tests.files import png

T = TypeVar("T")

BINH_LU = "Bình Lư"
PHONG_THO = "Phong Thổ"


def commune_code(app: App, name: str) -> int:
    return find_communes(app.settings.ocop.province, name)[0].code


async def in_session(app: App, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with app.engine.sessions() as session, session.begin():
        return await work(session)


async def make_staff(
    app: App, external_id: str, role: str, commune: str | None = None, *, name: str | None = None
) -> int:
    """A user holding one staff role (no producer row, no onboarding); returns the user id."""
    now = app.engine.clock()

    async def work(session: AsyncSession) -> int:
        user, _identity = await users.identity_user(
            session, "console", external_id, chat_id=external_id, display_name=name, locale="vi", now=now
        )
        await staff.grant(
            session,
            user_id=user.id,
            role=role,
            province=app.settings.ocop.province,
            commune_code=commune_code(app, commune) if commune else None,
            granted_by=None,
            now=now,
        )
        return user.id

    return await in_session(app, work)


async def make_idea(app: App, producer_user_id: int, name: str = "Chè shan tuyết") -> int:
    now = app.engine.clock()

    async def work(session: AsyncSession) -> int:
        producer = await producers.producer_of_user(session, producer_user_id)
        assert producer is not None
        idea = ProductIdea(
            producer_id=producer.id,
            commune_code=producer.commune_code,
            name=name,
            name_folded=fold(name),
            group_code=ProductGroup.DRINK.value,
            description="Chè búp khô",
            status=IdeaStatus.SUBMITTED_COMMUNE.value,
            submitted_at=now,
        )
        session.add(idea)
        await session.flush()
        return idea.id

    return await in_session(app, work)


async def make_dossier(
    app: App,
    producer_user_id: int,
    *,
    product: str = "Chè Tả Van",
    status: DossierStatus = DossierStatus.SUBMITTED_COMMUNE,
    seed: int = 1,
    original_name: str = "anh.png",
) -> int:
    """A submitted dossier whose first producer item carries one real PNG file; returns the dossier id."""

    async def work(session: AsyncSession) -> int:
        dossier = await add_dossier(
            app, session, producer_user_id, product=product, status=status, data=png(seed), original_name=original_name
        )
        dossier.submitted_at = app.engine.clock()
        return dossier.id

    return await in_session(app, work)


async def add_dossier(
    app: App,
    session: AsyncSession,
    producer_user_id: int,
    *,
    product: str,
    status: DossierStatus,
    data: bytes,
    original_name: str = "anh.png",
) -> Dossier:
    """A new product of the producer with its dossier (the whole checklist of a new product), ``data`` stored as
    a PNG in its first producer item; in the caller's session, so that many can share one transaction."""
    now = app.engine.clock()
    sha, path = await app.engine.files.put(data, "png")
    producer = await producers.producer_of_user(session, producer_user_id)
    assert producer is not None
    made = await dossiers.create_product(
        session,
        producer.id,
        name=product,
        name_folded=fold(product),
        group_code=ProductGroup.DRINK.value,
        is_service=False,
        commune_code=producer.commune_code,
    )
    requirements = requirements_for(ProductGroup.DRINK, DossierCase.NEW)
    dossier = await dossiers.create_dossier(
        session,
        made.id,
        case=DossierCase.NEW.value,
        status=status.value,
        rule_set=rule_set_for(now.date()).code,
        items=[dossiers.NewItem(r.code, i, r.required) for i, r in enumerate(requirements)],
        now=now,
    )
    stored = await dossiers.stored_file(
        session, sha256=sha, size=len(data), mime="image/png", path=str(path.relative_to(app.engine.files.root))
    )
    first = next(item for item in dossier.items if item.code != "commune_report")
    await dossiers.link_file(
        session, first.id, stored.id, original_name=original_name, uploaded_by=producer_user_id, now=now
    )
    return dossier


async def certify(app: App, session: AsyncSession, dossier_id: int, *, public_code: str) -> Certificate:
    """A 4★ certificate on the dossier (decision 12/QĐ-UBND, 20/02/2026 to 20/02/2029)."""
    return await certificates.issue(
        session,
        product_id=(await session.get_one(Dossier, dossier_id)).product_id,
        dossier_id=dossier_id,
        stars=4,
        decision_no="12/QĐ-UBND",
        issued_on=dt.date(2026, 2, 20),
        expires_on=dt.date(2029, 2, 20),
        issued_by=None,
        now=app.engine.clock(),
        public_code=public_code,
    )


async def dossier_row(app: App, dossier_id: int) -> Dossier:
    async def work(session: AsyncSession) -> Dossier:
        found = await session.get(Dossier, dossier_id)
        assert found is not None
        return found

    return await in_session(app, work)


async def idea_row(app: App, idea_id: int) -> ProductIdea:
    async def work(session: AsyncSession) -> ProductIdea:
        found = await session.get(ProductIdea, idea_id)
        assert found is not None
        return found

    return await in_session(app, work)


async def criteria(app: App, dossier_id: int) -> dict[str, str]:
    async def work(session: AsyncSession) -> dict[str, str]:
        rows = await session.scalars(select(CommuneCriterion).where(CommuneCriterion.dossier_id == dossier_id))
        return {row.criterion: row.status for row in rows}

    return await in_session(app, work)


async def outbox(app: App, user_id: int | None = None) -> list[OutboxMessage]:
    async def work(session: AsyncSession) -> list[OutboxMessage]:
        statement = select(OutboxMessage).order_by(OutboxMessage.id)
        if user_id is not None:
            statement = statement.where(OutboxMessage.user_id == user_id)
        return list(await session.scalars(statement))

    return await in_session(app, work)


async def audit_log(app: App) -> list[AuditEntry]:
    """The changes staff made (their reads of a producer's records are counted in tests/test_privacy.py)."""

    async def work(session: AsyncSession) -> list[AuditEntry]:
        return list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action != "personal_data.read").order_by(AuditEntry.id)
            )
        )

    return await in_session(app, work)


async def snapshot(app: App) -> dict[str, Any]:
    """Everything a staff action may write, to compare before and after a refused action."""

    async def work(session: AsyncSession) -> dict[str, Any]:
        dossier_rows = [(d.id, d.status, d.version, d.review_note) for d in await session.scalars(select(Dossier))]
        idea_rows = [(i.id, i.status, i.reviewed_by) for i in await session.scalars(select(ProductIdea))]
        criterion_rows = [
            (c.dossier_id, c.criterion, c.status) for c in await session.scalars(select(CommuneCriterion))
        ]
        actions = list(await session.scalars(select(AuditEntry.action)))
        audits = sum(action != "personal_data.read" for action in actions)
        reads = len(actions) - audits
        notices = len(list(await session.scalars(select(OutboxMessage.id))))
        from storage.models import Invite, StaffRole

        roles = [(r.id, r.revoked_at) for r in await session.scalars(select(StaffRole))]
        invites = len(list(await session.scalars(select(Invite.id))))
        return {
            "dossiers": sorted(dossier_rows),
            "ideas": sorted(idea_rows),
            "criteria": sorted(criterion_rows),
            "audit": audits,
            "reads": reads,  # staff reads of a producer's data: a refused action must not write one either
            "outbox": notices,
            "roles": sorted(roles, key=lambda r: r[0]),
            "invites": invites,
        }

    return await in_session(app, work)


def later(app: App, days: int) -> dt.datetime:
    return app.engine.clock() + dt.timedelta(days=days)
