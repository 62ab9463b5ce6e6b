"""Filling a Word template: ``{{name}}`` placeholders in paragraphs and table cells, and one table row
repeated per item (the row whose cells hold ``{{row.…}}`` placeholders).

The template is data (``bot/data/commune_report_template.docx``, or the province's own file set in
``OCOP_COMMUNE_REPORT_TEMPLATE``), edited in Word or LibreOffice. Word splits typed text into runs at will,
so a paragraph holding a placeholder is rewritten as one run keeping the first run's formatting.
"""

from __future__ import annotations

import copy
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from docx import Document
from docx.table import Table
from docx.text.paragraph import Paragraph

DEFAULT_TEMPLATE = Path(__file__).resolve().parent / "data" / "commune_report_template.docx"
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_.]+)\s*\}\}")
ROW_PREFIX = "row."


def _fill_paragraph(paragraph: Paragraph, values: Mapping[str, str]) -> None:
    text = paragraph.text
    if "{{" not in text:
        return
    filled = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)
    runs = paragraph.runs
    if not runs:
        return
    runs[0].text = filled
    for run in runs[1:]:
        run.text = ""


def _fill_table(table: Table, values: Mapping[str, str], rows: Sequence[Mapping[str, str]]) -> None:
    template_row = next(
        (row for row in table.rows if any(ROW_PREFIX in cell.text for cell in row.cells)),
        None,
    )
    if template_row is not None:
        anchor = template_row._tr
        for _row in rows:
            new_tr = copy.deepcopy(anchor)
            anchor.addprevious(new_tr)
        anchor.getparent().remove(anchor)
        repeated = [row for row in table.rows if any(ROW_PREFIX in cell.text for cell in row.cells)]
        for row, row_values in zip(repeated, rows, strict=True):
            merged = {**values, **{ROW_PREFIX + key: value for key, value in row_values.items()}}
            for cell in row.cells:
                for paragraph in cell.paragraphs:
                    _fill_paragraph(paragraph, merged)
    for row in table.rows:
        for cell in row.cells:
            for paragraph in cell.paragraphs:
                _fill_paragraph(paragraph, values)


def fill(template: Path, values: Mapping[str, str], rows: Sequence[Mapping[str, str]] = ()) -> bytes:
    """The filled document as .docx bytes."""
    document = Document(str(template))
    for paragraph in document.paragraphs:
        _fill_paragraph(paragraph, values)
    for table in document.tables:
        _fill_table(table, values, rows)
    for section in document.sections:
        for paragraph in section.header.paragraphs:
            _fill_paragraph(paragraph, values)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def placeholders(template: Path) -> set[str]:
    """Every placeholder the template uses (a replacement template is checked against what we fill)."""
    document = Document(str(template))
    texts = [p.text for p in document.paragraphs]
    for table in document.tables:
        texts += [cell.text for row in table.rows for cell in row.cells]
    return {m.group(1) for text in texts for m in _PLACEHOLDER.finditer(text)}
