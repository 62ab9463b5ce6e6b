"""The commune officer's review: the queue of ideas and dossiers of their communes, the four local criteria,
supplements, and accepting or returning product ideas (OCOP cycle step 2).

Every "cr:" button (``handlers.review_buttons.ReviewButton``) first passes the one role check of the family
(``review``), then its handler checks the commune *of the object as stored*; an id of another commune's dossier
gets the same answer as an id that does not exist. Decisions on a dossier name the version the officer saw (on
the button, or kept in the flow's ``Reason`` while a reason is typed): a dossier changed meanwhile is refused
with a clear answer and nothing is written. A second click on a decision already taken just shows the dossier
again.

Each criterion is decided on its own and can be undone until the officer presses 🏁 Finish; only then
does the dossier move: all four ✅ forward it to the province (``_forward_to_province``, the one place where
"all four confirmed" happens), any ❌ sends it back once, with every reason in one notice. A supplement note
(📝) sends it back at once, together with the reasons of criteria already rejected.

A dossier the producer resubmits after a supplement comes back as SUBMITTED_COMMUNE; opening it starts
a fresh review, so all four criteria go back to pending then (``reviews.reset_criteria``).

```mermaid
stateDiagram-v2
    [*] --> Queue: 📋 Waiting for commune review (n)
    Queue --> Dossier: 📂 open (SUBMITTED_COMMUNE → COMMUNE_REVIEW)
    Queue --> Idea: 💡 open
    Queue --> Claim: 🔑 open a claim on an imported producer (handlers.producer_claims)
    Dossier --> Dossier: ✅ confirm a criterion / ↩️ undo a decision
    Dossier --> reason: ❌ reject a criterion / 📝 ask for a supplement
    reason --> reason: empty or too short (hint)
    reason --> Dossier: criterion reason typed → recorded, still COMMUNE_REVIEW
    reason --> Queue: supplement note typed → NEEDS_SUPPLEMENT, producer told once (note + every reason)
    Dossier --> Dossier: 🏁 Finish with a criterion still open (hint)
    Dossier --> Queue: 🏁 Finish, all four ✅ → COMMUNE_CONFIRMED → AT_PROVINCE, producer told
    Dossier --> Queue: 🏁 Finish, some ❌ → NEEDS_SUPPLEMENT, producer told once with every reason
    Idea --> Queue: ✅ accept (ACCEPTED), producer told
    Idea --> reason: ↩️ return
    reason --> Queue: reason typed → RETURNED, producer told
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot import office_jobs, voice
from bot.button_family import Family
from bot.dossier_facts import item_label, status_label
from bot.flow import Context, Flow, FlowData, Registry
from bot.i18n import N_, _, format_day
from bot.idea_form import FIELD_LABELS as IDEA_FIELD_LABELS
from bot.menu_buttons import MenuDossier, MenuIdea, MenuStatus
from bot.messages import Choice, Text
from bot.notices import notice
from bot.paging import nav_choices, page_of
from bot.roles import Scope, actor_label, commune_name, deny, is_commune_officer, scope_of
from bot.rules import (
    COMMUNE_CRITERIA,
    DOSSIER_CASE_LABELS,
    PRODUCT_GROUP_LABELS,
    DossierStatus,
    IdeaStatus,
    SuppliedBy,
    check_transition,
    label,
    requirement,
)
from bot.text import shorten
from bot.typed_answers import text_problem
from handlers.commune_report import offer_draft
from handlers.dossier_changes import COMMUNE, changes_since_last_look
from handlers.idea_return import fix_button
from handlers.review_buttons import (
    AcceptIdea,
    AskSupplement,
    BackToMenu,
    CancelReason,
    ConfirmCriterion,
    DossierFiles,
    FinishReview,
    OpenClaim,
    OpenDossier,
    OpenIdea,
    QueuePage,
    RejectCriterion,
    ReturnField,
    ReturnIdea,
    ReviewButton,
    ShowQueue,
    UndoCriterion,
    ViewDossier,
)
from handlers.staff_menu import QUEUE_DOSSIER_STATUSES, QUEUE_IDEA_STATUS
from handlers.staff_reads import log_read
from storage import audit, claims, province, reviews, voice_answers
from storage.db import detached_sessions
from storage.dossiers import dossier_in_communes
from storage.models import CommuneCriterion, Dossier, DossierItem, Producer, ProductIdea

FLOW = "commune_review"

REASON_MIN, REASON_MAX = 5, 1000
MAX_QUEUE_BUTTONS = 20
BUTTON_LABEL_MAX = 48

CRITERIA = tuple(COMMUNE_CRITERIA)  # index on buttons keeps them short: cr:ok:<dossier>:<version>:<n>
# One or two words per criterion, so "✅ …" and "❌ …" fit side by side on a small phone.
_BUTTON_WORDS: dict[str, str] = {
    "local_origin": N_("Origin"),
    "local_labour": N_("Labour"),
    "idea_origin": N_("Idea"),
    "local_identity": N_("Identity"),
}
PENDING, CONFIRMED, REJECTED = "pending", "confirmed", "rejected"
_MARK = {PENDING: "⏳", CONFIRMED: "✅", REJECTED: "❌"}
CRITERION, SUPPLEMENT, IDEA = "criterion", "supplement", "idea"


@dataclass
class Reason(FlowData):
    """What the reason being typed is for: a rejected criterion, a supplement note, or a returned idea. A decision
    on a dossier keeps the version the officer saw."""

    kind: str = ""  # CRITERION, SUPPLEMENT or IDEA
    id: int = 0
    version: int | None = None
    criterion: str | None = None
    field: str | None = None  # a returned idea: the answer that needs fixing (a step of the idea flow)


flow = Flow(FLOW, first_step="reason", data=Reason)


async def officer_scope(ctx: Context) -> Scope | None:
    """The commune officer's scope, checked again on every press (a role may be revoked meanwhile)."""
    scope = await scope_of(ctx)
    if not is_commune_officer(scope):
        await deny(ctx)
        return None
    return scope


