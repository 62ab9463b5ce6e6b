"""The council's Excel workbook, as the scoring software uses it: one worksheet per dossier waiting for the
round's council, one column per member, rows A, B, C. Written for the secretary (``template``), read back
(``read``: every cell checked against the dossier's rule set, all errors listed, nothing kept unless all are
right), then saved as the members' sheets (``save``). Used by ``ocop-bot council`` and by the province's chat.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from sqlalchemy.ext.asyncio import AsyncSession

from bot.communes import communes_of
from bot.council import PARTS, Sheet, outcome, parse_points
from bot.i18n import _
from bot.rules import DossierStatus, rule_set_by_code
from bot.text import fold, tidy
from storage import audit, council, province
from storage.models import Dossier, Round

HEADER_ROW = 7  # member names; the parts follow on the next three rows
FIRST_MEMBER_COLUMN = 3  # C
SPARE_COLUMNS = 3  # empty member columns for names the secretary adds
ID_CELL = "B2"
MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    points: tuple[float, float, float]


Plan = list[tuple[Dossier, list[Column]]]


async def waiting_dossiers(session: AsyncSession, province_name: str, found: Round) -> list[Dossier]:
    communes = [c.code for c in communes_of(province_name)]
    return await province.dossiers_at_province(session, communes, [DossierStatus.SCHEDULED.value], round_id=found.id)


async def template(session: AsyncSession, province_name: str, found: Round) -> tuple[bytes, int, int] | None:
    """The workbook (bytes), how many dossiers and members it holds; None when no dossier waits."""
    members = await council.members_of(session, found.id)
    dossiers = await waiting_dossiers(session, province_name, found)
    if not dossiers:
        return None
    book = Workbook()
    book.remove(book.active)
    for dossier in dossiers:
        rule_set = rule_set_by_code(dossier.rule_set)
        producer = await province.producer_of_dossier(session, dossier)
        sheets = await council.sheets_of(session, dossier.id)
        sheet = book.create_sheet(title=f"HS{dossier.id}")
        sheet["A1"] = f"PHIẾU CHẤM ĐIỂM OCOP — {found.name}"
        sheet["A1"].font = Font(bold=True)
        for row, (label, value) in enumerate(
            (
                ("Mã hồ sơ (không sửa)", dossier.id),
                ("Sản phẩm", dossier.product.name),
                ("Chủ thể", producer.name if producer else ""),
                ("Bộ tiêu chí", rule_set.title),
            ),
            start=2,
        ):
            sheet.cell(row=row, column=1, value=label)
            sheet.cell(row=row, column=2, value=value)
        sheet.cell(row=HEADER_ROW, column=1, value="Phần").font = Font(bold=True)
        sheet.cell(row=HEADER_ROW, column=2, value="Tối đa").font = Font(bold=True)
        for offset, part in enumerate(PARTS, start=1):
            sheet.cell(row=HEADER_ROW + offset, column=1, value=part)
            sheet.cell(row=HEADER_ROW + offset, column=2, value=rule_set.part_max[part])
        total_row = HEADER_ROW + len(PARTS) + 1
        sheet.cell(row=total_row, column=1, value="Tổng")
        for index in range(len(members) + SPARE_COLUMNS):
            column = FIRST_MEMBER_COLUMN + index
            if index < len(members):
                member = members[index]
                sheet.cell(row=HEADER_ROW, column=column, value=member.name).font = Font(bold=True)
                if member.id in sheets:
                    done = sheets[member.id]
                    for offset, value in enumerate((done.points_a, done.points_b, done.points_c), start=1):
                        sheet.cell(row=HEADER_ROW + offset, column=column, value=value)
            letter = sheet.cell(row=total_row, column=column).column_letter
            sheet.cell(row=total_row, column=column, value=f"=SUM({letter}{HEADER_ROW + 1}:{letter}{HEADER_ROW + 3})")
        sheet.column_dimensions["A"].width = 22
        sheet.column_dimensions["B"].width = 40
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue(), len(dossiers), len(members)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


async def read(session: AsyncSession, province_name: str, found: Round, data: bytes) -> tuple[Plan, list[str]]:
    """What the filled workbook says, and every problem in it (sheet and cell named)."""
    try:
        book = load_workbook(io.BytesIO(data), data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        return [], [_("This is not an Excel workbook (.xlsx): {kind}.").format(kind=type(error).__name__)]
    waiting = {d.id: d for d in await waiting_dossiers(session, province_name, found)}
    errors: list[str] = []
    plan: Plan = []
    for sheet in book.worksheets:
        raw_id = _cell_text(sheet[ID_CELL].value)
        dossier = waiting.get(int(raw_id)) if raw_id.isdigit() else None
        if dossier is None:
            errors.append(
                _("{sheet}: cell {cell} does not name a dossier of {round} waiting for the council.").format(
                    sheet=sheet.title, cell=ID_CELL, round=found.name
                )
            )
            continue
        rule_set = rule_set_by_code(dossier.rule_set)
        columns: list[Column] = []
        for column in range(FIRST_MEMBER_COLUMN, sheet.max_column + 1):
            name = tidy(_cell_text(sheet.cell(row=HEADER_ROW, column=column).value))
            cells = [sheet.cell(row=HEADER_ROW + offset, column=column) for offset in range(1, len(PARTS) + 1)]
            texts = [_cell_text(cell.value) for cell in cells]
            if not any(texts):
                continue  # a spare column, or a member who did not score this dossier
            if len(name) < 3:
                errors.append(
                    _("{sheet}: column {column} has points but no member's name.").format(
                        sheet=sheet.title, column=cells[0].column_letter
                    )
                )
                continue
            points: list[float] = []
            for part, cell, text in zip(PARTS, cells, texts, strict=True):
                try:
                    points.append(parse_points(text, rule_set.part_max[part]))
                except ValueError as error:
                    errors.append(f"{sheet.title}!{cell.coordinate} ({name}, {part}): {error}")
            if len(points) == len(PARTS):
                columns.append(Column(name, (points[0], points[1], points[2])))
        names = [fold(c.name) for c in columns]
        if len(set(names)) != len(names):
            errors.append(_("{sheet}: a member's name appears twice.").format(sheet=sheet.title))
        plan.append((dossier, columns))
    return plan, errors


async def save(
    session: AsyncSession,
    found: Round,
    plan: Plan,
    *,
    now: dt.datetime,
    source: str,
    file_name: str,
    actor_user_id: int | None,
    actor_label: str = "",
) -> list[str]:
    """Keep the sheets (members not yet known are added); one line per dossier: mean, star, spread, flags."""
    lines: list[str] = []
    for dossier, columns in plan:
        existing = await council.sheets_of(session, dossier.id)
        for given in columns:
            member = await council.member_by_name(session, found.id, fold(given.name))
            if member is None:
                member = await council.add_member(
                    session, round_id=found.id, name=given.name, name_folded=fold(given.name), role="member", now=now
                )
            kept = existing.get(member.id)
            if kept is not None and (kept.points_a, kept.points_b, kept.points_c) == given.points:
                continue  # prefilled by the template from a sheet typed in the chat: unchanged
            await council.save_sheet(
                session,
                dossier_id=dossier.id,
                member_id=member.id,
                points=given.points,
                source=source,
                recorded_by=actor_user_id,
                now=now,
            )
            await audit.record(
                session,
                at=now,
                actor_user_id=actor_user_id,
                actor_label=actor_label,
                action="score_sheet.import",
                object_type="dossier",
                object_id=dossier.id,
                after={"member": member.name, "points": list(given.points), "file": file_name},
            )
        lines += await summary(session, found, dossier)
    return lines


async def summary(session: AsyncSession, found: Round, dossier: Dossier) -> list[str]:
    members = {m.id: m.name for m in await council.members_of(session, found.id)}
    sheets = [
        Sheet(members.get(s.member_id, "?"), (s.points_a, s.points_b, s.points_c))
        for s in (await council.sheets_of(session, dossier.id)).values()
    ]
    if not sheets:
        return [f"#{dossier.id} {dossier.product.name}: no sheet"]
    result = outcome(rule_set_by_code(dossier.rule_set), sheets)
    a, b, c = result.parts
    lines = [
        f"#{dossier.id} {dossier.product.name}: {result.sheet_count} sheets, mean A {a:g} + B {b:g} + C {c:g} = "
        f"{result.total:g} -> {result.stars} stars ({dossier.rule_set}), spread {result.spread:g}"
    ]
    lines += [
        f"  check: the sheet of {member} ({total:g}) is {distance:g} points from the mean"
        for member, total, distance in result.flagged
    ]
    return lines
