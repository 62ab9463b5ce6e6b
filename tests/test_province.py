"""The province officer: rounds (chat and CLI), completeness, council result, stars, certificates, revocation,
the server-side checks, and what the producer sees through status."""

from __future__ import annotations

import argparse
import datetime as dt
import io
from typing import Any

from sqlalchemy import func, select, update

from bot import round_cli
from bot.app import App
from bot.callbacks import Button
from bot.messages import SendFile
from bot.rules import DossierCase, DossierStatus, ProductGroup, Role, requirements_for
from handlers.province_common import Back, OpenList, OpenRounds, OpenUnassigned, ProvinceHome, ProvinceRounds
from handlers.province_council import (
    AddMember,
    AllPassed,
    EditSheet,
    FailedCriterion,
    MemberRole,
    OneFailed,
    Save,
    Today,
    WorkOut,
)
from handlers.province_dossiers import (
    Accept,
    AssignRound,
    CentralGranted,
    EnterSheets,
    IssueCertificate,
    OpenDossier,
    PickRound,
    ReturnForSupplement,
    Revoke,
)
from handlers.province_form import (
    UNASSIGNED,
    Batch,
    CertificateDraft,
    LateRound,
    ProvinceForm,
    RoundDraft,
    Verdict,
)
from handlers.province_rounds import CloseRound, EditDeadline, NewRound, ReopenRound, SeedRounds
from storage import council, dossiers, rounds, staff, users
from storage.filestore import FileStore
from storage.models import (
    AuditEntry,
    Certificate,
    Conversation,
    CouncilResult,
    Dossier,
    OutboxMessage,
    Producer,
    Round,
)
from storage.province import change
from tests import files
from tests.chat import Chat, force_offered
from tests.conftest import make_producer

S = DossierStatus


# Set-up ----------------------------------------------------------------------------------------------------


async def make_staff(
    app: App,
    external_id: str,
    role: Role = Role.PROVINCE,
    commune_code: int | None = None,
    channel: str = "console",
) -> int:
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        user, _identity = await users.identity_user(
            session, channel, external_id, chat_id=external_id, display_name=None, locale="vi", now=now
        )
        await staff.grant(
            session,
            user_id=user.id,
            role=role.value,
            province=app.settings.ocop.province,
            commune_code=commune_code,
            granted_by=None,
            now=now,
        )
        return user.id


SUBMITTED = dt.datetime(2026, 1, 10, 3, 0, tzinfo=dt.UTC)


async def make_dossier(
    app: App,
    producer_user: int,
    *,
    status: S = S.AT_PROVINCE,
    name: str = "Chè Shan tuyết Tả Van",
    round_id: int | None = None,
    with_file: bool = True,
    submitted_at: dt.datetime = SUBMITTED,
) -> int:
    """A dossier of this producer in ``status``, its checklist complete enough, optionally one real file.
    It reached the commune on 10/01/2026, before ``make_round``'s deadline (20/01/2026)."""
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        producer = await session.scalar(select(Producer).where(Producer.user_id == producer_user))
        assert producer is not None
        product = await dossiers.create_product(
            session,
            producer.id,
            name=name,
            name_folded=name.casefold(),
            group_code="food",
            is_service=False,
            commune_code=producer.commune_code,
        )
        items = [
            dossiers.NewItem(r.code, i, r.kind.value == "required")
            for i, r in enumerate(requirements_for(ProductGroup.FOOD, DossierCase.NEW))
        ]
        dossier = await dossiers.create_dossier(
            session, product.id, case="new", status=status.value, rule_set="QD148_1489", items=items, now=now
        )
        dossier.submitted_at = submitted_at
        dossier.round_id = round_id
        if with_file:
            store = FileStore(app.settings.ocop.files_dir)
            sha, path = await store.put(files.pdf(dossier.id), "pdf")
            stored = await dossiers.stored_file(
                session,
                sha256=sha,
                size=path.stat().st_size,
                mime="application/pdf",
                path=str(path.relative_to(store.root)),
            )
            await dossiers.link_file(
                session, dossier.items[0].id, stored.id, original_name="don.pdf", uploaded_by=producer_user, now=now
            )
        await session.flush()
        return dossier.id


