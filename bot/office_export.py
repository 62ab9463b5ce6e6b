"""The workbooks an OCOP office hands on: dossiers, certificates and producers, one row each, with the
Vietnamese headers offices use. The same workbooks are written from the command line and (later) sent in chat.

Headers and labels go through gettext, so an office running the bot in English gets English columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import N_, _
from bot.rules import (
    DOSSIER_CASE_LABELS,
    DOSSIER_STATUS_LABELS,
    PRODUCER_KIND_LABELS,
    PRODUCT_GROUP_LABELS,
)
from bot.spreadsheet import add_table, new_workbook
from storage import office


def _label(labels: Mapping[Any, str], key: str) -> str:
    """A rule-table label, or the stored code itself for a value an older version wrote."""
    found = labels.get(key)
    return _(found) if found else key


async def dossiers_workbook(
    session: AsyncSession,
    *,
    communes: Collection[int] | None = None,
    round_id: int | None = None,
    commune_code: int | None = None,
    statuses: Collection[str] | None = None,
    tz: str = "Asia/Ho_Chi_Minh",
) -> tuple[Workbook, int]:
    rows = await office.dossier_rows(
        session, communes=communes, round_id=round_id, commune_code=commune_code, statuses=statuses
    )
    headers = [
        _("Dossier no."),
        _("Product"),
        _("Product group"),
        _("Producer"),
        _("Producer type"),
        _("Commune"),
        _("Phone"),
        _("Case"),
        _("State"),
        _("Submitted"),
        _("Round"),
        _("Part A"),
        _("Part B"),
        _("Part C"),
        _("Total points"),
        _("Stars"),
        _("Certificate decision no."),
        _("Decision date"),
        _("Valid until"),
    ]
    workbook = new_workbook()
    add_table(
        workbook,
        _("Dossiers"),
        headers,
        (
            (
                row.dossier_id,
                row.product,
                _label(PRODUCT_GROUP_LABELS, row.group_code),
                row.producer,
                _label(PRODUCER_KIND_LABELS, row.producer_kind),
                row.commune,
                row.phone,
                _label(DOSSIER_CASE_LABELS, row.case),
                _label(DOSSIER_STATUS_LABELS, row.status),
                row.submitted_at,
                row.round_name,
                *(row.points or (None, None, None)),
                row.total,
                row.stars,
                row.certificate_no,
                row.certificate_issued,
                row.certificate_expires,
            )
            for row in rows
        ),
        tz=tz,
    )
    return workbook, len(rows)


CERTIFICATE_STATUS_LABELS: dict[str, str] = {
    "valid": N_("Valid"),
    "expired": N_("Expired"),
    "revoked": N_("Revoked"),
    "superseded": N_("Replaced by a newer certificate"),
}


async def certificates_workbook(
    session: AsyncSession,
    *,
    communes: Collection[int] | None = None,
    expiring_days: int | None = None,
    today: dt.date,
) -> tuple[Workbook, int]:
    expiring_before = today + dt.timedelta(days=expiring_days) if expiring_days is not None else None
    rows = await office.certificate_rows(session, communes=communes, expiring_before=expiring_before, today=today)
    headers = [
        _("Certificate no."),
        _("Product"),
        _("Product group"),
        _("Producer"),
        _("Producer type"),
        _("Commune"),
        _("Phone"),
        _("Stars"),
        _("Certificate decision no."),
        _("Decision date"),
        _("Valid until"),
        _("Days left"),
        _("State"),
    ]
    workbook = new_workbook()
    add_table(
        workbook,
        _("Certificates"),
        headers,
        (
            (
                row.certificate_id,
                row.product,
                _label(PRODUCT_GROUP_LABELS, row.group_code),
                row.producer,
                _label(PRODUCER_KIND_LABELS, row.producer_kind),
                row.commune,
                row.phone,
                row.stars,
                row.decision_no,
                row.issued_on,
                row.expires_on,
                (row.expires_on - today).days,
                _(CERTIFICATE_STATUS_LABELS.get(row.status, row.status)),
            )
            for row in rows
        ),
    )
    return workbook, len(rows)


async def producers_workbook(session: AsyncSession, *, communes: Collection[int] | None = None) -> tuple[Workbook, int]:
    rows = await office.producer_rows(session, communes=communes)
    headers = [
        _("Producer no."),
        _("Producer"),
        _("Producer type"),
        _("Commune"),
        _("Phone"),
        _("Products"),
        _("Product ideas"),
        _("Uses the chat"),
    ]
    workbook = new_workbook()
    add_table(
        workbook,
        _("Producers"),
        headers,
        (
            (
                row.producer_id,
                row.name,
                _label(PRODUCER_KIND_LABELS, row.kind),
                row.commune,
                row.phone,
                row.products,
                row.ideas,
                _("yes") if row.has_chat else _("no"),
            )
            for row in rows
        ),
    )
    return workbook, len(rows)
