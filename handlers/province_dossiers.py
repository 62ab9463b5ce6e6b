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

from bot import office_jobs
from bot.communes import commune_by_code
from bot.flow import Context, Flow
from bot.i18n import _, format_day
from bot.messages import Choice
from bot.paging import nav_choices, page_of
from bot.roles import deny
from bot.rules import DossierStatus
from bot.text import has_words, shorten
from handlers.dossier import case_label, item_done, item_label, progress_line, status_label
from handlers.dossier_changes import PROVINCE, changes_since_last_look
from handlers.province_common import (
    CERTIFIED,
    CHECKABLE,
    FINISHED,
    FLOW_NAME,
    LABEL_MAX,
    LIST_MAX,
    NOTE_MAX,
    NOTE_MIN,
    PROVINCE_STARS,
    ROUND_ASSIGNABLE,
    VISIBLE,
    WORKING,
    P,
    apply_change,
    back_choice,
    changed_meanwhile,
    current_dossier,
    dossier_facts,
    find_round,
    guard,
    not_now,
    payload_id,
    province_communes,
    reached_after_deadline,
    record_audit,
    round_line,
    tell_producer,
)
from handlers.province_council import send_certificate_extra
from handlers.staff_reads import log_read
from storage import certificates, province, rounds
from storage.db import detached_sessions
from storage.models import Dossier, Round

_S = DossierStatus

# This module's steps of the province conversation; ``handlers.province`` joins them into one flow.
steps = Flow(FLOW_NAME, first_step="list")


# list ----------------------------------------------------------------------------------------------------


@steps.ask("list")
async def ask_list(ctx: Context) -> None:
    if not await guard(ctx):
        return
    which = ctx.data.get("list")
    if which == "none":
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
    page = page_of(rows, int(ctx.data.get("page") or 0))
    ctx.data["page"] = page.number
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
    choices = [Choice(shorten(f"📂 {d.product.name}", LABEL_MAX), f"{P}d:{d.id}") for d in page.rows]
    choices += nav_choices(page, P + "pg:")
    if sum(1 for d in rows if _S(d.status) in CHECKABLE) > 1:
        choices.append(Choice(_("☑️ Accept several into a round"), P + "batch"))
    choices.append(back_choice())
    ctx.say("\n".join(lines), choices)


