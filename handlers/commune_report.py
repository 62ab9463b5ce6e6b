"""The commune's report ("Báo cáo đánh giá của UBND xã"): drafted as a Word file when the commune officer
confirms the four local criteria, printed, signed and stamped, then sent back as a scan, which becomes the
dossier's ``commune_report`` item. Until the scan is in, the province sees the item as missing.

The draft is filled from the dossier, the producer's idea and the officer's confirmations into the template
(``bot.report_docx``; a province may set its own with ``OCOP_COMMUNE_REPORT_TEMPLATE``). Its buttons
(``ReportButton``, "rep:") are valid from any message; the family checks the commune officer's role once, and
each handler the dossier's commune and stage.

```mermaid
stateDiagram-v2
    [*] --> draft: 4th criterion confirmed (commune_review) · 📄 Draft again (DraftAgain)
    draft --> scan: 📤 Send the signed scan (SendScan)
    scan --> scan: a file (kept on the commune_report item) / a refused file (why)
    scan --> [*]: ✅ Done (ScanDone)
```
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.button_family import Family
from bot.callbacks import Button
from bot.dossier_facts import rejected_text
from bot.flow import Context, Flow, FlowData, Registry
from bot.i18n import _, current_locale, format_day
from bot.messages import Choice, ReceivedFile, RejectedFile, SendFile
from bot.report_docx import DEFAULT_TEMPLATE, fill
from bot.roles import Scope, commune_name, deny, is_commune_officer, scope_of
from bot.rules import (
    COMMUNE_CRITERIA,
    DOSSIER_CASE_LABELS,
    PRODUCER_KIND_LABELS,
    PRODUCT_GROUP_LABELS,
    DossierStatus,
    label,
)
from handlers.certificate_share import stored_row
from storage import audit, dossiers, reviews
from storage.dossiers import dossier_in_communes
from storage.models import Dossier, ProductIdea

FLOW = "commune_report"
REPORT_ITEM = "commune_report"
DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SCAN_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
_S = DossierStatus
# The report is written once the commune has confirmed, while the dossier is still before the council.
REPORTABLE = frozenset(
    {_S.COMMUNE_CONFIRMED, _S.AT_PROVINCE, _S.COMPLETENESS_CHECK, _S.PROVINCE_SUPPLEMENT, _S.SCHEDULED}
)


class ReportButton(Button):
    """Every "rep:" button: for commune officers only."""


class DraftAgain(ReportButton, prefix="rep:d"):
    dossier: int


class SendScan(ReportButton, prefix="rep:up"):
    dossier: int


class ScanDone(ReportButton, prefix="rep:done"):
    pass


@dataclass
class Scan(FlowData):
    """The dossier whose signed report is being sent."""

    dossier_id: int = 0


flow = Flow(FLOW, first_step="scan", data=Scan)


async def _officer(ctx: Context) -> Scope | None:
    scope = await scope_of(ctx)
    if not is_commune_officer(scope):
        await deny(ctx)
        return None
    return scope


report_buttons = Family(ReportButton, _officer)


def _safe(labels: Mapping[Any, str], key: str) -> str:
    try:
        return label(labels, key)
    except (KeyError, ValueError):
        return key


def _criterion_note(code: str, idea: ProductIdea | None) -> str:
    if idea is None:
        return ""
    if code == "local_origin" and (idea.raw_materials or idea.raw_material_origin):
        return _("Raw materials: {materials}; from: {origin}").format(
            materials=idea.raw_materials, origin=idea.raw_material_origin
        )
    if code == "local_labour" and idea.workers_total:
        return _("{local} of {total} workers are local").format(local=idea.workers_local or 0, total=idea.workers_total)
    if code == "idea_origin" and idea.submitted_at is not None:
        return _("Idea registered with the commune on {day}").format(day=format_day(idea.submitted_at))
    if code == "local_identity":
        return idea.description
    return ""


async def draft(ctx: Context, dossier: Dossier) -> bytes:
    """The report as .docx bytes, in Vietnamese (an official document), whoever asks."""
    token = current_locale.set("vi")
    try:
        product = dossier.product
        producer = await reviews.producer_by_id(ctx.session, product.producer_id)
        idea = await ctx.session.get(ProductIdea, product.idea_id) if product.idea_id else None
        criteria = await reviews.criteria_of(ctx.session, dossier.id, tuple(COMMUNE_CRITERIA))
        commune = commune_name(ctx.settings.ocop.province, product.commune_code)
        today = ctx.today
        values = {
            "commune": commune,
            "commune_upper": commune.upper(),
            "province": ctx.settings.ocop.province,
            "day": f"{today.day:02d}",
            "month": f"{today.month:02d}",
            "year": str(today.year),
            "date": format_day(today),
            "product": product.name,
            "group": _safe(PRODUCT_GROUP_LABELS, product.group_code),
            "case": _safe(DOSSIER_CASE_LABELS, dossier.case),
            "producer": producer.name if producer else "",
            "producer_kind": _safe(PRODUCER_KIND_LABELS, producer.kind) if producer else "",
            "officer": ctx.user.display_name or "",
            "conclusion": _(
                "The product meets the four local criteria; the commune proposes it to the province council."
            ),
        }
        rows = []
        for number, (code, row) in enumerate(criteria.items(), start=1):
            note = _criterion_note(code, idea)
            if row.reason:
                note = f"{note}; {row.reason}" if note else row.reason
            rows.append(
                {
                    "number": str(number),
                    "criterion": label(COMMUNE_CRITERIA, code),
                    "result": _("Met") if row.status == "confirmed" else _("Not confirmed"),
                    "note": note,
                }
            )
        template = ctx.settings.certificates.commune_report_template or DEFAULT_TEMPLATE
        return await asyncio.to_thread(fill, template, values, rows)
    finally:
        current_locale.reset(token)


async def offer_draft(ctx: Context, dossier: Dossier) -> None:
    """Send the drafted report and ask for the signed scan."""
    data = await draft(ctx, dossier)
    _sha, path = await ctx.files.put(data, "docx")
    ctx.send_file(
        SendFile(
            path=path,
            name=f"bao-cao-xa-{dossier.id}.docx",
            mime=DOCX_MIME,
            caption=_("Commune report: {product}").format(product=dossier.product.name),
        )
    )
    ctx.say(
        _(
            "📄 Here is the draft of the commune's report for {product}. Print it, have it signed and stamped, "
            "then send the scan here. Until then the province sees the report as missing."
        ).format(product=dossier.product.name),
        [Choice(_("📤 Send the signed scan"), SendScan(dossier=dossier.id))],
    )


async def _dossier(ctx: Context, scope: Scope, dossier_id: int) -> Dossier | None:
    """The dossier, in the officer's communes and at a stage that has a report; the refusal otherwise."""
    dossier = await dossier_in_communes(ctx.session, dossier_id, scope.communes)
    if dossier is None or dossier.status not in REPORTABLE:
        await deny(ctx)
        return None
    return dossier


