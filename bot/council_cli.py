"""``ocop-bot council template|import``: the council's sheets through Excel, as the scoring software does.

    ocop-bot council template 3 -o dot1-2026.xlsx     (a round id or its exact name)
    ocop-bot council import 3 dot1-2026.xlsx

The template has one worksheet per dossier scheduled in the round and one column per council member (the
members already known, then empty columns whose header the secretary fills with a name). Import reads every
column that has a name and points, checks each value against the rule set's maximum, and saves nothing at all
unless the whole file is right; members not yet known are added to the round's council. It then prints, per
dossier, the mean, the star of the dossier's rule set, the spread and the sheets too far from the mean. The
result itself is saved in the chat (🏅 Council sheets and result), where the mandatory criteria are asked.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from sqlalchemy.ext.asyncio import AsyncSession

from bot.communes import communes_of
from bot.council import PARTS, Sheet, outcome, parse_points
from bot.i18n import current_locale
from bot.rules import DossierStatus, rule_set_by_code
from bot.settings import Settings
from bot.text import fold, tidy
from storage import audit, council, province, rounds
from storage.models import Dossier, Round

CLI_ACTOR = "cli"
HEADER_ROW = 7  # member names; the parts follow on the next three rows
FIRST_MEMBER_COLUMN = 3  # C
SPARE_COLUMNS = 3  # empty member columns for names the secretary adds
ID_CELL = "B2"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="council_command")
    template = sub.add_parser("template", help="write the round's scoring workbook (one sheet per dossier)")
    template.add_argument("round", help="the round's id or exact name")
    template.add_argument("-o", "--output", required=True, help="the .xlsx file to write")
    load = sub.add_parser("import", help="read the council's filled workbook into the members' sheets")
    load.add_argument("round", help="the round's id or exact name")
    load.add_argument("path", help="the filled .xlsx file")


def add_parser(commands: Any) -> None:
    configure(commands.add_parser("council", help="council sheets through Excel: template, import"))


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog="ocop-bot council")
    configure(found)
    return found


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(execute(args, settings))


async def execute(
    args: argparse.Namespace, settings: Settings, *, now: dt.datetime | None = None, out: TextIO | None = None
) -> int:
    """Run one council command; 0 on success, 2 on bad input (nothing saved)."""
    from storage.db import create_engine, session_factory

    out = out or sys.stdout
    now = now or dt.datetime.now(dt.UTC)
    token = current_locale.set("vi")  # the workbook and the hints are for Vietnamese councils
    db = create_engine(settings.database_url)
    try:
        async with session_factory(db)() as session, session.begin():
            found = await _round(session, settings.ocop_province, str(args.round))
            if found is None:
                print(f"error: no round {args.round!r} in {settings.ocop_province}", file=out)
                return 2
            if args.council_command == "template":
                return await _template(session, settings, found, Path(args.output), out)
            if args.council_command == "import":
                code = await _import(session, settings, found, Path(args.path), now, out)
                if code != 0:
                    await session.rollback()
                return code
            print("error: say template or import", file=out)
            return 2
    finally:
        current_locale.reset(token)
        await db.dispose()


async def _round(session: AsyncSession, province_name: str, which: str) -> Round | None:
    found = await rounds.round_of(session, province_name, int(which)) if which.isdigit() else None
    return found or await rounds.round_named(session, province_name, which)


async def _dossiers(session: AsyncSession, settings: Settings, found: Round) -> list[Dossier]:
    communes = [c.code for c in communes_of(settings.ocop_province)]
    rows = await province.dossiers_at_province(session, communes, [DossierStatus.SCHEDULED.value], round_id=found.id)
    return rows


async def _template(session: AsyncSession, settings: Settings, found: Round, path: Path, out: TextIO) -> int:
    members = await council.members_of(session, found.id)
    dossiers = await _dossiers(session, settings, found)
    if not dossiers:
        print(f"error: no dossier of {found.name} waits for the council", file=out)
        return 2
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
    await asyncio.to_thread(book.save, path)
    print(f"wrote {path}: {len(dossiers)} dossiers, {len(members)} members", file=out)
    return 0


@dataclass
class _Column:
    name: str
    points: tuple[float, float, float]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


async def _import(
    session: AsyncSession, settings: Settings, found: Round, path: Path, now: dt.datetime, out: TextIO
) -> int:
    try:
        book = await asyncio.to_thread(load_workbook, path, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is not a workbook
        print(f"error: {path} is not an .xlsx workbook ({type(error).__name__})", file=out)
        return 2
    waiting = {d.id: d for d in await _dossiers(session, settings, found)}
    errors: list[str] = []
    plan: list[tuple[Dossier, list[_Column]]] = []
    for sheet in book.worksheets:
        raw_id = _cell_text(sheet[ID_CELL].value)
        dossier = waiting.get(int(raw_id)) if raw_id.isdigit() else None
        if dossier is None:
            errors.append(f"{sheet.title}: {ID_CELL} does not name a dossier of {found.name} waiting for the council")
            continue
        rule_set = rule_set_by_code(dossier.rule_set)
        columns: list[_Column] = []
        for column in range(FIRST_MEMBER_COLUMN, sheet.max_column + 1):
            name = tidy(_cell_text(sheet.cell(row=HEADER_ROW, column=column).value))
            cells = [sheet.cell(row=HEADER_ROW + offset, column=column) for offset in range(1, len(PARTS) + 1)]
            texts = [_cell_text(cell.value) for cell in cells]
            if not any(texts):
                continue  # a spare column, or a member who did not score this dossier
            if len(name) < 3:
                errors.append(f"{sheet.title}: column {cells[0].column_letter} has points but no member name")
                continue
            points: list[float] = []
            for part, cell, text in zip(PARTS, cells, texts, strict=True):
                try:
                    points.append(parse_points(text, rule_set.part_max[part]))
                except ValueError as error:
                    errors.append(f"{sheet.title}!{cell.coordinate} ({name}, part {part}): {error}")
            if len(points) == len(PARTS):
                columns.append(_Column(name, (points[0], points[1], points[2])))
        names = [fold(c.name) for c in columns]
        if len(set(names)) != len(names):
            errors.append(f"{sheet.title}: a member's name appears twice")
        plan.append((dossier, columns))
    if errors:
        for line in errors:
            print(f"error: {line}", file=out)
        print("nothing was saved", file=out)
        return 2
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
                source=council.XLSX,
                recorded_by=None,
                now=now,
            )
            await audit.record(
                session,
                at=now,
                actor_user_id=None,
                actor_label=CLI_ACTOR,
                action="score_sheet.import",
                object_type="dossier",
                object_id=dossier.id,
                after={"member": member.name, "points": list(given.points), "file": path.name},
            )
        await _report(session, dossier, out)
    return 0


async def _report(session: AsyncSession, dossier: Dossier, out: TextIO) -> None:
    members = {m.id: m.name for m in await council.members_of(session, dossier.round_id or 0)}
    sheets = [
        Sheet(members.get(s.member_id, "?"), (s.points_a, s.points_b, s.points_c))
        for s in (await council.sheets_of(session, dossier.id)).values()
    ]
    if not sheets:
        print(f"#{dossier.id} {dossier.product.name}: no sheet", file=out)
        return
    result = outcome(rule_set_by_code(dossier.rule_set), sheets)
    a, b, c = result.parts
    print(
        f"#{dossier.id} {dossier.product.name}: {result.sheet_count} sheets, mean A {a:g} + B {b:g} + C {c:g} = "
        f"{result.total:g} -> {result.stars} stars ({dossier.rule_set}), spread {result.spread:g}",
        file=out,
    )
    for member, total, distance in result.flagged:
        print(f"  check: the sheet of {member} ({total:g}) is {distance:g} points from the mean", file=out)