async def make_round(
    app: App,
    name: str = "Đợt 1/2026",
    status: str = "open",
    *,
    deadline: dt.date = dt.date(2026, 1, 20),
    meeting: dt.date | None = dt.date(2026, 2, 10),
) -> int:
    """A round whose council has met (10/02/2026; "today" is 02/03/2026), unless told otherwise."""
    async with app.engine.sessions() as session, session.begin():
        found = await rounds.create_round(
            session,
            province=app.settings.ocop.province,
            name=name,
            submit_deadline=deadline,
            meeting_date=meeting,
            now=app.engine.clock(),
        )
        found.status = status
        return found.id


async def scalar(app: App, statement: Any) -> Any:
    async with app.engine.sessions() as session:
        return await session.scalar(statement)


async def dossier(app: App, dossier_id: int) -> Dossier:
    async with app.engine.sessions() as session:
        return await session.get_one(Dossier, dossier_id)


async def outbox_kinds(app: App, user_id: int) -> list[str]:
    async with app.engine.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage.kind).where(OutboxMessage.user_id == user_id).order_by(OutboxMessage.id)
        )
        return list(rows)


async def rendered_notices(app: App, user_id: int) -> list[str]:
    """The producer's queued notices as the sender will write them (Vietnamese)."""
    from bot.messages import Text
    from bot.notices import render

    async with app.engine.sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.user_id == user_id)))
    texts = []
    for row in rows:
        message = render(row.kind, row.params, "vi")
        assert isinstance(message, Text)
        texts.append(message.text)
    return texts


async def audit_actions(app: App) -> list[str]:
    """The changes staff made (their reads of a producer's records are counted in tests/test_privacy.py)."""
    async with app.engine.sessions() as session:
        return list(
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.action != "personal_data.read").order_by(AuditEntry.id)
            )
        )


def payloads(chat: Chat) -> set[str]:
    return {c.payload for c in chat.choices}


async def open_dossier(officer: Chat, dossier_id: int, list_button: Button | None = None) -> None:
    await officer.press(ProvinceHome())
    await officer.press(list_button or OpenUnassigned())
    assert OpenDossier(dossier=dossier_id).pack() in payloads(officer)
    await officer.press(OpenDossier(dossier=dossier_id))


async def setup(app: App, **kwargs: Any) -> tuple[int, int, Chat]:
    """A producer with one dossier at the province, and a province officer's chat."""
    producer_user = await make_producer(app, "p1")
    await make_staff(app, "prov1")
    dossier_id = await make_dossier(app, producer_user, **kwargs)
    return producer_user, dossier_id, Chat(app.engine, "prov1")


MEMBERS = (("Nguyễn Văn An", "chair"), ("Lò Thị Bích", "member"), ("Tẩn A Chu", "secretary"))


async def add_members(officer: Chat, members: tuple[tuple[str, str], ...] = MEMBERS) -> None:
    """On the sheets screen: add the council's members."""
    for name, role in members:
        await officer.press(AddMember())
        await officer.send(name)
        await officer.press(MemberRole(role=role))


async def at_council_sheets(app: App, members: tuple[tuple[str, str], ...] = MEMBERS) -> tuple[int, int, int, Chat]:
    """A scheduled dossier in a round, opened by the officer on its council sheets with ``members`` added;
    returns the round, the producer's user, the dossier and the officer's chat."""
    round_id = await make_round(app)
    producer_user, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await officer.press(EnterSheets())
    await add_members(officer, members)
    return round_id, producer_user, dossier_id, officer


async def enter_sheet(officer: Chat, member: str, a: str, b: str, c: str) -> None:
    await officer.tap(member)
    await officer.send(a)
    await officer.send(b)
    await officer.send(c)


async def score(
    officer: Chat,
    a: str,
    b: str,
    c: str,
    mandatory_ok: bool = True,
    *,
    criterion: str = "lab_test",
    note: str = "Chỉ tiêu vi sinh vượt ngưỡng",
) -> None:
    """Three members give the same sheet, so the mean is that sheet; then the mandatory criteria."""
    await officer.press(EnterSheets())
    if WorkOut().pack() not in payloads(officer) and not any(EditSheet.matches(p) for p in payloads(officer)):
        await add_members(officer)
    for name, _role in MEMBERS:
        await enter_sheet(officer, name, a, b, c)
    await officer.press(WorkOut())
    await officer.press(AllPassed() if mandatory_ok else OneFailed().pack())
    if not mandatory_ok:
        await officer.press(FailedCriterion(code=criterion))
        await officer.send(note)


