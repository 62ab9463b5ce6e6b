"""The council as the scoring software keeps it: members' sheets in chat and from the Excel template, the mean
and the star of each rule set, the spread, corrections, the meeting date, certificate history."""

from __future__ import annotations

import argparse
import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from bot import council_cli
from bot.app import App
from bot.rules import DossierStatus
from handlers.province_common import Back, OpenList, ProvinceRounds
from handlers.province_council import AddMember, AllPassed, BackToSheets, Save, Today, Workbook, WorkOut
from handlers.province_dossiers import CorrectResult, EnterSheets, IssueCertificate, SendQr, UploadDecision
from handlers.province_rounds import EditMeeting, OpenRound
from storage import certificates
from storage.models import AuditEntry, Certificate, CouncilMember, CouncilResult, Dossier, ScoreSheet
from tests.chat import Chat
from tests.test_province import (
    MEMBERS,
    add_members,
    at_council_sheets,
    audit_actions,
    dossier,
    enter_sheet,
    make_round,
    open_dossier,
    payloads,
    rendered_notices,
    scalar,
    setup,
)

S = DossierStatus


async def council(app: App, *argv: str) -> tuple[int, str]:
    args: argparse.Namespace = council_cli.parser().parse_args(list(argv))
    out = io.StringIO()
    code = await council_cli.execute(args, app.settings, now=app.engine.clock(), out=out)
    return code, out.getvalue()


async def set_rule_set(app: App, dossier_id: int, code: str) -> None:
    async with app.engine.sessions() as session, session.begin():
        await session.execute(update(Dossier).where(Dossier.id == dossier_id).values(rule_set=code))


def fill_column(path: Path, dossier_id: int, name: str, points: tuple[float, float, float]) -> None:
    """What the secretary does in Excel: a name in the first empty member column, then the points."""
    book = load_workbook(path)
    sheet = book[f"HS{dossier_id}"]
    column = next(
        c for c in range(3, sheet.max_column + 2) if not sheet.cell(row=council_cli.HEADER_ROW, column=c).value
    )
    sheet.cell(row=council_cli.HEADER_ROW, column=column, value=name)
    for offset, value in enumerate(points, start=1):
        sheet.cell(row=council_cli.HEADER_ROW + offset, column=column, value=value)
    book.save(path)


# Per rule set: three sheets, the mean per part (rounded half up to 2 decimals), the total, the star.
CASES = [
    ("QD1048", [(30, 20, 38), (32, 21, 37), (31, 22, 39)], (31.0, 21.0, 38.0), 90.0, 5),
    ("QD148", [(38, 24, 30), (36, 22, 28), (35, 23, 29)], (36.33, 23.0, 29.0), 88.33, 4),
    ("QD148_1489", [(20, 15, 20), (22, 14, 21), (21, 16, 19.5)], (21.0, 15.0, 20.17), 56.17, 3),
]


@pytest.mark.parametrize(("rule_set", "sheets", "parts", "total", "stars"), CASES)
async def test_three_sheets_one_from_the_excel_template_give_the_mean_and_the_star(
    app: App,
    tmp_path: Path,
    rule_set: str,
    sheets: list[tuple[float, float, float]],
    parts: tuple[float, float, float],
    total: float,
    stars: int,
) -> None:
    round_id = await make_round(app)
    producer_user, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await set_rule_set(app, dossier_id, rule_set)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await officer.press(EnterSheets())
    await add_members(officer, MEMBERS[:2])
    for (name, _role), sheet in zip(MEMBERS[:2], sheets[:2], strict=True):
        await enter_sheet(officer, name, *(str(v).replace(".", ",") for v in sheet))
    assert WorkOut().pack() not in payloads(officer)  # two sheets are not a council's result

    workbook = tmp_path / "dot1.xlsx"
    code, text = await council(app, "template", str(round_id), "-o", str(workbook))
    assert code == 0, text
    fill_column(workbook, dossier_id, MEMBERS[2][0], sheets[2])
    code, text = await council(app, "import", "Đợt 1/2026", str(workbook))
    assert code == 0, text
    assert f"= {total:g} -> {stars} stars ({rule_set})" in text
    async with app.engine.sessions() as session:
        sources = sorted(await session.scalars(select(ScoreSheet.source)))
    assert sources == ["chat", "chat", "xlsx"]

    await officer.press(Back())
    await officer.press(EnterSheets())
    assert MEMBERS[2][0] in officer.text  # the imported member and sheet are on the screen
    await officer.press(WorkOut())
    await officer.press(AllPassed())
    assert "3 phiếu" in officer.text
    await officer.press(Save())
    result = await scalar(app, select(CouncilResult))
    assert (result.points_a, result.points_b, result.points_c, result.total, result.stars) == (*parts, total, stars)
    assert (result.sheet_count, result.rule_set) == (3, rule_set)
    expected = {5: S.PROPOSED_5, 4: S.SCORED, 3: S.SCORED}[stars]
    assert (await dossier(app, dossier_id)).status == expected
    assert len(await rendered_notices(app, producer_user)) == 1