@steps.answer("list")
async def got_list(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("page", None)
        await ctx.goto("round" if isinstance(ctx.data.get("round_id"), int) else "home")
        return
    if (page := payload_id(ctx.payload, P + "pg:")) is not None:
        ctx.data["page"] = page
        await ctx.goto("list")
        return
    if ctx.payload == P + "batch":
        ctx.data.update(batch={}, batch_page=0)
        await ctx.goto("batch")
        return
    dossier_id = payload_id(ctx.payload, P + "d:")
    if dossier_id is None:
        await ctx.reask(_("Please press one of the buttons."))
        return
    ctx.data["dossier_id"] = dossier_id
    ctx.data.pop("version", None)
    ctx.data["send_files"] = True
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
        choices.append(Choice(_("📦 Download the dossier (ZIP, {count} files)").format(count=files), P + "files"))
    if status in CHECKABLE:
        choices.append(Choice(_("✅ Complete: schedule for the council"), P + "accept"))
        choices.append(Choice(_("↩️ Return for supplement"), P + "return"))
    if status in ROUND_ASSIGNABLE:
        label = _("📅 Assign a round") if dossier.round_id is None else _("📅 Change the round")
        choices.append(Choice(label, P + "round"))
    if status is _S.SCHEDULED:
        choices.append(Choice(_("🏅 Council sheets and result"), P + "score"))
    if status in (_S.SCORED, _S.PROPOSED_5):
        result = await certificates.result_of(ctx.session, dossier.id)
        if status is _S.PROPOSED_5:
            choices.append(Choice(_("🏛 Central level granted 5★"), P + "c5"))
            choices.append(Choice(_("📜 5★ not granted: issue 4★"), P + "cert"))
        elif result is not None and result.stars in PROVINCE_STARS:
            choices.append(Choice(_("📜 Issue the certificate"), P + "cert"))
    if status in (_S.SCORED, _S.NOT_RATED, _S.PROPOSED_5):
        choices.append(Choice(_("✏️ Correct the result"), P + "correct"))
    if status in CERTIFIED.values():
        certificate = await certificates.certificate_of_dossier(ctx.session, dossier.id)
        if certificate is not None:
            choices.append(Choice(_("📄 Upload the signed decision (PDF)"), P + "upload"))
            if certificate.decision_file_id is not None:
                choices.append(Choice(_("📄 The signed decision"), P + "decision"))
            choices.append(Choice(_("🔳 QR code for the label"), P + "qr"))
        if certificate is not None and certificate.status == certificates.VALID:
            choices.append(Choice(_("⛔ Revoke the certificate"), P + "revoke"))
    choices.append(back_choice())
    return choices


@steps.ask("dossier")
async def ask_dossier(ctx: Context) -> None:
    if not await guard(ctx):
        return
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    # The officer acts on what this screen shows: its version is the one every action must still find.
    ctx.data["version"] = dossier.version
    await log_read(ctx, "dossier", dossier.id)
    ctx.data.pop("send_files", None)  # opening no longer sends every file: 📦 asks for the ZIP
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


@steps.answer("dossier")
async def got_dossier(ctx: Context) -> None:
    if not await guard(ctx):
        return
    payload = ctx.payload
    if payload == P + "back":
        await ctx.goto("list" if ctx.data.get("list") is not None else "home")
        return
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    if dossier.version != ctx.data.get("version"):
        await changed_meanwhile(ctx)
        return
    if payload == P + "files":
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
    elif payload == P + "accept":
        await _accept(ctx, dossier)
    elif payload == P + "return":
        await ctx.goto("return_note")
    elif payload == P + "round":
        ctx.data["then"] = "assign"
        await ctx.goto("round_pick")
    elif payload == P + "score":
        ctx.data["score"] = {}
        ctx.data.pop("correct", None)
        await ctx.goto("sheets")
    elif payload == P + "correct":
        await ctx.goto("correct_reason")
    elif payload == P + "cert":
        ctx.data["cert"] = {}
        await ctx.goto("cert_no")
    elif payload == P + "c5":
        ctx.data["cert"] = {"central": True}
        await ctx.goto("cert_no")
    elif payload == P + "upload":
        await ctx.goto("decision_upload")
    elif payload in (P + "decision", P + "qr"):
        await send_certificate_extra(ctx, dossier, payload.removeprefix(P))
        await ctx.goto("dossier")
    elif payload == P + "revoke":
        await ctx.goto("revoke_reason")
    else:
        await ctx.reask(_("Please press one of the buttons."))


# Completeness --------------------------------------------------------------------------------------------


async def _accept(ctx: Context, dossier: Dossier) -> None:
    found = await find_round(ctx, dossier.round_id)
    if found is None or found.status != rounds.OPEN:
        ctx.say(_("Choose the round for this dossier first."))
        ctx.data["then"] = "accept"
        await ctx.goto("round_pick")
        return
    await _schedule(ctx, dossier, found)


async def _needs_override(ctx: Context, dossier: Dossier, found: Round, then: str) -> bool:
    """A late dossier goes into a round only after the officer says so explicitly (and the audit log keeps
    it): the round's deadline is the province's published rule."""
    if not reached_after_deadline(ctx, dossier, found) or ctx.data.pop("late_ok", None) == found.id:
        return False
    ctx.data["late"] = {"round_id": found.id, "then": then}
    await ctx.goto("late_round")
    return True


async def _schedule(ctx: Context, dossier: Dossier, found: Round) -> None:
    if await _needs_override(ctx, dossier, found, "accept"):
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
    if not await guard(ctx):
        return
    open_rounds = await rounds.open_rounds(ctx.session, ctx.settings.ocop.province)
    if not open_rounds:
        ctx.say(
            _("There is no open round. Create one first (🗓 Rounds)."),
            [Choice(_("🗓 Rounds"), P + "rounds"), back_choice()],
        )
        return
    lines = [_("Which round?")] + [round_line(r, ctx.today) for r in open_rounds]
    choices = [Choice(shorten(f"📅 {r.name}", LABEL_MAX), f"{P}r:{r.id}") for r in open_rounds[:LIST_MAX]]
    ctx.say("\n".join(lines), [*choices, back_choice()])


@steps.answer("round_pick")
async def got_round_pick(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("then", None)
        await ctx.goto("dossier")
        return
    if ctx.payload == P + "rounds":
        ctx.data.pop("then", None)
        await ctx.goto("rounds")
        return
    round_id = payload_id(ctx.payload, P + "r:")
    if round_id is None:
        await ctx.reask(_("Please press one of the buttons."))
        return
    found = await find_round(ctx, round_id)
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    if found is None or found.status != rounds.OPEN:
        await ctx.reask(_("That round is closed now. Please choose another."))
        return
    then = ctx.data.pop("then", "assign")
    if then == "accept":
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
    if await _needs_override(ctx, dossier, found, "assign"):
        return
    if await apply_change(ctx, dossier, "dossier.assign_round", round_id=found.id):
        meeting = found.meeting_date.isoformat() if found.meeting_date else None
        await tell_producer(ctx, dossier, "province_round", {"round": found.name, "meeting": meeting})
        ctx.say(_("📅 {product} is now in {round}.").format(product=dossier.product.name, round=found.name))
        await ctx.goto("dossier")


@steps.ask("late_round")
async def ask_late_round(ctx: Context) -> None:
    if not await guard(ctx):
        return
    late = ctx.data.get("late") or {}
    found = await find_round(ctx, late.get("round_id"))
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
            Choice(_("⚠️ Take it in anyway"), P + "late_yes"),
            Choice(_("📅 Choose another round"), P + "late_other"),
            back_choice(),
        ],
    )


@steps.answer("late_round")
async def got_late_round(ctx: Context) -> None:
    if not await guard(ctx):
        return
    late = ctx.data.pop("late", None) or {}
    if ctx.payload == P + "late_other":
        ctx.data["then"] = late.get("then", "assign")
        await ctx.goto("round_pick")
        return
    if ctx.payload != P + "late_yes":
        await ctx.goto("dossier")
        return
    found = await find_round(ctx, late.get("round_id"))
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
    ctx.data["late_ok"] = found.id
    if late.get("then") == "accept":
        if _S(dossier.status) not in CHECKABLE:
            await not_now(ctx)
            return
        await _schedule(ctx, dossier, found)
    else:
        await _assign(ctx, dossier, found)


@steps.ask("return_note", free_text=True)
async def ask_return_note(ctx: Context) -> None:
    if not await guard(ctx):
        return
    ctx.say(
        _("What must the producer add or correct? Type a short note; the producer will read it."),
        [back_choice()],
    )


@steps.answer("return_note")
async def got_return_note(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        await ctx.goto("dossier")
        return
    note = (ctx.text or "").strip()
    if not (NOTE_MIN <= len(note) <= NOTE_MAX) or not has_words(note):
        await ctx.reask(
            _("Please type a note of {min} to {max} characters, in words.").format(min=NOTE_MIN, max=NOTE_MAX)
        )
        return
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
