"""Accepting several dossiers into a round at once: tick them on the list, choose the round, confirm.

After a submission deadline a province checks dozens of dossiers; accepting them one screen at a time is a
morning's work. Each dossier is still checked on its own when the batch is saved: still at the province and
complete-checkable, still the version the officer saw (someone else may have returned it meanwhile), and not
late for the round (a late dossier needs its own, audit-logged exception: it is left out and named). Each
accepted dossier is audit-logged and its producer told, exactly as for one.

```mermaid
stateDiagram-v2
    list --> batch: ☑️ Accept several (province_dossiers)
    batch --> batch: ⬜/☑️ a dossier
    batch --> batch_round: 📅 Accept n into a round
    batch_round --> batch_confirm: a round
    batch_confirm --> list: ✅ Accept (each checked, logged, producer told) · ⬅️ Back
```
"""

from __future__ import annotations

from bot.flow import Context, Flow
from bot.i18n import _
from bot.messages import Choice
from bot.paging import page_of
from bot.rules import DossierStatus
from bot.text import shorten
from handlers.province_common import (
    CHECKABLE,
    FLOW_NAME,
    LABEL_MAX,
    P,
    back_choice,
    find_round,
    guard,
    payload_id,
    province_communes,
    reached_after_deadline,
    record_audit,
    round_line,
    tell_producer,
)
from storage import province, rounds
from storage.models import Dossier

_S = DossierStatus
steps = Flow(FLOW_NAME, first_step="batch")


async def _candidates(ctx: Context) -> list[Dossier]:
    """The checkable dossiers of the list the officer came from (not in a round, or one round)."""
    which = ctx.data.get("list")
    statuses = [s.value for s in CHECKABLE]
    if which == "none":
        rows = await province.dossiers_at_province(ctx.session, province_communes(ctx), statuses, without_round=True)
    elif isinstance(which, int):
        rows = await province.dossiers_at_province(ctx.session, province_communes(ctx), statuses, round_id=which)
    else:
        rows = []
    return rows


def _picked(ctx: Context) -> dict[str, int]:
    """Ticked dossiers: id → the version shown when it was ticked."""
    found = ctx.data.get("batch")
    return {str(k): int(v) for k, v in found.items()} if isinstance(found, dict) else {}


@steps.ask("batch")
async def ask_batch(ctx: Context) -> None:
    if not await guard(ctx):
        return
    rows = await _candidates(ctx)
    picked = _picked(ctx)
    page = page_of(rows, int(ctx.data.get("batch_page") or 0))
    choices = [
        Choice(shorten(("☑️ " if str(d.id) in picked else "⬜ ") + d.product.name, LABEL_MAX), f"{P}bt:{d.id}")
        for d in page.rows
    ]
    if page.number > 0:
        choices.append(Choice(_("◀ Previous"), P + "btp"))
    if page.number < page.pages - 1:
        choices.append(Choice(_("Next ▶"), P + "btn"))
    if picked:
        choices.append(Choice(_("📅 Accept {count} into a round").format(count=len(picked)), P + "btgo"))
    choices.append(back_choice())
    text = _("☑️ Tick the complete dossiers to accept ({position}):").format(position=page.position)
    if not rows:
        text = _("No dossier here is waiting for the completeness check.")
    ctx.say(text, choices)


@steps.answer("batch")
async def got_batch(ctx: Context) -> None:
    if not await guard(ctx):
        return
    payload = ctx.payload or ""
    if payload == P + "back":
        ctx.data.pop("batch", None)
        await ctx.goto("list")
        return
    if payload in (P + "btp", P + "btn"):
        ctx.data["batch_page"] = int(ctx.data.get("batch_page") or 0) + (1 if payload == P + "btn" else -1)
        await ctx.goto("batch")
        return
    if payload == P + "btgo":
        await ctx.goto("batch_round")
        return
    dossier_id = payload_id(payload, P + "bt:")
    rows = {d.id: d for d in await _candidates(ctx)}
    if dossier_id is None or dossier_id not in rows:
        await ctx.reask(_("Please press one of the buttons."))
        return
    picked = _picked(ctx)
    if str(dossier_id) in picked:
        picked.pop(str(dossier_id))
    else:
        picked[str(dossier_id)] = rows[dossier_id].version
    ctx.data["batch"] = picked
    await ctx.goto("batch")