review = Family(ReviewButton, officer_scope)


@review.on(ShowQueue)
async def queue_pressed(ctx: Context, scope: Scope, _pressed: ShowQueue) -> None:
    await show_queue(ctx, scope)


@review.on(QueuePage)
async def queue_page_pressed(ctx: Context, scope: Scope, pressed: QueuePage) -> None:
    await show_queue(ctx, scope, pressed.page)


@review.on(BackToMenu)
async def menu_pressed(ctx: Context, _scope: Scope, _pressed: BackToMenu) -> None:
    await ctx.finish()


@review.on(CancelReason)
async def cancel_pressed(ctx: Context, scope: Scope, _pressed: CancelReason) -> None:
    ctx.end_flow()
    ctx.say(_("Cancelled. Nothing was changed."))
    await show_queue(ctx, scope)


# The queue --------------------------------------------------------------------------------------------------


async def show_queue(ctx: Context, scope: Scope, page_number: int = 0) -> None:
    ctx.end_flow()
    ideas = await reviews.ideas_waiting(ctx.session, scope.communes, QUEUE_IDEA_STATUS)
    dossiers = await reviews.dossiers_waiting(ctx.session, scope.communes, QUEUE_DOSSIER_STATUSES)
    pending_claims = await claims.pending_in(ctx.session, scope.communes)
    if not ideas and not dossiers and not pending_claims:
        ctx.say(_("📋 Nothing is waiting for your review. Well done!"), [Choice(_("⬅️ Menu"), BackToMenu())])
        return
    owners = await province.producers_of_products(ctx.session, [d.product_id for d in dossiers])
    idea_producers = {p: await reviews.producer_by_id(ctx.session, p) for p in {idea.producer_id for idea in ideas}}
    # (when, button, line): the line names product, producer and commune, so namesakes are told apart.
    entries: list[tuple[Any, Choice, str]] = []
    for dossier in dossiers:
        mark = "🔍" if dossier.status == DossierStatus.COMMUNE_REVIEW else "📂"
        owner = owners.get(dossier.product_id)
        entries.append(
            (
                dossier.submitted_at,
                Choice(shorten(f"{mark} {dossier.product.name}", BUTTON_LABEL_MAX), OpenDossier(dossier=dossier.id)),
                _queue_line(mark, dossier.product.name, owner),
            )
        )
    for idea in ideas:
        owner = idea_producers.get(idea.producer_id)
        entries.append(
            (
                idea.submitted_at,
                Choice(shorten(f"💡 {idea.name}", BUTTON_LABEL_MAX), OpenIdea(idea=idea.id)),
                _queue_line("💡", idea.name, owner),
            )
        )
    for claim, claimed in pending_claims:  # handlers.producer_claims
        entries.append(
            (
                claim.created_at,
                Choice(shorten(f"🔑 {claimed.name}", BUTTON_LABEL_MAX), OpenClaim(claim=claim.id)),
                "🔑 " + _("Claim: {producer} — {commune}").format(producer=claimed.name, commune=claimed.commune_name),
            )
        )
    entries.sort(key=lambda entry: (entry[0] is None, entry[0]))
    page = page_of(entries, page_number, MAX_QUEUE_BUTTONS)
    lines = [
        _("📋 Waiting for your review, oldest first: {ideas} ideas, {dossiers} dossiers.").format(
            ideas=len(ideas), dossiers=len(dossiers)
        ),
        page.position,
        *(line for _when, _choice, line in page.rows),
        _("💡 idea · 📂 new dossier · 🔍 under your review")
        + (" · " + _("🔑 someone claims an imported producer") if pending_claims else ""),
    ]
    choices = [choice for _when, choice, _line in page.rows]
    choices += nav_choices(page, QueuePage.prefix + ":")  # ◀ ▶ end in the page number: QueuePage(page=n)
    choices.append(Choice(_("⬅️ Menu"), BackToMenu()))
    ctx.say("\n".join(lines), choices)


