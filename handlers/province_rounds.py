"""The province's evaluation rounds: list them, create one (name → deadline → council date), edit, close or
reopen one, and create this year's two default rounds in one press.

Reached from the province home (🗓 Rounds, or ``prov:rounds`` from the main menu) and from the round picker
of a dossier when no round is open. A round's 📂 Dossiers button opens the list in
``handlers.province_dossiers``. A new round is collected in ``data["new_round"]`` and only written at the
last step; an edit (``data["round_id"]``) is saved at once and audit-logged with the before/after snapshot.

```mermaid
stateDiagram-v2
    [*] --> rounds: 🗓 Rounds (home, prov:rounds, round picker)
    rounds --> round: a round
    rounds --> round_name: ➕ New round
    rounds --> rounds: 📅 This year's two rounds (20/05, 20/10)
    rounds --> [*]: ⬅️ Back (home)
    round_name --> round_deadline: a name (new round)
    round_deadline --> round_meeting: a future date (new round)
    round_meeting --> round: a date ≥ deadline, or skip (round created)
    round --> round_name: ✏️ name
    round --> round_deadline: ✏️ deadline
    round --> round_meeting: ✏️ meeting
    round_name --> round: saved (edit)
    round_deadline --> round: saved (edit)
    round_meeting --> round: saved (edit)
    round --> round: 🔒 close / 🔓 reopen
    round --> [*]: 📂 Dossiers (province_dossiers)
    round --> rounds: ⬅️ Back
```
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.dates import BadDate, When, day_months, parse_day
from bot.flow import Context, Flow
from bot.i18n import _, format_day
from bot.messages import Choice
from bot.roles import deny
from bot.text import has_words, shorten, tidy
from handlers.province_common import (
    FLOW_NAME,
    LABEL_MAX,
    LIST_MAX,
    ROUND_NAME_MAX,
    ROUND_NAME_MIN,
    P,
    back_choice,
    find_round,
    guard,
    payload_id,
    record_audit,
    round_line,
)
from storage import rounds
from storage.models import Round

# This module's steps of the province conversation; ``handlers.province`` joins them into one flow.
steps = Flow(FLOW_NAME, first_step="rounds")


# rounds --------------------------------------------------------------------------------------------------


@steps.ask("rounds")
async def ask_rounds(ctx: Context) -> None:
    if not await guard(ctx):
        return
    ctx.data.pop("round_id", None)
    ctx.data.pop("new_round", None)
    all_rounds = await rounds.rounds_of(ctx.session, ctx.settings.ocop.province)
    counts = await rounds.dossier_counts(ctx.session, [r.id for r in all_rounds])
    lines = [_("🗓 Evaluation rounds")]
    if not all_rounds:
        lines.append(_("No round yet."))
    lines += [
        round_line(r, ctx.today) + " — " + _("{count} dossiers").format(count=counts.get(r.id, 0))
        for r in all_rounds[:LIST_MAX]
    ]
    choices = [Choice(shorten(f"📅 {r.name}", LABEL_MAX), f"{P}ro:{r.id}") for r in all_rounds[:LIST_MAX]]
    choices.append(Choice(_("➕ New round"), P + "new"))
    deadlines = day_months(ctx.settings.reminders.default_rounds)
    year = rounds.year_ahead(ctx.today, deadlines)
    planned = [(name, day) for name, day in rounds.planned_rounds(year, deadlines) if day >= ctx.today]
    if planned and not await _planned_rounds_exist(ctx, planned):
        dates = ", ".join(f"{deadline:%d/%m/%Y}" for _name, deadline in planned)
        choices.append(Choice(_("📅 Create the planned rounds ({dates})").format(dates=dates), P + "seed"))
    choices.append(back_choice())
    ctx.say("\n".join(lines), choices)


async def _planned_rounds_exist(ctx: Context, planned: list[tuple[str, dt.date]]) -> bool:
    names = {name for name, _deadline in planned}
    deadlines = {deadline for _name, deadline in planned}
    existing = await rounds.rounds_of(ctx.session, ctx.settings.ocop.province)
    found = sum(1 for r in existing if r.name in names or r.submit_deadline in deadlines)
    return found >= len(planned)


@steps.answer("rounds")
async def got_rounds(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        await ctx.goto("home")
    elif ctx.payload == P + "new":
        ctx.data["new_round"] = {}
        await ctx.goto("round_name")
    elif ctx.payload == P + "seed":
        await _seed(ctx)
    elif (round_id := payload_id(ctx.payload, P + "ro:")) is not None:
        if await find_round(ctx, round_id) is None:
            await deny(ctx)
            return
        ctx.data["round_id"] = round_id
        await ctx.goto("round")
    else:
        await ctx.reask(_("Please press one of the buttons."))


async def _seed(ctx: Context) -> None:
    before = {r.id for r in await rounds.rounds_of(ctx.session, ctx.settings.ocop.province)}
    deadlines = day_months(ctx.settings.reminders.default_rounds)
    year = rounds.year_ahead(ctx.today, deadlines)
    seeded = await rounds.seed_rounds(
        ctx.session, ctx.settings.ocop.province, year, deadlines, ctx.now, today=ctx.today
    )
    for found in seeded:
        if found.id not in before:
            await record_audit(
                ctx, "round.create", "round", found.id, after=rounds.snapshot(found), note="default rounds"
            )
    ctx.say(_("📅 The planned rounds are ready. Set the council dates when they are known."))
    await ctx.goto("rounds")


# round ---------------------------------------------------------------------------------------------------


@steps.ask("round")
async def ask_round(ctx: Context) -> None:
    if not await guard(ctx):
        return
    round_id = ctx.data.get("round_id")
    found = await find_round(ctx, round_id if isinstance(round_id, int) else None)
    if found is None:
        await deny(ctx)
        return
    count = (await rounds.dossier_counts(ctx.session, [found.id])).get(found.id, 0)
    toggle = (
        Choice(_("🔒 Close the round"), P + "close")
        if found.status == rounds.OPEN
        else Choice(_("🔓 Reopen the round"), P + "reopen")
    )
    ctx.say(
        round_line(found, ctx.today) + "\n" + _("{count} dossiers").format(count=count),
        [
            Choice(_("📂 Dossiers ({count})").format(count=count), P + "list"),
            Choice(_("✏️ Name"), P + "ename"),
            Choice(_("✏️ Submission deadline"), P + "edeadline"),
            Choice(_("✏️ Council meeting date"), P + "emeeting"),
            toggle,
            back_choice(),
        ],
    )


@steps.answer("round")
async def got_round(ctx: Context) -> None:
    if not await guard(ctx):
        return
    round_id = ctx.data.get("round_id")
    found = await find_round(ctx, round_id if isinstance(round_id, int) else None)
    if ctx.payload == P + "back":
        await ctx.goto("rounds")
        return
    if found is None:
        await deny(ctx)
        return
    steps = {P + "ename": "round_name", P + "edeadline": "round_deadline", P + "emeeting": "round_meeting"}
    if ctx.payload in steps:
        await ctx.goto(steps[ctx.payload])
    elif ctx.payload == P + "list":
        ctx.data["list"] = found.id
        await ctx.goto("list")
    elif ctx.payload in (P + "close", P + "reopen"):
        await _set_round(
            ctx,
            found,
            "round.close" if ctx.payload == P + "close" else "round.reopen",
            status=rounds.CLOSED if ctx.payload == P + "close" else rounds.OPEN,
        )
    else:
        await ctx.reask(_("Please press one of the buttons."))


async def _set_round(ctx: Context, found: Round, action: str, **values: Any) -> None:
    before = rounds.snapshot(found)
    for key, value in values.items():
        setattr(found, key, value)
    await ctx.session.flush()
    await record_audit(ctx, action, "round", found.id, before=before, after=rounds.snapshot(found))
    ctx.say(_("💾 Saved."))
    await ctx.goto("round")


# name, deadline, meeting: a new round, or one field of the round being edited ----------------------------


async def _editing(ctx: Context) -> Round | None:
    round_id = ctx.data.get("round_id")
    return await find_round(ctx, round_id) if isinstance(round_id, int) else None


def _new_round(ctx: Context) -> dict[str, Any] | None:
    value = ctx.data.get("new_round")
    return value if isinstance(value, dict) else None


async def _round_back(ctx: Context) -> None:
    if _new_round(ctx) is not None and ctx.data.get("round_id") is None:
        ctx.data.pop("new_round", None)
        await ctx.goto("rounds")
    else:
        await ctx.goto("round")


@steps.ask("round_name", free_text=True)
async def ask_round_name(ctx: Context) -> None:
    if not await guard(ctx):
        return
    example = rounds.default_round_name(1, ctx.today.year)
    ctx.say(_("The name of the round, for example {example}:").format(example=example), [back_choice()])


@steps.answer("round_name")
async def got_round_name(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        await _round_back(ctx)
        return
    name = tidy(ctx.text)
    if not (ROUND_NAME_MIN <= len(name) <= ROUND_NAME_MAX) or not has_words(name):
        await ctx.reask(
            _("Please type a name of {min} to {max} characters.").format(min=ROUND_NAME_MIN, max=ROUND_NAME_MAX)
        )
        return
    found = await _editing(ctx)
    if found is not None:
        await _set_round(ctx, found, "round.edit", name=name)
        return
    ctx.data["new_round"] = {"name": name}
    await ctx.goto("round_deadline")


@steps.ask("round_deadline", free_text=True)
async def ask_round_deadline(ctx: Context) -> None:
    if not await guard(ctx):
        return
    ctx.say(
        _("The submission deadline (day/month, for example 20/5 or 20/05/{year}):").format(year=ctx.today.year),
        [back_choice()],
    )


@steps.answer("round_deadline")
async def got_round_deadline(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        await _round_back(ctx)
        return
    try:
        deadline = parse_day(ctx.text, ctx.today, When.FUTURE)
    except BadDate as error:
        await ctx.reask(error.hint)
        return
    found = await _editing(ctx)
    if found is not None:
        if found.meeting_date is not None and found.meeting_date < deadline:
            await ctx.reask(
                _("The deadline must come before the council meeting ({day}).").format(
                    day=format_day(found.meeting_date)
                )
            )
            return
        await _set_round(ctx, found, "round.edit", submit_deadline=deadline)
        return
    new = _new_round(ctx)
    if new is None or "name" not in new:
        await ctx.goto("round_name")
        return
    ctx.data["new_round"] = {**new, "deadline": deadline.isoformat()}
    await ctx.goto("round_meeting")


@steps.ask("round_meeting", free_text=True)
async def ask_round_meeting(ctx: Context) -> None:
    if not await guard(ctx):
        return
    choices = [back_choice()]
    if await _editing(ctx) is None:
        choices.insert(0, Choice(_("⏭ Not known yet"), P + "skip"))
    ctx.say(_("The date of the council meeting (day/month/year):"), choices)


@steps.answer("round_meeting")
async def got_round_meeting(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        await _round_back(ctx)
        return
    found = await _editing(ctx)
    meeting: dt.date | None = None
    if ctx.payload != P + "skip" or found is not None:
        try:
            # A new round meets in the future; an existing one may be given the date after its council met.
            meeting = parse_day(ctx.text, ctx.today, When.ANY if found is not None else When.FUTURE)
        except BadDate as error:
            await ctx.reask(error.hint)
            return
    if found is not None:
        if meeting is not None and meeting < found.submit_deadline:
            await ctx.reask(
                _("The council meets after the deadline ({day}). Please type a later date.").format(
                    day=format_day(found.submit_deadline)
                )
            )
            return
        await _set_round(ctx, found, "round.edit", meeting_date=meeting)
        return
    new = _new_round(ctx)
    if new is None or "name" not in new or "deadline" not in new:
        await ctx.goto("round_name")
        return
    deadline = dt.date.fromisoformat(new["deadline"])
    if meeting is not None and meeting < deadline:
        await ctx.reask(
            _("The council meets after the deadline ({day}). Please type a later date.").format(
                day=format_day(deadline)
            )
        )
        return
    created = await rounds.create_round(
        ctx.session,
        province=ctx.settings.ocop.province,
        name=new["name"],
        submit_deadline=deadline,
        meeting_date=meeting,
        now=ctx.now,
    )
    await record_audit(ctx, "round.create", "round", created.id, after=rounds.snapshot(created))
    ctx.data.pop("new_round", None)
    ctx.data["round_id"] = created.id
    ctx.say(_("➕ Round created."))
    await ctx.goto("round")
