"""Writing the ``.xlsx`` sheets offices work with (openpyxl): a header row that stays in view, filters on,
columns sized to their content, dates as real Excel dates so that sorting and filtering by date work in
Excel and LibreOffice alike."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

Cell = str | int | float | dt.date | dt.datetime | None

DATE_FORMAT = "DD/MM/YYYY"
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_MAX_WIDTH = 60


def new_workbook() -> Workbook:
    workbook = Workbook()
    workbook.remove(workbook.active)  # every sheet is added by name
    return workbook


def add_table(
    workbook: Workbook,
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    tz: str = "Asia/Ho_Chi_Minh",
) -> Worksheet:
    """A sheet named ``title`` (Excel allows 31 characters) with a frozen, filtered header row. Timestamps
    become the calendar day in ``tz``."""
    sheet: Worksheet = workbook.create_sheet(title=title[:31])
    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(vertical="center", wrap_text=True)
    widths = [len(str(header)) for header in headers]
    count = 0
    for row in rows:
        values = [_excel_value(value, tz) for value in row]
        sheet.append(values)
        count += 1
        for index, value in enumerate(values):
            if isinstance(value, dt.date):
                sheet.cell(row=count + 1, column=index + 1).number_format = DATE_FORMAT
                widths[index] = max(widths[index], 10)
            elif value is not None:
                widths[index] = max(widths[index], len(str(value)))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(width + 2, _MAX_WIDTH)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(max(len(headers), 1))}{count + 1}"
    return sheet


def _excel_value(value: Any, tz: str) -> Any:
    """Excel has no time zones: a timestamp becomes the local calendar day offices reason in."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(ZoneInfo(tz)).date()
    return value


def save(workbook: Workbook, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)


def to_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
