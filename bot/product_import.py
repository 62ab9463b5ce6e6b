"""Import the product lists provinces keep (``.xlsx`` or ``.csv``) as producers without a chat account,
products, certificates and — when the list says which case a product is in — draft dossiers, so that
expiry reminders start on day one.

Columns are recognised by the names offices give them, folded and in any order ("STT", "Tên sản phẩm",
"Nhóm sản phẩm", "Tên chủ thể", "Loại chủ thể", "Xã", "Hạng sao", "Số quyết định", "Ngày quyết định",
"Ngày hết hạn", "Số điện thoại"…); ``--map "Header=field"`` names an unusual one. Every row is validated and
the run reports accepted and rejected rows with a reason each. The whole file is one transaction (nothing is
half-imported), and importing the same file twice changes nothing: a producer is found again by its folded
name and commune, a product by its producer and folded name, a certificate by product, decision and date.

Lists are about organisations, not people; a producer imported here gets a *synthetic* user with no channel
identity, so nobody is messaged by accident (the sender marks such reminders undeliverable).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.communes import find_communes
from bot.dates import BadDate, parse_day
from bot.i18n import _
from bot.rules import (
    SERVICE_GROUPS,
    DossierCase,
    DossierStatus,
    ProducerKind,
    ProductGroup,
    certificate_expiry,
    requirements_for,
    rule_set_for,
)
from bot.text import fold, normalise_phone, tidy
from storage import certificates
from storage.models import Certificate, Dossier, DossierItem, Producer, Product, User

# Canonical fields and the folded headers offices use for them (first match wins).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "product": ("ten san pham", "san pham", "ten sp", "product"),
    "group": ("nhom san pham", "nhom", "phan nhom", "group"),
    "producer": ("ten chu the", "chu the", "ten co so", "co so san xuat", "don vi", "producer"),
    "kind": ("loai chu the", "loai hinh chu the", "loai hinh", "kind"),
    "commune": ("xa", "xa phuong", "xa/phuong", "phuong/xa", "ten xa", "commune"),
    "address": ("dia chi", "address"),
    "district": ("huyen", "huyen/thanh pho", "district"),
    "stars": ("hang sao", "so sao", "xep hang", "sao", "stars"),
    "decision_no": ("so quyet dinh", "quyet dinh", "so qd", "decision", "decision no"),
    "decision_date": ("ngay quyet dinh", "ngay qd", "ngay cap", "ngay cong nhan", "decision date"),
    "expires": ("ngay het han", "het han", "han hieu luc", "expiry", "expires"),
    "phone": ("so dien thoai", "dien thoai", "sdt", "phone"),
    "case": ("loai ho so", "truong hop", "case", "list"),
    "certified_year": ("nam cong nhan", "nam chung nhan", "certified_year", "certified year"),
    "row_no": ("stt", "so thu tu", "tt"),
}

# Columns of a known list, for lists whose headers say little (the Lai Châu 2023 plan appendix, as shared).
PRESETS: dict[str, dict[str, str]] = {
    "laichau-2023": {
        "list": "case",
        "district": "district",
        "product": "product",
        "producer": "producer",
        "address": "address",
        "certified_year": "certified_year",
    },
}

_CASE_WORDS: tuple[tuple[DossierCase, tuple[str, ...]], ...] = (
    (DossierCase.RE_EVALUATION, ("re-evaluation", "danh gia lai", "cap lai")),
    (DossierCase.UPGRADE, ("upgrade", "nang hang", "nang sao")),
    (DossierCase.NEW, ("new", "moi", "dang ky moi")),
)
_GROUP_NAMES: tuple[tuple[ProductGroup, tuple[str, ...]], ...] = (
    (ProductGroup.FOOD, ("thuc pham", "food")),
    (ProductGroup.DRINK, ("do uong", "drink")),
    (ProductGroup.HERBAL, ("duoc lieu", "thao duoc", "herbal")),
    (ProductGroup.CRAFT, ("thu cong", "my nghe", "vai", "may mac", "luu niem", "craft")),
    (ProductGroup.ORNAMENTAL, ("sinh vat canh", "cay canh", "ornamental")),
    (ProductGroup.TOURISM, ("du lich", "dich vu", "tourism")),
)
# Words in a product name that give its group away when the list has no group column; otherwise food.
_GROUP_WORDS: tuple[tuple[ProductGroup, tuple[str, ...]], ...] = (
    (ProductGroup.TOURISM, ("du lich", "homestay", "diem du lich")),
    (ProductGroup.DRINK, ("ruou", "tra ", "che ", "nuoc ", "tra shan", "che shan")),
    (ProductGroup.HERBAL, ("duoc lieu", "sam ", "tinh dau", "cao ", "dong trung", "sa nhan", "thao duoc")),
    (ProductGroup.CRAFT, ("tho cam", "det ", "may ", "dan ", "go ", "bac ")),
    (ProductGroup.ORNAMENTAL, ("lan ", "hoa ", "cay canh")),
)
_STARS = re.compile(r"([345])")
_UNIT = re.compile(r"(?:xã|phường|thị trấn)\s+([^,]+)", re.IGNORECASE)


class ImportFileError(ValueError):
    """The file cannot be read as a list (no header row recognised, unknown format)."""


@dataclass
class RowOutcome:
    line: int  # the row number in the file, as the office sees it
    product: str
    accepted: bool
    reason: str = ""
    warning: str = ""


@dataclass
class ImportResult:
    producers: int = 0
    products: int = 0
    dossiers: int = 0
    certificates: int = 0
    skipped: int = 0  # already imported
    rows: list[RowOutcome] = field(default_factory=list)

    @property
    def rejected(self) -> list[RowOutcome]:
        return [row for row in self.rows if not row.accepted]


# Reading --------------------------------------------------------------------------------------------------


def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[object]]]]:
    """Headers and (line number, values) of the first sheet of an ``.xlsx`` or of a ``.csv``."""
    suffix = path.suffix.casefold()
    if suffix == ".xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        raw = [(index, list(values)) for index, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
        workbook.close()
    elif suffix in (".csv", ".txt"):
        text = path.read_text(encoding="utf-8-sig")
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t") if text.strip() else csv.excel
        raw = [(index, list(values)) for index, values in enumerate(csv.reader(io.StringIO(text), dialect), start=1)]
    else:
        raise ImportFileError(f"{path.name}: only .xlsx and .csv lists can be imported")
    # The header is the first of the top rows that names a product column (titles often sit above it).
    for position, (_line, values) in enumerate(raw[:15]):
        headers = [tidy(str(value)) if value is not None else "" for value in values]
        if any(_field_for(header, {}) == "product" for header in headers):
            rows = [(line, values) for line, values in raw[position + 1 :] if any(_present(v) for v in values)]
            return headers, rows
    raise ImportFileError(f"{path.name}: no header row with a product column (e.g. 'Tên sản phẩm')")


def _present(value: object) -> bool:
    return value is not None and str(value).strip() != ""


def _field_for(header: str, extra: Mapping[str, str]) -> str | None:
    folded = fold(header)
    for name, target in extra.items():
        if fold(name) == folded:
            return target
    for target, aliases in HEADER_ALIASES.items():
        if folded in aliases:
            return target
    return None


def column_map(headers: list[str], extra: Mapping[str, str]) -> dict[str, int]:
    """Canonical field → column index (the first column that names it)."""
    found: dict[str, int] = {}
    for index, header in enumerate(headers):
        target = _field_for(header, extra)
        if target is not None and target not in found:
            found[target] = index
    return found


def parse_map(pairs: Iterable[str]) -> dict[str, str]:
    """``--map "Tên SP=product"`` pairs; the field must be one we know."""
    result: dict[str, str] = {}
    for pair in pairs:
        header, separator, target = pair.partition("=")
        if not separator or target.strip() not in HEADER_ALIASES:
            known = ", ".join(sorted(HEADER_ALIASES))
            raise ImportFileError(f"--map {pair!r}: expected 'Header=field', field one of: {known}")
        result[header.strip()] = target.strip()
    return result


# One row ----------------------------------------------------------------------------------------------------


@dataclass
class ProductLine:
    product: str
    group: ProductGroup
    producer: str
    kind: ProducerKind
    commune_code: int
    commune_name: str
    phone: str | None
    case: DossierCase | None
    stars: int | None
    decision_no: str | None
    decision_date: dt.date | None
    expires: dt.date | None
    warning: str = ""


def producer_kind(name: str, declared: str = "") -> ProducerKind:
    folded = fold(declared or name)
    if folded.startswith(("htx", "hop tac xa")) or "hop tac xa" in folded:
        return ProducerKind.COOPERATIVE
    if folded.startswith(("tht", "to hop tac")) or "to hop tac" in folded:
        return ProducerKind.COOPERATIVE_GROUP
    if folded.startswith(("ho kinh doanh", "hkd", "ho ")) or "ho kinh doanh" in folded:
        return ProducerKind.HOUSEHOLD
    return ProducerKind.ENTERPRISE


def product_group(name: str, declared: str = "") -> ProductGroup:
    if declared:
        folded = fold(declared)
        for group, words in _GROUP_NAMES:
            if any(word in folded for word in words):
                return group
        if folded.isdigit() and 1 <= int(folded) <= len(_GROUP_NAMES):  # "Nhóm 2"-style numbering of QĐ 148
            return _GROUP_NAMES[int(folded) - 1][0]
    padded = fold(name) + " "
    for group, words in _GROUP_WORDS:
        if any(word in padded for word in words):
            return group
    return ProductGroup.FOOD


def _day(value: object) -> dt.date | None:
    """An Excel date cell, or text typed as 20/05/2026, 20-5-2026 or 2026-05-20."""
    if value is None or str(value).strip() == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    iso = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?", text)
    if iso:
        return dt.date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    if not re.search(r"\d{4}", text):
        raise ValueError(f"'{text}' has no year")  # a list's date without its year cannot be trusted
    try:
        return parse_day(text, today=dt.date.today())
    except BadDate:
        raise ValueError(f"'{text}' is not a date") from None


def _places(commune: str, address: str) -> list[str]:
    """What may name the commune, most specific first: the commune column, else the words after the last
    "xã / phường / thị trấn" of the address, else its comma-separated parts from the end."""
    if commune:
        return [commune]
    named = _UNIT.findall(address)
    parts = [p.strip() for p in reversed(address.split(",")) if p.strip()]
    return [*(name.strip() for name in reversed(named)), *parts]


def _commune(province: str, commune: str, address: str, district: str) -> tuple[int, str, str]:
    """The 2025 commune. When the list gives only names that match no 2025 commune (communes merged in 2025),
    or several, the row keeps the text and a warning for the officer to decide."""
    for part in _places(commune, address):
        found = find_communes(province, part, limit=3)
        if len(found) == 1:
            return found[0].code, found[0].name, ""
        if len(found) > 1:
            names = ", ".join(c.name for c in found)
            return 0, (commune or address)[:200], f"commune ambiguous ({part}: {names}); decide and set it"
    place = commune or address or district
    return 0, place[:200], f"no 2025 commune found for '{place}'; decide and set it"


def read_line(values: list[object], columns: Mapping[str, int], province: str) -> ProductLine:
    def cell(name: str) -> str:
        index = columns.get(name)
        if index is None or index >= len(values) or values[index] is None:
            return ""
        value = values[index]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return tidy(str(value))

    product, producer = cell("product"), cell("producer")
    if not product:
        raise ValueError("no product name")
    if not producer:
        raise ValueError("no producer name")
    raw_phone = cell("phone")
    phone = normalise_phone(raw_phone) if raw_phone else None
    if raw_phone and phone is None:
        raise ValueError(f"phone '{raw_phone}' is not a Vietnamese mobile number")
    code, commune_name, warning = _commune(province, cell("commune"), cell("address"), cell("district"))
    stars: int | None = None
    raw_stars = cell("stars")
    if raw_stars:
        stars = raw_stars.count("★") or (int(m.group(1)) if (m := _STARS.search(raw_stars)) else 0)
        if stars not in (3, 4, 5):
            raise ValueError(f"stars '{raw_stars}' is not 3, 4 or 5")
    try:
        decision_date = _day(values[columns["decision_date"]]) if "decision_date" in columns else None
        expires = _day(values[columns["expires"]]) if "expires" in columns else None
    except (ValueError, IndexError) as error:
        raise ValueError(f"date not understood ({error})") from None
    year = cell("certified_year")
    if decision_date is None and year.isdigit():
        decision_date = dt.date(int(year), 10, 15)  # a list that gives the year only: mid-October, as 2020's
        stars = stars or 3
    if stars is not None and decision_date is None:
        raise ValueError("stars given without a decision date or year")
    if decision_date is not None and stars is None:
        stars = 3
    if decision_date is not None and expires is None:
        expires = certificate_expiry(decision_date)
    if decision_date is not None and expires is not None and expires <= decision_date:
        raise ValueError("expiry is not after the decision date")
    case_text = fold(cell("case"))
    case = next((c for c, words in _CASE_WORDS if any(w in case_text for w in words)), None) if case_text else None
    kind = producer_kind(producer, cell("kind"))
    # A household business appears only as "Hộ kinh doanh" in some lists: the address tells them apart.
    address = cell("address")
    if kind is ProducerKind.HOUSEHOLD and fold(producer) in ("ho kinh doanh", "hkd") and address:
        producer = f"{producer} ({address})"
    return ProductLine(
        product=product[:300],
        group=product_group(product, cell("group")),
        producer=producer[:300],
        kind=kind,
        commune_code=code,
        commune_name=commune_name,
        phone=phone,
        case=case,
        stars=stars,
        decision_no=cell("decision_no") or (f"(danh sách {year})" if year.isdigit() else None),
        decision_date=decision_date,
        expires=expires,
        warning=warning,
    )


# Writing ----------------------------------------------------------------------------------------------------


async def import_rows(
    session: AsyncSession,
    rows: list[tuple[int, list[object]]],
    columns: Mapping[str, int],
    *,
    province: str,
    now: dt.datetime,
) -> ImportResult:
    """Validate and write every row in the caller's transaction (roll it back for a dry run)."""
    if "product" not in columns or "producer" not in columns:
        raise ImportFileError("the list needs a product column and a producer column")
    result = ImportResult()
    known = await _Known.load(session)
    producers: dict[tuple[str, str], Producer] = {}
    for line_no, values in rows:
        try:
            line = read_line(values, columns, province)
        except ValueError as error:
            product = str(values[columns["product"]] or "") if columns["product"] < len(values) else ""
            result.rows.append(RowOutcome(line_no, product, accepted=False, reason=str(error)))
            continue
        added = await _write(session, line, now, producers, result, known)
        result.rows.append(
            RowOutcome(
                line_no, line.product, accepted=True, reason="" if added else "already imported", warning=line.warning
            )
        )
    await session.flush()
    return result