def _queue_line(mark: str, name: str, owner: Producer | None) -> str:
    return f"{mark} {name}" + (f" — {owner.name} — {owner.commune_name}" if owner else "")


# A dossier --------------------------------------------------------------------------------------------------


async def _dossier(ctx: Context, scope: Scope, dossier_id: int) -> Dossier | None:
    """The dossier, only inside the officer's communes; otherwise the refusal is already said."""
    dossier = await dossier_in_communes(ctx.session, dossier_id, scope.communes)
    if dossier is None:
        await deny(ctx)
    return dossier


@review.on(OpenDossier)
async def open_dossier(ctx: Context, scope: Scope, pressed: OpenDossier) -> None:
    """Open from the queue: a submitted dossier enters review; the summary and the files are sent."""
    dossier_id = pressed.dossier
    dossier = await _dossier(ctx, scope, dossier_id)
    if dossier is None:
        return
    if dossier.status == DossierStatus.SUBMITTED_COMMUNE:
        check_transition(dossier.status, DossierStatus.COMMUNE_REVIEW)
        before = {"status": dossier.status, "version": dossier.version}
        if not await reviews.bump_dossier(
            ctx.session, dossier, seen_version=dossier.version, now=ctx.now, status=DossierStatus.COMMUNE_REVIEW.value
        ):
            await _changed(ctx, scope, dossier_id)
            return
        # A resubmitted dossier is reviewed afresh: earlier decisions were about what it was then.
        await reviews.reset_criteria(ctx.session, dossier.id)
        await _audit(ctx, "dossier.commune_review", dossier, before)
    await _show_dossier(ctx, dossier)


@review.on(DossierFiles)
async def resend_files(ctx: Context, scope: Scope, pressed: DossierFiles) -> None:
    """📦 The dossier's files as one ZIP, a folder per item, sent when ready (never one message per file)."""
    dossier = await _dossier(ctx, scope, pressed.dossier)
    if dossier is None:
        return
    office_jobs.start_dossier_zip(
        detached_sessions(ctx.session),
        files_root=ctx.files.root,
        user_id=ctx.user.id,
        locale=ctx.user.locale,
        dossier_id=dossier.id,
        communes=scope.communes,
    )
    ctx.say(_("⏳ Packing the dossier's files into one ZIP. It arrives here in a moment."))
    await _show_dossier(ctx, dossier)


@review.on(ViewDossier)
async def view_dossier(ctx: Context, scope: Scope, pressed: ViewDossier) -> None:
    dossier = await _dossier(ctx, scope, pressed.dossier)
    if dossier is not None:
        await _show_dossier(ctx, dossier)


# Not the shared item_line (bot.dossier_facts): that is the producer's wording with expiry dates; this is the officer's.
def _review_item_line(item: DossierItem) -> str:
    found = requirement(item.code)
    name = item_label(item.code)
    if found is not None and found.supplied_by is SuppliedBy.COMMUNE:
        return "🏛 " + _("{item} — written by the commune").format(item=name)
    done = bool(item.files) or item.handed_in_at is not None
    files = f" · 📎 {len(item.files)}" if item.files else ""
    handed = " · " + _("handed in") if item.handed_in_at is not None else ""
    return f"{'✓' if done else '✗'} {name}{files}{handed}"


