"""Registering a product idea with the commune (OCOP cycle step 2, "đăng ký ý tưởng sản phẩm").

Nine short questions, one per message, then a summary to check, edit, send or throw away. Nothing is
stored until the producer presses Submit: the answers live in the conversation's flow data, so "huy",
"menu" or a discarded draft leave no row behind. The descriptive answers (description, raw materials, where it
sells, support wanted) may be spoken: the recording is the answer (``bot.voice``).

```mermaid
stateDiagram-v2
    [*] --> name: m:idea (onboarded producer)
    [*] --> Menu: no producer yet
    name --> group
    group --> description
    description --> materials
    materials --> origin
    origin --> origin_place: Elsewhere
    origin --> workers: this commune / this province / typed place
    origin_place --> workers
    workers --> local_workers
    local_workers --> market
    market --> market: tick / untick
    market --> support: Done or typed
    support --> support: tick / untick
    support --> summary: Done, Nothing or typed
    summary --> pick_field: ✏️ Edit
    pick_field --> name: a field (editing flag set)
    name --> summary: answered while editing (any field)
    workers --> local_workers: edited total below local workers
    summary --> discard: 🗑 Discard
    discard --> summary: No
    discard --> Menu: Yes (nothing stored)
    summary --> Menu: ✅ Submit (ProductIdea submitted_commune)
    note right of name: ⬅️ Back goes to the previous question, or to the summary while editing
    note right of group: fixing a returned idea: "Now: …" and ✅ Keep on each answered question but the flagged one
```
"""

from __future__ import annotations

import re
from typing import Any

from bot import voice
from bot.callbacks import Button
from bot.flow import Context, Flow, Registry
from bot.i18n import _, format_day
from bot.idea_form import (
    FIELD_LABELS,
    FLOW_NAME,
    MARKET_LABELS,
    NOTHING,
    ORDER,
    SUPPORT_LABELS,
    IdeaDraft,
    Spoken,
)
from bot.messages import Choice, VoiceNote
from bot.rules import PRODUCT_GROUP_LABELS, IdeaStatus, ProductGroup, label
from bot.text import fold, tidy
from bot.typed_answers import text_problem
from storage import ideas, voice_answers
from storage.models import Producer, ProductIdea
from storage.producers import producer_of_user

NAME_MIN, NAME_MAX = 2, 200
TEXT_MIN = 2
DESCRIPTION_MAX = 1000
MATERIALS_MAX = 500
PLACE_MAX = 300
LIST_TEXT_MAX = 500
WORKERS_MAX = 100_000

ORIGIN_COMMUNE, ORIGIN_PROVINCE, ORIGIN_ELSEWHERE = "commune", "province", "elsewhere"

_DIGITS = re.compile(r"\d+")


# Buttons (packed as before the classes, e.g. "idea:g:drink", so buttons already sent keep working) ----------
class Back(Button, prefix="idea:back"):
    pass


class Submit(Button, prefix="idea:submit"):
    pass


class Edit(Button, prefix="idea:edit"):
    pass


class Discard(Button, prefix="idea:discard"):
    pass


class DiscardYes(Button, prefix="idea:discard:yes"):
    pass


class ToSummary(Button, prefix="idea:summary"):
    pass


class AllLocal(Button, prefix="idea:lw:all"):
    pass


class Keep(Button, prefix="idea:keep"):
    """Fixing a returned idea: this answer is still right."""


class PickGroup(Button, prefix="idea:g"):
    group: str


class PickOrigin(Button, prefix="idea:o"):
    origin: str


class TickMarket(Button, prefix="idea:m"):
    option: str


class MarketDone(Button, prefix="idea:m:done"):
    pass


class TickSupport(Button, prefix="idea:s"):
    option: str


class SupportDone(Button, prefix="idea:s:done"):
    pass


class NoSupport(Button, prefix="idea:s:none"):
    pass