# Rounds ----------------------------------------------------------------------------------------------------


async def test_round_created_edited_closed_in_chat(app: App) -> None:
    await make_staff(app, "prov1")
    officer = Chat(app.engine, "prov1")
    await officer.press(ProvinceHome())
    await officer.press(OpenRounds())
    assert {NewRound().pack(), SeedRounds().pack(), Back().pack()} <= payloads(officer)
    await officer.press(NewRound())
    await officer.send("😀")  # not a name
    assert await scalar(app, select(func.count(Round.id))) == 0
    await officer.send("Đợt 1/2026")
    await officer.send("20/5")  # the next 20/05 from 02/03/2026
    await officer.send("1/3/2026")  # a council date in the past: refused
    assert await scalar(app, select(func.count(Round.id))) == 0
    await officer.send("10/5/2026")  # before the deadline: refused
    assert await scalar(app, select(func.count(Round.id))) == 0
    await officer.send("15-6-2026")
    found = await scalar(app, select(Round))
    assert (found.name, found.submit_deadline, found.meeting_date, found.status) == (
        "Đợt 1/2026",
        dt.date(2026, 5, 20),
        dt.date(2026, 6, 15),
        "open",
    )
    assert "20/05/2026" in officer.text and "15/06/2026" in officer.text

    await officer.press(EditDeadline())
    await officer.send("31/4")  # impossible
    await officer.send("25.5.2026")
    await officer.press(CloseRound())
    assert ReopenRound().pack() in payloads(officer)
    found = await scalar(app, select(Round))
    assert (found.submit_deadline, found.status) == (dt.date(2026, 5, 25), "closed")
    assert (await audit_actions(app)) == ["round.create", "round.edit", "round.close"]


async def test_this_years_two_rounds_from_a_button(app: App) -> None:
    await make_staff(app, "prov1")
    officer = Chat(app.engine, "prov1")
    await officer.press(ProvinceRounds())
    await officer.press(SeedRounds())
    async with app.engine.sessions() as session:
        found = list(await session.scalars(select(Round).order_by(Round.submit_deadline)))
    assert [(r.name, r.submit_deadline) for r in found] == [
        ("Đợt 1/2026", dt.date(2026, 5, 20)),
        ("Đợt 2/2026", dt.date(2026, 10, 20)),
    ]
    assert SeedRounds().pack() not in payloads(officer)  # done: the button goes away


async def test_the_round_button_follows_the_setting(app: App) -> None:
    app.settings.reminders.default_rounds = "15/11, 15/04,15/08"
    await make_staff(app, "prov1")
    officer = Chat(app.engine, "prov1")
    await officer.press(ProvinceRounds())
    assert "15/04/2026, 15/08/2026, 15/11/2026" in next(
        c.label for c in officer.choices if c.payload == SeedRounds().pack()
    )
    await officer.press(SeedRounds())
    async with app.engine.sessions() as session:
        found = list(await session.scalars(select(Round).order_by(Round.submit_deadline)))
    assert [(r.name, r.submit_deadline) for r in found] == [
        ("Đợt 1/2026", dt.date(2026, 4, 15)),
        ("Đợt 2/2026", dt.date(2026, 8, 15)),
        ("Đợt 3/2026", dt.date(2026, 11, 15)),
    ]


async def test_seed_rounds_is_idempotent(app: App) -> None:
    plan = [(20, 5), (20, 10)]
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        # An officer typed round 1 by hand with another name: the seed recognises it by its deadline.
        await rounds.create_round(
            session,
            province=app.settings.ocop.province,
            name="Đợt đầu năm",
            submit_deadline=dt.date(2027, 5, 20),
            meeting_date=None,
            now=now,
        )
        first = await rounds.seed_rounds(session, app.settings.ocop.province, 2027, plan, now)
        second = await rounds.seed_rounds(session, app.settings.ocop.province, 2027, plan, now)
        other_province = await rounds.seed_rounds(session, "Lào Cai", 2027, plan, now)
    assert [r.id for r in first] == [r.id for r in second]
    assert first[0].name == "Đợt đầu năm"
    assert {r.id for r in other_province}.isdisjoint(r.id for r in first)
    assert await scalar(app, select(func.count(Round.id)).where(Round.province == app.settings.ocop.province)) == 2