@dataclass
class _Known:
    """What the database already holds, read once: a list of thousands of rows is then matched in memory
    instead of three look-ups per row."""

    products: dict[tuple[int, str], Product]
    certificates: set[tuple[int, str, dt.date]]

    @classmethod
    async def load(cls, session: AsyncSession) -> _Known:
        products = {(p.producer_id, p.name_folded): p for p in await session.scalars(select(Product))}
        certificates = {
            (product_id, decision_no, issued_on)
            for product_id, decision_no, issued_on in (
                await session.execute(select(Certificate.product_id, Certificate.decision_no, Certificate.issued_on))
            ).all()
        }
        return cls(products, certificates)


async def _write(
    session: AsyncSession,
    line: ProductLine,
    now: dt.datetime,
    producers: dict[tuple[str, str], Producer],
    result: ImportResult,
    known: _Known,
) -> bool:
    producer = await _producer(session, line, now, producers, result)
    product = known.products.get((producer.id, fold(line.product)))
    added = False
    if product is None:
        product = Product(
            producer_id=producer.id,
            name=line.product,
            name_folded=fold(line.product),
            group_code=line.group.value,
            is_service=line.group in SERVICE_GROUPS,
            commune_code=line.commune_code,
            created_at=now,
        )
        session.add(product)
        await session.flush()
        known.products[(producer.id, product.name_folded)] = product
        result.products += 1
        added = True
        if line.case is not None:
            items = [
                DossierItem(code=r.code, position=index, required=r.required)
                for index, r in enumerate(requirements_for(line.group, line.case))
            ]
            session.add(
                Dossier(
                    product_id=product.id,
                    case=line.case.value,
                    status=DossierStatus.DRAFT.value,
                    rule_set=rule_set_for(now.date()).code,
                    created_at=now,
                    updated_at=now,
                    items=items,
                )
            )
            result.dossiers += 1
    if line.stars is not None and line.decision_date is not None and line.expires is not None:
        decision_no = (line.decision_no or "")[:100]
        key = (product.id, decision_no, line.decision_date)
        if key not in known.certificates:
            known.certificates.add(key)
            session.add(
                Certificate(
                    product_id=product.id,
                    stars=line.stars,
                    decision_no=decision_no,
                    issued_on=line.decision_date,
                    expires_on=line.expires,
                    status=certificates.VALID if line.expires > now.date() else certificates.EXPIRED,
                    created_at=now,
                )
            )
            result.certificates += 1
            added = True
    if not added:
        result.skipped += 1
    return added