class PickField(Button, prefix="idea:f"):
    field: str


flow = Flow(FLOW_NAME, first_step="name", data=IdeaDraft)


def _draft(ctx: Context) -> IdeaDraft:
    return ctx.form(IdeaDraft)


# Typed answers ----------------------------------------------------------------------------------------
def parse_count(text: str | None) -> int | None:
    """A whole number of people from "5", "5 người" or "khoang 12 người"; None for "năm", "5-7", "-3"."""
    if text is None:
        return None
    runs = _DIGITS.findall(text)
    if len(runs) != 1:
        return None
    before = text[: text.index(runs[0])].rstrip()
    if before.endswith("-"):
        return None
    return int(runs[0])


# Helpers shared by the steps --------------------------------------------------------------------------
def _back() -> Choice:
    return Choice(_("⬅️ Back"), Back())


def _keeps(draft: IdeaDraft, step: str) -> bool:
    """Whether ``step`` may be kept with one tap: fixing a returned idea, an answer there, not the flagged one."""
    flagged = draft.returned_step
    return bool(flagged) and step != flagged and not draft.editing and bool(display(draft, step))


def _ask(ctx: Context, step: str, question: str, choices: list[Choice], columns: int = 1) -> None:
    """One of the nine questions: numbered ("3/9") on the first pass; while editing, with the current answer;
    while fixing a returned idea, with the current answer and ✅ Keep."""
    draft = _draft(ctx)
    if draft.editing:
        current = display(draft, step)
        text = question + ("\n\n" + _("Now: {value}").format(value=current) if current else "")
    else:
        text = f"({ORDER.index(step) + 1}/{len(ORDER)}) {question}"
    if _keeps(draft, step):
        text += "\n\n" + _("Now: {value}").format(value=display(draft, step))
        choices = [Choice(_("✅ Keep"), Keep()), *choices]
    ctx.say(text, choices, columns=columns)


async def next_step(ctx: Context, step: str) -> None:
    """After an answer: back to the summary while editing, otherwise the next question."""
    draft = _draft(ctx)
    if draft.editing:
        draft.editing = False
        await ctx.goto("summary")
        return
    position = ORDER.index(step) + 1
    await ctx.goto(ORDER[position] if position < len(ORDER) else "summary")


async def _go_back(ctx: Context, step: str) -> None:
    draft = _draft(ctx)
    if draft.editing:
        draft.editing = False
        await ctx.goto("summary")
        return
    if step == "origin_place":
        await ctx.goto("origin")
        return
    position = ORDER.index(step)
    if position == 0:  # "Back" on the first question leaves the registration
        await ctx.finish()
        return
    await ctx.goto(ORDER[position - 1])


def _joined(draft: IdeaDraft, kind: str) -> str:
    """The ticked options (in the order offered) and what was typed or said, as one line of text."""
    if kind == "market":
        chosen, typed, labels = draft.market_sel, draft.market_text, MARKET_LABELS
    else:
        chosen, typed, labels = draft.support_sel, draft.support_text, SUPPORT_LABELS
    parts = [_(text) for code, text in labels.items() if code in chosen]
    if kind == "support" and NOTHING in chosen:
        parts = [_("No support needed")]
    if typed:
        parts.append(voice.shown(typed))
    return ", ".join(parts)


def display(draft: IdeaDraft, step: str) -> str:
    """The answer of one field as shown in the summary ("" when not answered yet)."""
    if step == "group":
        return label(PRODUCT_GROUP_LABELS, draft.group) if draft.group in set(ProductGroup) else ""
    if step in ("workers", "local_workers"):
        value = getattr(draft, step)
        return str(value) if isinstance(value, int) else ""
    if step in ("market", "support"):
        return _joined(draft, step)
    return voice.shown(getattr(draft, step))


async def _producer(ctx: Context) -> Producer | None:
    return await ctx.loaded("producer", lambda: producer_of_user(ctx.session, ctx.user.id))