async def run_cli(app: App, *argv: str) -> tuple[int, str]:
    args: argparse.Namespace = round_cli.parser().parse_args(list(argv))
    out = io.StringIO()
    code = await round_cli.execute(args, app.settings, now=app.engine.clock(), out=out)
    return code, out.getvalue()


async def test_round_cli_add_list_close(app: App) -> None:
    code, text = await run_cli(app, "add", "--name", "Đợt 1/2026", "--deadline", "20/05/2025")
    assert code == 2 and "error" in text  # the deadline is in the past
    code, text = await run_cli(app, "add", "--name", "Đợt 1/2026", "--deadline", "31/04/2026")
    assert code == 2
    code, text = await run_cli(app, "add", "--name", "Đợt 1/2026", "--deadline", "20/5", "--meeting", "1/5/2026")
    assert code == 2  # the meeting before the deadline
    assert await scalar(app, select(func.count(Round.id))) == 0

    code, text = await run_cli(
        app, "add", "--name", "Đợt 1/2026", "--deadline", "20/05/2026", "--meeting", "15/06/2026"
    )
    assert code == 0 and "20/05/2026" in text and "15/06/2026" in text
    code, _text = await run_cli(app, "add", "--name", "Đợt 1/2026", "--deadline", "20-5-2026")
    assert code == 2  # the same name twice
    code, text = await run_cli(app, "list")
    assert code == 0 and "Đợt 1/2026" in text and "open" in text
    round_id = await scalar(app, select(Round.id))
    code, text = await run_cli(app, "close", str(round_id))
    assert code == 0 and "closed" in text
    assert await scalar(app, select(Round.status)) == "closed"
    code, _text = await run_cli(app, "close", "999")
    assert code == 2
    code, text = await run_cli(app, "seed", "--year", "2026")
    assert code == 0 and "Đợt 2/2026" in text
    async with app.engine.sessions() as session:
        labels = set(await session.scalars(select(AuditEntry.actor_label)))
    assert labels == {"cli"}


# Completeness ----------------------------------------------------------------------------------------------


async def test_accept_needs_an_open_round_then_schedules(app: App) -> None:
    producer_user, dossier_id, officer = await setup(app)
    await make_round(app, "Đợt cũ", status="closed")
    await open_dossier(officer, dossier_id)
    assert not any(isinstance(r, SendFile) for r in officer.replies)  # files come as one ZIP, on request
    assert any("ZIP" in c.label for c in officer.choices)
    await officer.press(Accept())
    assert OpenRounds().pack() in payloads(officer)  # no open round: create one first
    assert (await dossier(app, dossier_id)).status == S.AT_PROVINCE

    round_id = await make_round(app)
    await officer.press(Back())
    await officer.press(Accept())
    assert PickRound(round=round_id).pack() in payloads(officer)
    await officer.press(PickRound(round=round_id))
    found = await dossier(app, dossier_id)
    assert (found.status, found.round_id, found.version) == (S.SCHEDULED, round_id, 1)
    assert await outbox_kinds(app, producer_user) == ["province_scheduled"]
    assert await audit_actions(app) == ["dossier.schedule"]
    async with app.engine.sessions() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "dossier.schedule"))
    assert entry is not None and entry.before and entry.after
    assert (entry.before["status"], entry.after["status"]) == ("at_province", "scheduled")


async def test_return_for_supplement_then_producer_resubmits(app: App) -> None:
    producer_user, dossier_id, officer = await setup(app, status=S.COMPLETENESS_CHECK)
    await open_dossier(officer, dossier_id)
    await officer.press(ReturnForSupplement())
    await officer.send("   ")
    await officer.send("😀😀😀😀😀")
    assert (await dossier(app, dossier_id)).status == S.COMPLETENESS_CHECK
    await officer.send("Thiếu phiếu kiểm nghiệm chỉ tiêu vi sinh")
    found = await dossier(app, dossier_id)
    assert (found.status, found.review_note) == (S.PROVINCE_SUPPLEMENT, "Thiếu phiếu kiểm nghiệm chỉ tiêu vi sinh")
    assert await outbox_kinds(app, producer_user) == ["province_supplement"]
    assert "Thiếu phiếu kiểm nghiệm chỉ tiêu vi sinh" in (await rendered_notices(app, producer_user))[0]

    producer = Chat(app.engine, "p1")
    await producer.press("m:status")
    assert "Thiếu phiếu kiểm nghiệm chỉ tiêu vi sinh" in producer.text

    # The producer sends it again (the dossier flow): it comes back to the province's completeness check.
    async with app.engine.sessions() as session, session.begin():
        row = await session.get_one(Dossier, dossier_id)
        await dossiers.submit(session, row, S.COMPLETENESS_CHECK.value, app.engine.clock())
    await open_dossier(officer, dossier_id)
    assert Accept().pack() in payloads(officer)


