"""The reminder sweep: a year of deadlines on the Lai Châu 2023 list, idempotence, two engines at once, and
each kind of reminder's recipients. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot import reminders as kinds
from bot.app import App
from bot.dates import day_months
from bot.notices import render
from bot.product_import import import_laichau
from bot.scheduler import Reminders
from bot.sweep import sweep, windows
from storage.db import create_engine, session_factory
from storage.models import Certificate, DossierItem, OutboxMessage, Round
from storage.rounds import planned_rounds, seed_rounds
from tests import reminder_data as data

LAICHAU = Path("/work/shared/data/laichau-2023-ocop-registrations.csv")
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DATE = re.compile(r"\b\d{2}/\d{2}/\d{4}\b")


def at_local(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), TZ).astimezone(dt.UTC)


def local_day(value: dt.datetime) -> dt.date:
    if value.tzinfo is None:  # SQLite gives naive UTC back
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(TZ).date()


def test_windows() -> None:
    assert windows([14, 3, 1]) == [(14, 3), (3, 1), (1, 0)]
    assert windows([0, 30, 180, 90]) == [(180, 90), (90, 30), (30, 0)]
    assert day_months("20/10, 20/05,31/02,29/02,x") == [(29, 2), (20, 5), (20, 10)]
    assert planned_rounds(2023, [(29, 2), (20, 5), (20, 10)]) == [
        ("Đợt 1/2023", dt.date(2023, 5, 20)),  # no 29/02 in 2023
        ("Đợt 2/2023", dt.date(2023, 10, 20)),
    ]


@pytest.mark.skipif(not LAICHAU.exists(), reason="the shared Lai Châu list is not available")
async def test_a_year_of_reminders_on_the_laichau_list(app: App) -> None:
    start = at_local(dt.date(2023, 1, 1))
    clock = {"now": start}
    reminders = Reminders(app.engine.sessions, app.settings, {}, clock=lambda: clock["now"])
    async with app.engine.sessions() as session, session.begin():
        imported = await import_laichau(session, LAICHAU, province=app.settings.ocop.province, now=start)
        officers = [(await data.staff(session, "province")).id for _ in range(2)]
    assert (imported.products, imported.dossiers, imported.certificates) == (105, 105, 40)

    day = dt.date(2023, 1, 1)
    while day.year == 2023:
        clock["now"] = at_local(day)
        await reminders.sweep_once()
        if day.weekday() == 6:  # and again late at night: nothing new
            clock["now"] = at_local(day, 23)
            again = await reminders.sweep_once()
            assert again.total == 0
        day += dt.timedelta(days=1)

    async with app.engine.sessions() as session:
        rows = await data.outbox_rows(session)
        rounds = list(await session.scalars(select(Round).order_by(Round.submit_deadline)))
        certificates = list(await session.scalars(select(Certificate)))
    assert [r.submit_deadline for r in rounds] == [dt.date(2023, 5, 20), dt.date(2023, 10, 20)]
    by_kind = Counter(row.kind for row in rows)

    # Round deadlines: every dossier (all 105 are unsubmitted drafts), each round, each offset, on its day.
    deadline_rows = [r for r in rows if r.kind == kinds.ROUND_DEADLINE]
    assert len(deadline_rows) == 105 * 3 * 2
    deadlines = {r.id: r.submit_deadline for r in rounds}
    for row in deadline_rows:
        round_id, offset = re.match(r"round:(\d+):d(\d+):", row.dedupe_key).groups()  # type: ignore[union-attr]
        assert local_day(row.created_at) == deadlines[int(round_id)] - dt.timedelta(days=int(offset))
        assert not row.urgent
    assert len({(r.params["dossier_id"], r.dedupe_key.split(":")[1:3].__str__()) for r in deadline_rows}) == 630

    # Certificates issued in 2020 expire on 15/10/2023: −180, −90, −30 and the day, producer and 2 officers.
    expiring = [r for r in rows if r.kind.startswith("certificate")]
    assert by_kind[kinds.CERTIFICATE_EXPIRY] == 39 * 3
    assert by_kind[kinds.CERTIFICATE_EXPIRED] == 39
    assert by_kind[kinds.CERTIFICATE_EXPIRY_STAFF] == 39 * 3 * 2
    assert by_kind[kinds.CERTIFICATE_EXPIRED_STAFF] == 39 * 2
    expiry = dt.date(2023, 10, 15)
    for row in expiring:
        offset = int(re.search(r":d(\d+):", row.dedupe_key).group(1))  # type: ignore[union-attr]
        assert local_day(row.created_at) == expiry - dt.timedelta(days=offset)
        assert row.urgent == (offset <= 30)
    assert {r.user_id for r in expiring if r.kind.endswith("_staff")} == set(officers)
    assert Counter(c.status for c in certificates) == {"expired": 39, "valid": 1}  # the 2021 one lasts to 2024

    # The weekly nudge: once per draft and ISO week, from a week after the import.
    weeks = {(d.isocalendar()[0], d.isocalendar()[1]) for d in _days(dt.date(2023, 1, 8), dt.date(2023, 12, 31))}
    nudges = Counter(r.params["dossier_id"] for r in rows if r.kind == kinds.DRAFT_MISSING)
    assert len(nudges) == 105 and set(nudges.values()) == {len(weeks)}

    # Rendered in Vietnamese with dd/MM/yyyy dates and no placeholder left.
    for row in rows[:: max(1, len(rows) // 400)] + expiring + deadline_rows[:5]:
        text = render(row.kind, row.params, "vi").text  # type: ignore[union-attr]
        assert "{" not in text
        if row.kind != kinds.DRAFT_MISSING:
            assert DATE.search(text), text
    assert "20/05/2023" in render(deadline_rows[0].kind, deadline_rows[0].params, "vi").text  # type: ignore[union-attr]
    assert "15/10/2023" in render(expiring[0].kind, expiring[0].params, "vi").text  # type: ignore[union-attr]
    assert "✗" in render(deadline_rows[0].kind, deadline_rows[0].params, "vi").text  # type: ignore[union-attr]


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


async def _scenario(app: App, now: dt.datetime) -> dict[str, int]:
    """A bit of everything due at ``now``; returns ids for assertions."""
    today = local_day(now)
    async with app.engine.sessions() as session, session.begin():
        round_ = await data.new_round(session, today + dt.timedelta(days=3), meeting=today + dt.timedelta(days=40))
        early = now - dt.timedelta(days=30)
        draft_owner = await data.producer(session)
        draft = await data.dossier(session, draft_owner, round_id=round_.id, created=early)
        waiting_owner = await data.producer(session)
        waiting = await data.dossier(
            session,
            waiting_owner,
            status="submitted_commune",
            round_id=round_.id,
            created=early,
            submitted=now - dt.timedelta(days=6),
        )
        expiring_doc = (await session.scalars(select(DossierItem).where(DossierItem.dossier_id == waiting.id))).all()
        expiring_doc[1].expires_on = today + dt.timedelta(days=20)  # lab test, before the meeting
        cert_owner = await data.producer(session, muted=True)
        cert_30 = await data.certificate(session, cert_owner, expires=today + dt.timedelta(days=30))
        cert_90 = await data.certificate(session, cert_owner, expires=today + dt.timedelta(days=88))
        officer_a = await data.staff(session, "commune", commune=data.COMMUNE_A)
        officer_b = await data.staff(session, "commune", commune=data.COMMUNE_B)
        province = await data.staff(session, "province")
        return {
            "round": round_.id,
            "draft": draft.id,
            "draft_user": draft_owner.user_id,
            "waiting": waiting.id,
            "waiting_user": waiting_owner.user_id,
            "cert_user": cert_owner.user_id,
            "cert_30": cert_30.id,
            "cert_90": cert_90.id,
            "officer_a": officer_a.id,
            "officer_b": officer_b.id,
            "province": province.id,
        }


async def test_each_kind_reaches_the_right_people(app: App) -> None:
    now = at_local(dt.date(2026, 3, 2))
    ids = await _scenario(app, now)
    async with app.engine.sessions() as session, session.begin():
        result = await sweep(session, app.settings, now)
    async with app.engine.sessions() as session:
        rows = await data.outbox_rows(session)
    got = {(r.kind, r.user_id) for r in rows}
    assert (kinds.ROUND_DEADLINE, ids["draft_user"]) in got  # D−3, not submitted
    assert (kinds.ROUND_DEADLINE, ids["waiting_user"]) not in got  # submitted already
    assert (kinds.ROUND_DEADLINE_REVIEW, ids["officer_a"]) in got
    assert (kinds.REVIEW_WAITING, ids["officer_a"]) in got  # 6 days > 5
    assert not any(r.user_id == ids["officer_b"] for r in rows)  # another commune
    assert (kinds.DRAFT_MISSING, ids["draft_user"]) in got
    assert (kinds.DOCUMENT_EXPIRING, ids["waiting_user"]) in got
    # The certificate owner muted nudges: the −90 reminder is skipped, the legal −30 notice is not.
    cert_rows = [r for r in rows if r.user_id == ids["cert_user"]]
    assert [(r.kind, r.params["days"], r.urgent) for r in cert_rows] == [(kinds.CERTIFICATE_EXPIRY, 30, True)]
    staff_rows = sorted((r.params["days"], r.urgent) for r in rows if r.user_id == ids["province"])
    assert staff_rows == [(30, True), (90, False)]
    assert result.total == len(rows)
    review = next(r for r in rows if r.kind == kinds.ROUND_DEADLINE_REVIEW)
    assert review.params["count"] == 1
    draft_row = next(r for r in rows if r.kind == kinds.ROUND_DEADLINE)
    assert set(draft_row.params["missing"].split(",")) == {"registration_form", "lab_test"}


async def test_twice_and_on_two_engines_at_once_writes_each_once(app: App) -> None:
    now = at_local(dt.date(2026, 3, 2))
    await _scenario(app, now)
    engines = [create_engine(app.settings.database_url) for _ in range(2)]

    async def run(engine_index: int) -> int:
        sessions = session_factory(engines[engine_index])
        async with sessions() as session, session.begin():
            return (await sweep(session, app.settings, now)).total

    try:
        totals = await asyncio.gather(run(0), run(1))
    finally:
        for engine in engines:
            await engine.dispose()
    async with app.engine.sessions() as session:
        count = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert count is not None and count > 0
    assert sum(totals) == count  # together they wrote each row once
    async with app.engine.sessions() as session, session.begin():
        assert (await sweep(session, app.settings, now)).total == 0


async def test_rounds_are_seeded_once(app: App) -> None:
    now = at_local(dt.date(2026, 1, 5))
    for _ in range(2):
        async with app.engine.sessions() as session, session.begin():
            await seed_rounds(session, app.settings.ocop.province, 2026, [(20, 10), (20, 5)], now)
    async with app.engine.sessions() as session:
        found = list(await session.scalars(select(Round).order_by(Round.submit_deadline)))
    assert [r.submit_deadline for r in found] == [dt.date(2026, 5, 20), dt.date(2026, 10, 20)]
