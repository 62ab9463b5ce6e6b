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

from bot.callbacks import Button
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
    Back,
    back_choice,
    find_round,
    form,
    province_communes,
    reached_after_deadline,
    record_audit,
    round_line,
    tell_producer,
)
from handlers.province_form import UNASSIGNED, Batch
from storage import province, rounds
from storage.models import Dossier

_S = DossierStatus


class Tick(Button, prefix="pv:bt"):
    """⬜/☑️ one dossier of the batch."""

    dossier: int


class PreviousPage(Button, prefix="pv:btp"):
    pass


class NextPage(Button, prefix="pv:btn"):
    pass


class ChooseRound(Button, prefix="pv:btgo"):
    pass


class BatchRound(Button, prefix="pv:btr"):
    round: int


class AcceptBatch(Button, prefix="pv:btyes"):
    pass


steps = Flow(FLOW_NAME, first_step="batch")


async def _candidates(ctx: Context) -> list[Dossier]:
    """The checkable dossiers of the list the officer came from (not in a round, or one round)."""
    which = form(ctx).listing
    statuses = [s.value for s in CHECKABLE]
    if which == UNASSIGNED:
        rows = await province.dossiers_at_province(ctx.session, province_communes(ctx), statuses, without_round=True)
    elif isinstance(which, int):
        rows = await province.dossiers_at_province(ctx.session, province_communes(ctx), statuses, round_id=which)
    else:
        rows = []
    return rows


def _picked(ctx: Context) -> dict[str, int]:
    """Ticked dossiers: id → the version shown when it was ticked."""
    return form(ctx).batch.picked


@steps.ask("batch")
async def ask_batch(ctx: Context) -> None:
    rows = await _candidates(ctx)
    picked = _picked(ctx)
    page = page_of(rows, form(ctx).batch.page)
    choices = [
        Choice(shorten(("☑️ " if str(d.id) in picked else "⬜ ") + d.product.name, LABEL_MAX), Tick(dossier=d.id))
        for d in page.rows
    ]
    if page.number > 0:
        choices.append(Choice(_("◀ Previous"), PreviousPage()))
    if page.number < page.pages - 1:
        choices.append(Choice(_("Next ▶"), NextPage()))
    if picked:
        choices.append(Choice(_("📅 Accept {count} into a round").format(count=len(picked)), ChooseRound()))
    choices.append(back_choice())
    text = _("☑️ Tick the complete dossiers to accept ({position}):").format(position=page.position)
    if not rows:
        text = _("No dossier here is waiting for the completeness check.")
    ctx.say(text, choices)


@steps.on("batch", Back)
async def batch_back(ctx: Context, _pressed: Back) -> None:
    form(ctx).batch.picked = {}
    await ctx.goto("list")


@steps.on("batch", PreviousPage)
@steps.on("batch", NextPage)
async def batch_page(ctx: Context, pressed: PreviousPage | NextPage) -> None:
    form(ctx).batch.page += 1 if isinstance(pressed, NextPage) else -1
    await ctx.goto("batch")


@steps.on("batch", ChooseRound)
async def batch_choose_round(ctx: Context, _pressed: ChooseRound) -> None:
    await ctx.goto("batch_round")


@steps.on("batch", Tick)
async def batch_tick(ctx: Context, pressed: Tick) -> None:
    rows = {d.id: d for d in await _candidates(ctx)}
    if pressed.dossier not in rows:
        await ctx.reask(_("Please press one of the buttons."))
        return
    picked = _picked(ctx)
    key = str(pressed.dossier)
    if key in picked:
        picked.pop(key)
    else:
        picked[key] = rows[pressed.dossier].version
    await ctx.goto("batch")


@steps.ask("batch_round")
async def ask_batch_round(ctx: Context) -> None:
    open_rounds = await rounds.open_rounds(ctx.session, ctx.settings.ocop.province)
    if not open_rounds:
        ctx.say(_("There is no open round. Create one first (🗓 Rounds)."), [back_choice()])
        return
    choices = [Choice(shorten(f"📅 {r.name}", LABEL_MAX), BatchRound(round=r.id)) for r in open_rounds]
    ctx.say("\n".join([_("Which round?"), *(round_line(r, ctx.today) for r in open_rounds)]), [*choices, back_choice()])


@steps.on("batch_round", Back)
@steps.on("batch_confirm", Back)
async def batch_round_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("batch")


@steps.on("batch_round", BatchRound)
async def batch_round_chosen(ctx: Context, pressed: BatchRound) -> None:
    found = await find_round(ctx, pressed.round)
    if found is None or found.status != rounds.OPEN:
        await ctx.goto("batch")
        return
    form(ctx).batch.round_id = found.id
    await ctx.goto("batch_confirm")


@steps.ask("batch_confirm")
async def ask_batch_confirm(ctx: Context) -> None:
    found = await find_round(ctx, form(ctx).batch.round_id)
    if found is None:
        await ctx.goto("batch")
        return
    ctx.say(
        _("Accept {count} dossiers as complete into {round}? Each producer is told.").format(
            count=len(_picked(ctx)), round=found.name
        ),
        [Choice(_("✅ Accept"), AcceptBatch()), back_choice()],
    )


@steps.on("batch_confirm", AcceptBatch)
async def batch_accept(ctx: Context, _pressed: AcceptBatch) -> None:
    found = await find_round(ctx, form(ctx).batch.round_id)
    if found is None or found.status != rounds.OPEN:
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
    form(ctx).batch = Batch()
    await ctx.goto("list")
