"""Office work from the command line: importing the lists offices keep, exporting dossiers, certificates and
producers to Excel, the year's report with its chart, and a dossier's files in one ZIP. SQLite and PostgreSQL."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bot import dossier_zip, office_cli, office_export
from bot.app import App
from bot.communes import find_communes
from bot.rules import DossierCase, ProductGroup
from storage import dossiers as dossier_store
from storage.models import AuditEntry, Certificate, Dossier, Producer, Product, User

ROOT = Path(__file__).resolve().parent.parent
LAICHAU = next(
    (
        path
        for path in (
            ROOT.parent / "shared" / "data" / "laichau-2023-ocop-registrations.csv",
            Path("/work/shared/data/laichau-2023-ocop-registrations.csv"),
        )
        if path.exists()
    ),
    None,
)
NOW = dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ocop-bot")
    commands = parser.add_subparsers(dest="command")
    office_cli.add_parsers(commands)
    return parser.parse_args(argv)


async def run(app: App, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await office_cli.execute(
        parse(*argv), app.settings, now=NOW, out=out, progress=office_cli.Progress(io.StringIO())
    )
    return code, out.getvalue()


async def counts(app: App) -> tuple[int, ...]:
    found = []
    async with app.engine.sessions() as session:
        for model in (Producer, Product, Dossier, Certificate, User):
            found.append(int(await session.scalar(select(func.count()).select_from(model)) or 0))
    return tuple(found)


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


OFFICE_LIST: list[list[object]] = [
    ["DANH SÁCH SẢN PHẨM OCOP TỈNH LAI CHÂU"],  # a title above the header, as offices write them
    [],
    [
        "STT",
        "Số quyết định",
        "Tên sản phẩm",
        "Tên chủ thể",
        "Loại chủ thể",
        "Nhóm sản phẩm",
        "Xã",
        "Hạng sao",
        "Ngày quyết định",
        "Ngày hết hạn",
        "Số điện thoại",
    ],
    [
        1,
        "123/QĐ-UBND",
        "Chè Shan Tuyết Bình Lư",
        "HTX Chè Bình Lư",
        "Hợp tác xã",
        "Đồ uống",
        "Bình Lư",
        4,
        dt.datetime(2025, 6, 10),
        None,
        "0912 345 678",
    ],
    [
        2,
        "123/QĐ-UBND",
        "Miến dong Bình Lư",
        "HTX Chè Bình Lư",
        "Hợp tác xã",
        "Thực phẩm",
        "binh lu",
        "3 sao",
        "10/06/2025",
        "10/06/2028",
        "",
    ],
    [
        3,
        "45/QĐ-UBND",
        "Mật ong Mường Tè",
        "Hộ kinh doanh Lò Văn A",
        "Hộ kinh doanh",
        "Thực phẩm",
        "Mường Tè",
        "★★★",
        "2024-01-20",
        None,
        "+84 987 654 321",
    ],
]


@pytest.mark.skipif(LAICHAU is None, reason="the shared Lai Châu list is not beside the project")
async def test_laichau_list_imports_once_and_exports_every_row(app: App, tmp_path: Path) -> None:
    assert LAICHAU is not None
    source = tmp_path / "laichau.csv"
    source.write_bytes(LAICHAU.read_bytes())
    code, out = await run(app, "import", "products", str(source), "--preset", "laichau-2023", "--dry-run")
    assert code == 0 and "105 rows accepted, 0 rejected" in out and "dry run" in out
    assert await counts(app) == (0, 0, 0, 0, 0)

    code, out = await run(app, "import", "products", str(source), "--preset", "laichau-2023")
    assert code == 0, out
    first = await counts(app)
    assert first[1:4] == (105, 105, 40)
    assert (tmp_path / "laichau-ket-qua-nhap.xlsx").exists()
    code, out = await run(app, "import", "products", str(source), "--preset", "laichau-2023")
    assert code == 0 and "105 already there" in out
    assert await counts(app) == first  # idempotent

    target = tmp_path / "ho-so.xlsx"
    code, out = await run(app, "export", "dossiers", "-o", str(target))
    assert code == 0 and "105 dossiers" in out
    sheet = load_workbook(target).worksheets[0]
    assert sheet.max_row == 106 and sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:S106"
    headers = [cell.value for cell in sheet[1]]
    assert headers[:3] == ["Mã hồ sơ", "Sản phẩm", "Nhóm"] and "Hiệu lực đến" in headers
    products = {row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert "Miến dong Bình Lư" in products and len(products) >= 100

    code, out = await run(app, "report", "year", "2023", "-o", str(tmp_path / "bao-cao.xlsx"))
    assert code == 0, out
    book = load_workbook(tmp_path / "bao-cao.xlsx")
    assert book.sheetnames[:2] == ["Tổng hợp 2023", "Theo xã 2023"]
    assert len(book["Tổng hợp 2023"]._charts) == 0 or True  # charts are not read back by openpyxl
    with zipfile.ZipFile(tmp_path / "bao-cao.xlsx") as archive:
        assert any(name.startswith("xl/charts/chart") for name in archive.namelist())
    communes = book["Theo xã 2023"]
    total = [cell.value for cell in communes[communes.max_row]]
    assert total[0] == "Toàn tỉnh" and total[-1] == 39  # the 39 certificates of 2020 expired in 2023
    assert "GCN đã hết hạn" in [cell.value for cell in communes[1]]


async def test_an_office_list_with_vietnamese_headers_in_any_order(app: App, tmp_path: Path) -> None:
    source = write_xlsx(tmp_path / "danh-sach.xlsx", OFFICE_LIST)
    code, out = await run(app, "import", "products", str(source))
    assert code == 0, out
    async with app.engine.sessions() as session:
        certificates = list(await session.scalars(select(Certificate).order_by(Certificate.id)))
        producers = list(await session.scalars(select(Producer).order_by(Producer.id)))
        phones = set(await session.scalars(select(User.phone)))
        groups = {
            name: group for name, group in (await session.execute(select(Product.name, Product.group_code))).all()
        }
    assert [(c.stars, c.issued_on, c.expires_on) for c in certificates] == [
        (4, dt.date(2025, 6, 10), dt.date(2028, 6, 10)),  # 36 months when the list gives no expiry
        (3, dt.date(2025, 6, 10), dt.date(2028, 6, 10)),
        (3, dt.date(2024, 1, 20), dt.date(2027, 1, 20)),
    ]
    assert [(p.name, p.kind) for p in producers] == [("HTX Chè Bình Lư", "htx"), ("Hộ kinh doanh Lò Văn A", "hkd")]
    assert producers[0].commune_code == find_communes(app.settings.ocop.province, "binh lu")[0].code
    assert phones == {"0912345678", "0987654321"}
    assert groups["Chè Shan Tuyết Bình Lư"] == ProductGroup.DRINK.value

    code, out = await run(app, "import", "products", str(source))
    assert code == 0 and "3 already there" in out


async def test_rejected_rows_are_reported_and_nothing_is_half_imported(app: App, tmp_path: Path) -> None:
    rows: list[list[object]] = [
        *OFFICE_LIST,
        [4, "9/QĐ", "", "HTX Không Tên", "", "", "Bình Lư", 3, "01/02/2025", None, ""],
        [5, "9/QĐ", "Rượu ngô", "HTX Rượu", "", "", "Bình Lư", 7, "01/02/2025", None, ""],
        [6, "9/QĐ", "Gạo nếp", "HTX Gạo", "", "", "Bình Lư", 3, "31/02/2025", None, ""],
        [7, "9/QĐ", "Chè xanh", "HTX Chè", "", "", "Bình Lư", 3, "01/02/2025", None, "12345"],
    ]
    source = write_xlsx(tmp_path / "co-loi.xlsx", rows)
    code, out = await run(app, "import", "products", str(source))
    assert code == 1
    assert await counts(app) == (0, 0, 0, 0, 0)
    report = load_workbook(tmp_path / "co-loi-ket-qua-nhap.xlsx").worksheets[0]
    outcome = {row[0]: (row[2], row[3]) for row in report.iter_rows(min_row=2, values_only=True)}
    assert outcome[4] == ("nhận", None) or outcome[4][0] == "nhận"
    assert outcome[7] == ("từ chối", "no product name")
    assert outcome[8][0] == "từ chối" and "stars" in str(outcome[8][1])
    assert outcome[9][0] == "từ chối" and "date" in str(outcome[9][1])
    assert outcome[10][0] == "từ chối" and "phone" in str(outcome[10][1])
    assert "nothing was written" in out


async def test_unusual_headers_by_map_and_csv_with_semicolons(app: App, tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(["Tên SP", "Đơn vị sản xuất", "Địa bàn", "Sao"])
        writer.writerow(["Thảo quả sấy", "HTX Thảo Quả", "Bình Lư", ""])
    code, out = await run(app, "import", "products", str(source))
    assert code == 2 and "product column" in out
    code, out = await run(
        app,
        "import",
        "products",
        str(source),
        "--map",
        "Tên SP=product",
        "--map",
        "Đơn vị sản xuất=producer",
        "--map",
        "Địa bàn=commune",
        "--map",
        "Sao=stars",
    )
    assert code == 0, out
    assert (await counts(app))[:4] == (1, 1, 0, 0)
    code, out = await run(app, "import", "products", str(source), "--map", "Tên SP=nonsense")
    assert code == 2 and "field one of" in out


async def test_exports_filter_and_scope(app: App, tmp_path: Path) -> None:
    await run(app, "import", "products", str(write_xlsx(tmp_path / "l.xlsx", OFFICE_LIST)))
    code, out = await run(app, "export", "certificates", "--expiring-days", "400", "-o", str(tmp_path / "c.xlsx"))
    # 02/03/2026 + 400 days: only the honey's certificate (20/01/2027) expires in that window.
    assert code == 0 and "1 certificates" in out
    sheet = load_workbook(tmp_path / "c.xlsx").worksheets[0]
    row = [cell.value for cell in sheet[2]]
    assert row[1] == "Mật ong Mường Tè" and isinstance(row[10], dt.datetime) and row[11] == 324
    assert sheet.cell(row=2, column=11).number_format == "DD/MM/YYYY"

    code, out = await run(app, "export", "producers", "-o", str(tmp_path / "p.xlsx"))
    assert code == 0 and "2 producers" in out
    binh_lu = find_communes(app.settings.ocop.province, "binh lu")[0].code
    async with app.engine.sessions() as session:
        _book, count = await office_export.certificates_workbook(session, communes={binh_lu}, today=NOW.date())
        other, none = await office_export.producers_workbook(session, communes={binh_lu + 999_999})
    assert count == 2  # a commune officer's export holds their communes only
    assert none == 0 and other.worksheets[0].max_row == 1
    async with app.engine.sessions() as session:
        audited = list(await session.scalars(select(AuditEntry.action)))
    assert audited.count("personal_data.export") == 2

    code, out = await run(app, "export", "dossiers", "--commune", "xa", "-o", str(tmp_path / "d.xlsx"))
    assert code == 2 and "type more" in out
    code, out = await run(app, "export", "dossiers", "--status", "dang chuan bi", "-o", str(tmp_path / "d.xlsx"))
    assert code == 0, out


def dossier_zip_parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("nho-phan-*.zip"))


async def _dossier_with_files(app: App, tmp_path: Path) -> int:
    from storage.models import DossierItemFile, StoredFile

    pdf = b"%PDF-1.4\n" + b"x" * 4000
    jpeg = b"\xff\xd8\xff\xe0" + b"y" * 6000
    async with app.engine.sessions() as session, session.begin():
        user = User(locale="vi", display_name="p", created_at=NOW)
        session.add(user)
        await session.flush()
        producer = Producer(
            user_id=user.id,
            kind="htx",
            name="HTX Chè Bình Lư",
            name_folded="htx che binh lu",
            commune_code=1,
            commune_name="Xã Bình Lư",
            created_at=NOW,
        )
        session.add(producer)
        await session.flush()
        product = await dossier_store.create_product(
            session,
            producer.id,
            name="Chè Shan Tuyết",
            name_folded="che shan tuyet",
            group_code=ProductGroup.DRINK.value,
            is_service=False,
            commune_code=1,
        )
        dossier = await dossier_store.create_dossier(
            session,
            product.id,
            case=DossierCase.NEW.value,
            status="draft",
            rule_set="QD148_1489",
            now=NOW,
            items=[
                dossier_store.NewItem("registration_form", 0, True),
                dossier_store.NewItem("business_plan", 1, True),
            ],
        )
        await session.refresh(dossier, ["items"])
        for item, blobs in zip(dossier.items, ([pdf, jpeg], [pdf + b"2"]), strict=True):
            for blob in blobs:
                extension = "pdf" if blob.startswith(b"%PDF") else "jpg"
                sha256, path = await app.engine.files.put(blob, extension)
                stored = StoredFile(
                    sha256=sha256, size=len(blob), mime="x", path=str(path.relative_to(app.engine.files.root))
                )
                session.add(stored)
                await session.flush()
                session.add(
                    DossierItemFile(item_id=item.id, stored_file_id=stored.id, original_name="anh.exe", created_at=NOW)
                )
        return dossier.id


async def test_dossier_zip_holds_every_file_once_named_by_item(app: App, tmp_path: Path) -> None:
    dossier_id = await _dossier_with_files(app, tmp_path)
    code, out = await run(app, "dossier", "zip", str(dossier_id), "-o", str(tmp_path / "hs.zip"))
    assert code == 0 and "3 files in 1 part(s)" in out, out
    with zipfile.ZipFile(tmp_path / "hs.zip") as archive:
        names = sorted(archive.namelist())
        index = load_workbook(io.BytesIO(archive.read(dossier_zip.INDEX_NAME))).worksheets[0]
    assert names == [
        "00-muc-luc.xlsx",
        "01-registration_form/registration_form-1.pdf",
        "01-registration_form/registration_form-2.jpg",
        "02-business_plan/business_plan-1.pdf",
    ]
    assert index.max_row == 4 and [c.value for c in index[1]][:3] == ["Mục", "Thư mục", "Tệp"]

    code, out = await run(app, "dossier", "zip", str(dossier_id), "-o", str(tmp_path / "nho.zip"), "--limit-mb", "0")
    parts = dossier_zip_parts(tmp_path)
    assert code == 0 and len(parts) == 3
    for part in parts:
        with zipfile.ZipFile(part) as archive:
            assert dossier_zip.INDEX_NAME in archive.namelist()
    code, out = await run(app, "dossier", "zip", "999", "-o", str(tmp_path / "x.zip"))
    assert code == 2 and "no dossier" in out
