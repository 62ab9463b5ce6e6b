"""Registering a product idea with the commune (OCOP cycle step 2, "đăng ký ý tưởng sản phẩm").

Nine short questions, one per message, then a summary to check, edit, send or throw away. Nothing is
stored until the producer presses Submit: the answers live in the conversation's flow data, so "huy",
"menu" or a discarded draft leave no row behind.

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
```
"""

from __future__ import annotations

import re
from typing import Any

from bot import voice
from bot.flow import Context, Flow, Registry
from bot.i18n import N_, _, format_day
from bot.messages import Choice
from bot.rules import PRODUCT_GROUP_LABELS, IdeaStatus, ProductGroup, label
from bot.text import fold, has_words, tidy
from storage import ideas, voice_answers
from storage.models import Producer, ProductIdea
from storage.producers import producer_of_user

flow = Flow("idea", first_step="name")

# Payloads (all well under Telegram's 64 bytes).
BACK = "idea:back"
SUBMIT = "idea:submit"
EDIT = "idea:edit"
DISCARD = "idea:discard"
DISCARD_YES = "idea:discard:yes"
TO_SUMMARY = "idea:summary"
ALL_LOCAL = "idea:lw:all"
GROUP = "idea:g:"
ORIGIN = "idea:o:"
MARKET = "idea:m:"
SUPPORT = "idea:s:"
FIELD = "idea:f:"
DONE = "done"
NOTHING = "none"

# The questions in the order they are asked; "origin_place" is a sub-question of "origin".
ORDER = ("name", "group", "description", "materials", "origin", "workers", "local_workers", "market", "support")

NAME_MIN, NAME_MAX = 2, 200
TEXT_MIN = 2
DESCRIPTION_MAX = 1000
MATERIALS_MAX = 500
PLACE_MAX = 300
LIST_TEXT_MAX = 500
WORKERS_MAX = 100_000

FIELD_LABELS: dict[str, str] = {
    "name": N_("Product name"),
    "group": N_("Product group"),
    "description": N_("Description"),
    "materials": N_("Raw materials"),
    "origin": N_("Materials from"),
    "workers": N_("Workers"),
    "local_workers": N_("Local workers"),
    "market": N_("Where it sells"),
    "support": N_("Support wanted"),
}

ORIGIN_COMMUNE, ORIGIN_PROVINCE, ORIGIN_ELSEWHERE = "commune", "province", "elsewhere"

MARKET_LABELS: dict[str, str] = {
    "local": N_("Local market"),
    "province": N_("In the province"),
    "other": N_("Other provinces"),
    "online": N_("Sell online"),
    "export": N_("Export"),
}

SUPPORT_LABELS: dict[str, str] = {
    "packaging": N_("Packaging and labels"),
    "testing": N_("Product testing"),
    "trademark": N_("Trademark"),
    "training": N_("Training"),
    "promotion": N_("Promotion"),
    "loans": N_("Loans"),
}

_DIGITS = re.compile(r"\d+")


# Typed answers ----------------------------------------------------------------------------------------
def text_problem(text: str | None, *, minimum: int, maximum: int) -> str | None:
    """What is wrong with a typed answer, as a hint for the user; None when it is fine."""
    if text is None:
        return _("Please type your answer in a message.")
    if not has_words(text):
        return _("Please answer with words, not only emoji or signs.")
    if len(text) < minimum:
        return _("That is too short. Please type at least {count} letters.").format(count=minimum)
    if len(text) > maximum:
        return _("That is too long ({length} characters). Please keep it under {count}.").format(
            length=len(text), count=maximum
        )
    return None


def parse_count(text: str | None) -> int | None:
    """A whole number of people from "5", "5 người" or "khoảng 12 người"; None for "năm", "5-7", "-3"."""
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
def _editing(ctx: Context) -> bool:
    return bool(ctx.data.get("editing"))


def _back() -> Choice:
    return Choice(_("⬅️ Back"), BACK)


def _question(ctx: Context, step: str, question: str) -> str:
    """Number the question ("3/9") on the first pass; while editing, show the current answer instead."""
    if _editing(ctx):
        current = _display(ctx, step)
        return question + ("\n\n" + _("Now: {value}").format(value=current) if current else "")
    return f"({ORDER.index(step) + 1}/{len(ORDER)}) {question}"


async def _next(ctx: Context, step: str) -> None:
    """After an answer: back to the summary while editing, otherwise the next question."""
    if _editing(ctx):
        ctx.data.pop("editing", None)
        await ctx.goto("summary")
        return
    position = ORDER.index(step) + 1
    await ctx.goto(ORDER[position] if position < len(ORDER) else "summary")