async def _show_dossier(ctx: Context, dossier: Dossier) -> None:
    await log_read(ctx, "dossier", dossier.id)  # every way an officer sees a producer's dossier passes here
    criteria = await reviews.criteria_of(ctx.session, dossier.id, CRITERIA)
    producer = await reviews.producer_by_id(ctx.session, dossier.product.producer_id)
    product = dossier.product
    try:
        group = label(PRODUCT_GROUP_LABELS, product.group_code)
    except (KeyError, ValueError):
        group = product.group_code
    try:
        case = label(DOSSIER_CASE_LABELS, dossier.case)
    except (KeyError, ValueError):
        case = dossier.case
    lines = [
        _("📂 {product} — {case}").format(product=product.name, case=case),
        _("👤 {producer} · {commune}").format(
            producer=producer.name if producer else "?",
            commune=commune_name(ctx.settings.ocop.province, product.commune_code),
        ),
        _("Group: {group}").format(group=group),
        _("Status: {status}").format(status=status_label(dossier.status)),
    ]
    if dossier.submitted_at is not None:
        lines.append(_("Submitted: {day}").format(day=format_day(dossier.submitted_at, ctx.settings.ocop.timezone)))
    changes = await changes_since_last_look(ctx, dossier, COMMUNE)
    if changes:
        lines += ["", *changes]
    lines += ["", _("Items:")] + [_review_item_line(item) for item in dossier.items]
    lines += ["", _("The four commune criteria:")]
    for code, row in criteria.items():  # not numbered: only choices carry numbers
        line = f"{_MARK.get(row.status, '⏳')} {label(COMMUNE_CRITERIA, code)}"
        if row.status == REJECTED and row.reason:
            line += f" — {row.reason}"
        lines.append(line)
    choices: list[Choice] = []
    reviewing = dossier.status == DossierStatus.COMMUNE_REVIEW
    if reviewing:
        undo: list[Choice] = []
        for index, (code, row) in enumerate(criteria.items()):
            name = _(_BUTTON_WORDS[code]) if code in _BUTTON_WORDS else label(COMMUNE_CRITERIA, code)
            seen = {"dossier": dossier.id, "version": dossier.version, "criterion": index}
            if row.status != PENDING:
                undo.append(Choice(shorten(f"↩️ {index + 1}. {name}", 24), UndoCriterion(**seen)))
                continue
            choices.append(Choice(shorten(f"✅ {index + 1}. {name}", 24), ConfirmCriterion(**seen)))
            choices.append(Choice(shorten(f"❌ {index + 1}. {name}", 24), RejectCriterion(**seen)))
        choices += undo
        if all(row.status != PENDING for row in criteria.values()):
            choices.append(Choice(_("🏁 Finish"), FinishReview(dossier=dossier.id, version=dossier.version)))
        choices.append(Choice(_("📝 Ask for a supplement"), AskSupplement(dossier=dossier.id, version=dossier.version)))
        lines.append(_("Confirm ✅ or reject ❌ each criterion, then press 🏁 Finish. Until then ↩️ undoes a decision."))
    if any(item.files for item in dossier.items):
        choices.append(Choice(_("📦 Download the dossier (ZIP)"), DossierFiles(dossier=dossier.id)))
    choices.append(Choice(_("⬅️ Queue"), ShowQueue()))
    # Pairs of ✅/❌ side by side; the last buttons fill their own rows.
    ctx.say("\n".join(lines), choices, columns=2 if reviewing else 1)


async def _changed(ctx: Context, scope: Scope, dossier_id: int) -> None:
    """Someone else changed the dossier between what the officer saw and what they pressed."""
    ctx.end_flow()
    ctx.say(_("⚠️ This dossier was changed by someone else meanwhile. Nothing was saved. Here it is as it is now:"))
    dossier = await dossier_in_communes(ctx.session, dossier_id, scope.communes)
    if dossier is not None:
        await _show_dossier(ctx, dossier)
    else:
        await show_queue(ctx, scope)


async def _reviewable(
    ctx: Context, scope: Scope, dossier_id: int, version: int, index: int | None
) -> tuple[Dossier, str | None] | None:
    """The dossier if a decision may be taken on it now; otherwise the answer is already given."""
    if index is not None and not 0 <= index < len(CRITERIA):
        await deny(ctx)
        return None
    dossier = await _dossier(ctx, scope, dossier_id)
    if dossier is None:
        return None
    if dossier.status != DossierStatus.COMMUNE_REVIEW:
        ctx.end_flow()
        ctx.say(
            _("This dossier is no longer under commune review (now: {status}). Nothing was changed.").format(
                status=status_label(dossier.status)
            )
        )
        await show_queue(ctx, scope)
        return None
    if dossier.version != version:
        await _changed(ctx, scope, dossier_id)
        return None
    return dossier, (CRITERIA[index] if index is not None else None)


async def _already(ctx: Context, scope: Scope, dossier_id: int, index: int, status: str, said: str) -> bool:
    """A double click: the first press already put the criterion in ``status``; show the dossier again."""
    if not 0 <= index < len(CRITERIA):
        return False
    dossier = await dossier_in_communes(ctx.session, dossier_id, scope.communes)
    if dossier is None or dossier.status != DossierStatus.COMMUNE_REVIEW:
        return False
    criteria = await reviews.criteria_of(ctx.session, dossier.id, CRITERIA)
    if criteria[CRITERIA[index]].status != status:
        return False
    ctx.say(said)
    await _show_dossier(ctx, dossier)
    return True


async def _decide(
    ctx: Context, scope: Scope, dossier_id: int, version: int, index: int, status: str, reason: str | None
) -> Dossier | None:
    """Record one criterion's decision (or its undoing) on the version the officer saw; the dossier stays in
    review. None when refused (the answer is already given)."""
    found = await _reviewable(ctx, scope, dossier_id, version, index)
    if found is None:
        return None
    dossier, code = found
    assert code is not None
    criteria = await reviews.criteria_of(ctx.session, dossier.id, CRITERIA)
    if not await reviews.bump_dossier(ctx.session, dossier, seen_version=version, now=ctx.now):
        await _changed(ctx, scope, dossier_id)
        return None
    row = criteria[code]
    before = {"criterion": code, "status": row.status}
    reviews.set_criterion(row, status=status, reason=reason, decided_by=ctx.user.id, now=ctx.now)
    action = {CONFIRMED: "criterion.confirm", REJECTED: "criterion.reject", PENDING: "criterion.undo"}[status]
    note = f"{code}: {reason}" if reason else None
    await _audit(ctx, action, dossier, before, {"criterion": code, "status": status}, note=note)
    return dossier


