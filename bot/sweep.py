"""The reminder sweep: finds every reminder that is due and writes it into the outbox, once.

Each kind of reminder is one ``INSERT INTO outbox … SELECT … ON CONFLICT (dedupe_key) DO NOTHING`` statement:
the database picks the recipients (set-based, no Python loop over rows) and the unique dedupe key makes the
sweep idempotent, so running it twice, late, or on two machines at once writes each reminder exactly once.
Nothing here talks to a platform; ``bot.sender`` drains the outbox, sending one user's due rows of a digest family
(``bot.reminders.DIGESTS``) as one message while each row stays its own, deduplicated reminder.

Offsets work as windows, so a sweep that did not run on the exact day (the bot was down) still catches up with
the reminder of the current window, and never with an older one: with offsets 14, 3, 1 the D−14 reminder is due
while ``today + 3 < deadline <= today + 14``, the D−3 one while ``today + 1 < deadline <= today + 3``, …
Certificate windows only reach back ``OCOP_REMINDER_CATCH_UP_DAYS`` (7) days, so that a sweep every few
minutes does not re-check every certificate of a 90-day window each time.

Reminders (recipient → dedupe key; urgent rows pass quiet hours; muted rows are skipped for users with
``mute_nudges``):

* round deadline D−14/−3/−1 → producer of each unsubmitted dossier of the round (or unassigned draft):
  ``round:R:dK:dossier:D:user:U``; not urgent, not muted;
* round deadline D−14/−3/−1 → commune officers with reviews pending: ``round:R:dK:commune:C:user:U``;
* weekly draft nudge → producer of a draft with required items missing: ``draft:D:week:2026-W10:user:U``;
  muted;
* review waiting more than N days → the commune's officers: ``review:D:vV:user:U``;
* certificate −180/−90 → producer (muted) and province officers: ``cert:C:dK:user:U``;
* certificate −30 and on the day → producer and province officers: ``cert:C:dK:user:U``; urgent, never muted
  (the legal notice);
* document expiring before the council meeting → producer: ``docexp:I:2026-05-01:user:U``.

On the day a certificate expires its status becomes ``expired``.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    String,
    and_,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from bot import reminders as kinds
from bot.rules import EXPIRY_NOTICE_DAYS, DossierStatus, Role, SuppliedBy, all_requirements
from bot.settings import Settings
from storage import certificates, outbox, rounds
from storage.db import dialect_of
from storage.models import (
    Certificate,
    Dossier,
    DossierItem,
    DossierItemFile,
    OutboxMessage,
    Producer,
    Product,
    Round,
    StaffRole,
    User,
)

_S = DossierStatus
# Not yet handed to the commune, or handed back to the producer: the producer still has to act.
PRODUCER_TO_ACT = (_S.DRAFT.value, _S.NEEDS_SUPPLEMENT.value, _S.PROVINCE_SUPPLEMENT.value)
WAITING_FOR_COMMUNE = (_S.SUBMITTED_COMMUNE.value, _S.COMMUNE_REVIEW.value)
# Dossiers still on their way to the council: their documents must stay valid until the meeting.
BEFORE_COUNCIL = (
    *PRODUCER_TO_ACT,
    *WAITING_FOR_COMMUNE,
    _S.COMMUNE_CONFIRMED.value,
    _S.AT_PROVINCE.value,
    _S.COMPLETENESS_CHECK.value,
    _S.SCHEDULED.value,
)
# A pg_advisory_xact_lock key ("OCOP" in ASCII): two sweeps on PostgreSQL insert overlapping keys in whatever
# order their plans give; taking turns avoids a deadlock between them. The dedupe key is what guarantees once.
_SWEEP_LOCK = 0x4F434F50


@dataclass
class SweepResult:
    written: dict[str, int] = field(default_factory=dict)
    expired_certificates: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # time spent per kind, for the benchmark

    @property
    def total(self) -> int:
        return sum(self.written.values())

    def add(self, kind: str, count: int, seconds: float = 0.0) -> None:
        self.written[kind] = self.written.get(kind, 0) + count
        self.seconds[kind] = self.seconds.get(kind, 0.0) + seconds


def local_today(now: dt.datetime, settings: Settings) -> dt.date:
    return now.astimezone(ZoneInfo(settings.ocop.timezone)).date()


def windows(offsets: Sequence[int]) -> list[tuple[int, int]]:
    """``[14, 3, 1]`` → ``[(14, 3), (3, 1), (1, 0)]``: offset K is due while ``today+next < date <= today+K``."""
    ordered = sorted({o for o in offsets if o > 0}, reverse=True)
    return [(k, ordered[i + 1] if i + 1 < len(ordered) else 0) for i, k in enumerate(ordered)]


class _Sql:
    """The few expressions that differ between SQLite and PostgreSQL."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect

    def json(self, **fields: Any) -> ColumnElement[Any]:
        arguments: list[Any] = []
        for name, value in fields.items():
            # The names are ours, never user input; as SQL text they need no parameter type on PostgreSQL.
            arguments += [literal_column(f"'{name}'"), value]
        if self.dialect == "postgresql":
            return func.json_build_object(*arguments)
        return func.json_object(*arguments)

    def join_text(self, column: Any) -> ColumnElement[Any]:
        if self.dialect == "postgresql":
            return func.string_agg(column, literal_column("','"))
        return func.group_concat(column, literal_column("','"))

    def insert(self, rows: Select[Any]) -> Any:
        columns = [
            "dedupe_key",
            "user_id",
            "kind",
            "params",
            "urgent",
            "status",
            "not_before",
            "attempts",
            "created_at",
        ]
        module = postgresql if self.dialect == "postgresql" else sqlite
        statement = module.insert(OutboxMessage.__table__).from_select(columns, rows)
        return statement.on_conflict_do_nothing(index_elements=["dedupe_key"])