@report_buttons.on(DraftAgain)
async def draft_again(ctx: Context, scope: Scope, pressed: DraftAgain) -> None:
    dossier = await _dossier(ctx, scope, pressed.dossier)
    if dossier is not None:
        await offer_draft(ctx, dossier)


@report_buttons.on(SendScan)
async def send_scan(ctx: Context, scope: Scope, pressed: SendScan) -> None:
    dossier = await _dossier(ctx, scope, pressed.dossier)
    if dossier is not None:
        await ctx.start(FLOW, Scan(dossier_id=dossier.id))


@report_buttons.on(ScanDone)
async def scan_done(ctx: Context, _scope: Scope, _pressed: ScanDone) -> None:
    await ctx.finish()


@flow.before
async def still_an_officer(ctx: Context) -> bool:
    return await _officer(ctx) is not None


@flow.ask("scan")
async def ask_scan(ctx: Context) -> None:
    ctx.ask_file(
        _("Send the scan of the signed report: a PDF, or a photo of each page."),
        [Choice(_("✅ Done"), ScanDone())],
    )


# One answer for whatever comes: a refused file (never handed to ``on_file``) is told why, like typed text.
@flow.answer("scan")
async def got_scan(ctx: Context) -> None:
    if isinstance(ctx.received, RejectedFile):
        await ctx.reask(rejected_text(ctx, ctx.received))
        return
    received = ctx.received
    if not isinstance(received, ReceivedFile) or received.mime not in SCAN_TYPES:
        await ctx.reask(_("Please send the signed report as a PDF or a photo (JPEG/PNG)."))
        return
    dossier = await _dossier(ctx, await scope_of(ctx), ctx.form(Scan).dossier_id)
    if dossier is None:
        ctx.end_flow()
        return
    item = next((i for i in dossier.items if i.code == REPORT_ITEM), None)
    if item is None:
        await deny(ctx)
        return
    stored = await stored_row(ctx, received)
    await dossiers.link_file(
        ctx.session, item.id, stored, original_name=received.original_name, uploaded_by=ctx.user.id, now=ctx.now
    )
    await ctx.session.refresh(item, ["files"])
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        action="commune_report.upload",
        object_type="dossier",
        object_id=dossier.id,
        after={"item": REPORT_ITEM, "files": len(item.files), "at": ctx.now.astimezone(dt.UTC).isoformat()},
    )
    ctx.say(
        _("✓ Saved: the signed report of {product} ({count} files). The province now sees it.").format(
            product=dossier.product.name, count=len(item.files)
        )
    )
    await ctx.reask()


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    report_buttons.register(registry)