@review.on(ConfirmCriterion)
async def confirm_criterion(ctx: Context, scope: Scope, pressed: ConfirmCriterion) -> None:
    dossier_id, version, index = pressed.dossier, pressed.version, pressed.criterion
    if await _already(ctx, scope, dossier_id, index, CONFIRMED, _("Already confirmed.")):
        return
    dossier = await _decide(ctx, scope, dossier_id, version, index, CONFIRMED, None)
    if dossier is None:
        return
    ctx.say(_("✅ Confirmed: {criterion}").format(criterion=label(COMMUNE_CRITERIA, CRITERIA[index])))
    await _show_dossier(ctx, dossier)


@review.on(UndoCriterion)
async def undo_criterion(ctx: Context, scope: Scope, pressed: UndoCriterion) -> None:
    """↩️ Back to pending: a decision counts only when the officer finishes."""
    dossier_id, version, index = pressed.dossier, pressed.version, pressed.criterion
    if await _already(ctx, scope, dossier_id, index, PENDING, _("This criterion is open again.")):
        return
    dossier = await _decide(ctx, scope, dossier_id, version, index, PENDING, None)
    if dossier is None:
        return
    ctx.say(_("↩️ Undone: {criterion}. Decide it again.").format(criterion=label(COMMUNE_CRITERIA, CRITERIA[index])))
    await _show_dossier(ctx, dossier)


@review.on(FinishReview)
async def finish_review(ctx: Context, scope: Scope, pressed: FinishReview) -> None:
    """🏁 All four decided: forward (all ✅) or send back once with every reason (some ❌)."""
    version = pressed.version
    found = await _reviewable(ctx, scope, pressed.dossier, version, None)
    if found is None:
        return
    dossier = found[0]
    criteria = await reviews.criteria_of(ctx.session, dossier.id, CRITERIA)
    still_open = [code for code, row in criteria.items() if row.status == PENDING]
    if still_open:
        ctx.say(_("First confirm ✅ or reject ❌ every criterion. Still open: {count}.").format(count=len(still_open)))
        await _show_dossier(ctx, dossier)
        return
    if all(row.status == CONFIRMED for row in criteria.values()):
        await _forward_to_province(ctx, scope, dossier)
        return
    await _send_back(ctx, scope, dossier, version, criteria, note=None)


def _rejections(criteria: dict[str, CommuneCriterion]) -> list[list[str]]:
    return [[code, row.reason or ""] for code, row in criteria.items() if row.status == REJECTED]


async def _send_back(
    ctx: Context,
    scope: Scope,
    dossier: Dossier,
    version: int,
    criteria: dict[str, CommuneCriterion],
    note: str | None,
) -> None:
    """NEEDS_SUPPLEMENT, once: every rejected criterion's reason (and the supplement note) in one notice."""
    rejected = _rejections(criteria)
    lines = [f"{label(COMMUNE_CRITERIA, code)}: {reason}" for code, reason in rejected]
    if note:
        lines.append(note)
    review_note = "\n".join(lines)
    check_transition(dossier.status, DossierStatus.NEEDS_SUPPLEMENT)
    before = {"status": dossier.status, "version": dossier.version}
    if not await reviews.bump_dossier(
        ctx.session,
        dossier,
        seen_version=version,
        now=ctx.now,
        status=DossierStatus.NEEDS_SUPPLEMENT.value,
        review_note=review_note,
    ):
        await _changed(ctx, scope, dossier.id)
        return
    await _audit(ctx, "dossier.commune_return", dossier, before, note=review_note)
    producer = await reviews.producer_by_id(ctx.session, dossier.product.producer_id)
    if producer is not None:
        await ctx.notify(
            producer.user_id,
            "commune_returned",
            {"product": dossier.product.name, "dossier_id": dossier.id, "reasons": rejected, "note": note or ""},
            dedupe_key=f"commune_returned:{dossier.id}:{dossier.version}",
        )
    ctx.say(
        _("↩️ Sent back to the producer once, with every reason ({count}). The producer was told.").format(
            count=len(lines)
        )
    )
    await show_queue(ctx, scope)