def _key(*parts: Any) -> ColumnElement[str]:
    """``'round:' || r.id || ':d14' …`` on both databases."""
    pieces = [
        literal(part, String) if isinstance(part, str) else type_coerce(cast(part, String), String) for part in parts
    ]
    return functools.reduce(operator.add, pieces)


def _commune_codes() -> tuple[str, ...]:
    return tuple(r.code for r in all_requirements() if r.supplied_by is SuppliedBy.COMMUNE)


def _missing_condition(dossier_id: Any) -> Any:
    """Required items the producer supplies that have neither a file nor a hand-in date."""
    has_file = exists().where(DossierItemFile.item_id == DossierItem.id)
    return and_(
        DossierItem.dossier_id == dossier_id,
        DossierItem.required.is_(True),
        DossierItem.code.not_in(_commune_codes()),
        DossierItem.handed_in_at.is_(None),
        ~has_file,
    )


class Sweep:
    """One sweep at ``now``: call ``run`` inside a transaction."""

    def __init__(self, session: AsyncSession, settings: Settings, now: dt.datetime) -> None:
        self.session = session
        self.settings = settings
        self.now = now.astimezone(dt.UTC)
        self.today = local_today(now, settings)
        self.sql = _Sql(dialect_of(session))
        self.result = SweepResult()

    # Shared pieces -----------------------------------------------------------------------------------------
    def _fixed(self, kind: str, urgent: bool) -> list[Any]:
        """The constant columns of an outbox row after key, user and params."""
        return [
            literal(kind, String),
            None,  # params, filled by the caller
            literal(urgent, Boolean),
            literal(outbox.PENDING, String),
            literal(self.now, DateTime(timezone=True)),
            literal(0, Integer),
            literal(self.now, DateTime(timezone=True)),
        ]

    def _row(self, key: Any, user_id: Any, kind: str, params: Any, urgent: bool) -> list[Any]:
        fixed = self._fixed(kind, urgent)
        fixed[1] = params
        return [key.label("dedupe_key"), user_id, *fixed]

    async def _write(self, kind: str, rows: Select[Any]) -> None:
        started = time.perf_counter()
        result = await self.session.execute(self.sql.insert(rows))
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        self.result.add(kind, count, time.perf_counter() - started)

    def _date(self, value: dt.date) -> Any:
        return literal(value, Date)

    def _missing(self) -> Any:
        return (
            select(self.sql.join_text(DossierItem.code))
            .where(_missing_condition(Dossier.id))
            .correlate(Dossier)
            .scalar_subquery()
        )

    def _province_officers(self) -> Any:
        return and_(
            StaffRole.role == Role.PROVINCE.value,
            StaffRole.revoked_at.is_(None),
            StaffRole.province == self.settings.ocop.province,
        )

    def _commune_officers_of(self, commune_code: Any) -> Any:
        return and_(
            StaffRole.role == Role.COMMUNE.value,
            StaffRole.revoked_at.is_(None),
            StaffRole.commune_code == commune_code,
        )

    async def _next_round_id(self) -> int | None:
        """The open round with the nearest deadline from today: where an unassigned draft will go."""
        return await self.session.scalar(
            select(Round.id)
            .where(
                Round.province == self.settings.ocop.province,
                Round.status == rounds.OPEN,
                Round.submit_deadline >= self.today,
            )
            .order_by(Round.submit_deadline, Round.id)
            .limit(1)
        )

    # The reminders -----------------------------------------------------------------------------------------
    async def run(self) -> SweepResult:
        if self.sql.dialect == "postgresql":
            await self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SWEEP_LOCK})
        next_round = await self._next_round_id()
        for offset, after in windows(self.settings.reminders.round_reminder_days):
            await self.round_deadline_producers(offset, after, next_round)
            await self.round_deadline_communes(offset, after, next_round)
        await self.draft_nudges()
        await self.reviews_waiting()
        await self.certificates()
        await self.documents_expiring()
        return self.result

    def _round_window(self, offset: int, after: int) -> Any:
        return and_(
            Round.province == self.settings.ocop.province,
            Round.status == rounds.OPEN,
            Round.submit_deadline > self._date(self.today + dt.timedelta(days=after)),
            Round.submit_deadline <= self._date(self.today + dt.timedelta(days=offset)),
        )

    @staticmethod
    def _of_round(next_round: int | None) -> Any:
        if next_round is None:
            return Dossier.round_id == Round.id
        return or_(Dossier.round_id == Round.id, and_(Dossier.round_id.is_(None), Round.id == next_round))

    async def round_deadline_producers(self, offset: int, after: int, next_round: int | None) -> None:
        key = _key("round:", Round.id, f":d{offset}:dossier:", Dossier.id, ":user:", Producer.user_id)
        params = self.sql.json(
            round=Round.name,
            deadline=Round.submit_deadline,
            product=Product.name,
            dossier_id=Dossier.id,
            missing=self._missing(),
            days=literal(offset, Integer),
        )
        rows = (
            select(*self._row(key, Producer.user_id, kinds.ROUND_DEADLINE, params, urgent=False))
            .select_from(Round)
            .join(Dossier, self._of_round(next_round))
            .join(Product, Product.id == Dossier.product_id)
            .join(Producer, Producer.id == Product.producer_id)
            .where(self._round_window(offset, after), Dossier.status.in_(PRODUCER_TO_ACT))
        )
        await self._write(kinds.ROUND_DEADLINE, rows)

    async def round_deadline_communes(self, offset: int, after: int, next_round: int | None) -> None:
        key = _key("round:", Round.id, f":d{offset}:commune:", StaffRole.commune_code, ":user:", StaffRole.user_id)
        params = self.sql.json(
            round=Round.name, deadline=Round.submit_deadline, count=func.count(func.distinct(Dossier.id))
        )
        rows = (
            select(*self._row(key, StaffRole.user_id, kinds.ROUND_DEADLINE_REVIEW, params, urgent=False))
            .select_from(Round)
            .join(Dossier, self._of_round(next_round))
            .join(Product, Product.id == Dossier.product_id)
            .join(StaffRole, self._commune_officers_of(Product.commune_code))
            .where(self._round_window(offset, after), Dossier.status.in_(WAITING_FOR_COMMUNE))
            .group_by(Round.id, Round.name, Round.submit_deadline, StaffRole.commune_code, StaffRole.user_id)
        )
        await self._write(kinds.ROUND_DEADLINE_REVIEW, rows)

    async def draft_nudges(self) -> None:
        year, week, _weekday = self.today.isocalendar()
        key = _key("draft:", Dossier.id, f":week:{year}-W{week:02d}:user:", Producer.user_id)
        params = self.sql.json(product=Product.name, dossier_id=Dossier.id, missing=self._missing())
        old_enough = self.now - dt.timedelta(days=self.settings.reminders.draft_nudge_days)
        has_missing = exists(select(DossierItem.id).where(_missing_condition(Dossier.id)).correlate(Dossier))
        rows = (
            select(*self._row(key, Producer.user_id, kinds.DRAFT_MISSING, params, urgent=False))
            .select_from(Dossier)
            .join(Product, Product.id == Dossier.product_id)
            .join(Producer, Producer.id == Product.producer_id)
            .join(User, User.id == Producer.user_id)
            .where(
                Dossier.status == _S.DRAFT.value,
                Dossier.created_at <= literal(old_enough, DateTime(timezone=True)),
                User.mute_nudges.is_(False),
                has_missing,
            )
        )
        await self._write(kinds.DRAFT_MISSING, rows)

    async def reviews_waiting(self) -> None:
        key = _key("review:", Dossier.id, ":v", Dossier.version, ":user:", StaffRole.user_id)
        params = self.sql.json(
            product=Product.name, producer=Producer.name, dossier_id=Dossier.id, submitted=Dossier.submitted_at
        )
        since = self.now - dt.timedelta(days=self.settings.reminders.review_waiting_days)
        rows = (
            select(*self._row(key, StaffRole.user_id, kinds.REVIEW_WAITING, params, urgent=False))
            .select_from(Dossier)
            .join(Product, Product.id == Dossier.product_id)
            .join(Producer, Producer.id == Product.producer_id)
            .join(StaffRole, self._commune_officers_of(Product.commune_code))
            .where(
                Dossier.status.in_(WAITING_FOR_COMMUNE),
                Dossier.submitted_at <= literal(since, DateTime(timezone=True)),
            )
        )
        await self._write(kinds.REVIEW_WAITING, rows)

    async def certificates(self) -> None:
        offsets = self.settings.reminders.certificate_reminder_days
        catch_up = self.settings.reminders.catch_up_days
        for offset, after in windows(offsets):
            # Only the last few days of each window: a certificate entered a window once, on its day (or on
            # a day the bot was down); looking further back would re-check thousands of rows every sweep.
            after = max(after, offset - catch_up - 1)
            due = and_(
                Certificate.status == certificates.VALID,
                Certificate.expires_on > self._date(self.today + dt.timedelta(days=after)),
                Certificate.expires_on <= self._date(self.today + dt.timedelta(days=offset)),
            )
            await self._certificate_notices(offset, due, kinds.CERTIFICATE_EXPIRY, kinds.CERTIFICATE_EXPIRY_STAFF)
        if 0 in offsets:
            grace = self.today - dt.timedelta(days=self.settings.reminders.expired_notice_grace_days)
            due = and_(
                Certificate.status == certificates.VALID,
                Certificate.expires_on >= self._date(grace),
                Certificate.expires_on <= self._date(self.today),
            )
            await self._certificate_notices(0, due, kinds.CERTIFICATE_EXPIRED, kinds.CERTIFICATE_EXPIRED_STAFF)
        # The notices above saw the certificates as valid; from today they are expired.
        result = await self.session.execute(
            update(Certificate)
            .where(Certificate.status == certificates.VALID, Certificate.expires_on <= self._date(self.today))
            .values(status=certificates.EXPIRED)
            .execution_options(synchronize_session=False)
        )
        self.result.expired_certificates = int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def _certificate_notices(self, offset: int, due: Any, kind: str, staff_kind: str) -> None:
        # The legal notice (30 days, ocop-domain.md §7) and the expiry itself are urgent and cannot be muted.
        legal = offset <= EXPIRY_NOTICE_DAYS
        params = self.sql.json(
            product=Product.name,
            producer=Producer.name,
            stars=Certificate.stars,
            decision=Certificate.decision_no,
            expires=Certificate.expires_on,
            days=literal(offset, Integer),
        )
        producer_key = _key("cert:", Certificate.id, f":d{offset}:user:", Producer.user_id)
        producers = (
            select(*self._row(producer_key, Producer.user_id, kind, params, urgent=legal))
            .select_from(Certificate)
            .join(Product, Product.id == Certificate.product_id)
            .join(Producer, Producer.id == Product.producer_id)
            .join(User, User.id == Producer.user_id)
            .where(due)
        )
        if not legal:
            producers = producers.where(User.mute_nudges.is_(False))
        await self._write(kind, producers)
        staff_key = _key("cert:", Certificate.id, f":d{offset}:user:", StaffRole.user_id)
        staff = (
            select(*self._row(staff_key, StaffRole.user_id, staff_kind, params, urgent=legal))
            .select_from(Certificate)
            .join(Product, Product.id == Certificate.product_id)
            .join(Producer, Producer.id == Product.producer_id)
            .join(StaffRole, self._province_officers())
            .where(due)
        )
        await self._write(staff_kind, staff)

    async def documents_expiring(self) -> None:
        key = _key("docexp:", DossierItem.id, ":", DossierItem.expires_on, ":user:", Producer.user_id)
        params = self.sql.json(
            item=DossierItem.code,
            product=Product.name,
            dossier_id=Dossier.id,
            expires=DossierItem.expires_on,
            meeting=Round.meeting_date,
            round=Round.name,
        )
        rows = (
            select(*self._row(key, Producer.user_id, kinds.DOCUMENT_EXPIRING, params, urgent=False))
            .select_from(DossierItem)
            .join(Dossier, Dossier.id == DossierItem.dossier_id)
            .join(Round, Round.id == Dossier.round_id)
            .join(Product, Product.id == Dossier.product_id)
            .join(Producer, Producer.id == Product.producer_id)
            .where(
                DossierItem.expires_on.is_not(None),
                Round.meeting_date.is_not(None),
                Round.status == rounds.OPEN,
                Round.meeting_date >= self._date(self.today),
                DossierItem.expires_on < Round.meeting_date,
                Dossier.status.in_(BEFORE_COUNCIL),
            )
        )
        await self._write(kinds.DOCUMENT_EXPIRING, rows)


async def sweep(session: AsyncSession, settings: Settings, now: dt.datetime) -> SweepResult:
    """Write every due reminder into the outbox (in the caller's transaction)."""
    return await Sweep(session, settings, now).run()
