"""A product idea the commune returned, opened again with every answer kept.

The commune's notice carries a "✏️ Fix the idea" button (``ir:<idea id>``): the idea flow (``handlers.idea``)
starts pre-filled at the question the commune flagged (the first question when it flagged none). Each other
question shows its current answer and "✅ Keep", which moves on without typing; the summary and Submit are
the idea flow's own, so the fixed idea goes to the commune as a new submission.

```mermaid
stateDiagram-v2
    [*] --> flagged: ✏️ Fix the idea (a returned idea of this producer)
    flagged --> next: a new answer
    next --> next: ✅ Keep / a new answer
    next --> summary: after the last question (handlers.idea)
```
"""

from __future__ import annotations

import dataclasses
from typing import Any

from bot.flow import Context, Registry, Step
from bot.i18n import _
from bot.messages import Choice, Text
from bot.rules import IdeaStatus, ProductGroup
from handlers import idea as idea_flow
from storage import ideas
from storage.models import ProductIdea
from storage.producers import producer_of_user

PREFIX = "ir:"
KEEP = "idea:keep"
# Marks the idea flow's data as a returned idea being fixed; holds the flagged step.
RETURNED = "returned_step"


def fix_button(idea_id: int) -> Choice:
    return Choice(_("✏️ Fix the idea"), f"{PREFIX}{idea_id}")


def _split(stored: str, labels: dict[str, str]) -> tuple[list[str], str]:
    """The ticked codes and the typed rest of a stored market/support line (labels as the producer read them)."""
    parts = [part.strip() for part in stored.split(",") if part.strip()]
    by_label = {_(text): code for code, text in labels.items()}
    chosen = [by_label[part] for part in parts if part in by_label]
    rest = ", ".join(part for part in parts if part not in by_label)
    return chosen, rest


def answers_of(idea: ProductIdea) -> dict[str, Any]:
    """The idea flow's data for an idea as stored."""
    data: dict[str, Any] = {
        "started": True,
        "name": idea.name,
        "group": idea.group_code if idea.group_code in set(ProductGroup) else None,
        "description": idea.description,
        "materials": idea.raw_materials,
        "origin": idea.raw_material_origin,
        "workers": idea.workers_total,
        "local_workers": idea.workers_local,
    }
    data["market_sel"], data["market_text"] = _split(idea.market, idea_flow.MARKET_LABELS)
    if idea.support_needed == _("No support needed"):
        data["support_sel"], data["support_text"] = [idea_flow.NOTHING], ""
    else:
        data["support_sel"], data["support_text"] = _split(idea.support_needed, idea_flow.SUPPORT_LABELS)
    return {key: value for key, value in data.items() if value not in (None, "")}


async def on_fix_button(ctx: Context) -> None:
    producer = await producer_of_user(ctx.session, ctx.user.id)
    raw = (ctx.payload or "").removeprefix(PREFIX)
    idea = await ideas.idea_of(ctx.session, producer.id, int(raw)) if producer and raw.isdigit() else None
    if idea is None or idea.status != IdeaStatus.RETURNED.value:
        ctx.end_flow()
        if ctx.registry.stale_button is not None:
            await ctx.registry.stale_button(ctx)
        return
    step = idea.return_field if idea.return_field in idea_flow.ORDER else idea_flow.ORDER[0]
    assert step is not None
    ctx.say(
        _("✏️ Fixing “{idea}”. The commune said: {reason}\nChoose ✅ Keep for each answer that is still right.").format(
            idea=idea.name, reason=idea.review_note or "-"
        )
    )
    await ctx.start("idea", {**answers_of(idea), RETURNED: step}, step=step)


def _keeps(ctx: Context, step: str) -> bool:
    """Whether ``step`` may be kept with one tap: fixing a returned idea, an answer there, not the flagged one."""
    flagged = ctx.data.get(RETURNED)
    return bool(flagged) and step != flagged and not ctx.data.get("editing") and bool(idea_flow.display(ctx, step))


def _with_keep(step: str, ask: Step) -> Step:
    async def asked(ctx: Context) -> None:
        await ask(ctx)
        last = ctx.replies[-1] if ctx.replies else None
        if ctx.state.step != step or not isinstance(last, Text) or not _keeps(ctx, step):
            return
        now = _("Now: {value}").format(value=idea_flow.display(ctx, step))
        ctx.replies[-1] = dataclasses.replace(
            last, text=f"{last.text}\n\n{now}", choices=(Choice(_("✅ Keep"), KEEP), *last.choices)
        )

    return asked


def _keep_answer(step: str, answer: Step) -> Step:
    async def answered(ctx: Context) -> None:
        if ctx.payload == KEEP and _keeps(ctx, step):
            await idea_flow.next_step(ctx, step)
            return
        await answer(ctx)

    return answered


def register(registry: Registry) -> None:
    flow = registry.flows.get(idea_flow.flow.name)
    if flow is None:
        return
    for step in idea_flow.ORDER:
        flow.asks[step] = _with_keep(step, flow.asks[step])
        flow.answers[step] = _keep_answer(step, flow.answers[step])
    registry.global_payloads[PREFIX] = on_fix_button
