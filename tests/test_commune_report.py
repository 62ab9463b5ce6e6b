"""The commune's report: drafted as .docx from the dossier and the confirmations, printed and signed, its scan
sent back as the ``commune_report`` item; until then the province sees it missing."""

from __future__ import annotations

import asyncio
import io
import shutil
import zipfile
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy import select

from bot.app import App
from bot.messages import SendFile
from bot.report_docx import DEFAULT_TEMPLATE, placeholders
from bot.rules import DossierStatus
from handlers.commune_report import DraftAgain, ReportButton, SendScan
from handlers.province_common import OpenUnassigned, ProvinceHome
from handlers.province_dossiers import OpenDossier as ProvinceDossier
from handlers.review_buttons import ConfirmCriterion, FinishReview, OpenDossier
from storage.models import AuditEntry, Dossier, DossierItem, ProductIdea
from tests import files
from tests.chat import Chat, force_offered, offered
from tests.conftest import make_producer
from tests.staff_helpers import BINH_LU, PHONG_THO, dossier_row, in_session, make_dossier, make_idea, make_staff


async def confirm_all(app: App, dossier_id: int) -> Chat:
    officer_id = await make_staff(app, "c1", "commune", BINH_LU, name="Lò Văn Minh")
    assert officer_id
    officer = Chat(app.engine, "c1")
    await officer.press(OpenDossier(dossier=dossier_id))
    for index in range(4):
        await officer.press(next(b for b in offered(officer, ConfirmCriterion) if b.criterion == index))
    await officer.press(offered(officer, FinishReview)[0])  # 🏁 Xong
    return officer


def document_text(data: bytes) -> str:
    document = Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        parts += [cell.text for row in table.rows for cell in row.cells]
    return "\n".join(parts)


async def province_sees(app: App, dossier_id: int) -> str:
    from handlers.province_common import VISIBLE

    assert DossierStatus.AT_PROVINCE.value in VISIBLE
    officer = Chat(app.engine, "prov1")
    await officer.press(ProvinceHome())
    await officer.press(OpenUnassigned())
    await officer.press(ProvinceDossier(dossier=dossier_id))
    return next(
        line for line in officer.text.splitlines() if line[:1] in "✓✗" and "Báo cáo đánh giá của UBND xã" in line
    )


async def test_confirming_four_criteria_drafts_the_report_and_the_signed_scan_completes_the_item(app: App) -> None:
    producer = await make_producer(app, "p1", name="HTX Chè Tả Van")
    idea_id = await make_idea(app, producer, name="Chè Tả Van")
    dossier_id = await make_dossier(app, producer)

    async def link_idea(session: object) -> None:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        dossier = await session.get(Dossier, dossier_id)
        idea = await session.get(ProductIdea, idea_id)
        assert dossier is not None and idea is not None
        idea.raw_materials, idea.raw_material_origin = "Búp chè shan tuyết", "Bản Tả Van, xã Bình Lư"
        idea.workers_total, idea.workers_local = 12, 10
        product = await session.get(type(dossier).product.property.mapper.class_, dossier.product_id)
        assert product is not None
        product.idea_id = idea.id

    await in_session(app, link_idea)
    officer = await confirm_all(app, dossier_id)
    assert (await dossier_row(app, dossier_id)).status == DossierStatus.AT_PROVINCE
    (report,) = [r for r in officer.replies if isinstance(r, SendFile)]
    assert report.name.endswith(".docx") and report.path.is_file()
    data = report.path.read_bytes()
    assert zipfile.is_zipfile(io.BytesIO(data))
    text = document_text(data)
    for expected in (
        "BÁO CÁO ĐÁNH GIÁ CỦA UBND XÃ",
        "Xã Bình Lư",
        "XÃ BÌNH LƯ",
        "Chè Tả Van",
        "HTX Chè Tả Van",
        "Hợp tác xã",
        "Nguồn gốc sản phẩm và nguyên liệu tại địa phương",
        "Bản Tả Van, xã Bình Lư",
        "10/12",
        "Đạt",
        "Lò Văn Minh",
        "02/03/2026",
        "Lai Châu",
    ):
        assert expected in text, expected
    assert "{{" not in text

    # The province sees the report missing until the scan is in.
    await make_staff(app, "prov1", "province")
    assert (await province_sees(app, dossier_id)).startswith("✗")

    await officer.press(offered(officer, SendScan)[0])
    await officer.send_file(files.exe(), "virus.exe")  # refused, with the reason
    await officer.send_file(b"hello", "note.txt")
    scan = files.pdf(5)
    await officer.send_file(scan, "bao-cao-ky.pdf")
    assert "(1" in officer.text

    async def report_files(session: object) -> int:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        item = await session.scalar(
            select(DossierItem).where(DossierItem.dossier_id == dossier_id, DossierItem.code == "commune_report")
        )
        assert item is not None
        await session.refresh(item, ["files"])
        return len(item.files)

    assert await in_session(app, report_files) == 1
    assert (await province_sees(app, dossier_id)).startswith("✓")

    async def actions(session: object) -> list[str]:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        return list(await session.scalars(select(AuditEntry.action)))

    assert "commune_report.upload" in await in_session(app, actions)