async def test_assign_round_to_a_dossier(app: App) -> None:
    producer_user, dossier_id, officer = await setup(app)
    round_id = await make_round(app)
    await open_dossier(officer, dossier_id)
    await officer.press(AssignRound())
    await officer.press(PickRound(round=round_id))
    found = await dossier(app, dossier_id)
    assert (found.status, found.round_id) == (S.AT_PROVINCE, round_id)
    assert await outbox_kinds(app, producer_user) == ["province_round"]
    # Now listed under its round, not under "not in a round".
    await officer.press(ProvinceHome())
    await officer.press(OpenUnassigned())
    assert OpenDossier(dossier=dossier_id).pack() not in payloads(officer)
    await officer.press(Back())
    await officer.press(OpenList(round=round_id))
    assert OpenDossier(dossier=dossier_id).pack() in payloads(officer)


# Council result and certificate ----------------------------------------------------------------------------


async def test_scores_are_validated_and_a_4_star_certificate_lasts_36_months(app: App) -> None:
    _round_id, producer_user, dossier_id, officer = await at_council_sheets(app)
    await officer.tap(MEMBERS[0][0])
    for bad in ("abc", "-5", "41", "40,555", "😀"):
        await officer.send(bad)
        assert Back().pack() in payloads(officer)  # still asking for part A
    await officer.send("32,5")
    await officer.send("25.5")  # above B's 25
    await officer.send("20.5")
    await officer.send("36")  # above C's 35
    await officer.send("30")
    for name, _role in MEMBERS[1:]:
        await enter_sheet(officer, name, "32,5", "20.5", "30")
    await officer.press(WorkOut())
    await officer.press(AllPassed())
    assert "83" in officer.text and "★★★★☆" in officer.text
    assert (await dossier(app, dossier_id)).status == S.SCHEDULED  # nothing saved before 💾
    await officer.press(Save())
    result = await scalar(app, select(CouncilResult))
    assert (result.points_a, result.points_b, result.points_c, result.total, result.stars, result.mandatory_ok) == (
        32.5,
        20.5,
        30.0,
        83.0,
        4,
        True,
    )
    assert (await dossier(app, dossier_id)).status == S.SCORED
    assert IssueCertificate().pack() in payloads(officer)

    await officer.press(IssueCertificate())
    await officer.send("không số")  # no digits
    await officer.send("1234/QĐ-UBND")
    await officer.send("3/3/2026")  # tomorrow: a decision cannot be in the future
    await officer.send("31/02/2026")
    await officer.send("5/2/2026")  # before the council met on 10/02/2026
    assert "10/02/2026" in officer.text
    assert await scalar(app, select(func.count(Certificate.id))) == 0
    await officer.send("20/02/2026")
    assert "20/02/2029" in officer.text
    await officer.press(Save())
    certificate = await scalar(app, select(Certificate))
    assert (certificate.stars, certificate.decision_no, certificate.issued_on, certificate.expires_on) == (
        4,
        "1234/QĐ-UBND",
        dt.date(2026, 2, 20),
        dt.date(2029, 2, 20),
    )
    assert (await dossier(app, dossier_id)).status == S.CERTIFIED_4
    assert await outbox_kinds(app, producer_user) == ["province_scored", "province_certified"]
    scored, certified = await rendered_notices(app, producer_user)
    assert "83" in scored and "★★★★☆" in scored
    assert all(part in certified for part in ("Chè Shan tuyết Tả Van", "1234/QĐ-UBND", "20/02/2026", "20/02/2029"))

    producer = Chat(app.engine, "p1")
    await producer.press("m:status")
    for expected in ("Đợt 1/2026", "83", "★★★★☆", "1234/QĐ-UBND", "20/02/2029"):
        assert expected in producer.text