async def _forward_to_province(ctx: Context, scope: Scope, dossier: Dossier) -> None:
    """All four confirmed: the commune's assessment is done (its report counts as written) → province."""
    for target in (DossierStatus.COMMUNE_CONFIRMED, DossierStatus.AT_PROVINCE):
        check_transition(dossier.status, target)
        before = {"status": dossier.status, "version": dossier.version}
        written = await reviews.bump_dossier(
            ctx.session, dossier, seen_version=dossier.version, now=ctx.now, status=target.value, review_note=None
        )
        if not written:  # cannot happen inside our own transaction after the first bump; be loud if it does
            raise RuntimeError(f"dossier {dossier.id} changed during forwarding")
        await _audit(ctx, f"dossier.{target.value}", dossier, before)
    await ctx.session.flush()
    producer = await reviews.producer_by_id(ctx.session, dossier.product.producer_id)
    if producer is not None:
        await ctx.notify(
            producer.user_id,
            "commune_confirmed",
            {"product": dossier.product.name, "dossier_id": dossier.id},
            dedupe_key=f"commune_confirmed:{dossier.id}:{dossier.version}",
        )
    ctx.say(
        _(
            "✅ All four criteria confirmed. The dossier of {product} is now with the province. The producer was told."
        ).format(product=dossier.product.name)
    )
    # The commune's report is drafted now; it counts only once the signed scan is back (handlers.commune_report).
    await offer_draft(ctx, dossier)


@review.on(RejectCriterion)
async def reject_criterion(ctx: Context, scope: Scope, pressed: RejectCriterion) -> None:
    dossier_id, version, index = pressed.dossier, pressed.version, pressed.criterion
    if await _already(ctx, scope, dossier_id, index, REJECTED, _("Already rejected.")):
        return
    found = await _reviewable(ctx, scope, dossier_id, version, index)
    if found is None:
        return
    dossier, code = found
    await ctx.start(FLOW, Reason(kind=CRITERION, id=dossier.id, version=version, criterion=code))


@review.on(AskSupplement)
async def ask_supplement(ctx: Context, scope: Scope, pressed: AskSupplement) -> None:
    found = await _reviewable(ctx, scope, pressed.dossier, pressed.version, None)
    if found is None:
        return
    await ctx.start(FLOW, Reason(kind=SUPPLEMENT, id=found[0].id, version=pressed.version))


# Typing a reason ----------------------------------------------------------------------------------------------


@flow.before
async def still_an_officer(ctx: Context) -> bool:
    """The role may have been revoked while the reason was typed."""
    return await officer_scope(ctx) is not None


@flow.ask("reason", free_text=True)
async def ask_reason(ctx: Context) -> None:
    form = ctx.form(Reason)
    if form.kind == CRITERION:
        question = _("Why is “{criterion}” not met? Type the reason; the producer will read it.").format(
            criterion=label(COMMUNE_CRITERIA, str(form.criterion))
        )
    elif form.kind == SUPPLEMENT:
        question = _("What should the producer add or fix? Type a short note; the producer will read it.")
    else:
        question = _("Why is the idea returned? Type the reason; the producer will read it.")
    ctx.say(question, [Choice(_("⬅️ Cancel"), CancelReason())])


@flow.on_text("reason")
async def got_reason(ctx: Context, text: str) -> None:
    scope = await scope_of(ctx)
    problem = text_problem(text, minimum=REASON_MIN, maximum=REASON_MAX)
    if problem is not None:
        await ctx.reask(problem)
        return
    reason = text.strip()
    form = ctx.form(Reason)
    if form.kind == IDEA:
        await _return_idea(ctx, scope, form.id, reason, form.field if form.field in IDEA_FIELD_LABELS else None)
        return
    version = form.version
    index = CRITERIA.index(form.criterion) if form.criterion in CRITERIA else None
    if (form.kind == CRITERION and index is None) or version is None:
        await deny(ctx)
        return
    if form.kind == CRITERION and index is not None:
        dossier = await _decide(ctx, scope, form.id, version, index, REJECTED, reason)
        if dossier is not None:
            ctx.end_flow()
            ctx.say(
                _("❌ Recorded: {criterion}. The dossier stays with you until you press 🏁 Finish.").format(
                    criterion=label(COMMUNE_CRITERIA, CRITERIA[index])
                )
            )
            await _show_dossier(ctx, dossier)
        return
    found = await _reviewable(ctx, scope, form.id, version, None)
    if found is None:
        return
    dossier = found[0]
    criteria = await reviews.criteria_of(ctx.session, dossier.id, CRITERIA)
    ctx.end_flow()
    await _send_back(ctx, scope, dossier, version, criteria, note=reason)


# Ideas --------------------------------------------------------------------------------------------------------


async def _idea(ctx: Context, scope: Scope, idea_id: int) -> ProductIdea | None:
    idea = await reviews.idea_in(ctx.session, idea_id, scope.communes)
    if idea is None:
        await deny(ctx)
    return idea