async def _has_producer(ctx: Context) -> bool:
    if await _producer(ctx) is not None:
        return True
    ctx.say(_("I do not know your business yet, so I cannot register an idea. Please register first."))
    await ctx.finish()
    return False


# Every question but the first has Back, and while fixing a returned idea ✅ Keep; both the same everywhere.
for _step in ORDER:

    @flow.on(_step, Keep)
    async def keep_pressed(ctx: Context, _pressed: Keep, step: str = _step) -> None:
        if _keeps(_draft(ctx), step):
            await next_step(ctx, step)
        else:
            await ctx.reask()

    @flow.on(_step, Back)
    async def back_pressed(ctx: Context, _pressed: Back, step: str = _step) -> None:
        await _go_back(ctx, step)


def _press_a_button(step: str) -> None:
    """Typed words that match none of the options on a step that takes only its options."""

    @flow.on_text(step, free_text=False)
    async def unmatched(ctx: Context, _text: str) -> None:
        await ctx.reask(_("Please press one of the buttons, or type its number."))


# 1. Name ----------------------------------------------------------------------------------------------
@flow.ask("name", free_text=True)
async def ask_name(ctx: Context) -> None:
    draft = _draft(ctx)
    if not draft.editing and not draft.started:
        if not await _has_producer(ctx):
            return
        draft.started = True
        ctx.say(
            _(
                "📝 Let's register your product idea with the commune.\n"
                'There are 9 short questions. Type "huy" at any time to stop.'
            )
        )
    _ask(ctx, "name", _("What is the product called?"), [_back()])


@flow.on_text("name")
async def got_name(ctx: Context, text: str) -> None:
    name = tidy(text) or None
    problem = text_problem(name, minimum=NAME_MIN, maximum=NAME_MAX)
    if problem:
        await ctx.reask(problem)
        return
    assert name is not None
    _draft(ctx).name = name
    await _remember_same_name(ctx)
    await next_step(ctx, "name")


# 2. Product group --------------------------------------------------------------------------------------
@flow.ask("group")
async def ask_group(ctx: Context) -> None:
    choices = [Choice(_(text), PickGroup(group=code)) for code, text in PRODUCT_GROUP_LABELS.items()]
    _ask(ctx, "group", _("Which group does the product belong to?"), [*choices, _back()])


def _group_from_words(text: str) -> str | None:
    """Forgiving typed group: a few words found in exactly one group's name ("thuc pham", "thu cong")."""
    wanted = fold(text)
    if len(wanted) < 3:
        return None
    found = [code for code, text in PRODUCT_GROUP_LABELS.items() if wanted in fold(_(text))]
    return str(found[0]) if len(found) == 1 else None


@flow.on("group", PickGroup)
async def group_pressed(ctx: Context, pressed: PickGroup) -> None:
    await _set_group(ctx, pressed.group)


@flow.on_text("group", free_text=False)
async def group_typed(ctx: Context, text: str) -> None:
    await _set_group(ctx, _group_from_words(text))


async def _set_group(ctx: Context, code: str | None) -> None:
    if code not in set(ProductGroup):
        await ctx.reask(_("Please press one of the buttons, or type its number."))
        return
    _draft(ctx).group = code
    await next_step(ctx, "group")


# 3. Description ----------------------------------------------------------------------------------------
@flow.ask("description", free_text=True)
async def ask_description(ctx: Context) -> None:
    question = _("Describe the product in a few sentences: what it is, how it is made, what is special about it.")
    _ask(ctx, "description", question + "\n" + _("🎤 You can also send a voice message."), [_back()])


@flow.on_text("description")
async def got_description(ctx: Context, text: str) -> None:
    await _described(ctx, "description", text, DESCRIPTION_MAX)


@flow.on_voice("description")
async def said_description(ctx: Context, note: VoiceNote) -> None:
    _draft(ctx).description = note.value()
    await next_step(ctx, "description")