async def test_failed_mandatory_criterion_asks_which_and_the_producer_is_told_not_certified(app: App) -> None:
    _round_id, producer_user, dossier_id, officer = await at_council_sheets(app)
    for name, _role in MEMBERS:
        await enter_sheet(officer, name, "38", "24", "33")
    await officer.press(WorkOut())
    await officer.press(OneFailed())
    # Which one: the rule set's list, as buttons.
    criteria = {FailedCriterion(code=code).pack() for code in ("food_safety", "lab_test", "label")}
    assert criteria <= payloads(officer)
    await officer.send("bấm lung tung")
    assert FailedCriterion(code="lab_test").pack() in payloads(officer)
    await officer.press(FailedCriterion(code="lab_test"))
    await officer.send("ab")  # too short to be the council's note
    await officer.send("Chỉ tiêu vi sinh vượt ngưỡng cho phép")
    assert "★★☆☆☆" in officer.text and "Kết quả kiểm nghiệm đạt chỉ tiêu an toàn" in officer.text
    await officer.press(Save())
    result = await scalar(app, select(CouncilResult))
    assert (result.total, result.stars, result.mandatory_ok, result.failed_criterion, result.council_note) == (
        95.0,
        2,
        False,
        "lab_test",
        "Chỉ tiêu vi sinh vượt ngưỡng cho phép",
    )
    assert (await dossier(app, dossier_id)).status == S.NOT_RATED
    assert IssueCertificate().pack() not in payloads(officer)
    assert await outbox_kinds(app, producer_user) == ["province_not_rated"]
    (notice,) = await rendered_notices(app, producer_user)
    for expected in (
        "không được công nhận",
        "Kết quả kiểm nghiệm đạt chỉ tiêu an toàn",
        "vượt ngưỡng",
        "Kiểm nghiệm lại",
    ):
        assert expected in notice
    assert "★" not in notice  # never a star rating the producer "earned"
    producer = Chat(app.engine, "p1")
    await producer.press("m:status")
    assert "Kết quả kiểm nghiệm đạt chỉ tiêu an toàn" in producer.text and "★★☆☆☆" not in producer.text


async def test_ninety_points_proposed_then_granted_five_stars_by_the_central_decision(app: App) -> None:
    round_id = await make_round(app)
    producer_user, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await score(officer, "38", "24", "28")
    await officer.press(Save())
    assert (await dossier(app, dossier_id)).status == S.PROPOSED_5
    assert (await scalar(app, select(CouncilResult.stars))) == 5
    assert await outbox_kinds(app, producer_user) == ["province_proposed_5"]
    (proposed,) = await rendered_notices(app, producer_user)
    assert "ĐỀ NGHỊ" in proposed and "★★★★★" not in proposed  # proposed, not granted
    actions = await audit_actions(app)
    assert actions[-3:] == ["dossier.score", "council_result.record", "dossier.propose_5"]
    producer = Chat(app.engine, "p1")
    await producer.press("m:status")
    assert "chưa được công nhận" in producer.text and "★★★★★" not in producer.text

    # The central level's decision arrives: the province records it.
    assert {CentralGranted().pack(), IssueCertificate().pack()} <= payloads(officer)
    await officer.press(CentralGranted())
    await officer.send("88/QĐ-BNNMT")
    await officer.send("25/02/2026")
    assert "★★★★★" in officer.text
    await officer.press(Save())
    certificate = await scalar(app, select(Certificate))
    assert (certificate.stars, certificate.authority, certificate.decision_no, certificate.expires_on) == (
        5,
        "central",
        "88/QĐ-BNNMT",
        dt.date(2029, 2, 25),
    )
    assert certificate.public_code and len(certificate.public_code) == 8
    assert (await dossier(app, dossier_id)).status == S.CERTIFIED_5
    granted = (await rendered_notices(app, producer_user))[-1]
    assert "Trung ương" in granted and "★★★★★" in granted and "88/QĐ-BNNMT" in granted
    await producer.press("m:status")
    assert "★★★★★" in producer.text and "88/QĐ-BNNMT" in producer.text


async def test_five_stars_not_granted_the_province_issues_four(app: App) -> None:
    round_id = await make_round(app)
    producer_user, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await score(officer, "38", "24", "29")
    await officer.press(Save())
    await officer.press(IssueCertificate())
    await officer.send("99/QĐ-UBND")
    await officer.press(Today())
    await officer.press(Save())
    certificate = await scalar(app, select(Certificate))
    assert (certificate.stars, certificate.authority) == (4, "province")
    assert (await dossier(app, dossier_id)).status == S.CERTIFIED_4
    assert "không công nhận 5 sao" in (await rendered_notices(app, producer_user))[-1]


