"""Rows for reminder tests, inserted directly (synthetic users, never real people), and a recording Delivery."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.delivery import DeliveryError
from bot.messages import Outbound, Text
from storage.models import (
    Certificate,
    ChannelIdentity,
    Dossier,
    DossierItem,
    OutboxMessage,
    Producer,
    Product,
    Round,
    StaffRole,
    User,
)

_numbers = itertools.count(1)
COMMUNE_A, COMMUNE_B = 11111, 22222


async def user(
    session: AsyncSession,
    *,
    channel: str | None = "telegram",
    chat_id: str | None = None,
    seen: dt.datetime | None = None,
    muted: bool = False,
) -> User:
    found = User(locale="vi", display_name="synthetic", mute_nudges=muted)
    session.add(found)
    await session.flush()
    if channel is not None:
        number = next(_numbers)
        session.add(
            ChannelIdentity(
                channel=channel,
                external_id=f"x{found.id}-{number}",
                chat_id=chat_id or str(1000 + found.id),
                user_id=found.id,
                active=True,
                last_seen_at=seen,
            )
        )
        await session.flush()
    return found


async def producer(session: AsyncSession, *, commune: int = COMMUNE_A, muted: bool = False) -> Producer:
    owner = await user(session, muted=muted)
    found = Producer(
        user_id=owner.id,
        kind="htx",
        name=f"HTX {owner.id}",
        name_folded=f"htx {owner.id}",
        commune_code=commune,
        commune_name="Xã A",
    )
    session.add(found)
    await session.flush()
    return found


async def dossier(
    session: AsyncSession,
    owner: Producer,
    *,
    status: str = "draft",
    round_id: int | None = None,
    created: dt.datetime,
    submitted: dt.datetime | None = None,
    items: Sequence[tuple[str, bool]] = (("registration_form", True), ("lab_test", True), ("awards", False)),
) -> Dossier:
    product = Product(
        producer_id=owner.id,
        name=f"Chè {owner.id}",
        name_folded=f"che {owner.id}",
        group_code="drink",
        commune_code=owner.commune_code,
    )
    session.add(product)
    await session.flush()
    found = Dossier(
        product_id=product.id,
        case="new",
        status=status,
        rule_set="QD148_1489",
        round_id=round_id,
        submitted_at=submitted,
        created_at=created,
        updated_at=created,
        items=[DossierItem(code=code, position=i, required=req) for i, (code, req) in enumerate(items)],
    )
    session.add(found)
    await session.flush()
    return found


async def certificate(session: AsyncSession, owner: Producer, *, expires: dt.date) -> Certificate:
    product = Product(
        producer_id=owner.id,
        name=f"Mật ong {owner.id}",
        name_folded="mat ong",
        group_code="food",
        commune_code=owner.commune_code,
    )
    session.add(product)
    await session.flush()
    found = Certificate(
        product_id=product.id,
        stars=3,
        decision_no="123/QĐ-UBND",
        issued_on=expires - dt.timedelta(days=1095),
        expires_on=expires,
        status="valid",
    )
    session.add(found)
    await session.flush()
    return found


async def staff(session: AsyncSession, role: str, *, commune: int | None = None, province: str = "Lai Châu") -> User:
    officer = await user(session)
    session.add(StaffRole(user_id=officer.id, role=role, commune_code=commune, province=province))
    await session.flush()
    return officer


async def new_round(
    session: AsyncSession, deadline: dt.date, *, meeting: dt.date | None = None, province: str = "Lai Châu"
) -> Round:
    found = Round(province=province, name=f"Đợt {deadline.isoformat()}", submit_deadline=deadline, meeting_date=meeting)
    session.add(found)
    await session.flush()
    return found


async def outbox_rows(session: AsyncSession) -> list[OutboxMessage]:
    return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@dataclass
class RecordingDelivery:
    """A Delivery that records what it sent; ``errors`` per chat raise in turn before any success."""

    channel: str = "telegram"
    sent: list[tuple[str, str]] = field(default_factory=list)
    errors: dict[str, list[Exception]] = field(default_factory=dict)
    delay: float = 0.0
    hang_after: int | None = None  # after this many sends, never return (a sender killed mid-send)
    attempts: list[str] = field(default_factory=list)

    async def deliver(self, chat_id: str, outbounds: Sequence[Outbound]) -> None:
        self.attempts.append(chat_id)
        queued = self.errors.get(chat_id)
        if queued:
            error = queued.pop(0) if len(queued) > 1 else queued[0]
            raise error
        if self.hang_after is not None and len(self.sent) >= self.hang_after:
            await asyncio.Event().wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        for outbound in outbounds:
            assert isinstance(outbound, Text)
            self.sent.append((chat_id, outbound.text))


def always(error: DeliveryError) -> list[Exception]:
    return [error]