async def _go_back(ctx: Context, step: str) -> None:
    if _editing(ctx):
        ctx.data.pop("editing", None)
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


def _selected(ctx: Context, key: str) -> list[str]:
    value = ctx.data.get(key)
    return [str(code) for code in value] if isinstance(value, list) else []


def _joined(ctx: Context, kind: str, labels: dict[str, str]) -> str:
    """The ticked options (in the order offered) and what was typed, as one line of text."""
    chosen = _selected(ctx, f"{kind}_sel")
    parts = [_(text) for code, text in labels.items() if code in chosen]
    if kind == "support" and NOTHING in chosen:
        parts = [_("No support needed")]
    typed = ctx.data.get(f"{kind}_text")
    if typed:
        parts.append(voice.shown(typed))
    return ", ".join(parts)


def _display(ctx: Context, step: str) -> str:
    """The answer of one field as shown in the summary ("" when not answered yet)."""
    data = ctx.data
    if step == "group":
        code = data.get("group")
        return label(PRODUCT_GROUP_LABELS, code) if code in set(ProductGroup) else ""
    if step in ("workers", "local_workers"):
        value = data.get(step)
        return str(value) if isinstance(value, int) else ""
    if step == "market":
        return _joined(ctx, "market", MARKET_LABELS)
    if step == "support":
        return _joined(ctx, "support", SUPPORT_LABELS)
    return voice.shown(data.get(step))


async def _producer(ctx: Context) -> Producer | None:
    producer = await producer_of_user(ctx.session, ctx.user.id)
    if producer is None:
        ctx.say(_("I do not know your business yet, so I cannot register an idea. Please register first."))
        await ctx.finish()
    return producer


# 1. Name ----------------------------------------------------------------------------------------------
@flow.ask("name", free_text=True)
async def ask_name(ctx: Context) -> None:
    if not _editing(ctx) and not ctx.data.get("started"):
        if await _producer(ctx) is None:
            return
        ctx.data["started"] = True
        ctx.say(
            _(
                "📝 Let's register your product idea with the commune.\n"
                'There are 9 short questions. Type "huy" at any time to stop.'
            )
        )
    ctx.say(_question(ctx, "name", _("What is the product called?")), [_back()])


@flow.answer("name")
async def got_name(ctx: Context) -> None:
    if ctx.payload == BACK:
        await _go_back(ctx, "name")
        return
    name = tidy(ctx.text) or None
    problem = text_problem(name, minimum=NAME_MIN, maximum=NAME_MAX)
    if problem:
        await ctx.reask(problem)
        return
    assert name is not None
    ctx.data["name"] = name
    await _remember_same_name(ctx)
    await _next(ctx, "name")


# 2. Product group --------------------------------------------------------------------------------------
@flow.ask("group")
async def ask_group(ctx: Context) -> None:
    choices = [Choice(_(text), GROUP + code) for code, text in PRODUCT_GROUP_LABELS.items()]
    ctx.say(_question(ctx, "group", _("Which group does the product belong to?")), [*choices, _back()])


def _group_from_words(text: str | None) -> str | None:
    """Forgiving typed group: a few words found in exactly one group's name ("thuc pham", "thu cong")."""
    wanted = fold(text or "")
    if len(wanted) < 3:
        return None
    found = [code for code, text in PRODUCT_GROUP_LABELS.items() if wanted in fold(_(text))]
    return str(found[0]) if len(found) == 1 else None


@flow.answer("group")
async def got_group(ctx: Context) -> None:
    if ctx.payload == BACK:
        await _go_back(ctx, "group")
        return
    code = ctx.payload[len(GROUP) :] if ctx.payload and ctx.payload.startswith(GROUP) else None
    if code is None:
        code = _group_from_words(ctx.text)
    if code not in set(ProductGroup):
        await ctx.reask(_("Please press one of the buttons, or type its number."))
        return
    ctx.data["group"] = code
    await _next(ctx, "group")


# 3. Description ----------------------------------------------------------------------------------------
@flow.ask("description", free_text=True, voice=True)
async def ask_description(ctx: Context) -> None:
    ctx.say(
        _question(
            ctx,
            "description",
            _("Describe the product in a few sentences: what it is, how it is made, what is special about it."),
        )
        + "\n"
        + _("🎤 You can also send a voice message."),
        [_back()],
    )


@flow.answer("description")
async def got_description(ctx: Context) -> None:
    await _free_text_answer(ctx, "description", DESCRIPTION_MAX)


