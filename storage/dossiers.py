"""Products, dossiers, their checklist items and the files attached to them.

Status and case columns hold plain strings (the values of ``bot.rules`` enums); callers pass them in, so
this module imports nothing of ours but ``storage``. Every lookup by an id that came from a button goes
through the producer (``Product.producer_id``) in the query itself.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, contains_eager, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from storage import preloaded
from storage.db import insert_ignore
from storage.models import CouncilResult, Dossier, DossierItem, DossierItemFile, Product, ProductIdea, StoredFile


@dataclass(frozen=True, slots=True)
class NewItem:
    code: str
    position: int
    required: bool


# Products ------------------------------------------------------------------------------------------------


async def create_product(
    session: AsyncSession,
    producer_id: int,
    *,
    name: str,
    name_folded: str,
    group_code: str,
    is_service: bool,
    commune_code: int,
    idea_id: int | None = None,
) -> Product:
    product = Product(
        producer_id=producer_id,
        idea_id=idea_id,
        name=name,
        name_folded=name_folded,
        group_code=group_code,
        is_service=is_service,
        commune_code=commune_code,
    )
    session.add(product)
    await session.flush()
    return product


# Statements of the status report and the dossier menu, built once (their construction and cache key too).
_PRODUCTS_OF = select(Product).where(Product.producer_id == bindparam("producer_id")).order_by(Product.id)
_IDEAS_WITHOUT_PRODUCT = (
    select(ProductIdea)
    .where(
        ProductIdea.producer_id == bindparam("producer_id"),
        ProductIdea.status.in_(bindparam("statuses", expanding=True)),
        ~select(Product.id).where(Product.idea_id == ProductIdea.id).exists(),
    )
    .order_by(ProductIdea.id)
)


async def product_of(session: AsyncSession, producer_id: int, product_id: int) -> Product | None:
    """One product, only if it belongs to this producer."""
    return await session.scalar(select(Product).where(Product.id == product_id, Product.producer_id == producer_id))


async def product_of_idea(session: AsyncSession, producer_id: int, idea_id: int) -> Product | None:
    return await session.scalar(select(Product).where(Product.idea_id == idea_id, Product.producer_id == producer_id))


async def products_and_ideas(
    session: AsyncSession, producer_id: int, idea_statuses: Collection[str]
) -> tuple[list[Product], list[ProductIdea]]:
    """The producer's products, and their ideas in one of ``idea_statuses`` that have not become a product yet
    (what a new dossier can be for), oldest first. Both in one call into SQLAlchemy's synchronous core: each
    async session call starts a greenlet of its own, which costs more than the query. A list the update's load
    found empty (``storage.preloaded``) is not read again."""
    no_products = preloaded.producer_has_none(session, producer_id, preloaded.HAS_PRODUCTS)
    no_ideas = preloaded.producer_has_none(session, producer_id, preloaded.HAS_IDEAS)
    if no_products and no_ideas:
        return [], []

    def both(sync: Session) -> tuple[list[Product], list[ProductIdea]]:
        products = [] if no_products else list(sync.scalars(_PRODUCTS_OF, {"producer_id": producer_id}))
        values = {"producer_id": producer_id, "statuses": list(idea_statuses)}
        return products, [] if no_ideas else list(sync.scalars(_IDEAS_WITHOUT_PRODUCT, values))

    return await session.run_sync(both)


# Dossiers ------------------------------------------------------------------------------------------------


_Statement = TypeVar("_Statement", bound=Select)  # type: ignore[type-arg]


def _with_product(statement: _Statement) -> _Statement:
    """``statement`` (which joins ``Product``) with each dossier's product from that join; its items and files come
    from ``_with_their_items``. populate_existing: files may have been linked with a Core insert earlier in this
    same session."""
    return statement.options(contains_eager(Dossier.product)).execution_options(populate_existing=True)


# The items of the dossiers just read, with their files joined in: one statement built once, instead of a
# selectin load, which builds its statement anew on every read (its IN list, its cache key). Measured on
# PostgreSQL with a dossier of 20 items: the status report 1.2–2.0 ms of CPU that way, 0.8–0.9 ms this way; one
# dossier's checklist 1.6–2.6 ms and 0.9–1.3 ms.
_ITEMS_OF = (
    select(DossierItem)
    .where(DossierItem.dossier_id.in_(bindparam("dossier_ids", expanding=True)))
    .options(joinedload(DossierItem.files))
    .order_by(DossierItem.dossier_id, DossierItem.position)
    .execution_options(populate_existing=True)
)


def _with_their_items(sync: Session, found: list[Dossier]) -> list[Dossier]:
    """``found``, each with its items (in checklist order) and their files loaded."""
    if found:
        items: dict[int, list[DossierItem]] = defaultdict(list)
        for item in sync.scalars(_ITEMS_OF, {"dossier_ids": [dossier.id for dossier in found]}).unique():
            items[item.dossier_id].append(item)
        for dossier in found:
            set_committed_value(dossier, "items", items[dossier.id])
    return found


def _one_with_items(sync: Session, statement: Select[Dossier], values: dict[str, Any]) -> Dossier | None:
    dossier = sync.scalar(statement, values)
    return _with_their_items(sync, [dossier])[0] if dossier is not None else None


def _all_with_items(sync: Session, statement: Select[Dossier]) -> list[Dossier]:
    return _with_their_items(sync, list(sync.scalars(statement)))


# The dossier screens' (``dossier_of``, ``open_dossier_of_product``), built once like the items' statement.
_DOSSIER_OF = _with_product(
    select(Dossier)
    .join(Product)
    .where(Dossier.id == bindparam("dossier_id"), Product.producer_id == bindparam("producer_id"))
)
_OPEN_DOSSIER_OF_PRODUCT = _with_product(
    select(Dossier)
    .join(Product)
    .where(
        Dossier.product_id == bindparam("product_id"),
        Product.producer_id == bindparam("producer_id"),
        Dossier.status.not_in(bindparam("finished", expanding=True)),
    )
    .order_by(Dossier.id.desc())
    .limit(1)
)
# The status report's: each dossier with the council's result when there is one (at most one per dossier: one
# outer join spares a query per dossier).
_DOSSIERS_WITH_RESULTS_OF = _with_product(
    select(Dossier, CouncilResult)
    .join(Product)
    .outerjoin(CouncilResult, CouncilResult.dossier_id == Dossier.id)
    .where(Product.producer_id == bindparam("producer_id"))
    .order_by(Dossier.id.desc())
)


def dossiers_with_results(sync: Session, producer_id: int) -> list[tuple[Dossier, CouncilResult | None]]:
    """The producer's dossiers, newest first, each with its council result (None before the council), product,
    items and files loaded; for SQLAlchemy's synchronous core (``storage.overview``)."""
    found: list[tuple[Dossier, CouncilResult | None]] = [
        (dossier, result) for dossier, result in sync.execute(_DOSSIERS_WITH_RESULTS_OF, {"producer_id": producer_id})
    ]
    _with_their_items(sync, [dossier for dossier, _result in found])
    return found