async def _producer(
    session: AsyncSession,
    line: ProductLine,
    now: dt.datetime,
    seen: dict[tuple[str, str], Producer],
    result: ImportResult,
) -> Producer:
    key = (fold(line.producer), line.commune_name)
    if key in seen:
        return seen[key]
    # The same organisation again: same folded name in the same commune, or one imported earlier whose
    # commune was left to decide (this list now names it: a correction, not a second producer).
    namesakes = list(await session.scalars(select(Producer).where(Producer.name_folded == fold(line.producer)[:300])))
    found = next((p for p in namesakes if p.commune_code == line.commune_code and line.commune_code), None)
    found = found or next((p for p in namesakes if p.commune_name == line.commune_name), None)
    if found is None and line.commune_code:
        found = next((p for p in namesakes if p.commune_code == 0), None)
        if found is not None:
            found.commune_code, found.commune_name = line.commune_code, line.commune_name
            await session.execute(
                update(Product)
                .where(Product.producer_id == found.id, Product.commune_code == 0)
                .values(commune_code=line.commune_code)
            )
    if found is None:
        user = User(locale="vi", display_name=f"[import] {line.producer}"[:200], phone=line.phone, created_at=now)
        session.add(user)
        await session.flush()
        found = Producer(
            user_id=user.id,
            kind=line.kind.value,
            name=line.producer,
            name_folded=fold(line.producer)[:300],
            commune_code=line.commune_code,
            commune_name=line.commune_name,
            created_at=now,
        )
        session.add(found)
        await session.flush()
        result.producers += 1
    seen[key] = found
    return found


async def import_file(
    session: AsyncSession,
    path: Path,
    *,
    province: str,
    now: dt.datetime,
    mapping: Mapping[str, str] | None = None,
    preset: str | None = None,
) -> ImportResult:
    headers, rows = read_table(path)
    extra = {**PRESETS.get(preset or "", {}), **(mapping or {})}
    return await import_rows(session, rows, column_map(headers, extra), province=province, now=now)


async def import_laichau(session: AsyncSession, path: Path, *, province: str, now: dt.datetime) -> ImportResult:
    """The Lai Châu 2023 list as shared: one case of the importer, with that list's column names."""
    return await import_file(session, path, province=province, now=now, preset="laichau-2023")


def outcome_workbook(result: ImportResult) -> Workbook:
    """The run's report, written beside the input for the officer who fixes the list."""
    from bot.spreadsheet import add_table, new_workbook

    book = new_workbook()
    add_table(
        book,
        _("Import"),
        [_("Line"), _("Product"), _("Result"), _("Reason"), _("To check")],
        [
            [row.line, row.product, _("accepted") if row.accepted else _("rejected"), row.reason, row.warning]
            for row in result.rows
        ],
    )
    return book