async def test_part_maximum_follows_the_dossiers_rule_set(app: App) -> None:
    _round_id, _producer, _dossier_id, officer = await at_council_sheets(app, MEMBERS[:1])
    await officer.tap(MEMBERS[0][0])
    await officer.send("36")  # A is at most 40 under 148…
    await officer.send("20")
    await officer.send("38")  # …and C at most 35
    assert "35" in officer.text
    assert await scalar(app, select(func.count(ScoreSheet.id))) == 0


async def test_a_sheet_far_from_the_mean_is_flagged_before_saving_and_the_spread_shown(app: App) -> None:
    _round_id, _producer, _dossier_id, officer = await at_council_sheets(app)
    await enter_sheet(officer, MEMBERS[0][0], "35", "22", "30")  # 87
    await enter_sheet(officer, MEMBERS[1][0], "34", "21", "30")  # 85
    await enter_sheet(officer, MEMBERS[2][0], "15", "10", "25")  # 50: a typing slip, 24 from the mean 74
    assert "⚠️" in officer.text and MEMBERS[2][0] in officer.text and "37" in officer.text  # spread 87 - 50
    await officer.press(WorkOut())
    await officer.press(AllPassed())
    assert "⚠️" in officer.text and "24" in officer.text  # shown again before 💾
    assert await scalar(app, select(func.count(CouncilResult.id))) == 0
    # The secretary fixes the sheet: the flag goes.
    await officer.press(BackToSheets())
    await enter_sheet(officer, MEMBERS[2][0], "35", "21", "29")
    assert "⚠️" not in officer.text


async def test_no_sheets_before_the_council_meets(app: App) -> None:
    round_id = await make_round(app, deadline=dt.date(2026, 3, 20), meeting=dt.date(2026, 4, 10))
    _producer, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await officer.press(EnterSheets())
    assert "10/04/2026" in officer.text and AddMember().pack() not in payloads(officer)


async def test_a_saved_result_is_corrected_with_a_reason_and_the_audit_keeps_both(app: App) -> None:
    round_id = await make_round(app)
    producer_user, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await officer.press(EnterSheets())
    await add_members(officer)
    for name, _role in MEMBERS:
        await enter_sheet(officer, name, "20", "10", "15")  # 45: not certified
    await officer.press(WorkOut())
    await officer.press(AllPassed())
    await officer.press(Save())
    assert (await dossier(app, dossier_id)).status == S.NOT_RATED

    await officer.press(CorrectResult())
    await officer.send("ok")  # a reason in words, long enough
    await officer.send("Thư ký nhập nhầm phần C của cả ba phiếu")
    for name, _role in MEMBERS:
        await enter_sheet(officer, name, "20", "10", "25")  # 55
    await officer.press(WorkOut())
    await officer.press(AllPassed())
    assert "Thư ký nhập nhầm" in officer.text
    await officer.press(Save())
    result = await scalar(app, select(CouncilResult))
    assert (result.total, result.stars, result.correction_reason) == (
        55.0,
        3,
        "Thư ký nhập nhầm phần C của cả ba phiếu",
    )
    assert (await dossier(app, dossier_id)).status == S.SCORED
    async with app.engine.sessions() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "council_result.correct"))
    assert entry is not None and entry.before and entry.after
    assert (entry.before["total"], entry.after["total"], entry.note) == (
        45.0,
        55.0,
        "Thư ký nhập nhầm phần C của cả ba phiếu",
    )
    assert "council_result.record" in await audit_actions(app)
    assert "55" in (await rendered_notices(app, producer_user))[-1]

    # Once the certificate is issued the result can no longer be corrected.
    await officer.press(IssueCertificate())
    await officer.send("12/QĐ-UBND")
    await officer.press(Today())
    await officer.press(Save())
    assert CorrectResult().pack() not in payloads(officer)


