"""The province's evaluation rounds: list them, create one (name → deadline → council date), edit, close or
reopen one, and create this year's two default rounds in one press.

Reached from the province home (🗓 Rounds, or ``prov:rounds`` from the main menu) and from the round picker
of a dossier when no round is open. A round's 📂 Dossiers button opens the list in
``handlers.province_dossiers``. A new round is collected in ``ProvinceForm.new_round`` and only written at the
last step; an edit (of ``ProvinceForm.round_id``) is saved at once and audit-logged with the before/after snapshot.

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
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot.callbacks import Button
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
    Back,
    OpenList,
    back_choice,
    find_round,
    form,
    record_audit,
    round_line,
)
from handlers.province_form import RoundDraft
from storage import rounds
from storage.models import Round


class OpenRound(Button, prefix="pv:ro"):
    round: int


class NewRound(Button, prefix="pv:new"):
    pass


class SeedRounds(Button, prefix="pv:seed"):
    pass


class EditName(Button, prefix="pv:ename"):
    pass


class EditDeadline(Button, prefix="pv:edeadline"):
    pass


class EditMeeting(Button, prefix="pv:emeeting"):
    pass


class CloseRound(Button, prefix="pv:close"):
    pass


class ReopenRound(Button, prefix="pv:reopen"):
    pass


class SkipMeeting(Button, prefix="pv:skip"):
    pass


B = TypeVar("B", bound=Button)

# This module's steps of the province conversation; ``handlers.province`` joins them into one flow.
steps = Flow(FLOW_NAME, first_step="rounds")


# rounds --------------------------------------------------------------------------------------------------


@steps.ask("rounds")
async def ask_rounds(ctx: Context) -> None:
    form(ctx).round_id, form(ctx).new_round = None, None
    all_rounds = await rounds.rounds_of(ctx.session, ctx.settings.ocop.province)
    counts = await rounds.dossier_counts(ctx.session, [r.id for r in all_rounds])
    lines = [_("🗓 Evaluation rounds")]
    if not all_rounds:
        lines.append(_("No round yet."))
    lines += [
        round_line(r, ctx.today) + " — " + _("{count} dossiers").format(count=counts.get(r.id, 0))
        for r in all_rounds[:LIST_MAX]
    ]
    choices = [Choice(shorten(f"📅 {r.name}", LABEL_MAX), OpenRound(round=r.id)) for r in all_rounds[:LIST_MAX]]
    choices.append(Choice(_("➕ New round"), NewRound()))
    deadlines = day_months(ctx.settings.reminders.default_rounds)
    year = rounds.year_ahead(ctx.today, deadlines)
    planned = [(name, day) for name, day in rounds.planned_rounds(year, deadlines) if day >= ctx.today]
    if planned and not await _planned_rounds_exist(ctx, planned):
        dates = ", ".join(f"{deadline:%d/%m/%Y}" for _name, deadline in planned)
        choices.append(Choice(_("📅 Create the planned rounds ({dates})").format(dates=dates), SeedRounds()))
    choices.append(back_choice())
    ctx.say("\n".join(lines), choices)


async def _planned_rounds_exist(ctx: Context, planned: list[tuple[str, dt.date]]) -> bool:
    names = {name for name, _deadline in planned}
    deadlines = {deadline for _name, deadline in planned}
    existing = await rounds.rounds_of(ctx.session, ctx.settings.ocop.province)
    found = sum(1 for r in existing if r.name in names or r.submit_deadline in deadlines)
    return found >= len(planned)


@steps.on("rounds", Back)
async def rounds_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("home")


@steps.on("rounds", NewRound)
async def rounds_new(ctx: Context, _pressed: NewRound) -> None:
    form(ctx).new_round = RoundDraft()
    await ctx.goto("round_name")


@steps.on("rounds", SeedRounds)
async def rounds_seed(ctx: Context, _pressed: SeedRounds) -> None:
    await _seed(ctx)


@steps.on("rounds", OpenRound)
async def rounds_open(ctx: Context, pressed: OpenRound) -> None:
    if await find_round(ctx, pressed.round) is None:
        await deny(ctx)
        return
    form(ctx).round_id = pressed.round
    await ctx.goto("round")


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
    found = await _editing(ctx)
    if found is None:
        await deny(ctx)
        return
    count = (await rounds.dossier_counts(ctx.session, [found.id])).get(found.id, 0)
    toggle = (
        Choice(_("🔒 Close the round"), CloseRound())
        if found.status == rounds.OPEN
        else Choice(_("🔓 Reopen the round"), ReopenRound())
    )
    ctx.say(
        round_line(found, ctx.today) + "\n" + _("{count} dossiers").format(count=count),
        [
            Choice(_("📂 Dossiers ({count})").format(count=count), OpenList(round=found.id)),
            Choice(_("✏️ Name"), EditName()),
            Choice(_("✏️ Submission deadline"), EditDeadline()),
            Choice(_("✏️ Council meeting date"), EditMeeting()),
            toggle,
            back_choice(),
        ],
    )


@steps.on("round", Back)
async def round_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("rounds")


def _on_round(button: type[B]) -> Callable[[Callable[[Context, Round, B], Awaitable[None]]], Any]:
    """A button of the round's screen: the handler gets the round, reloaded (and refused when it is gone)."""

    def register(action: Callable[[Context, Round, B], Awaitable[None]]) -> Any:
        @steps.on("round", button)
        async def handler(ctx: Context, pressed: B) -> None:
            found = await _editing(ctx)
            if found is None:
                await deny(ctx)
                return
            await action(ctx, found, pressed)

        return action

    return register