async def _described(ctx: Context, step: str, text: str, maximum: int) -> None:
    problem = text_problem(text, minimum=TEXT_MIN, maximum=maximum)
    if problem:
        await ctx.reask(problem)
        return
    setattr(_draft(ctx), step, text)
    await next_step(ctx, step)


# 4. Raw materials --------------------------------------------------------------------------------------
@flow.ask("materials", free_text=True)
async def ask_materials(ctx: Context) -> None:
    _ask(ctx, "materials", _("What are the main raw materials? For example: tea leaves, honey, rice."), [_back()])


@flow.on_text("materials")
async def got_materials(ctx: Context, text: str) -> None:
    await _described(ctx, "materials", text, MATERIALS_MAX)


@flow.on_voice("materials")
async def said_materials(ctx: Context, note: VoiceNote) -> None:
    _draft(ctx).materials = note.value()
    await next_step(ctx, "materials")


# 5. Where the raw materials come from ------------------------------------------------------------------
@flow.ask("origin")
async def ask_origin(ctx: Context) -> None:
    _ask(
        ctx,
        "origin",
        _("Where do the raw materials come from? Press a button or type the place."),
        [
            Choice(_("In this commune"), PickOrigin(origin=ORIGIN_COMMUNE)),
            Choice(_("In this province"), PickOrigin(origin=ORIGIN_PROVINCE)),
            Choice(_("Elsewhere"), PickOrigin(origin=ORIGIN_ELSEWHERE)),
            _back(),
        ],
    )


@flow.on("origin", PickOrigin)
async def origin_pressed(ctx: Context, pressed: PickOrigin) -> None:
    draft = _draft(ctx)
    if pressed.origin == ORIGIN_COMMUNE:
        # Stored as the place's name, which the commune staff read the same in any language.
        producer = await _producer(ctx)
        draft.origin = producer.commune_name if producer is not None else _("In this commune")
    elif pressed.origin == ORIGIN_PROVINCE:
        draft.origin = _("{province} province").format(province=ctx.settings.ocop.province)
    else:
        await ctx.goto("origin_place")
        return
    await next_step(ctx, "origin")


@flow.on_text("origin", free_text=False)
async def origin_typed(ctx: Context, text: str) -> None:
    await _place_answer(ctx, text)


@flow.ask("origin_place", free_text=True)
async def ask_origin_place(ctx: Context) -> None:
    ctx.say(_("Where do they come from? Type the place, for example the province."), [_back()])


@flow.on("origin_place", Back)
async def origin_place_back(ctx: Context, _pressed: Back) -> None:
    if _draft(ctx).editing:  # while editing, Back from the sub-question returns to the origin buttons
        await ctx.goto("origin")
    else:
        await _go_back(ctx, "origin_place")


@flow.on_text("origin_place")
async def got_origin_place(ctx: Context, text: str) -> None:
    await _place_answer(ctx, text)


async def _place_answer(ctx: Context, text: str) -> None:
    place = tidy(text) or None
    problem = text_problem(place, minimum=TEXT_MIN, maximum=PLACE_MAX)
    if problem:
        await ctx.reask(problem)
        return
    _draft(ctx).origin = place
    await next_step(ctx, "origin")


# 6–7. Workers ("5", "5 người", "khoảng 12 người": typed text read by ``parse_count``) -------------------------
@flow.ask("workers", number=True)
async def ask_workers(ctx: Context) -> None:
    question = _("How many people work on this product, yourself included? Type a number.")
    _ask(ctx, "workers", question, [_back()])