async def _free_text_answer(ctx: Context, step: str, maximum: int) -> None:
    if ctx.payload == BACK:
        await _go_back(ctx, step)
        return
    spoken = ctx.voice_answer()
    if spoken is not None:
        ctx.data[step] = spoken
        await _next(ctx, step)
        return
    problem = text_problem(ctx.text, minimum=TEXT_MIN, maximum=maximum)
    if problem:
        await ctx.reask(problem)
        return
    ctx.data[step] = ctx.text
    await _next(ctx, step)


# 4. Raw materials --------------------------------------------------------------------------------------
@flow.ask("materials", free_text=True, voice=True)
async def ask_materials(ctx: Context) -> None:
    ctx.say(
        _question(ctx, "materials", _("What are the main raw materials? For example: tea leaves, honey, rice.")),
        [_back()],
    )


@flow.answer("materials")
async def got_materials(ctx: Context) -> None:
    await _free_text_answer(ctx, "materials", MATERIALS_MAX)


# 5. Where the raw materials come from ------------------------------------------------------------------
@flow.ask("origin")
async def ask_origin(ctx: Context) -> None:
    ctx.say(
        _question(ctx, "origin", _("Where do the raw materials come from? Press a button or type the place.")),
        [
            Choice(_("In this commune"), ORIGIN + ORIGIN_COMMUNE),
            Choice(_("In this province"), ORIGIN + ORIGIN_PROVINCE),
            Choice(_("Elsewhere"), ORIGIN + ORIGIN_ELSEWHERE),
            _back(),
        ],
    )


@flow.answer("origin")
async def got_origin(ctx: Context) -> None:
    if ctx.payload == BACK:
        await _go_back(ctx, "origin")
        return
    if ctx.payload == ORIGIN + ORIGIN_ELSEWHERE:
        await ctx.goto("origin_place")
        return
    if ctx.payload == ORIGIN + ORIGIN_COMMUNE:
        # Stored as the place's name, which the commune staff read the same in any language.
        producer = await producer_of_user(ctx.session, ctx.user.id)
        ctx.data["origin"] = producer.commune_name if producer is not None else _("In this commune")
        await _next(ctx, "origin")
        return
    if ctx.payload == ORIGIN + ORIGIN_PROVINCE:
        ctx.data["origin"] = _("{province} province").format(province=ctx.settings.ocop.province)
        await _next(ctx, "origin")
        return
    await _place_answer(ctx)


@flow.ask("origin_place", free_text=True)
async def ask_origin_place(ctx: Context) -> None:
    ctx.say(_("Where do they come from? Type the place, for example the province."), [_back()])


@flow.answer("origin_place")
async def got_origin_place(ctx: Context) -> None:
    if ctx.payload == BACK:
        if _editing(ctx):  # while editing, Back from the sub-question returns to the origin buttons
            await ctx.goto("origin")
        else:
            await _go_back(ctx, "origin_place")
        return
    await _place_answer(ctx)


async def _place_answer(ctx: Context) -> None:
    place = tidy(ctx.text) or None
    problem = text_problem(place, minimum=TEXT_MIN, maximum=PLACE_MAX)
    if problem:
        await ctx.reask(problem)
        return
    ctx.data["origin"] = place
    await _next(ctx, "origin")


# 6–7. Workers --------------------------------------------------------------------------------------------
@flow.ask("workers", number=True)
async def ask_workers(ctx: Context) -> None:
    ctx.say(
        _question(ctx, "workers", _("How many people work on this product, yourself included? Type a number.")),
        [_back()],
    )


@flow.answer("workers")
async def got_workers(ctx: Context) -> None:
    if ctx.payload == BACK:
        await _go_back(ctx, "workers")
        return
    count = parse_count(ctx.text)
    if count is None:
        await ctx.reask(_("Please type the number with digits, for example 5."))
        return
    if count < 1:
        await ctx.reask(_("Count yourself too: the number is at least 1."))
        return
    if count > WORKERS_MAX:
        await ctx.reask(_("That number looks too big. Please check it and type it again."))
        return
    ctx.data["workers"] = count
    local = ctx.data.get("local_workers")
    if _editing(ctx) and isinstance(local, int) and local > count:
        # The new total no longer holds the local workers given before: ask for them again.
        ctx.say(_("Now {count} people in all, so please give the number of local workers again.").format(count=count))
        await ctx.goto("local_workers")
        return
    await _next(ctx, "workers")