async def test_revoke_a_certificate_with_a_reason(app: App) -> None:
    round_id = await make_round(app)
    producer_user, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await score(officer, "25", "15", "20")
    await officer.press(Save())
    await officer.press(IssueCertificate())
    await officer.send("77/QĐ-UBND")
    await officer.press(Today())
    await officer.press(Save())
    assert (await dossier(app, dossier_id)).status == S.CERTIFIED_3
    assert (await scalar(app, select(Certificate.expires_on))) == dt.date(2029, 3, 2)

    await officer.press(Revoke())
    await officer.send("ab")  # too short
    await officer.send("Vi phạm chất lượng khi giám sát sau công nhận")
    await officer.press(Save())
    certificate = await scalar(app, select(Certificate))
    assert (certificate.status, certificate.revoked_reason) == (
        "revoked",
        "Vi phạm chất lượng khi giám sát sau công nhận",
    )
    assert certificate.revoked_at is not None
    assert Revoke().pack() not in payloads(officer)
    assert (await outbox_kinds(app, producer_user))[-1] == "province_revoked"
    assert "Vi phạm chất lượng khi giám sát sau công nhận" in (await rendered_notices(app, producer_user))[-1]
    producer = Chat(app.engine, "p1")
    await producer.press("m:status")
    assert "Vi phạm chất lượng khi giám sát sau công nhận" in producer.text


# Checks ----------------------------------------------------------------------------------------------------


async def test_only_province_officers_get_in(app: App) -> None:
    producer_user = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer_user)
    await make_staff(app, "c1", Role.COMMUNE, commune_code=1)
    await make_staff(app, "a1", Role.ADMIN)
    for external_id in ("p1", "c1", "a1"):
        chat = Chat(app.engine, external_id)
        await chat.press(ProvinceHome())
        assert not any(p.startswith("pv:") for p in payloads(chat))
        await force_offered(app.engine, external_id, Accept().pack())
        await chat.press(Accept())
        assert not any(p.startswith("pv:") for p in payloads(chat))
    assert (await dossier(app, dossier_id)).version == 0


async def test_revoked_role_stops_at_the_next_message(app: App) -> None:
    _producer, dossier_id, _officer = await setup(app)
    # An officer who is also a producer: the onboarding gate lets them through, only the role check stops them.
    await make_producer(app, "prov3", name="HTX Cán bộ")
    await make_staff(app, "prov3")
    officer = Chat(app.engine, "prov3")
    await open_dossier(officer, dossier_id)
    async with app.engine.sessions() as session, session.begin():
        from storage.models import StaffRole

        await session.execute(update(StaffRole).values(revoked_at=app.engine.clock()))
    await officer.press(ReturnForSupplement())
    assert not any(p.startswith("pv:") for p in payloads(officer))
    assert (await dossier(app, dossier_id)).status == S.AT_PROVINCE


async def test_crafted_ids_for_dossiers_not_at_the_province(app: App) -> None:
    producer_user, dossier_id, officer = await setup(app)
    at_commune = await make_dossier(app, producer_user, status=S.SUBMITTED_COMMUNE, name="Mật ong")
    await open_dossier(officer, dossier_id)
    await officer.press(OpenDossier(dossier=at_commune))  # not offered: the engine's stale answer
    await officer.press(ProvinceHome())
    await officer.press(OpenUnassigned())
    assert OpenDossier(dossier=at_commune).pack() not in payloads(officer)
    await force_offered(app.engine, "prov1", OpenDossier(dossier=at_commune).pack())
    await officer.press(OpenDossier(dossier=at_commune))
    assert not any(p.startswith("pv:") for p in payloads(officer))
    assert "Mật ong" not in officer.text
    await force_offered(app.engine, "prov1", "pv:list:9999")
    await officer.press(ProvinceHome())
    await force_offered(app.engine, "prov1", "pv:list:9999")
    await officer.press("pv:list:9999")  # a round that does not exist
    assert not any(p.startswith("pv:d:") for p in payloads(officer))