@flow.on_text("workers")
async def got_workers(ctx: Context, text: str) -> None:
    count = parse_count(text)
    if count is None:
        await ctx.reask(_("Please type the number with digits, for example 5."))
        return
    if count < 1:
        await ctx.reask(_("Count yourself too: the number is at least 1."))
        return
    if count > WORKERS_MAX:
        await ctx.reask(_("That number looks too big. Please check it and type it again."))
        return
    draft = _draft(ctx)
    draft.workers = count
    if draft.editing and isinstance(draft.local_workers, int) and draft.local_workers > count:
        # The new total no longer holds the local workers given before: ask for them again.
        ctx.say(_("Now {count} people in all, so please give the number of local workers again.").format(count=count))
        await ctx.goto("local_workers")
        return
    await next_step(ctx, "workers")


@flow.ask("local_workers", number=True)
async def ask_local_workers(ctx: Context) -> None:
    total = _draft(ctx).workers
    question = _("How many of them live in this commune or nearby? Type a number (0 if none).")
    choices = [_back()]
    if isinstance(total, int):
        choices.insert(0, Choice(_("All of them ({count})").format(count=total), AllLocal()))
    _ask(ctx, "local_workers", question, choices)


@flow.on("local_workers", AllLocal)
async def all_local_pressed(ctx: Context, _pressed: AllLocal) -> None:
    await _set_local_workers(ctx, None)


@flow.on_text("local_workers")
async def got_local_workers(ctx: Context, text: str) -> None:
    await _set_local_workers(ctx, text)


async def _set_local_workers(ctx: Context, text: str | None) -> None:
    """``text`` None: all of them."""
    draft = _draft(ctx)
    total = draft.workers
    if not isinstance(total, int):  # the total was never given (an old conversation): ask it first
        await ctx.goto("workers")
        return
    count = total if text is None else parse_count(text)
    if count is None:
        await ctx.reask(_("Please type the number with digits, for example 3, or 0 if none."))
        return
    if count > total:
        await ctx.reask(
            _("You said {total} people work on it in all, so local workers cannot be more than {total}.").format(
                total=total
            )
        )
        return
    draft.local_workers = count
    await next_step(ctx, "local_workers")


# 8–9. Where it sells, support wanted: tick several, then Done; or type or say it ------------------------
def _with_selection(draft: IdeaDraft, kind: str, question: str) -> str:
    so_far = _joined(draft, kind)
    return question + ("\n\n" + _("Chosen: {items}").format(items=so_far) if so_far and not draft.editing else "")


@flow.ask("market")
async def ask_market(ctx: Context) -> None:
    draft = _draft(ctx)
    question = _("Where do you sell it, or plan to sell it? Tick all that fit, then press Done. You can also type.")
    ticks = [
        Choice(("✓ " if code in draft.market_sel else "") + _(text), TickMarket(option=code))
        for code, text in MARKET_LABELS.items()
    ]
    _ask(
        ctx,
        "market",
        _with_selection(draft, "market", question),
        [*ticks, Choice(_("➡️ Done"), MarketDone()), _back()],
        columns=2,
    )


@flow.on("market", TickMarket)
async def market_ticked(ctx: Context, pressed: TickMarket) -> None:
    draft = _draft(ctx)
    if pressed.option in MARKET_LABELS:
        draft.market_sel = _toggled(draft.market_sel, pressed.option)
    await ctx.reask()


@flow.on("market", MarketDone)
async def market_done(ctx: Context, _pressed: MarketDone) -> None:
    await _done(ctx, "market")


@flow.on_text("market")
async def market_typed(ctx: Context, text: str) -> None:
    await _list_answer(ctx, "market", tidy(text) or None)


@flow.on_voice("market")
async def market_said(ctx: Context, note: VoiceNote) -> None:
    await _list_answer(ctx, "market", note.value())


@flow.ask("support")
async def ask_support(ctx: Context) -> None:
    draft = _draft(ctx)
    question = _("What support would help you most? Tick all that fit, then press Done. You can also type.")
    ticks = [
        Choice(("✓ " if code in draft.support_sel else "") + _(text), TickSupport(option=code))
        for code, text in SUPPORT_LABELS.items()
    ]
    _ask(
        ctx,
        "support",
        _with_selection(draft, "support", question),
        [*ticks, Choice(_("No support needed"), NoSupport()), Choice(_("➡️ Done"), SupportDone()), _back()],
        columns=2,
    )