@flow.ask("local_workers", number=True)
async def ask_local_workers(ctx: Context) -> None:
    total = ctx.data.get("workers")
    question = _("How many of them live in this commune or nearby? Type a number (0 if none).")
    choices = [_back()]
    if isinstance(total, int):
        choices.insert(0, Choice(_("All of them ({count})").format(count=total), ALL_LOCAL))
    ctx.say(_question(ctx, "local_workers", question), choices)


@flow.answer("local_workers")
async def got_local_workers(ctx: Context) -> None:
    if ctx.payload == BACK:
        await _go_back(ctx, "local_workers")
        return
    total = ctx.data.get("workers")
    if not isinstance(total, int):  # the total was never given (an old conversation): ask it first
        await ctx.goto("workers")
        return
    count = total if ctx.payload == ALL_LOCAL else parse_count(ctx.text)
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
    ctx.data["local_workers"] = count
    await _next(ctx, "local_workers")


# 8–9. Where it sells, support wanted: tick several, or type -------------------------------------------
def _ticked_choices(ctx: Context, kind: str, prefix: str, labels: dict[str, str]) -> list[Choice]:
    chosen = _selected(ctx, f"{kind}_sel")
    return [Choice(("✓ " if code in chosen else "") + _(text), prefix + code) for code, text in labels.items()]


def _with_selection(ctx: Context, kind: str, labels: dict[str, str], question: str) -> str:
    so_far = _joined(ctx, kind, labels)
    return question + ("\n\n" + _("Chosen: {items}").format(items=so_far) if so_far and not _editing(ctx) else "")


@flow.ask("market", voice=True)
async def ask_market(ctx: Context) -> None:
    question = _("Where do you sell it, or plan to sell it? Tick all that fit, then press Done. You can also type.")
    ctx.say(
        _question(ctx, "market", _with_selection(ctx, "market", MARKET_LABELS, question)),
        [*_ticked_choices(ctx, "market", MARKET, MARKET_LABELS), Choice(_("➡️ Done"), MARKET + DONE), _back()],
        columns=2,
    )


@flow.answer("market")
async def got_market(ctx: Context) -> None:
    await _multi_answer(ctx, "market", MARKET, MARKET_LABELS)


@flow.ask("support", voice=True)
async def ask_support(ctx: Context) -> None:
    question = _("What support would help you most? Tick all that fit, then press Done. You can also type.")
    ctx.say(
        _question(ctx, "support", _with_selection(ctx, "support", SUPPORT_LABELS, question)),
        [
            *_ticked_choices(ctx, "support", SUPPORT, SUPPORT_LABELS),
            Choice(_("No support needed"), SUPPORT + NOTHING),
            Choice(_("➡️ Done"), SUPPORT + DONE),
            _back(),
        ],
        columns=2,
    )


@flow.answer("support")
async def got_support(ctx: Context) -> None:
    await _multi_answer(ctx, "support", SUPPORT, SUPPORT_LABELS)


async def _multi_answer(ctx: Context, kind: str, prefix: str, labels: dict[str, str]) -> None:
    """A ticked option toggles and asks again; Done moves on; typed words are the answer (with the ticks)."""
    if ctx.payload == BACK:
        await _go_back(ctx, kind)
        return
    chosen = _selected(ctx, f"{kind}_sel")
    code = ctx.payload[len(prefix) :] if ctx.payload and ctx.payload.startswith(prefix) else None
    if code == NOTHING:  # "Nothing" answers the question by itself
        ctx.data[f"{kind}_sel"] = [NOTHING]
        ctx.data[f"{kind}_text"] = ""
        await _next(ctx, kind)
        return
    if code in labels:
        chosen = [c for c in chosen if c != NOTHING]
        ctx.data[f"{kind}_sel"] = [c for c in chosen if c != code] if code in chosen else [*chosen, code]
        await ctx.reask()
        return
    if code == DONE:
        if not _joined(ctx, kind, labels):
            await ctx.reask(_("Please tick at least one, or type your answer."))
            return
        await _next(ctx, kind)
        return
    typed: str | dict[str, int] | None = ctx.voice_answer() or tidy(ctx.text) or None
    problem = None if isinstance(typed, dict) else text_problem(typed, minimum=TEXT_MIN, maximum=LIST_TEXT_MAX)
    if problem:
        await ctx.reask(problem)
        return
    ctx.data[f"{kind}_sel"] = [c for c in chosen if c != NOTHING]
    ctx.data[f"{kind}_text"] = typed
    await _next(ctx, kind)


# Summary -------------------------------------------------------------------------------------------------
def _missing_step(ctx: Context) -> str | None:
    return next((step for step in ORDER if not _display(ctx, step)), None)