async def create_dossier(
    session: AsyncSession,
    product_id: int,
    *,
    case: str,
    status: str,
    rule_set: str,
    items: Iterable[NewItem],
    now: dt.datetime,
) -> Dossier:
    """The dossier and its whole checklist, in one flush."""
    dossier = Dossier(
        product_id=product_id,
        case=case,
        status=status,
        rule_set=rule_set,
        created_at=now,
        updated_at=now,
        items=[DossierItem(code=i.code, position=i.position, required=i.required) for i in items],
    )
    session.add(dossier)
    await session.flush()
    return dossier


async def open_dossier_of_product(
    session: AsyncSession, producer_id: int, product_id: int, finished_statuses: Collection[str]
) -> Dossier | None:
    """The newest dossier of the product whose status is not one of ``finished_statuses``."""
    values = {"product_id": product_id, "producer_id": producer_id, "finished": list(finished_statuses)}
    return await session.run_sync(_one_with_items, _OPEN_DOSSIER_OF_PRODUCT, values)


async def dossier_of(session: AsyncSession, producer_id: int, dossier_id: int) -> Dossier | None:
    """One dossier with product, items and files, only if it belongs to this producer."""
    values = {"dossier_id": dossier_id, "producer_id": producer_id}
    return await session.run_sync(_one_with_items, _DOSSIER_OF, values)


async def dossier_in_communes(session: AsyncSession, dossier_id: int, communes: Collection[int]) -> Dossier | None:
    """One dossier with product, items and stored files, only if its product belongs to one of ``communes``
    (how staff reach a dossier: the commune reviewer's and the province's communes)."""
    if not communes:
        return None
    return await session.scalar(
        select(Dossier)
        .join(Product, Dossier.product_id == Product.id)
        .where(Dossier.id == dossier_id, Product.commune_code.in_(communes))
        .options(
            contains_eager(Dossier.product),
            selectinload(Dossier.items).joinedload(DossierItem.files).joinedload(DossierItemFile.stored_file),
        )
        .execution_options(populate_existing=True)
    )


async def dossiers_of(session: AsyncSession, producer_id: int, statuses: Collection[str]) -> list[Dossier]:
    """The producer's dossiers in one of ``statuses``, newest first, product/items/files loaded (all of them:
    ``storage.overview``)."""
    statement = select(Dossier).join(Product).where(Product.producer_id == producer_id)
    statement = statement.where(Dossier.status.in_(statuses))
    return await session.run_sync(_all_with_items, _with_product(statement.order_by(Dossier.id.desc())))