@_on_round(EditName)
async def round_edit_name(ctx: Context, _found: Round, _pressed: EditName) -> None:
    await ctx.goto("round_name")


@_on_round(EditDeadline)
async def round_edit_deadline(ctx: Context, _found: Round, _pressed: EditDeadline) -> None:
    await ctx.goto("round_deadline")


@_on_round(EditMeeting)
async def round_edit_meeting(ctx: Context, _found: Round, _pressed: EditMeeting) -> None:
    await ctx.goto("round_meeting")


@_on_round(OpenList)
async def round_dossiers(ctx: Context, found: Round, _pressed: OpenList) -> None:
    form(ctx).listing = found.id
    await ctx.goto("list")


@_on_round(CloseRound)
async def round_close(ctx: Context, found: Round, _pressed: CloseRound) -> None:
    await _set_round(ctx, found, "round.close", status=rounds.CLOSED)


@_on_round(ReopenRound)
async def round_reopen(ctx: Context, found: Round, _pressed: ReopenRound) -> None:
    await _set_round(ctx, found, "round.reopen", status=rounds.OPEN)


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
    return await find_round(ctx, form(ctx).round_id)


def _new_round(ctx: Context) -> RoundDraft | None:
    return form(ctx).new_round


async def _round_back(ctx: Context) -> None:
    if _new_round(ctx) is not None and form(ctx).round_id is None:
        form(ctx).new_round = None
        await ctx.goto("rounds")
    else:
        await ctx.goto("round")


@steps.on("round_name", Back)
@steps.on("round_deadline", Back)
@steps.on("round_meeting", Back)
async def typed_back(ctx: Context, _pressed: Back) -> None:
    await _round_back(ctx)


@steps.ask("round_name", free_text=True)
async def ask_round_name(ctx: Context) -> None:
    example = rounds.default_round_name(1, ctx.today.year)
    ctx.say(_("The name of the round, for example {example}:").format(example=example), [back_choice()])


@steps.on_text("round_name")
async def got_round_name(ctx: Context, text: str) -> None:
    name = tidy(text)
    if not (ROUND_NAME_MIN <= len(name) <= ROUND_NAME_MAX) or not has_words(name):
        await ctx.reask(
            _("Please type a name of {min} to {max} characters.").format(min=ROUND_NAME_MIN, max=ROUND_NAME_MAX)
        )
        return
    found = await _editing(ctx)
    if found is not None:
        await _set_round(ctx, found, "round.edit", name=name)
        return
    form(ctx).new_round = RoundDraft(name=name)
    await ctx.goto("round_deadline")


@steps.ask("round_deadline", free_text=True)
async def ask_round_deadline(ctx: Context) -> None:
    ctx.say(
        _("The submission deadline (day/month, for example 20/5 or 20/05/{year}):").format(year=ctx.today.year),
        [back_choice()],
    )


@steps.on_text("round_deadline")
async def got_round_deadline(ctx: Context, text: str) -> None:
    try:
        deadline = parse_day(text, ctx.today, When.FUTURE)
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
    if new is None or new.name is None:
        await ctx.goto("round_name")
        return
    new.deadline = deadline.isoformat()
    await ctx.goto("round_meeting")


@steps.ask("round_meeting", free_text=True)
async def ask_round_meeting(ctx: Context) -> None:
    choices = [back_choice()]
    if await _editing(ctx) is None:
        choices.insert(0, Choice(_("⏭ Not known yet"), SkipMeeting()))
    ctx.say(_("The date of the council meeting (day/month/year):"), choices)


@steps.on_text("round_meeting")
async def got_round_meeting(ctx: Context, text: str) -> None:
    found = await _editing(ctx)
    try:
        # A new round meets in the future; an existing one may be given the date after its council met.
        meeting = parse_day(text, ctx.today, When.ANY if found is not None else When.FUTURE)
    except BadDate as error:
        await ctx.reask(error.hint)
        return
    await _meeting_day(ctx, found, meeting)


@steps.on("round_meeting", SkipMeeting)
async def skip_meeting(ctx: Context, _pressed: SkipMeeting) -> None:
    found = await _editing(ctx)
    if found is not None:  # only a new round may leave its date for later (the button is not offered otherwise)
        await ctx.reask()
        return
    await _meeting_day(ctx, None, None)


async def _meeting_day(ctx: Context, found: Round | None, meeting: dt.date | None) -> None:
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
    if new is None or new.name is None or new.deadline is None:
        await ctx.goto("round_name")
        return
    deadline = dt.date.fromisoformat(new.deadline)
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
        name=new.name,
        submit_deadline=deadline,
        meeting_date=meeting,
        now=ctx.now,
    )
    await record_audit(ctx, "round.create", "round", created.id, after=rounds.snapshot(created))
    form(ctx).new_round, form(ctx).round_id = None, created.id
    ctx.say(_("➕ Round created."))
    await ctx.goto("round")