@steps.ask("batch_round")
async def ask_batch_round(ctx: Context) -> None:
    if not await guard(ctx):
        return
    open_rounds = await rounds.open_rounds(ctx.session, ctx.settings.ocop.province)
    if not open_rounds:
        ctx.say(_("There is no open round. Create one first (🗓 Rounds)."), [back_choice()])
        return
    choices = [Choice(shorten(f"📅 {r.name}", LABEL_MAX), f"{P}btr:{r.id}") for r in open_rounds]
    ctx.say("\n".join([_("Which round?"), *(round_line(r, ctx.today) for r in open_rounds)]), [*choices, back_choice()])


@steps.answer("batch_round")
async def got_batch_round(ctx: Context) -> None:
    if not await guard(ctx):
        return
    round_id = payload_id(ctx.payload, P + "btr:")
    found = await find_round(ctx, round_id)
    if found is None or found.status != rounds.OPEN:
        await ctx.goto("batch")
        return
    ctx.data["batch_round"] = found.id
    await ctx.goto("batch_confirm")


@steps.ask("batch_confirm")
async def ask_batch_confirm(ctx: Context) -> None:
    if not await guard(ctx):
        return
    found = await find_round(ctx, ctx.data.get("batch_round"))
    if found is None:
        await ctx.goto("batch")
        return
    ctx.say(
        _("Accept {count} dossiers as complete into {round}? Each producer is told.").format(
            count=len(_picked(ctx)), round=found.name
        ),
        [Choice(_("✅ Accept"), P + "btyes"), back_choice()],
    )


@steps.answer("batch_confirm")
async def got_batch_confirm(ctx: Context) -> None:
    if not await guard(ctx):
        return
    found = await find_round(ctx, ctx.data.get("batch_round"))
    if ctx.payload != P + "btyes" or found is None or found.status != rounds.OPEN:
        await ctx.goto("batch")
        return
    candidates = {d.id: d for d in await _candidates(ctx)}
    accepted, changed, late = 0, [], []
    for key, version in _picked(ctx).items():
        dossier = candidates.get(int(key))
        if dossier is None or _S(dossier.status) not in CHECKABLE or dossier.version != version:
            changed.append(dossier.product.name if dossier else f"#{key}")
            continue
        if reached_after_deadline(ctx, dossier, found):
            late.append(dossier.product.name)
            continue
        before = province.dossier_snapshot(dossier)
        if not await province.change(
            ctx.session, dossier, version, now=ctx.now, status=_S.SCHEDULED.value, round_id=found.id, review_note=None
        ):
            changed.append(dossier.product.name)
            continue
        await record_audit(
            ctx,
            "dossier.schedule",
            "dossier",
            dossier.id,
            before=before,
            after=province.dossier_snapshot(dossier),
            note="batch",
        )
        meeting = found.meeting_date.isoformat() if found.meeting_date else None
        await tell_producer(ctx, dossier, "province_scheduled", {"round": found.name, "meeting": meeting})
        accepted += 1
    lines = [_("✅ {count} dossiers accepted into {round}.").format(count=accepted, round=found.name)]
    if late:
        lines.append(
            _("Reached the commune after the deadline, open each to decide: {names}").format(names=", ".join(late))
        )
    if changed:
        lines.append(_("Changed by someone else meanwhile, left out: {names}").format(names=", ".join(changed)))
    ctx.say("\n".join(lines))
    for key in ("batch", "batch_round", "batch_page"):
        ctx.data.pop(key, None)
    await ctx.goto("list")
