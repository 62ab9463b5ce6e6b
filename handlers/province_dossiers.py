"""The province's dossier lists, one dossier's screen, and the completeness check: accept it into a round
or return it to the producer for a supplement.

The lists are opened from the province home (a round, or "not in a round") or from a round's screen. The
dossier screen offers only what its status allows (``_dossier_choices``); the council's result and the
certificate are in ``handlers.province_council``, the rounds in ``handlers.province_rounds``. Opening a
dossier sends its files back to the officer.

```mermaid
stateDiagram-v2
    [*] --> list: a round / not in a round (home) · 📂 Dossiers (a round)
    list --> dossier: a dossier (summary + files)
    list --> [*]: ⬅️ Back (to the round or home)
    list --> batch: ☑️ Accept several into a round (province_batch)
    dossier --> dossier: 📎 Files
    dossier --> dossier: ✅ Complete, already in an open round (→ SCHEDULED)
    dossier --> round_pick: 📅 Assign round / ✅ Complete (no open round yet)
    round_pick --> dossier: round chosen (→ SCHEDULED when accepting)
    round_pick --> [*]: 🗓 Rounds (no open round)
    dossier --> return_note: ↩️ Return for supplement
    return_note --> dossier: a note (→ PROVINCE_SUPPLEMENT)
    round_pick --> late_round: the dossier reached the commune after the round's deadline
    late_round --> dossier: ⚠️ take it in anyway (audit-logged) · ⬅️ Back
    late_round --> round_pick: 📅 another round
    dossier --> [*]: 🏅 Council result · 📜 Certificate · ⛔ Revoke (province_council)
    dossier --> list: ⬅️ Back
```
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot import office_jobs
from bot.callbacks import Button
from bot.communes import commune_by_code
from bot.dossier_facts import case_label, item_done, item_label, progress_line, status_label
from bot.flow import Context, Flow
from bot.i18n import _, format_day
from bot.messages import Choice
from bot.paging import nav_choices, page_of
from bot.roles import deny
from bot.rules import DossierStatus
from bot.text import shorten
from handlers.dossier_changes import PROVINCE, changes_since_last_look
from handlers.province_common import (
    CERTIFIED,
    CHECKABLE,
    FINISHED,
    FLOW_NAME,
    LABEL_MAX,
    LIST_MAX,
    PROVINCE_STARS,
    ROUND_ASSIGNABLE,
    VISIBLE,
    WORKING,
    Back,
    OpenRounds,
    apply_change,
    back_choice,
    changed_meanwhile,
    current_dossier,
    dossier_facts,
    find_round,
    form,
    not_now,
    note_step,
    province_communes,
    reached_after_deadline,
    record_audit,
    round_line,
    tell_producer,
)
from handlers.province_council import send_certificate_extra
from handlers.province_form import ACCEPT, ASSIGN, UNASSIGNED, Batch, CertificateDraft, LateRound, Verdict
from handlers.staff_reads import log_read
from storage import certificates, province, rounds
from storage.db import detached_sessions
from storage.models import Dossier, Round

_S = DossierStatus


# The list's buttons
class OpenDossier(Button, prefix="pv:d"):
    dossier: int


class ListPage(Button, prefix="pv:pg"):
    page: int


class StartBatch(Button, prefix="pv:batch"):
    pass


# The dossier screen's buttons: what its status allows (``_dossier_choices``)
class DownloadFiles(Button, prefix="pv:files"):
    pass


class Accept(Button, prefix="pv:accept"):
    pass


class ReturnForSupplement(Button, prefix="pv:return"):
    pass


class AssignRound(Button, prefix="pv:round"):
    pass


class EnterSheets(Button, prefix="pv:score"):
    pass


class CorrectResult(Button, prefix="pv:correct"):
    pass


class IssueCertificate(Button, prefix="pv:cert"):
    pass


class CentralGranted(Button, prefix="pv:c5"):
    pass


class UploadDecision(Button, prefix="pv:upload"):
    pass


class SendDecision(Button, prefix="pv:decision"):
    pass


class SendQr(Button, prefix="pv:qr"):
    pass


class Revoke(Button, prefix="pv:revoke"):
    pass


# The round picker and the late dossier's question
class PickRound(Button, prefix="pv:r"):
    round: int


class TakeLate(Button, prefix="pv:late_yes"):
    pass


class OtherRound(Button, prefix="pv:late_other"):
    pass


B = TypeVar("B", bound=Button)

# This module's steps of the province conversation; ``handlers.province`` joins them into one flow.
steps = Flow(FLOW_NAME, first_step="list")


# list ----------------------------------------------------------------------------------------------------


@steps.ask("list")
async def ask_list(ctx: Context) -> None:
    which = form(ctx).listing
    if which == UNASSIGNED:
        rows = await province.dossiers_at_province(
            ctx.session, province_communes(ctx), [s.value for s in WORKING], without_round=True
        )
        title = _("Dossiers not in a round yet")
    else:
        found = await find_round(ctx, which if isinstance(which, int) else None)
        if found is None:
            await deny(ctx)
            return
        rows = await province.dossiers_at_province(ctx.session, province_communes(ctx), VISIBLE, round_id=found.id)
        title = round_line(found)
    order = {status.value: index for index, status in enumerate(WORKING + FINISHED)}
    rows.sort(key=lambda d: (order.get(d.status, 99), d.submitted_at or d.created_at, d.id))
    page = page_of(rows, form(ctx).page)
    form(ctx).page = page.number
    owners = await province.producers_of_products(ctx.session, [d.product_id for d in page.rows])
    lines = [title, page.position]
    if not rows:
        lines.append(_("No dossier here."))
    status_seen = None
    for dossier in page.rows:
        if dossier.status != status_seen:
            status_seen = dossier.status
            lines.append("")
            lines.append(f"▸ {status_label(dossier.status)}")
        owner = owners.get(dossier.product_id)
        commune = commune_by_code(ctx.settings.ocop.province, dossier.product.commune_code)
        # Product, producer and commune: two products of one name are told apart.
        parts = (dossier.product.name, owner.name if owner else "", commune.name if commune else "")
        lines.append("• " + " — ".join(part for part in parts if part))
    choices = [Choice(shorten(f"📂 {d.product.name}", LABEL_MAX), OpenDossier(dossier=d.id)) for d in page.rows]
    choices += nav_choices(page, ListPage.prefix + ":")
    if sum(1 for d in rows if _S(d.status) in CHECKABLE) > 1:
        choices.append(Choice(_("☑️ Accept several into a round"), StartBatch()))
    choices.append(back_choice())
    ctx.say("\n".join(lines), choices)


@steps.on("list", Back)
async def list_back(ctx: Context, _pressed: Back) -> None:
    form(ctx).page = 0
    await ctx.goto("round" if form(ctx).round_id is not None else "home")


@steps.on("list", ListPage)
async def list_page(ctx: Context, pressed: ListPage) -> None:
    form(ctx).page = pressed.page
    await ctx.goto("list")


@steps.on("list", StartBatch)
async def list_batch(ctx: Context, _pressed: StartBatch) -> None:
    form(ctx).batch = Batch()
    await ctx.goto("batch")


@steps.on("list", OpenDossier)
async def list_open(ctx: Context, pressed: OpenDossier) -> None:
    form(ctx).dossier_id, form(ctx).version = pressed.dossier, None
    await ctx.goto("dossier")


# dossier -------------------------------------------------------------------------------------------------


def _dossier_text(ctx: Context, dossier: Dossier, facts: list[str], producer_line: str) -> str:
    lines = [
        f"📂 {dossier.product.name} — {case_label(dossier.case)}",
        producer_line,
        _("Status: {status}").format(status=status_label(dossier.status)),
    ]
    if dossier.round_id is None:
        lines.append(_("Not in a round yet."))
    if dossier.submitted_at is not None:
        lines.append(_("Submitted on {day}").format(day=format_day(dossier.submitted_at)))
    lines.append(progress_line(dossier))
    for item in dossier.items:
        # The commune's report counts once its signed scan is in (handlers.commune_report), not before.
        done = item_done(item)
        if item.required or done:
            mark = "✓" if done else "✗"
            count = f" ({len(item.files)})" if item.files else ""
            lines.append(f"{mark} {item_label(item.code)}{count}")
    if dossier.review_note:
        lines.append(_("Last note: {note}").format(note=dossier.review_note))
    lines += facts
    return "\n".join(lines)


async def _dossier_choices(ctx: Context, dossier: Dossier) -> list[Choice]:
    status = _S(dossier.status)
    choices: list[Choice] = []
    files = sum(len(item.files) for item in dossier.items)
    if files:
        choices.append(Choice(_("📦 Download the dossier (ZIP, {count} files)").format(count=files), DownloadFiles()))
    if status in CHECKABLE:
        choices.append(Choice(_("✅ Complete: schedule for the council"), Accept()))
        choices.append(Choice(_("↩️ Return for supplement"), ReturnForSupplement()))
    if status in ROUND_ASSIGNABLE:
        label = _("📅 Assign a round") if dossier.round_id is None else _("📅 Change the round")
        choices.append(Choice(label, AssignRound()))
    if status is _S.SCHEDULED:
        choices.append(Choice(_("🏅 Council sheets and result"), EnterSheets()))
    if status in (_S.SCORED, _S.PROPOSED_5):
        result = await certificates.result_of(ctx.session, dossier.id)
        if status is _S.PROPOSED_5:
            choices.append(Choice(_("🏛 Central level granted 5★"), CentralGranted()))
            choices.append(Choice(_("📜 5★ not granted: issue 4★"), IssueCertificate()))
        elif result is not None and result.stars in PROVINCE_STARS:
            choices.append(Choice(_("📜 Issue the certificate"), IssueCertificate()))
    if status in (_S.SCORED, _S.NOT_RATED, _S.PROPOSED_5):
        choices.append(Choice(_("✏️ Correct the result"), CorrectResult()))
    if status in CERTIFIED.values():
        certificate = await certificates.certificate_of_dossier(ctx.session, dossier.id)
        if certificate is not None:
            choices.append(Choice(_("📄 Upload the signed decision (PDF)"), UploadDecision()))
            if certificate.decision_file_id is not None:
                choices.append(Choice(_("📄 The signed decision"), SendDecision()))
            choices.append(Choice(_("🔳 QR code for the label"), SendQr()))
        if certificate is not None and certificate.status == certificates.VALID:
            choices.append(Choice(_("⛔ Revoke the certificate"), Revoke()))
    choices.append(back_choice())
    return choices


@steps.ask("dossier")
async def ask_dossier(ctx: Context) -> None:
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    # The officer acts on what this screen shows: its version is the one every action must still find.
    form(ctx).version = dossier.version
    await log_read(ctx, "dossier", dossier.id)
    producer = await province.producer_of_dossier(ctx.session, dossier)
    commune = commune_by_code(ctx.settings.ocop.province, dossier.product.commune_code)
    producer_line = "🏠 " + " · ".join(
        part for part in (producer.name if producer else "", commune.name if commune else "") if part
    )
    facts = await dossier_facts(ctx.session, ctx.settings.ocop.province, dossier)
    changes = await changes_since_last_look(ctx, dossier, PROVINCE)
    if changes:
        facts += ["", *changes]
    ctx.say(_dossier_text(ctx, dossier, facts, producer_line), await _dossier_choices(ctx, dossier))


@steps.on("dossier", Back)
async def dossier_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("list" if form(ctx).listing is not None else "home")


def _on_dossier(button: type[B]) -> Callable[[Callable[[Context, Dossier], Awaitable[None]]], Any]:
    """A button of the dossier's screen: the action gets the dossier, reloaded, and only while it is still the
    version the screen showed (otherwise the officer sees it as it is now)."""

    def register(action: Callable[[Context, Dossier], Awaitable[None]]) -> Any:
        @steps.on("dossier", button)
        async def handler(ctx: Context, _pressed: B) -> None:
            dossier = await current_dossier(ctx)
            if dossier is None:
                return
            if dossier.version != form(ctx).version:
                await changed_meanwhile(ctx)
                return
            await action(ctx, dossier)

        return action

    return register


@_on_dossier(DownloadFiles)
async def download_files(ctx: Context, dossier: Dossier) -> None:
    office_jobs.start_dossier_zip(
        detached_sessions(ctx.session),
        files_root=ctx.files.root,
        user_id=ctx.user.id,
        locale=ctx.user.locale,
        dossier_id=dossier.id,
        communes=None,
    )
    ctx.say(_("⏳ Packing the dossier's files into one ZIP. It arrives here in a moment."))
    await ctx.goto("dossier")


@_on_dossier(ReturnForSupplement)
async def to_return_note(ctx: Context, _dossier: Dossier) -> None:
    await ctx.goto("return_note")


@_on_dossier(AssignRound)
async def to_round_pick(ctx: Context, _dossier: Dossier) -> None:
    form(ctx).action.then = ASSIGN
    await ctx.goto("round_pick")


@_on_dossier(EnterSheets)
async def to_sheets(ctx: Context, _dossier: Dossier) -> None:
    form(ctx).action.verdict, form(ctx).action.correct = Verdict(), None
    await ctx.goto("sheets")


@_on_dossier(CorrectResult)
async def to_correct_reason(ctx: Context, _dossier: Dossier) -> None:
    await ctx.goto("correct_reason")


@_on_dossier(IssueCertificate)
async def to_certificate(ctx: Context, _dossier: Dossier) -> None:
    form(ctx).action.certificate = CertificateDraft()
    await ctx.goto("cert_no")


@_on_dossier(CentralGranted)
async def to_central_certificate(ctx: Context, _dossier: Dossier) -> None:
    form(ctx).action.certificate = CertificateDraft(central=True)
    await ctx.goto("cert_no")


@_on_dossier(UploadDecision)
async def to_decision_upload(ctx: Context, _dossier: Dossier) -> None:
    await ctx.goto("decision_upload")


@_on_dossier(SendDecision)
async def send_decision_copy(ctx: Context, dossier: Dossier) -> None:
    await send_certificate_extra(ctx, dossier, "decision")
    await ctx.goto("dossier")


@_on_dossier(SendQr)
async def send_qr_code(ctx: Context, dossier: Dossier) -> None:
    await send_certificate_extra(ctx, dossier, "qr")
    await ctx.goto("dossier")


@_on_dossier(Revoke)
async def to_revoke_reason(ctx: Context, _dossier: Dossier) -> None:
    await ctx.goto("revoke_reason")


# Completeness --------------------------------------------------------------------------------------------


@_on_dossier(Accept)
async def _accept(ctx: Context, dossier: Dossier) -> None:
    found = await find_round(ctx, dossier.round_id)
    if found is None or found.status != rounds.OPEN:
        ctx.say(_("Choose the round for this dossier first."))
        form(ctx).action.then = ACCEPT
        await ctx.goto("round_pick")
        return
    await _schedule(ctx, dossier, found)


async def _needs_override(ctx: Context, dossier: Dossier, found: Round, then: str) -> bool:
    """A late dossier goes into a round only after the officer says so explicitly (and the audit log keeps
    it): the round's deadline is the province's published rule."""
    if not reached_after_deadline(ctx, dossier, found):
        return False
    action = form(ctx).action
    late_ok, action.late_ok = action.late_ok, None
    if late_ok == found.id:
        return False
    action.late = LateRound(round_id=found.id, then=then)
    await ctx.goto("late_round")
    return True


async def _schedule(ctx: Context, dossier: Dossier, found: Round) -> None:
    if await _needs_override(ctx, dossier, found, ACCEPT):
        return
    if not await apply_change(
        ctx, dossier, "dossier.schedule", status=_S.SCHEDULED, round_id=found.id, review_note=None
    ):
        return
    meeting = found.meeting_date.isoformat() if found.meeting_date else None
    await tell_producer(ctx, dossier, "province_scheduled", {"round": found.name, "meeting": meeting})
    ctx.say(_("✅ Complete. {product} is scheduled in {round}.").format(product=dossier.product.name, round=found.name))
    await ctx.goto("dossier")


@steps.ask("round_pick")
async def ask_round_pick(ctx: Context) -> None:
    open_rounds = await rounds.open_rounds(ctx.session, ctx.settings.ocop.province)
    if not open_rounds:
        ctx.say(
            _("There is no open round. Create one first (🗓 Rounds)."),
            [Choice(_("🗓 Rounds"), OpenRounds()), back_choice()],
        )
        return
    lines = [_("Which round?")] + [round_line(r, ctx.today) for r in open_rounds]
    choices = [Choice(shorten(f"📅 {r.name}", LABEL_MAX), PickRound(round=r.id)) for r in open_rounds[:LIST_MAX]]
    ctx.say("\n".join(lines), [*choices, back_choice()])


@steps.on("round_pick", Back)
async def round_pick_back(ctx: Context, _pressed: Back) -> None:
    form(ctx).action.then = None
    await ctx.goto("dossier")


@steps.on("round_pick", OpenRounds)
async def round_pick_rounds(ctx: Context, _pressed: OpenRounds) -> None:
    form(ctx).action.then = None
    await ctx.goto("rounds")


@steps.on("round_pick", PickRound)
async def round_picked(ctx: Context, pressed: PickRound) -> None:
    found = await find_round(ctx, pressed.round)
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    if found is None or found.status != rounds.OPEN:
        await ctx.reask(_("That round is closed now. Please choose another."))
        return
    then, form(ctx).action.then = form(ctx).action.then or ASSIGN, None
    if then == ACCEPT:
        if _S(dossier.status) not in CHECKABLE:
            await not_now(ctx)
            return
        await _schedule(ctx, dossier, found)
        return
    if _S(dossier.status) not in ROUND_ASSIGNABLE:
        await not_now(ctx)
        return
    await _assign(ctx, dossier, found)


async def _assign(ctx: Context, dossier: Dossier, found: Round) -> None:
    if await _needs_override(ctx, dossier, found, ASSIGN):
        return
    if await apply_change(ctx, dossier, "dossier.assign_round", round_id=found.id):
        meeting = found.meeting_date.isoformat() if found.meeting_date else None
        await tell_producer(ctx, dossier, "province_round", {"round": found.name, "meeting": meeting})
        ctx.say(_("📅 {product} is now in {round}.").format(product=dossier.product.name, round=found.name))
        await ctx.goto("dossier")


@steps.ask("late_round")
async def ask_late_round(ctx: Context) -> None:
    late = form(ctx).action.late or LateRound()
    found = await find_round(ctx, late.round_id)
    dossier = await current_dossier(ctx)
    if found is None or dossier is None:
        await ctx.goto("dossier")
        return
    submitted = format_day(dossier.submitted_at) if dossier.submitted_at else _("not submitted")
    ctx.say(
        _(
            "⚠️ {product} reached the commune on {submitted}, after the deadline of {round} ({deadline}). "
            "Take it into this round anyway? The exception is written in the audit log."
        ).format(
            product=dossier.product.name,
            submitted=submitted,
            round=found.name,
            deadline=format_day(found.submit_deadline),
        ),
        [
            Choice(_("⚠️ Take it in anyway"), TakeLate()),
            Choice(_("📅 Choose another round"), OtherRound()),
            back_choice(),
        ],
    )


@steps.on("late_round", Back)
async def late_back(ctx: Context, _pressed: Back) -> None:
    form(ctx).action.late = None
    await ctx.goto("dossier")


@steps.on("late_round", OtherRound)
async def late_other_round(ctx: Context, _pressed: OtherRound) -> None:
    action = form(ctx).action
    action.then, action.late = (action.late or LateRound()).then, None
    await ctx.goto("round_pick")


@steps.on("late_round", TakeLate)
async def late_take(ctx: Context, _pressed: TakeLate) -> None:
    action = form(ctx).action
    late, action.late = action.late or LateRound(), None
    found = await find_round(ctx, late.round_id)
    dossier = await current_dossier(ctx)
    if found is None or dossier is None or found.status != rounds.OPEN:
        await ctx.reask(_("That round is closed now. Please choose another."))
        return
    await record_audit(
        ctx,
        "dossier.late_round_override",
        "dossier",
        dossier.id,
        after={"round_id": found.id, "deadline": found.submit_deadline.isoformat()},
        note="accepted after the round's deadline",
    )
    action.late_ok = found.id
    if late.then == ACCEPT:
        if _S(dossier.status) not in CHECKABLE:
            await not_now(ctx)
            return
        await _schedule(ctx, dossier, found)
    else:
        await _assign(ctx, dossier, found)


async def _to_dossier(ctx: Context) -> None:
    await ctx.goto("dossier")


@note_step(
    steps,
    "return_note",
    prompt=lambda ctx: _("What must the producer add or correct? Type a short note; the producer will read it."),
    back=_to_dossier,
)
async def got_return_note(ctx: Context, note: str) -> None:
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    if _S(dossier.status) not in CHECKABLE:
        await not_now(ctx)
        return
    if not await apply_change(
        ctx, dossier, "dossier.return_supplement", status=_S.PROVINCE_SUPPLEMENT, review_note=note, note=note
    ):
        return
    await tell_producer(ctx, dossier, "province_supplement", {"note": note})
    ctx.say(_("↩️ Returned. The producer has been told what to add."))
    await ctx.goto("dossier")
