"""A product idea the commune returned, opened again with every answer kept.

The commune's notice carries a "✏️ Fix the idea" button: the idea flow (``handlers.idea``) starts pre-filled at
the question the commune flagged (the first question when it flagged none), with that question marked in its
form (``IdeaDraft.returned_step``). The idea flow itself then shows every other answered question with its
current answer and "✅ Keep", which moves on without typing; the summary and Submit are the idea flow's own,
so the fixed idea goes to the commune as a new submission.

```mermaid
stateDiagram-v2
    [*] --> flagged: ✏️ Fix the idea (a returned idea of this producer)
    flagged --> next: a new answer
    next --> next: ✅ Keep / a new answer
    next --> summary: after the last question (handlers.idea)
```
"""

from __future__ import annotations

from bot.callbacks import Button
from bot.flow import Context, Registry
from bot.i18n import _
from bot.idea_form import FLOW_NAME, MARKET_LABELS, NOTHING, ORDER, SUPPORT_LABELS, IdeaDraft
from bot.messages import Choice
from bot.rules import IdeaStatus, ProductGroup
from storage import ideas
from storage.models import ProductIdea
from storage.producers import producer_of_user


class FixIdea(Button, prefix="ir"):
    """On the commune's "returned" notice, valid from any message."""

    idea: int


def fix_button(idea_id: int) -> Choice:
    return Choice(_("✏️ Fix the idea"), FixIdea(idea=idea_id))


def _split(stored: str, labels: dict[str, str]) -> tuple[list[str], str]:
    """The ticked codes and the typed rest of a stored market/support line (labels as the producer read them)."""
    parts = [part.strip() for part in stored.split(",") if part.strip()]
    by_label = {_(text): code for code, text in labels.items()}
    chosen = [by_label[part] for part in parts if part in by_label]
    rest = ", ".join(part for part in parts if part not in by_label)
    return chosen, rest


def answers_of(idea: ProductIdea, flagged: str) -> IdeaDraft:
    """The idea flow's form for an idea as stored, fixing ``flagged``."""
    draft = IdeaDraft(
        started=True,
        name=idea.name or None,
        group=idea.group_code if idea.group_code in set(ProductGroup) else None,
        description=idea.description or None,
        materials=idea.raw_materials or None,
        origin=idea.raw_material_origin or None,
        workers=idea.workers_total,
        local_workers=idea.workers_local,
        returned_step=flagged,
    )
    draft.market_sel, draft.market_text = _split(idea.market, MARKET_LABELS)
    if idea.support_needed == _("No support needed"):
        draft.support_sel, draft.support_text = [NOTHING], ""
    else:
        draft.support_sel, draft.support_text = _split(idea.support_needed, SUPPORT_LABELS)
    return draft


async def fix_pressed(ctx: Context, pressed: FixIdea) -> None:
    producer = await producer_of_user(ctx.session, ctx.user.id)
    idea = await ideas.idea_of(ctx.session, producer.id, pressed.idea) if producer is not None else None
    if idea is None or idea.status != IdeaStatus.RETURNED.value:
        ctx.end_flow()
        if ctx.registry.stale_button is not None:
            await ctx.registry.stale_button(ctx)
        return
    step = idea.return_field if idea.return_field in ORDER else ORDER[0]
    assert step is not None
    ctx.say(
        _("✏️ Fixing “{idea}”. The commune said: {reason}\nChoose ✅ Keep for each answer that is still right.").format(
            idea=idea.name, reason=idea.review_note or "-"
        )
    )
    await ctx.start(FLOW_NAME, answers_of(idea, step), step=step)


def register(registry: Registry) -> None:
    registry.on_button(FixIdea)(fix_pressed)