async def _idea_not_waiting(ctx: Context, scope: Scope, idea: ProductIdea) -> bool:
    if idea.status == IdeaStatus.SUBMITTED_COMMUNE:
        return False
    ctx.end_flow()
    ctx.say(_("This idea has already been decided. Nothing was changed."))
    await show_queue(ctx, scope)
    return True


@review.on(OpenIdea)
async def open_idea(ctx: Context, scope: Scope, pressed: OpenIdea) -> None:
    idea = await _idea(ctx, scope, pressed.idea)
    if idea is None or await _idea_not_waiting(ctx, scope, idea):
        return
    await log_read(ctx, "idea", idea.id)
    producer = await reviews.producer_by_id(ctx.session, idea.producer_id)
    try:
        group = label(PRODUCT_GROUP_LABELS, idea.group_code)
    except (KeyError, ValueError):
        group = idea.group_code
    lines = [
        _("💡 Product idea: {name}").format(name=idea.name),
        _("👤 {producer} · {commune}").format(
            producer=producer.name if producer else "?",
            commune=commune_name(ctx.settings.ocop.province, idea.commune_code),
        ),
        _("Group: {group}").format(group=group),
    ]
    for title, value in (
        (_("Description"), idea.description),
        (_("Raw materials"), idea.raw_materials),
        (_("Where they come from"), idea.raw_material_origin),
        (_("Market"), idea.market),
        (_("Support needed"), idea.support_needed),
    ):
        if value:
            lines.append(f"{title}: {value}")
    if idea.workers_total is not None:
        lines.append(
            _("Workers: {total}, of whom local: {local}").format(
                total=idea.workers_total, local=idea.workers_local if idea.workers_local is not None else "?"
            )
        )
    if idea.submitted_at is not None:
        lines.append(_("Submitted: {day}").format(day=format_day(idea.submitted_at, ctx.settings.ocop.timezone)))
    # The spoken answers themselves, before the view, so that its buttons stay the last thing on screen.
    titles = {
        "description": _("Description"),
        "materials": _("Raw materials"),
        "market": _("Market"),
        "support": _("Support needed"),
    }
    for note in voice.notes(await voice_answers.of_idea(ctx.session, idea.id), ctx.files, titles):
        ctx.send_file(note)
    ctx.say(
        "\n".join(lines),
        [
            Choice(_("✅ Accept the idea"), AcceptIdea(idea=idea.id)),
            Choice(_("↩️ Return with a reason"), ReturnIdea(idea=idea.id)),
            Choice(_("⬅️ Queue"), ShowQueue()),
        ],
    )


@review.on(AcceptIdea)
async def accept_idea(ctx: Context, scope: Scope, pressed: AcceptIdea) -> None:
    idea = await _idea(ctx, scope, pressed.idea)
    if idea is None or await _idea_not_waiting(ctx, scope, idea):
        return
    if not await _decide_idea(ctx, idea, IdeaStatus.ACCEPTED, None):
        await _idea_not_waiting(ctx, scope, idea)
        return
    ctx.say(_("✅ Idea accepted: {name}. The producer was told.").format(name=idea.name))
    await show_queue(ctx, scope)


@review.on(ReturnIdea)
async def ask_idea_return(ctx: Context, scope: Scope, pressed: ReturnIdea) -> None:
    idea = await _idea(ctx, scope, pressed.idea)
    if idea is None or await _idea_not_waiting(ctx, scope, idea):
        return
    await ctx.start(FLOW, Reason(kind=IDEA, id=idea.id), step="idea_field")


@flow.ask("idea_field")
async def ask_idea_field(ctx: Context) -> None:
    choices = [Choice(_(text), ReturnField(field=step)) for step, text in IDEA_FIELD_LABELS.items()]
    choices += [Choice(_("Several answers"), ReturnField(field="all")), Choice(_("⬅️ Cancel"), CancelReason())]
    ctx.say(_("Which answer needs fixing? The producer will start from it."), choices, columns=2)


@flow.on("idea_field", ReturnField)
async def got_idea_field(ctx: Context, pressed: ReturnField) -> None:
    ctx.form(Reason).field = pressed.field if pressed.field in IDEA_FIELD_LABELS else None
    await ctx.goto("reason")


async def _return_idea(ctx: Context, scope: Scope, idea_id: int, reason: str, field: str | None) -> None:
    idea = await _idea(ctx, scope, idea_id)
    if idea is None or await _idea_not_waiting(ctx, scope, idea):
        return
    if not await _decide_idea(ctx, idea, IdeaStatus.RETURNED, reason, field):
        await _idea_not_waiting(ctx, scope, idea)
        return
    ctx.say(_("↩️ Idea returned: {name}. The producer was told, with your reason.").format(name=idea.name))
    await show_queue(ctx, scope)