async def item_of(session: AsyncSession, producer_id: int, item_id: int) -> DossierItem | None:
    """One checklist item, only if its dossier's product belongs to this producer."""
    return await session.scalar(
        select(DossierItem)
        .join(Dossier, DossierItem.dossier_id == Dossier.id)
        .join(Product, Dossier.product_id == Product.id)
        .where(DossierItem.id == item_id, Product.producer_id == producer_id)
        .options(selectinload(DossierItem.files), selectinload(DossierItem.dossier))
        .execution_options(populate_existing=True)
    )


# Files ---------------------------------------------------------------------------------------------------


async def stored_file(session: AsyncSession, *, sha256: str, size: int, mime: str, path: str) -> StoredFile:
    """The row of a file on disk, created if needed.

    Insert-or-ignore then select, so two uploads of the same bytes at once (two users, or two processes)
    both end up with the one row instead of one of them failing on the unique hash.
    """
    await session.execute(
        insert_ignore(
            StoredFile.__table__,  # type: ignore[arg-type]
            {"sha256": sha256, "size": size, "mime": mime, "path": path},
            session.get_bind().dialect.name,
        )
    )
    found = await session.scalar(select(StoredFile).where(StoredFile.sha256 == sha256))
    if found is None:  # rows are never deleted; reaching this is a bug worth a loud error
        raise LookupError(f"stored file {sha256} vanished right after insert")
    return found


async def stored_file_by_id(session: AsyncSession, stored_file_id: int) -> StoredFile | None:
    return await session.get(StoredFile, stored_file_id)


async def link_file(
    session: AsyncSession,
    item_id: int,
    stored_file_id: int,
    *,
    original_name: str | None,
    uploaded_by: int | None,
    now: dt.datetime,
) -> bool:
    """Attach a stored file to an item; False when it was already attached (the same photo sent twice)."""
    result = await session.execute(
        insert_ignore(
            DossierItemFile.__table__,  # type: ignore[arg-type]
            {
                "item_id": item_id,
                "stored_file_id": stored_file_id,
                "original_name": (original_name or None) and original_name[:300],
                "uploaded_by": uploaded_by,
                "created_at": now,
            },
            session.get_bind().dialect.name,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def file_count(session: AsyncSession, item_id: int) -> int:
    rows = await session.scalars(select(DossierItemFile.id).where(DossierItemFile.item_id == item_id))
    return len(list(rows))


async def mark_handed_in(session: AsyncSession, item: DossierItem, now: dt.datetime) -> None:
    if item.handed_in_at is None:
        item.handed_in_at = now
    await session.flush()


async def set_expiry(session: AsyncSession, item: DossierItem, expires_on: dt.date | None) -> None:
    """The date printed on a document that expires (food-safety certificate, lab test); None: it has none."""
    item.expires_on = expires_on
    await session.flush()


async def submit(session: AsyncSession, dossier: Dossier, status: str, now: dt.datetime) -> None:
    dossier.status = status
    dossier.submitted_at = now
    dossier.updated_at = now
    dossier.version += 1
    await session.flush()


# Taking back a file --------------------------------------------------------------------------------------


async def file_link_of(session: AsyncSession, producer_id: int, link_id: int) -> DossierItemFile | None:
    """One file of an item (with its item, dossier and stored file), only if the dossier is this producer's."""
    return await session.scalar(
        select(DossierItemFile)
        .join(DossierItem, DossierItemFile.item_id == DossierItem.id)
        .join(Dossier, DossierItem.dossier_id == Dossier.id)
        .join(Product, Dossier.product_id == Product.id)
        .where(DossierItemFile.id == link_id, Product.producer_id == producer_id)
        .options(
            selectinload(DossierItemFile.stored_file),
            selectinload(DossierItemFile.item).selectinload(DossierItem.dossier),
        )
        .execution_options(populate_existing=True)
    )


async def files_of_item(session: AsyncSession, item_id: int) -> list[DossierItemFile]:
    """The item's files in the order they came, with their stored files."""
    rows = await session.scalars(
        select(DossierItemFile)
        .where(DossierItemFile.item_id == item_id)
        .options(selectinload(DossierItemFile.stored_file))
        .order_by(DossierItemFile.id)
    )
    return list(rows)


async def unlink_file(session: AsyncSession, link: DossierItemFile) -> None:
    """Take the file out of its item. The stored file stays until nothing references it (the orphan sweep)."""
    await session.delete(link)
    await session.flush()


async def move_file(session: AsyncSession, link: DossierItemFile, item_id: int) -> bool:
    """Put the file into another item of the same dossier; False when that item already had these bytes (the
    link is then simply taken out, as the file is already there)."""
    taken = await session.scalar(
        select(DossierItemFile.id).where(
            DossierItemFile.item_id == item_id, DossierItemFile.stored_file_id == link.stored_file_id
        )
    )
    if taken is not None:
        await unlink_file(session, link)
        return False
    link.item_id = item_id
    await session.flush()
    return True
