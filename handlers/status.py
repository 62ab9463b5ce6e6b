"""“Where is my dossier?”: every idea and dossier of the producer, its status, what is missing, what is next.

Reached from the main menu (🔎 Status) or by typing a few words such as "ho so toi den dau roi".

```mermaid
stateDiagram-v2
    [*] --> show: 🔎 Status / "kiem tra ho so", "tinh trang", …
    show --> [*]: the report with the main menu under it (idea/dossier buttons when there is nothing yet)
```
"""

from __future__ import annotations

import datetime as dt

from bot.callbacks import Button
from bot.dossier_facts import (
    EXPIRY_SOON_DAYS,
    case_label,
    item_label,
    meeting_date,
    missing_items,
    next_step,
    progress_line,
    status_label,
)
from bot.flow import Context, Flow, Intent, Registry
from bot.i18n import _, format_day
from bot.menu_buttons import MenuDossier, MenuIdea
from bot.messages import Choice
from bot.rules import IDEA_STATUS_LABELS, DossierStatus, IdeaStatus
from bot.sweep import BEFORE_COUNCIL
from bot.text import shorten
from handlers.certificate_share import send_decision, send_qr
from handlers.menu import menu_choices
from handlers.province_common import producer_facts
from storage import certificates
from storage.models import Certificate, Dossier, Product, ProductIdea
from storage.overview import Overview, overview
from storage.producers import producer_of_user

FLOW_NAME = "status"
CERT_CHOICES_MAX = 10
LABEL_MAX = 48

# Folded (no diacritics) words people type to ask where things are; matched as ``phrase in text``.
PHRASES = (
    "tinh trang",
    "trang thai",
    "den dau roi",
    "kiem tra ho so",
    "ho so toi",
    "ho so cua toi",
    "xem ho so",
    "where is my",
    "status",
)


class CertificateButton(Button):
    """A certificate's 🔳 QR / 📄 decision, from the report: valid from any older message, for the producer's
    own certificates only."""


class CertificateQr(CertificateButton, prefix="crt:qr"):
    certificate: int


class CertificateDecision(CertificateButton, prefix="crt:dec"):
    certificate: int


flow = Flow(FLOW_NAME, first_step="show")


def _idea_status(idea: ProductIdea) -> str:
    try:
        return _(IDEA_STATUS_LABELS[IdeaStatus(idea.status)])
    except ValueError:
        return idea.status


def idea_lines(idea: ProductIdea) -> list[str]:
    lines = [f"💡 {idea.name}", _("Status: {status}").format(status=_idea_status(idea))]
    if idea.submitted_at is not None:
        lines.append(_("Submitted on {day}").format(day=format_day(idea.submitted_at)))
    if idea.status == IdeaStatus.RETURNED and idea.review_note:
        lines.append(_("The commune says: {note}").format(note=idea.review_note))
    return lines


def dossier_lines(dossier: Dossier) -> list[str]:
    lines = [
        f"📂 {dossier.product.name} — {case_label(dossier.case)}",
        _("Status: {status}").format(status=status_label(dossier.status)),
    ]
    # Once the council has met, nothing can be added any more: no checklist, no samples to bring.
    before_council = dossier.status in BEFORE_COUNCIL
    if before_council:
        lines.append(progress_line(dossier))
    missing = missing_items(dossier) if before_council else []
    if missing:
        lines.append(_("Missing:"))
        lines += [f"✗ {item_label(item.code)}" for item in missing]
    if dossier.status == DossierStatus.NEEDS_SUPPLEMENT and dossier.review_note:
        # The commune's reason stays visible until the producer has acted on it, not only in the notice.
        lines.append(_("The commune asks: {note}").format(note=dossier.review_note))
    if dossier.submitted_at is not None:
        lines.append(_("Submitted on {day}").format(day=format_day(dossier.submitted_at)))
    step = next_step(dossier.status)
    if step:
        lines.append("👉 " + step)
    return lines


def expiry_lines(dossier: Dossier, today: dt.date, meeting: dt.date | None) -> list[str]:
    """Documents of a dossier still on its way to the council that have expired, will expire before the
    council meets, or within ``EXPIRY_SOON_DAYS``: the producer has to get new ones in time."""
    if dossier.status not in BEFORE_COUNCIL:
        return []
    soon = today + dt.timedelta(days=EXPIRY_SOON_DAYS)
    lines: list[str] = []
    dated = [i for i in dossier.items if i.expires_on is not None]
    for item in sorted(dated, key=lambda i: (i.expires_on, i.position)):
        expires_on = item.expires_on
        assert expires_on is not None
        name, day = item_label(item.code), format_day(expires_on)
        if expires_on < today:
            lines.append(_("⚠️ {item}: expired on {day}. A new one is needed.").format(item=name, day=day))
        elif meeting is not None and expires_on < meeting:
            lines.append(
                _("⚠️ {item}: expires on {day}, before the council meets on {meeting}.").format(
                    item=name, day=day, meeting=format_day(meeting)
                )
            )
        elif expires_on <= soon:
            lines.append(_("📅 {item}: expires on {day}.").format(item=name, day=day))
    return lines