async def _decide_idea(
    ctx: Context, idea: ProductIdea, target: IdeaStatus, reason: str | None, field: str | None = None
) -> bool:
    before = {"status": idea.status}
    if not await reviews.decide_idea(
        ctx.session,
        idea,
        from_status=IdeaStatus.SUBMITTED_COMMUNE.value,
        to_status=target.value,
        reviewer=ctx.user.id,
        note=reason,
        now=ctx.now,
    ):
        return False
    idea.return_field = field
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=actor_label(ctx),
        action=f"idea.{target.value}",
        object_type="idea",
        object_id=idea.id,
        before=before,
        after={"status": idea.status},
        note=reason,
    )
    producer = await reviews.producer_by_id(ctx.session, idea.producer_id)
    if producer is not None:
        kind = "idea_accepted" if target is IdeaStatus.ACCEPTED else "idea_returned"
        params = {"idea": idea.name, "reason": reason or "", "idea_id": idea.id, "field": idea.return_field or ""}
        await ctx.notify(producer.user_id, kind, params, dedupe_key=f"{kind}:{idea.id}")
    return True


# Audit ---------------------------------------------------------------------------------------------------------


async def _audit(
    ctx: Context,
    action: str,
    dossier: Dossier,
    before: dict[str, Any],
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=actor_label(ctx),
        action=action,
        object_type="dossier",
        object_id=dossier.id,
        before=before,
        after=after or {"status": dossier.status, "version": dossier.version},
        note=note,
    )


# Notices to the producer ----------------------------------------------------------------------------------------

_MY_DOSSIER = MenuDossier()
_STATUS = MenuStatus()


@notice("commune_criterion_rejected")
def render_criterion_rejected(params: dict[str, Any]) -> Text:
    code = str(params.get("criterion", ""))
    criterion = label(COMMUNE_CRITERIA, code) if code in COMMUNE_CRITERIA else code
    return Text(
        _(
            "❌ The commune did not confirm “{criterion}” for your dossier {product}.\n"
            "Reason: {reason}\n"
            "Please fix this in the dossier (add or change the documents), then press Submit again."
        ).format(criterion=criterion, product=params.get("product", ""), reason=params.get("reason", "")),
        (Choice(_("📂 My dossier"), _MY_DOSSIER),),
    )


@notice("commune_supplement")
def render_supplement(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "📝 The commune asks you to add to your dossier {product}.\n"
            "Note: {reason}\n"
            "Please add what is asked, then press Submit again."
        ).format(product=params.get("product", ""), reason=params.get("reason", "")),
        (Choice(_("📂 My dossier"), _MY_DOSSIER),),
    )


@notice("commune_returned")
def render_returned(params: dict[str, Any]) -> Text:
    lines = [_("↩️ The commune sends your dossier {product} back to you.").format(product=params.get("product", ""))]
    reasons = params.get("reasons")
    for entry in reasons if isinstance(reasons, list) else []:
        code, reason = (str(entry[0]), str(entry[1])) if isinstance(entry, list) and len(entry) == 2 else ("", "")
        criterion = label(COMMUNE_CRITERIA, code) if code in COMMUNE_CRITERIA else code
        lines.append(_("❌ {criterion}: {reason}").format(criterion=criterion, reason=reason))
    if params.get("note"):
        lines.append(_("📝 Note: {note}").format(note=params["note"]))
    lines.append(_("Please fix all of this in the dossier, then press Submit again."))
    return Text("\n".join(lines), (Choice(_("📂 My dossier"), _MY_DOSSIER),))


@notice("commune_confirmed")
def render_confirmed(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "✅ Good news: the commune confirmed the four local criteria of your dossier {product}.\n"
            "The dossier is now with the province, which will check that it is complete."
        ).format(product=params.get("product", "")),
        (Choice(_("🔎 Status"), _STATUS),),
    )


@notice("idea_accepted")
def render_idea_accepted(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "✅ The commune accepted your product idea {idea}.\n"
            "Next step: prepare the evaluation dossier with “📂 My dossier”."
        ).format(idea=params.get("idea", "")),
        (Choice(_("📂 My dossier"), _MY_DOSSIER),),
    )


@notice("idea_returned")
def render_idea_returned(params: dict[str, Any]) -> Text:
    text = _(
        "↩️ The commune returned your product idea {idea}.\n"
        "Reason: {reason}\n"
        "You can register the idea again with the changes."
    ).format(idea=params.get("idea", ""), reason=params.get("reason", ""))
    field = params.get("field")
    if field in IDEA_FIELD_LABELS:
        text += "\n" + _("To fix: {answer}").format(answer=_(IDEA_FIELD_LABELS[field]))
    idea_id = params.get("idea_id")
    if isinstance(idea_id, int):  # notices queued before the fix button existed have no id
        return Text(text, (fix_button(idea_id),))
    return Text(text, (Choice(_("📝 Register a product idea"), MenuIdea()),))


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    review.register(registry)