@flow.on("support", TickSupport)
async def support_ticked(ctx: Context, pressed: TickSupport) -> None:
    draft = _draft(ctx)
    if pressed.option in SUPPORT_LABELS:
        draft.support_sel = _toggled(draft.support_sel, pressed.option)
    await ctx.reask()


@flow.on("support", NoSupport)
async def no_support(ctx: Context, _pressed: NoSupport) -> None:
    """ "Nothing" answers the question by itself."""
    draft = _draft(ctx)
    draft.support_sel, draft.support_text = [NOTHING], ""
    await next_step(ctx, "support")


@flow.on("support", SupportDone)
async def support_done(ctx: Context, _pressed: SupportDone) -> None:
    await _done(ctx, "support")


@flow.on_text("support")
async def support_typed(ctx: Context, text: str) -> None:
    await _list_answer(ctx, "support", tidy(text) or None)


@flow.on_voice("support")
async def support_said(ctx: Context, note: VoiceNote) -> None:
    await _list_answer(ctx, "support", note.value())


def _toggled(chosen: list[str], code: str) -> list[str]:
    chosen = [c for c in chosen if c != NOTHING]
    return [c for c in chosen if c != code] if code in chosen else [*chosen, code]


async def _done(ctx: Context, kind: str) -> None:
    if not _joined(_draft(ctx), kind):
        await ctx.reask(_("Please tick at least one, or type your answer."))
        return
    await next_step(ctx, kind)


async def _list_answer(ctx: Context, kind: str, answer: str | Spoken | None) -> None:
    """Typed words or a recording are the answer, with the ticks kept."""
    if not isinstance(answer, dict):
        problem = text_problem(answer, minimum=TEXT_MIN, maximum=LIST_TEXT_MAX)
        if problem:
            await ctx.reask(problem)
            return
    draft = _draft(ctx)
    if kind == "market":
        draft.market_sel = [c for c in draft.market_sel if c != NOTHING]
        draft.market_text = answer
    else:
        draft.support_sel = [c for c in draft.support_sel if c != NOTHING]
        draft.support_text = answer
    await next_step(ctx, kind)


# Summary -------------------------------------------------------------------------------------------------
def _missing_step(draft: IdeaDraft) -> str | None:
    return next((step for step in ORDER if not display(draft, step)), None)


@flow.ask("summary")
async def ask_summary(ctx: Context) -> None:
    draft = _draft(ctx)
    missing = _missing_step(draft)
    if missing is not None:  # never show a summary with holes: ask what is missing
        await ctx.goto(missing)
        return
    lines = [_("📋 Your product idea. Please check it:"), ""]
    # Bullets, not numbers: on numbered-menu channels only the choices below carry numbers.
    lines += [f"• {_(FIELD_LABELS[step])}: {display(draft, step)}" for step in ORDER]
    if draft.same_name_on:
        lines += ["", _("⚠️ You already registered an idea with this name on {day}.").format(day=draft.same_name_on)]
    lines += ["", _("Is everything right?")]
    ctx.say(
        "\n".join(lines),
        [
            Choice(_("✅ Submit to the commune"), Submit()),
            Choice(_("✏️ Edit"), Edit()),
            Choice(_("🗑 Discard"), Discard()),
        ],
    )


@flow.on("summary", Submit)
async def submit_pressed(ctx: Context, _pressed: Submit) -> None:
    await _submit(ctx)


@flow.on("summary", Edit)
async def edit_pressed(ctx: Context, _pressed: Edit) -> None:
    await ctx.goto("pick_field")


@flow.on("summary", Discard)
async def discard_pressed(ctx: Context, _pressed: Discard) -> None:
    await ctx.goto("discard")