async def test_import_refuses_a_bad_workbook_and_saves_nothing(app: App, tmp_path: Path) -> None:
    round_id = await make_round(app)
    _producer, dossier_id, _officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    workbook = tmp_path / "dot1.xlsx"
    assert (await council(app, "template", str(round_id), "-o", str(workbook)))[0] == 0
    fill_column(workbook, dossier_id, "Nguyễn Văn An", (30, 20, 25))
    fill_column(workbook, dossier_id, "Lò Thị Bích", (30, 26, 25))  # B above 25
    code, text = await council(app, "import", str(round_id), str(workbook))
    assert code == 2 and "D9" in text and "nothing was saved" in text
    assert await scalar(app, select(func.count(ScoreSheet.id))) == 0
    assert await scalar(app, select(func.count(CouncilMember.id))) == 0
    bogus = tmp_path / "not.xlsx"
    bogus.write_text("hello")
    assert (await council(app, "import", str(round_id), str(bogus)))[0] == 2
    assert (await council(app, "import", "999", str(workbook)))[0] == 2


async def test_renewal_links_the_new_certificate_to_the_old_one(app: App) -> None:
    round_id = await make_round(app)
    producer_user, dossier_id, _officer = await setup(app, status=S.CERTIFIED_4, round_id=round_id)
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        row = await session.get_one(Dossier, dossier_id)
        old = await certificates.issue(
            session,
            product_id=row.product_id,
            dossier_id=dossier_id,
            stars=4,
            decision_no="1/QĐ-UBND",
            issued_on=dt.date(2023, 3, 1),
            expires_on=dt.date(2026, 3, 1),
            issued_by=None,
            now=now,
            public_code="AB23CD45",
        )
        new = await certificates.issue(
            session,
            product_id=row.product_id,
            dossier_id=dossier_id,
            stars=4,
            decision_no="2/QĐ-UBND",
            issued_on=dt.date(2026, 2, 20),
            expires_on=dt.date(2029, 2, 20),
            issued_by=None,
            now=now,
            public_code="EF67GH89",
        )
        assert (new.previous_id, old.status) == (old.id, certificates.SUPERSEDED)
    producer = Chat(app.engine, "p1")
    await producer.press("m:status")
    assert "2/QĐ-UBND" in producer.text and "1/QĐ-UBND" in producer.text
    assert await scalar(app, select(func.count(Certificate.id))) == 2
    assert producer_user