async def test_illegal_transitions_are_refused(app: App) -> None:
    round_id = await make_round(app)
    _producer, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    for forged in (Accept().pack(), IssueCertificate().pack(), Revoke().pack()):
        await force_offered(app.engine, "prov1", forged)
        await officer.press(forged)
        if forged == IssueCertificate().pack():  # the steps re-check before saving anything
            await officer.send("12/QĐ-UBND")
            await officer.press(Today())
        if forged == Revoke().pack():
            await officer.send("Một lý do đủ dài")
        assert (await dossier(app, dossier_id)).status == S.SCHEDULED
        await open_dossier(officer, dossier_id, OpenList(round=round_id))
    assert await scalar(app, select(func.count(Certificate.id))) == 0
    assert await audit_actions(app) == []


async def test_stale_version_changes_nothing(app: App) -> None:
    producer_user, dossier_id, officer = await setup(app)
    round_id = await make_round(app)
    await make_staff(app, "prov2")
    other = Chat(app.engine, "prov2")
    await open_dossier(officer, dossier_id)
    await open_dossier(other, dossier_id)
    await other.press(Accept())
    await other.press(PickRound(round=round_id))
    assert (await dossier(app, dossier_id)).status == S.SCHEDULED

    await officer.press(ReturnForSupplement())  # acting on what it saw before the other officer's change
    found = await dossier(app, dossier_id)
    assert (found.status, found.review_note, found.version) == (S.SCHEDULED, None, 1)
    assert EnterSheets().pack() in payloads(officer)  # shown the dossier as it is now
    assert await outbox_kinds(app, producer_user) == ["province_scheduled"]

    # The compare-and-set itself: a stale version writes nothing.
    async with app.engine.sessions() as session, session.begin():
        row = await session.get_one(Dossier, dossier_id)
        assert not await change(session, row, 0, now=app.engine.clock(), status=S.SCORED.value)
    assert (await dossier(app, dossier_id)).status == S.SCHEDULED


async def test_double_save_records_one_result(app: App) -> None:
    round_id = await make_round(app)
    _producer, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await score(officer, "30", "20", "25")
    await officer.press(Save())
    await officer.press(Save())  # a double click: no longer offered
    assert await scalar(app, select(func.count(CouncilResult.id))) == 1
    assert (await dossier(app, dossier_id)).version == 1


# A conversation saved before the province's data was a dataclass ----------------------------------------


async def test_a_province_conversation_saved_as_the_old_dict_carries_on(app: App) -> None:
    round_id, _producer, dossier_id, officer = await at_council_sheets(app)
    async with app.engine.sessions() as session, session.begin():
        member = (await council.members_of(session, round_id))[0]
        row = (await session.scalars(select(Conversation).where(Conversation.flow == "province"))).one()
        version = row.data["version"]
        # Typing the last part of a sheet, as the rows held it before ProvinceForm: flat keys, no "_v".
        row.step, row.data = (
            "sheet_c",
            {
                "list": round_id,
                "page": 0,
                "dossier_id": dossier_id,
                "version": version,
                "score": {},
                "member_id": member.id,
                "sheet": {"A": 32.5, "B": 20.5},
                "send_files": True,
            },
        )
    await officer.send("30")
    async with app.engine.sessions() as session:
        sheet = (await council.sheets_of(session, dossier_id))[member.id]
    assert (sheet.points_a, sheet.points_b, sheet.points_c) == (32.5, 20.5, 30.0)
    await officer.press(Back())  # the sheets → the dossier
    await officer.press(Back())  # the dossier → the list of the round it was opened from
    assert OpenDossier(dossier=dossier_id).pack() in payloads(officer)


def test_a_version_1_province_row_reads_into_the_form() -> None:
    old = {
        "_v": 1,
        "list": "none",
        "batch": {"7": 2},
        "batch_round": 3,
        "batch_page": 1,
        "cert": {"central": True, "no": "12/QĐ-UBND"},
        "score": {"ok": False, "criterion": "lab_test"},
        "late": {"round_id": 3, "then": "accept"},
        "new_round": {"name": "Đợt 1/2026"},
        "upload": True,
    }
    form = ProvinceForm.load(old)
    assert form.listing == UNASSIGNED
    assert form.batch == Batch(picked={"7": 2}, round_id=3, page=1)
    assert form.new_round == RoundDraft(name="Đợt 1/2026")
    assert form.action.certificate == CertificateDraft(central=True, number="12/QĐ-UBND")
    assert form.action.verdict == Verdict(ok=False, criterion="lab_test")
    assert form.action.late == LateRound(round_id=3, then="accept")
    assert ProvinceForm.load(form.dump()) == form
