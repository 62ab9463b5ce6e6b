"""What we hold about one person, as data: the summary they see, and the ZIP they download.

``collect`` gathers every record of a user (profile, linked apps, consent, the answers they spoke, ideas, dossiers
with their items and files, certificates, council results, deletion requests, and which staff officers opened
their records);
``build_zip`` writes it as ``du-lieu.json`` (readable, indented, UTF-8) and ``du-lieu.xlsx`` (one sheet per
kind of record) plus their own files under ``tep/``, split into parts no larger than the channel can carry.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.spreadsheet import add_table, new_workbook, to_bytes
from storage import audit
from storage.models import (
    Certificate,
    ChannelIdentity,
    ConsentRecord,
    CouncilResult,
    Dossier,
    DossierItem,
    DossierItemFile,
    PrivacyRequest,
    Producer,
    Product,
    ProductIdea,
    StaffRole,
    StoredFile,
    User,
    VoiceAnswer,
)

JSON_NAME = "du-lieu.json"
XLSX_NAME = "du-lieu.xlsx"
FILES_DIR = "tep"


@dataclass(frozen=True)
class HeldFile:
    """One of the person's files: where it is on disk and the name it gets in the ZIP."""

    path: Path
    name: str
    size: int


def _iso(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _row(obj: Any, *names: str) -> dict[str, Any]:
    return {name: _iso(getattr(obj, name)) for name in names}


async def collect(session: AsyncSession, user_id: int, files_root: Path) -> tuple[dict[str, Any], list[HeldFile]]:
    """Every record of ``user_id`` as plain data, and the files that are theirs."""
    user = await session.get_one(User, user_id)
    data: dict[str, Any] = {
        "profile": _row(user, "id", "display_name", "phone", "locale", "created_at", "consent_version", "consent_at"),
        "linked_apps": [
            _row(i, "channel", "external_id", "created_at", "last_seen_at")
            for i in await session.scalars(select(ChannelIdentity).where(ChannelIdentity.user_id == user_id))
        ],
        "consents": [
            _row(c, "version", "decision", "channel", "at")
            for c in await session.scalars(
                select(ConsentRecord).where(ConsentRecord.user_id == user_id).order_by(ConsentRecord.id)
            )
        ],
        "producer": None,
        "voice_answers": [],
        "ideas": [],
        "dossiers": [],
        "certificates": [],
        "council_results": [],
        "staff_reads": [],
        "requests": [
            _row(r, "id", "kind", "status", "requested_at", "due_at", "hold_reason", "done_at")
            for r in await session.scalars(
                select(PrivacyRequest).where(PrivacyRequest.user_id == user_id).order_by(PrivacyRequest.id)
            )
        ],
    }
    files: list[HeldFile] = []
    spoken = await session.execute(
        select(VoiceAnswer, StoredFile)
        .join(StoredFile, StoredFile.id == VoiceAnswer.stored_file_id)
        .where(VoiceAnswer.user_id == user_id)
        .order_by(VoiceAnswer.id)
    )
    for answer, stored in spoken.all():
        path = Path(stored.path)
        path = path if path.is_absolute() else files_root / path
        name = f"{FILES_DIR}/giong-noi/{answer.id}{path.suffix}"
        data["voice_answers"].append(
            {"file": name, **_row(answer, "field", "idea_id", "dossier_id", "seconds", "created_at")}
        )
        files.append(HeldFile(path=path, name=name, size=stored.size))
    producer = await session.scalar(select(Producer).where(Producer.user_id == user_id))
    if producer is None:
        return data, files
    data["producer"] = _row(producer, "kind", "name", "commune_name", "created_at")
    ideas = list(
        await session.scalars(
            select(ProductIdea).where(ProductIdea.producer_id == producer.id).order_by(ProductIdea.id)
        )
    )
    data["ideas"] = [
        _row(
            i,
            "id",
            "name",
            "group_code",
            "description",
            "raw_materials",
            "raw_material_origin",
            "workers_total",
            "workers_local",
            "market",
            "support_needed",
            "status",
            "submitted_at",
            "review_note",
            "created_at",
        )
        for i in ideas
    ]
    products = {
        p.id: p
        for p in await session.scalars(select(Product).where(Product.producer_id == producer.id).order_by(Product.id))
    }
    dossiers = list(
        await session.scalars(
            select(Dossier).where(Dossier.product_id.in_(list(products) or [-1])).order_by(Dossier.id)
        )
    )
    for dossier in dossiers:
        items = []
        for item in await session.scalars(
            select(DossierItem).where(DossierItem.dossier_id == dossier.id).order_by(DossierItem.position)
        ):
            links = (
                await session.execute(
                    select(DossierItemFile, StoredFile)
                    .join(StoredFile, StoredFile.id == DossierItemFile.stored_file_id)
                    .where(DossierItemFile.item_id == item.id)
                    .order_by(DossierItemFile.id)
                )
            ).all()
            names = []
            for number, (link, stored) in enumerate(links, start=1):
                path = Path(stored.path)
                path = path if path.is_absolute() else files_root / path
                name = f"{FILES_DIR}/ho-so-{dossier.id}/{item.code}-{number}{path.suffix}"
                names.append({"file": name, "original_name": link.original_name, "sent_at": _iso(link.created_at)})
                files.append(HeldFile(path=path, name=name, size=stored.size))
            items.append({"code": item.code, "required": item.required, "files": names, **_row(item, "expires_on")})
        data["dossiers"].append(
            {
                **_row(dossier, "id", "case", "status", "submitted_at", "review_note", "created_at"),
                "product": products[dossier.product_id].name,
                "items": items,
            }
        )
    for certificate in await session.scalars(
        select(Certificate).where(Certificate.product_id.in_(list(products) or [-1])).order_by(Certificate.id)
    ):
        data["certificates"].append(
            {
                "product": products[certificate.product_id].name,
                **_row(certificate, "stars", "decision_no", "issued_on", "expires_on", "status"),
            }
        )
    for result in await session.scalars(
        select(CouncilResult).where(CouncilResult.dossier_id.in_([d.id for d in dossiers] or [-1]))
    ):
        data["council_results"].append(
            _row(result, "dossier_id", "points_a", "points_b", "points_c", "total", "stars", "recorded_at")
        )
    reads = await audit.reads_of(
        session, {"producer": [producer.id], "dossier": [d.id for d in dossiers], "idea": [i.id for i in ideas]}
    )
    data["staff_reads"] = [
        {
            "at": _iso(entry.at),
            "who": entry.actor_label or await _name_of(session, entry.actor_user_id),
            "roles": (entry.after or {}).get("roles") or await _roles_of(session, entry.actor_user_id),
            "object": entry.object_type,
            "object_id": entry.object_id,
        }
        for entry in reads
    ]
    return data, files


async def _name_of(session: AsyncSession, user_id: int | None) -> str:
    user = await session.get(User, user_id) if user_id is not None else None
    return (user.display_name or "") if user is not None else ""


async def _roles_of(session: AsyncSession, user_id: int | None) -> list[dict[str, Any]]:
    """For read lines written without the officer's roles (the staff search): the roles they hold now."""
    if user_id is None:
        return []
    rows = await session.scalars(select(StaffRole).where(StaffRole.user_id == user_id, StaffRole.revoked_at.is_(None)))
    return [{"role": r.role, "commune": r.commune_code} for r in rows]


# The ZIP ---------------------------------------------------------------------------------------------------------
def workbook(data: dict[str, Any]) -> bytes:
    """One sheet per kind of record, one row per record, the field names as the header."""
    book = new_workbook()
    for section, value in data.items():
        rows = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
        flat = [_flat(row) for row in rows]
        header = list(dict.fromkeys(key for row in flat for key in row))
        add_table(book, section, header or ["-"], ([row.get(key) for key in header] for row in flat))
    return to_bytes(book)


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """Nested values (a dossier's items) become JSON text in one cell: readable, and nothing is lost."""
    return {
        key: json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
        for key, value in row.items()
    }


def build_zip(data: dict[str, Any], files: list[HeldFile], out_dir: Path, stem: str, part_bytes: int) -> list[Path]:
    """Write ``stem.zip`` (or ``stem-1.zip``, ``stem-2.zip`` … when one would be larger than ``part_bytes``);
    the first part holds the JSON and the workbook, every part is a complete ZIP that opens on its own."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = json.dumps(data, ensure_ascii=False, indent=2).encode()
    sheet = workbook(data)
    parts: list[list[HeldFile]] = [[]]
    used = len(document) + len(sheet)
    for file in files:
        if not file.path.is_file():
            continue
        if parts[-1] and used + file.size > part_bytes:
            parts.append([])
            used = 0
        parts[-1].append(file)
        used += file.size
    paths = []
    for index, part in enumerate(parts, start=1):
        path = out_dir / (f"{stem}.zip" if len(parts) == 1 else f"{stem}-{index}.zip")
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            if index == 1:
                archive.writestr(JSON_NAME, document)
                archive.writestr(XLSX_NAME, sheet)
            for file in part:
                archive.write(file.path, file.name)
        paths.append(path)
    return paths