async def test_the_signed_decision_is_uploaded_and_the_producer_gets_a_copy(app: App) -> None:
    from bot.messages import SendFile
    from tests import files

    round_id = await make_round(app)
    producer_user, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    from tests.test_province import score

    await score(officer, "30", "20", "25")
    await officer.press(Save())
    await officer.press(IssueCertificate())
    await officer.send("15/QĐ-UBND")
    await officer.press(Today())
    await officer.press(Save())

    producer = Chat(app.engine, "p1")
    await producer.press("m:status")
    assert not any(p.startswith("crt:dec:") for p in payloads(producer))  # nothing uploaded yet

    await officer.press(UploadDecision())
    await officer.send_file(b"just some words", "qd.txt")  # not a PDF
    assert await scalar(app, select(Certificate.decision_file_id)) is None
    scan = files.pdf(77)
    await officer.send_file(scan, "qd-15.pdf")
    assert await scalar(app, select(Certificate.decision_file_id)) is not None
    assert "certificate.decision_upload" in await audit_actions(app)
    assert "15/QĐ-UBND" in (await rendered_notices(app, producer_user))[-1]

    await producer.press("m:status")
    decision = next(p for p in payloads(producer) if p.startswith("crt:dec:"))
    await producer.press(decision)
    sent = [r for r in producer.replies if isinstance(r, SendFile)]
    assert len(sent) == 1 and sent[0].mime == "application/pdf" and sent[0].path.read_bytes() == scan

    # The province's own button makes the label's QR (the console has no bot username: the typed form).
    import zxingcpp
    from PIL import Image

    await officer.press(SendQr())
    (png,) = [r for r in officer.replies if isinstance(r, SendFile)]
    code = await scalar(app, select(Certificate.public_code))
    assert zxingcpp.read_barcodes(Image.open(png.path))[0].text == f"/start cert_{code}"

    # Another producer's crafted button gets nothing.
    from tests.chat import force_offered
    from tests.conftest import make_producer

    await make_producer(app, "p2", name="HTX Khác")
    stranger = Chat(app.engine, "p2")
    await stranger.press("m:status")
    await force_offered(app.engine, "p2", decision)
    await stranger.press(decision)
    assert not any(isinstance(r, SendFile) for r in stranger.replies)


async def test_a_meeting_date_set_after_the_council_met_opens_the_sheets(app: App) -> None:
    round_id = await make_round(app, meeting=None)
    _producer, dossier_id, officer = await setup(app, status=S.SCHEDULED, round_id=round_id)
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await officer.press(EnterSheets())
    assert AddMember().pack() not in payloads(officer) and "🗓" in officer.text  # set the meeting date first
    await officer.press(ProvinceRounds())
    await officer.press(OpenRound(round=round_id))
    await officer.press(EditMeeting())
    await officer.send("15/1/2026")  # before the deadline of 20/01/2026: refused, and why
    assert "20/01/2026" in officer.text
    await officer.send("10/2/2026")  # in the past: the council has met
    await open_dossier(officer, dossier_id, OpenList(round=round_id))
    await officer.press(EnterSheets())
    assert AddMember().pack() in payloads(officer)


async def test_the_workbook_goes_through_the_chat_too(app: App, tmp_path: Path) -> None:
    from bot.messages import SendFile

    _round_id, _producer, dossier_id, officer = await at_council_sheets(app, MEMBERS[:1])
    await enter_sheet(officer, MEMBERS[0][0], "30", "20", "25")
    await officer.press(Workbook())
    (sent,) = [r for r in officer.replies if isinstance(r, SendFile)]
    workbook = tmp_path / "from-chat.xlsx"
    workbook.write_bytes(sent.path.read_bytes())
    fill_column(workbook, dossier_id, "Lò Thị Bích", (31, 21, 40))  # C above 35
    await officer.send_path(workbook)
    assert "Không lưu gì từ tệp này" in officer.text and f"HS{dossier_id}!D10" in officer.text
    assert await scalar(app, select(func.count(ScoreSheet.id))) == 1
    fill_column(workbook, dossier_id, "Tẩn A Chu", (29, 19, 24))
    book = load_workbook(workbook)
    book[f"HS{dossier_id}"]["D10"] = 26  # the secretary corrects the slip
    book.save(workbook)
    await officer.send_path(workbook)
    async with app.engine.sessions() as session:
        rows = sorted((s.source, s.points_c) for s in await session.scalars(select(ScoreSheet)))
    assert rows == [("chat", 25.0), ("xlsx", 24.0), ("xlsx", 26.0)]
    assert WorkOut().pack() in payloads(officer)
    assert "-> 4 stars" in officer.text  # 30+31+29 / 3 = 30, 20, 25 → 75
