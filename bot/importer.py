"""Import the Lai Châu 2023 OCOP list (``laichau-2023-ocop-registrations.csv``) as placeholder data.

The list names organisations, not people: it is fixture data for reminders and search, never a list of users.
Each producer (organisation name + address; every household business is its own producer) gets a
*synthetic* user with no channel identity, so nobody can be messaged by accident: the sender marks their
reminders undeliverable. Each product gets a draft dossier (case new / re-evaluation / upgrade); products
certified earlier get a certificate issued on ``issued_day/issued_month`` of ``certified_year`` (the list
gives the year only) valid 36 months, so the 39 products certified in 2020 expire in 2023.

Importing twice adds nothing: a producer with the same folded name and address is reused, a product with
the same folded name of that producer is skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.communes import find_communes
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
from bot.settings import Settings
from bot.text import fold
from storage.models import Certificate, Dossier, DossierItem, Producer, Product, User

# The plan's lists → our dossier cases.
_CASES = {"new": DossierCase.NEW, "re-evaluation": DossierCase.RE_EVALUATION, "upgrade": DossierCase.UPGRADE}
# Words in a product name that give its group away; everything else is food (most of the list).
_GROUP_WORDS: tuple[tuple[ProductGroup, tuple[str, ...]], ...] = (
    (ProductGroup.TOURISM, ("du lich", "homestay", "diem du lich")),
    (ProductGroup.DRINK, ("ruou", "tra ", "che ", "nuoc ", "tra shan", "che shan")),
    (ProductGroup.HERBAL, ("duoc lieu", "sam ", "tinh dau", "cao ", "dong trung", "sa nhan", "thao duoc")),
    (ProductGroup.CRAFT, ("tho cam", "det ", "may ", "dan ", "go ", "bac ")),
    (ProductGroup.ORNAMENTAL, ("lan ", "hoa ", "cay canh")),
)


@dataclass
class ImportResult:
    producers: int = 0
    products: int = 0
    dossiers: int = 0
    certificates: int = 0
    skipped: int = 0


def producer_kind(name: str) -> ProducerKind:
    folded = fold(name)
    if folded.startswith(("htx", "hop tac xa")):
        return ProducerKind.COOPERATIVE
    if folded.startswith(("tht", "to hop tac")):
        return ProducerKind.COOPERATIVE_GROUP
    if folded.startswith(("ho kinh doanh", "hkd")):
        return ProducerKind.HOUSEHOLD
    return ProducerKind.ENTERPRISE


def product_group(name: str) -> ProductGroup:
    folded = fold(name) + " "
    for group, words in _GROUP_WORDS:
        if any(word in folded for word in words):
            return group
    return ProductGroup.FOOD


def _commune(province: str, address: str) -> tuple[int, str]:
    """The commune named last in the address ("Tổ 3, phường Đoàn Kết"); 0 and the address when unknown
    (the list predates the 2025 merger of communes)."""
    for part in reversed([p.strip() for p in address.split(",") if p.strip()]):
        found = find_communes(province, part, limit=1)
        if found:
            return found[0].code, found[0].name
    return 0, address[:200]


async def import_laichau(
    session: AsyncSession,
    path: Path,
    *,
    province: str,
    now: dt.datetime,
    issued_day: int = 15,
    issued_month: int = 10,
) -> ImportResult:
    result = ImportResult()
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    producers: dict[tuple[str, str], Producer] = {}
    for row in rows:
        producer = await _producer(session, row, province, now, producers, result)
        name = row["product"].strip()
        existing = await session.scalar(
            select(Product.id).where(Product.producer_id == producer.id, Product.name_folded == fold(name))
        )
        if existing is not None:
            result.skipped += 1
            continue
        group = product_group(name)
        product = Product(
            producer_id=producer.id,
            name=name,
            name_folded=fold(name),
            group_code=group.value,
            is_service=group in SERVICE_GROUPS,
            commune_code=producer.commune_code,
            created_at=now,
        )
        session.add(product)
        await session.flush()
        result.products += 1
        case = _CASES.get(row["list"].strip(), DossierCase.NEW)
        items = [
            DossierItem(code=r.code, position=index, required=r.required)
            for index, r in enumerate(requirements_for(group, case))
        ]
        session.add(
            Dossier(
                product_id=product.id,
                case=case.value,
                status=DossierStatus.DRAFT.value,
                rule_set=rule_set_for(now.date()).code,
                created_at=now,
                updated_at=now,
                items=items,
            )
        )
        result.dossiers += 1
        year = (row.get("certified_year") or "").strip()
        if year.isdigit():
            issued = dt.date(int(year), issued_month, issued_day)
            session.add(
                Certificate(
                    product_id=product.id,
                    stars=3,
                    decision_no=f"(danh sách {year})",
                    issued_on=issued,
                    expires_on=certificate_expiry(issued),
                    status="valid",
                    created_at=now,
                )
            )
            result.certificates += 1
    await session.flush()
    return result


async def _producer(
    session: AsyncSession,
    row: dict[str, str],
    province: str,
    now: dt.datetime,
    seen: dict[tuple[str, str], Producer],
    result: ImportResult,
) -> Producer:
    name, address = row["producer"].strip(), row["address"].strip()
    key = (fold(name), fold(address))
    if key in seen:
        return seen[key]
    commune_code, commune_name = _commune(province, address)
    # A household business appears only as "Hộ kinh doanh": the address tells them apart.
    display = name if producer_kind(name) is not ProducerKind.HOUSEHOLD else f"{name} ({address})"
    found = await session.scalar(
        select(Producer).where(Producer.name_folded == fold(display)[:300], Producer.commune_name == commune_name)
    )
    if found is None:
        user = User(locale="vi", display_name=f"[import] {display}"[:200], created_at=now)
        session.add(user)
        await session.flush()
        found = Producer(
            user_id=user.id,
            kind=producer_kind(name).value,
            name=display[:300],
            name_folded=fold(display)[:300],
            commune_code=commune_code,
            commune_name=commune_name,
            created_at=now,
        )
        session.add(found)
        await session.flush()
        result.producers += 1
    seen[key] = found
    return found


async def run_import(settings: Settings, path: str) -> int:
    """``ocop-bot import-laichau PATH``."""
    from storage.db import create_engine, migrate, session_factory

    db = create_engine(settings.database_url)
    try:
        if db.dialect.name == "sqlite":
            await migrate(db)
        async with session_factory(db)() as session, session.begin():
            result = await import_laichau(
                session, Path(path), province=settings.ocop_province, now=dt.datetime.now(dt.UTC)
            )
    finally:
        await db.dispose()
    print(
        f"imported {result.producers} producers (synthetic users, no channel), {result.products} products, "
        f"{result.dossiers} draft dossiers, {result.certificates} certificates; {result.skipped} already there"
    )
    return 0
