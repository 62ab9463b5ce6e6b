"""Rounds that make sense in the calendar: the planned rounds are created only while their deadline is ahead
(in November, next year's), an open round says how many days are left, and a dossier that reached the commune
after a round's deadline goes into it only by an explicit, audit-logged exception. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.app import App
from bot.rules import DossierStatus as S
from handlers.province_batch import BatchRound
from handlers.province_common import Back, OpenUnassigned, ProvinceHome, ProvinceRounds
from handlers.province_dossiers import Accept, OtherRound, PickRound, TakeLate
from handlers.province_rounds import SeedRounds
from storage.models import AuditEntry, Dossier, Round
from tests.chat import Chat, FrozenClock
from tests.test_province import audit_actions, dossier, make_round, make_staff, open_dossier, payloads, setup

NOVEMBER = dt.datetime(2026, 11, 28, 3, 0, tzinfo=dt.UTC)


async def planned(app: App) -> list[tuple[str, dt.date]]:
    async with app.engine.sessions() as session:
        return [(r.name, r.submit_deadline) for r in await session.scalars(select(Round).order_by(Round.id))]


async def test_in_november_the_button_creates_next_years_rounds(app: App, clock: FrozenClock) -> None:
    clock.now = NOVEMBER
    await make_staff(app, "prov1")
    officer = Chat(app.engine, "prov1")
    await officer.press(ProvinceRounds())
    label = next(c.label for c in officer.choices if c.payload == SeedRounds().pack())
    assert "20/05/2027, 20/10/2027" in label
    await officer.press(SeedRounds())
    assert await planned(app) == [("Đợt 1/2027", dt.date(2027, 5, 20)), ("Đợt 2/2027", dt.date(2027, 10, 20))]
    assert "còn 173 ngày" in officer.text  # 28/11/2026 → 20/05/2027


async def test_in_july_only_the_round_still_ahead_is_created(app: App, clock: FrozenClock) -> None:
    clock.now = dt.datetime(2026, 7, 1, 3, 0, tzinfo=dt.UTC)
    await make_staff(app, "prov1")
    officer = Chat(app.engine, "prov1")
    await officer.press(ProvinceRounds())
    await officer.press(SeedRounds())
    assert await planned(app) == [("Đợt 2/2026", dt.date(2026, 10, 20))]


async def test_a_late_dossier_goes_into_a_passed_round_only_by_an_audited_exception(
    app: App, clock: FrozenClock
) -> None:
    # The dossier reached the commune on 10/01/2026, after the deadline of a 2025 round.
    _producer, dossier_id, officer = await setup(app)
    round_id = await make_round(app, "Đợt 2/2025")
    async with app.engine.sessions() as session, session.begin():
        found = await session.get_one(Round, round_id)
        found.submit_deadline = dt.date(2025, 10, 20)
    await open_dossier(officer, dossier_id)
    await officer.press(Accept())
    await officer.press(PickRound(round=round_id))
    assert "sau hạn" in officer.text and {TakeLate().pack(), OtherRound().pack()} <= payloads(officer)
    assert (await dossier(app, dossier_id)).status == S.AT_PROVINCE  # nothing yet

    await officer.press(Back())
    assert (await dossier(app, dossier_id)).status == S.AT_PROVINCE
    assert await audit_actions(app) == []

    await officer.press(Accept())
    await officer.press(PickRound(round=round_id))
    await officer.press(TakeLate())
    found_dossier = await dossier(app, dossier_id)
    assert (found_dossier.status, found_dossier.round_id) == (S.SCHEDULED, round_id)
    assert await audit_actions(app) == ["dossier.late_round_override", "dossier.schedule"]
    async with app.engine.sessions() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "dossier.late_round_override"))
    assert entry is not None and entry.after == {"round_id": round_id, "deadline": "2025-10-20"}


async def test_a_dossier_in_time_is_accepted_after_the_deadline_without_asking(app: App, clock: FrozenClock) -> None:
    _producer, dossier_id, officer = await setup(app)
    round_id = await make_round(app)  # deadline 20/01/2026, the dossier came on 10/01/2026
    clock.now = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.UTC)  # the province checks it after the deadline
    await open_dossier(officer, dossier_id)
    await officer.press(Accept())
    await officer.press(PickRound(round=round_id))
    assert (await dossier(app, dossier_id)).status == S.SCHEDULED
    assert await audit_actions(app) == ["dossier.schedule"]


async def test_several_dossiers_accepted_into_a_round_at_once(app: App) -> None:
    from tests.conftest import make_producer
    from tests.test_province import make_dossier, outbox_kinds

    await make_staff(app, "prov1")
    officer = Chat(app.engine, "prov1")
    ids, producers = [], []
    for n in range(4):
        user = await make_producer(app, f"p{n}", name=f"HTX {n}")
        producers.append(user)
        ids.append(await make_dossier(app, user, name=f"Sản phẩm {n}", with_file=False))
    round_id = await make_round(app)  # deadline 20/01/2026
    async with app.engine.sessions() as session, session.begin():
        late = await session.get_one(Dossier, ids[3])
        late.submitted_at = dt.datetime(2026, 6, 1, 3, 0, tzinfo=dt.UTC)  # after the deadline
    await officer.press(ProvinceHome())
    await officer.press(OpenUnassigned())
    await officer.tap("Nhận nhiều")
    for n in range(4):
        await officer.tap(f"Sản phẩm {n}")
    await officer.tap("Sản phẩm 2")  # un-ticked again
    assert "Nhận 3 hồ sơ" in " ".join(c.label for c in officer.choices)
    async with app.engine.sessions() as session, session.begin():  # someone returns #1 meanwhile
        changed = await session.get_one(Dossier, ids[1])
        changed.version += 1
    await officer.tap("Nhận 3 hồ sơ")
    await officer.press(BatchRound(round=round_id))
    await officer.tap("✅")
    assert "1 hồ sơ" in officer.text and "Sản phẩm 3" in officer.text and "Sản phẩm 1" in officer.text
    statuses = [(await dossier(app, i)).status for i in ids]
    assert statuses == [S.SCHEDULED, S.AT_PROVINCE, S.AT_PROVINCE, S.AT_PROVINCE]
    assert await outbox_kinds(app, producers[0]) == ["province_scheduled"]
    assert await audit_actions(app) == ["dossier.schedule"]