async def _expiry_lines(ctx: Context, dossier: Dossier) -> list[str]:
    if not any(i.expires_on is not None for i in dossier.items):
        return []  # no round lookup for the many dossiers without dated documents
    return expiry_lines(dossier, ctx.today, await meeting_date(ctx, dossier))


async def show_status(ctx: Context) -> None:
    """The report; leaves any flow, since it is an answer, not a question."""
    ctx.end_flow()
    producer = await producer_of_user(ctx.session, ctx.user.id)
    found = await overview(ctx.session, producer.id) if producer is not None else Overview.nothing()
    idea_rows, dossier_rows = found.ideas, found.dossiers
    certificate_choices = await _certificate_choices(ctx, found.certificates)
    if not idea_rows and not dossier_rows:
        ctx.say(
            _("You have no product idea and no dossier yet. What would you like to start?"),
            [
                Choice(_("📝 Register a product idea"), MenuIdea()),
                Choice(_("📂 My dossier"), MenuDossier()),
                *certificate_choices,
            ],
        )
        return
    blocks: list[str] = []
    if idea_rows:
        blocks.append(_("Your product ideas:"))
        blocks += ["\n".join(idea_lines(idea)) for idea in idea_rows]
    if dossier_rows:
        blocks.append(_("Your dossiers:"))
        # What the province decided (round, council result, certificate), from handlers.province_common.
        blocks += [
            "\n".join(
                dossier_lines(dossier)
                + await _expiry_lines(ctx, dossier)
                + await producer_facts(ctx.session, ctx.settings.ocop.province, dossier, found.decided(dossier))
            )
            for dossier in dossier_rows
        ]
    # One message, the menu under the report: on a slow phone every message is a notification and a download.
    blocks.append(_("What would you like to do next?"))
    ctx.say("\n\n".join(blocks), [*certificate_choices, *menu_choices()])


async def _certificate_choices(ctx: Context, owned: list[Certificate]) -> list[Choice]:
    """🔳 the label's QR and 📄 the signed decision, for each certificate still in force or expired (a revoked
    or replaced one is not put on a label)."""
    choices: list[Choice] = []
    for certificate in owned:
        if certificate.status not in (certificates.VALID, certificates.EXPIRED):
            continue
        product = await ctx.session.get(Product, certificate.product_id)
        name = product.name if product is not None else certificate.decision_no
        qr = _("🔳 QR: {product}").format(product=name)
        choices.append(Choice(shorten(qr, LABEL_MAX), CertificateQr(certificate=certificate.id)))
        if certificate.decision_file_id is not None:
            decision = _("📄 Decision: {product}").format(product=name)
            choices.append(Choice(shorten(decision, LABEL_MAX), CertificateDecision(certificate=certificate.id)))
    return choices[:CERT_CHOICES_MAX]


async def _own_certificate(ctx: Context, certificate_id: int) -> Certificate | None:
    """The certificate a button names, only when it is this producer's; otherwise the menu is shown again."""
    producer = await producer_of_user(ctx.session, ctx.user.id)
    owned = await certificates.certificates_of_producer(ctx.session, producer.id) if producer is not None else []
    certificate = next((c for c in owned if c.id == certificate_id), None)
    if certificate is None:
        ctx.say(_("That button is from an older message. Here is the menu again."))
        await ctx.main_menu()
    return certificate


async def on_qr_button(ctx: Context, pressed: CertificateQr) -> None:
    certificate = await _own_certificate(ctx, pressed.certificate)
    if certificate is not None:
        await send_qr(ctx, certificate)
        ctx.say(_("What would you like to do next?"), menu_choices())


async def on_decision_button(ctx: Context, pressed: CertificateDecision) -> None:
    certificate = await _own_certificate(ctx, pressed.certificate)
    if certificate is not None:
        await send_decision(ctx, certificate)
        ctx.say(_("What would you like to do next?"), menu_choices())


@flow.ask("show")
async def ask_show(ctx: Context) -> None:
    await show_status(ctx)


@flow.answer("show")
async def got_show(ctx: Context) -> None:
    # Unreachable in practice (the ask ends the flow); kept so an old conversation row still gets an answer.
    await show_status(ctx)


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.on_button(CertificateQr)(on_qr_button)
    registry.on_button(CertificateDecision)(on_decision_button)
    registry.intents.append(Intent(phrases=PHRASES, run=show_status))