async def test_another_communes_officer_cannot_send_the_report(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    await confirm_all(app, dossier_id)
    await make_staff(app, "c2", "commune", PHONG_THO)
    other = Chat(app.engine, "c2")
    await other.send("menu")
    await force_offered(app.engine, "c2", SendScan(dossier=dossier_id).pack())
    await other.press(SendScan(dossier=dossier_id))
    await other.send_file(files.pdf(9), "x.pdf")
    assert offered(other, ReportButton) == []
    await force_offered(app.engine, "c2", DraftAgain(dossier=dossier_id).pack())
    await other.press(DraftAgain(dossier=dossier_id))
    assert not any(isinstance(r, SendFile) for r in other.replies)


def test_the_template_uses_only_placeholders_we_fill() -> None:
    known = {
        "commune",
        "commune_upper",
        "province",
        "day",
        "month",
        "year",
        "date",
        "product",
        "group",
        "case",
        "producer",
        "producer_kind",
        "officer",
        "conclusion",
        "row.number",
        "row.criterion",
        "row.result",
        "row.note",
    }
    assert placeholders(DEFAULT_TEMPLATE) <= known


async def test_a_province_replaces_the_template(app: App, tmp_path: Path) -> None:
    own = tmp_path / "mau-lai-chau.docx"
    document = Document()
    document.add_paragraph("MẪU CỦA TỈNH: {{product}} — {{commune}}")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "{{row.criterion}}"
    table.rows[0].cells[1].text = "{{row.result}}"
    document.save(str(own))
    app.settings.certificates.commune_report_template = own
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await confirm_all(app, dossier_id)
    (report,) = [r for r in officer.replies if isinstance(r, SendFile)]
    text = document_text(report.path.read_bytes())
    assert "MẪU CỦA TỈNH: Chè Tả Van — Xã Bình Lư" in text
    assert text.count("Đạt") == 4 and "Sử dụng lao động địa phương" in text
    await officer.press(DraftAgain(dossier=dossier_id))  # drafted again on request
    assert any(isinstance(r, SendFile) for r in officer.replies)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
async def test_the_draft_opens_in_libreoffice(app: App, tmp_path: Path) -> None:
    producer = await make_producer(app, "p1", name="HTX Chè Tả Van")
    dossier_id = await make_dossier(app, producer)
    officer = await confirm_all(app, dossier_id)
    (report,) = [r for r in officer.replies if isinstance(r, SendFile)]
    source = tmp_path / "bao-cao.docx"
    source.write_bytes(report.path.read_bytes())
    process = await asyncio.create_subprocess_exec(
        "soffice",
        f"-env:UserInstallation=file://{tmp_path}/lo-profile",
        "--headless",
        "--convert-to",
        "txt:Text (encoded):UTF8",
        "--outdir",
        str(tmp_path),
        str(source),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(process.wait(), timeout=120) == 0
    text = (tmp_path / "bao-cao.txt").read_text(encoding="utf-8-sig")
    for expected in ("BÁO CÁO ĐÁNH GIÁ CỦA UBND XÃ", "Chè Tả Van", "HTX Chè Tả Van", "Xã Bình Lư", "Đạt"):
        assert expected in text, expected
