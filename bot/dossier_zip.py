"""A dossier's files in one piece, for the council's binder: one ZIP named ``<commune>-<product>-<case>.zip``
with a folder per checklist item, files named ``<item>-<n>.<ext>`` (the extension of the type sniffed from the
bytes, never the uploader's), and an index sheet ``00-muc-luc.xlsx`` listing items, files, dates, sizes and
SHA-256. A dossier larger than the platform's upload limit is split into parts, each a complete ZIP; the index
(in every part) says which part holds which file.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.i18n import _
from bot.rules import DOSSIER_CASE_LABELS, requirement
from bot.spreadsheet import add_table, new_workbook, to_bytes
from bot.text import fold
from storage.filestore import FileStore
from storage.models import Dossier, DossierItem, DossierItemFile, Producer, Product

INDEX_NAME = "00-muc-luc.xlsx"
_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str, limit: int = 40) -> str:
    """File-name safe on every system: folded, ASCII letters and digits joined by dashes."""
    return _SLUG.sub("-", fold(text)).strip("-")[:limit].strip("-") or "x"


@dataclass(frozen=True, slots=True)
class ZipEntry:
    folder: str
    name: str  # <item>-<n>.<ext>
    source: Path
    item_label: str
    uploaded: str
    size: int
    sha256: str

    @property
    def arcname(self) -> str:
        return f"{self.folder}/{self.name}"


@dataclass(frozen=True, slots=True)
class DossierZip:
    base_name: str  # without ".zip"
    entries: list[ZipEntry]
    missing: list[str]  # files whose bytes are no longer in the store


async def load(
    session: AsyncSession, dossier_id: int, files_root: Path, communes: set[int] | None = None
) -> DossierZip | None:
    """The dossier's entries, or None when it does not exist (or lies outside ``communes``)."""
    statement = (
        select(Dossier, Product, Producer)
        .join(Product, Product.id == Dossier.product_id)
        .join(Producer, Producer.id == Product.producer_id)
        .where(Dossier.id == dossier_id)
        .options(selectinload(Dossier.items).selectinload(DossierItem.files).selectinload(DossierItemFile.stored_file))
    )
    found = (await session.execute(statement)).first()
    if found is None:
        return None
    dossier, product, producer = found
    if communes is not None and product.commune_code not in communes:
        return None
    case_label = DOSSIER_CASE_LABELS.get(dossier.case)  # type: ignore[call-overload]
    base = "-".join(
        (slug(producer.commune_name, 30), slug(product.name), slug(_(case_label) if case_label else dossier.case, 20))
    )
    entries: list[ZipEntry] = []
    missing: list[str] = []
    for position, item in enumerate(dossier.items, start=1):
        known = requirement(item.code)
        label = known.label if known is not None else item.code
        folder = f"{position:02d}-{slug(item.code, 30).replace('-', '_')}"
        for number, link in enumerate(item.files, start=1):
            stored = link.stored_file
            path = FileStore(files_root).located(stored.path)
            name = f"{item.code[:40]}-{number}{path.suffix.casefold()}"
            if not path.is_file():
                missing.append(f"{folder}/{name}")
                continue
            entries.append(
                ZipEntry(
                    folder=folder,
                    name=name,
                    source=path,
                    item_label=label,
                    uploaded=link.created_at.date().isoformat(),
                    size=stored.size,
                    sha256=stored.sha256,
                )
            )
    return DossierZip(base, entries, missing)


def _index(entries: list[ZipEntry], part_of: dict[str, int], parts: int) -> bytes:
    book = new_workbook()
    headers = [_("Item"), _("Folder"), _("File"), _("Sent on"), _("Size (bytes)"), "SHA-256"]
    if parts > 1:
        headers.append(_("Part"))
    add_table(
        book,
        _("Contents"),
        headers,
        [
            [e.item_label, e.folder, e.name, e.uploaded, e.size, e.sha256, *([part_of[e.arcname]] if parts > 1 else [])]
            for e in entries
        ],
    )
    return to_bytes(book)


def plan_parts(entries: list[ZipEntry], limit_bytes: int) -> list[list[ZipEntry]]:
    """Greedy in checklist order, so that an item's pages stay together and in order where they fit. Files are
    stored compressed, but scans barely compress: sizes are counted as they are, with room for the index."""
    budget = max(limit_bytes - 256 * 1024, 1)
    parts: list[list[ZipEntry]] = [[]]
    used = 0
    for entry in entries:
        if parts[-1] and used + entry.size > budget:
            parts.append([])
            used = 0
        parts[-1].append(entry)
        used += entry.size
    return parts


def write(found: DossierZip, target: Path, limit_bytes: int) -> list[Path]:
    """Write the ZIP (or its parts, ``<target stem>-phan-<n>.zip``) and return the paths written."""
    parts = plan_parts(found.entries, limit_bytes)
    part_of = {entry.arcname: number for number, part in enumerate(parts, start=1) for entry in part}
    index = _index(found.entries, part_of, len(parts))
    target.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for number, part in enumerate(parts, start=1):
        path = target if len(parts) == 1 else target.with_name(f"{target.stem}-phan-{number}{target.suffix or '.zip'}")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(INDEX_NAME, index)
            for entry in part:
                archive.write(entry.source, entry.arcname)
        written.append(path)
    return written