@flow.ask("summary")
async def ask_summary(ctx: Context) -> None:
    missing = _missing_step(ctx)
    if missing is not None:  # never show a summary with holes: ask what is missing
        await ctx.goto(missing)
        return
    lines = [_("📋 Your product idea. Please check it:"), ""]
    # Bullets, not numbers: on numbered-menu channels only the choices below carry numbers.
    lines += [f"• {_(FIELD_LABELS[step])}: {_display(ctx, step)}" for step in ORDER]
    earlier = ctx.data.get("same_name_on")
    if earlier:
        lines += ["", _("⚠️ You already registered an idea with this name on {day}.").format(day=earlier)]
    lines += ["", _("Is everything right?")]
    ctx.say(
        "\n".join(lines),
        [
            Choice(_("✅ Submit to the commune"), SUBMIT),
            Choice(_("✏️ Edit"), EDIT),
            Choice(_("🗑 Discard"), DISCARD),
        ],
    )


@flow.answer("summary")
async def got_summary(ctx: Context) -> None:
    if ctx.payload == SUBMIT:
        await _submit(ctx)
    elif ctx.payload == EDIT:
        await ctx.goto("pick_field")
    elif ctx.payload == DISCARD:
        await ctx.goto("discard")
    else:
        await ctx.reask(_("Please press one of the buttons, or type its number."))


@flow.ask("pick_field")
async def ask_pick_field(ctx: Context) -> None:
    choices = [Choice(_(FIELD_LABELS[step]), FIELD + step) for step in ORDER]
    ctx.say(
        _("Which answer do you want to change?"),
        [*choices, Choice(_("⬅️ Back to the summary"), TO_SUMMARY)],
        columns=2,
    )


@flow.answer("pick_field")
async def got_pick_field(ctx: Context) -> None:
    step = ctx.payload[len(FIELD) :] if ctx.payload and ctx.payload.startswith(FIELD) else None
    if ctx.payload == TO_SUMMARY:
        await ctx.goto("summary")
    elif step in ORDER:
        ctx.data["editing"] = True
        await ctx.goto(step)
    else:
        await ctx.reask(_("Please press one of the buttons, or type its number."))


@flow.ask("discard")
async def ask_discard(ctx: Context) -> None:
    ctx.say(
        _("Throw this idea away? Nothing will be sent to the commune."),
        [Choice(_("🗑 Yes, discard it"), DISCARD_YES), Choice(_("⬅️ No, keep it"), TO_SUMMARY)],
    )


@flow.answer("discard")
async def got_discard(ctx: Context) -> None:
    if ctx.payload == DISCARD_YES:
        ctx.say(_("Discarded. Nothing was sent."))
        await ctx.finish()
    elif ctx.payload == TO_SUMMARY:
        await ctx.goto("summary")
    else:
        await ctx.reask(_("Please press one of the buttons, or type its number."))


async def _submit(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    missing = _missing_step(ctx)
    if missing is not None:
        await ctx.goto(missing)
        return
    data: dict[str, Any] = ctx.data
    name = str(data["name"])
    idea = await ideas.add_idea(
        ctx.session,
        ProductIdea(
            producer_id=producer.id,
            commune_code=producer.commune_code,
            name=name,
            name_folded=fold(name),
            group_code=str(data["group"]),
            description=_display(ctx, "description"),
            raw_materials=_display(ctx, "materials"),
            raw_material_origin=str(data["origin"]),
            workers_total=int(data["workers"]),
            workers_local=int(data["local_workers"]),
            market=_display(ctx, "market"),
            support_needed=_display(ctx, "support"),
            status=IdeaStatus.SUBMITTED_COMMUNE.value,
            submitted_at=ctx.now,
        ),
    )
    spoken = {step: data.get(step) for step in ("description", "materials")}
    spoken |= {kind: data.get(f"{kind}_text") for kind in ("market", "support")}
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
    producer = await producer_of_user(ctx.session, ctx.user.id)
    name = ctx.data.get("name")
    if producer is None or not isinstance(name, str):
        return
    earlier = await ideas.latest_idea_named(ctx.session, producer.id, fold(name))
    if earlier is not None and earlier.submitted_at is not None:
        ctx.data["same_name_on"] = format_day(earlier.submitted_at, ctx.settings.ocop.timezone)
    else:
        ctx.data.pop("same_name_on", None)


# A returned idea reopened with its answers kept (handlers.idea_return) shows and moves on like a first pass.
display = _display
next_step = _next


def register(registry: Registry) -> None:
    registry.add_flow(flow)