@flow.ask("pick_field")
async def ask_pick_field(ctx: Context) -> None:
    choices = [Choice(_(FIELD_LABELS[step]), PickField(field=step)) for step in ORDER]
    ctx.say(
        _("Which answer do you want to change?"),
        [*choices, Choice(_("⬅️ Back to the summary"), ToSummary())],
        columns=2,
    )


@flow.on("pick_field", PickField)
async def field_picked(ctx: Context, pressed: PickField) -> None:
    if pressed.field not in ORDER:
        await ctx.reask(_("Please press one of the buttons, or type its number."))
        return
    _draft(ctx).editing = True
    await ctx.goto(pressed.field)


@flow.on("pick_field", ToSummary)
async def pick_field_back(ctx: Context, _pressed: ToSummary) -> None:
    await ctx.goto("summary")


@flow.ask("discard")
async def ask_discard(ctx: Context) -> None:
    ctx.say(
        _("Throw this idea away? Nothing will be sent to the commune."),
        [Choice(_("🗑 Yes, discard it"), DiscardYes()), Choice(_("⬅️ No, keep it"), ToSummary())],
    )


@flow.on("discard", DiscardYes)
async def discard_confirmed(ctx: Context, _pressed: DiscardYes) -> None:
    ctx.say(_("Discarded. Nothing was sent."))
    await ctx.finish()


@flow.on("discard", ToSummary)
async def discard_cancelled(ctx: Context, _pressed: ToSummary) -> None:
    await ctx.goto("summary")


for _buttons_only in ("summary", "pick_field", "discard"):
    _press_a_button(_buttons_only)


async def _submit(ctx: Context) -> None:
    if not await _has_producer(ctx):
        return
    producer = await _producer(ctx)
    assert producer is not None
    draft = _draft(ctx)
    missing = _missing_step(draft)
    if missing is not None:
        await ctx.goto(missing)
        return
    name = str(draft.name)
    idea = await ideas.add_idea(
        ctx.session,
        ProductIdea(
            producer_id=producer.id,
            commune_code=producer.commune_code,
            name=name,
            name_folded=fold(name),
            group_code=str(draft.group),
            description=display(draft, "description"),
            raw_materials=display(draft, "materials"),
            raw_material_origin=str(draft.origin),
            workers_total=int(draft.workers or 0),
            workers_local=int(draft.local_workers or 0),
            market=display(draft, "market"),
            support_needed=display(draft, "support"),
            status=IdeaStatus.SUBMITTED_COMMUNE.value,
            submitted_at=ctx.now,
        ),
    )
    spoken: dict[str, Any] = {"description": draft.description, "materials": draft.materials}
    spoken |= {"market": draft.market_text, "support": draft.support_text}
    await voice_answers.place(ctx.session, voice.answer_ids(spoken), user_id=ctx.user.id, idea_id=idea.id)
    ctx.say(
        _(
            '✅ Your idea "{name}" was sent to {commune} on {day}.\n\n'
            "What happens next: the commune OCOP staff will read it and tell you here whether it can go on. "
            "If it can, you will be invited to a training on making a business plan.\n"
            "You can check it at any time with 🔎 Status."
        ).format(name=idea.name, commune=producer.commune_name, day=format_day(ctx.now, ctx.settings.ocop.timezone))
    )
    await ctx.finish()


async def _remember_same_name(ctx: Context) -> None:
    """Warn in the summary when this producer already registered an idea with the same name."""
    producer = await _producer(ctx)
    draft = _draft(ctx)
    if producer is None or draft.name is None:
        return
    earlier = await ideas.latest_idea_named(ctx.session, producer.id, fold(draft.name))
    if earlier is not None and earlier.submitted_at is not None:
        draft.same_name_on = format_day(earlier.submitted_at, ctx.settings.ocop.timezone)
    else:
        draft.same_name_on = None


def register(registry: Registry) -> None:
    registry.add_flow(flow)
