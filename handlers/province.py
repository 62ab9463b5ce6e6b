"""The province OCOP officer: the province home, and the one ``province`` conversation put together.

Reached from the main menu (``ProvinceHome``, a button of the ``ProvinceEntry`` family, so it works from any
older message), the ``/province`` command, or ``ProvinceRounds`` straight to the rounds.
Inside the conversation the buttons carry ``pv:`` payloads, which the engine only accepts when they were
offered in the last message. The steps are written in one module per paper task, and joined here into the
single flow the engine stores:

- ``handlers.province_dossiers``: the dossier lists, one dossier's screen, the completeness check;
- ``handlers.province_batch``: several dossiers accepted into a round at once;
- ``handlers.province_rounds``: the evaluation rounds (list, create, edit, close, this year's two);
- ``handlers.province_council``: the council's result → stars, the certificate, its revocation;
- ``handlers.province_common``: the pipeline as data and the checks every step makes;
- ``handlers.province_notices``: what the producer is told.

```mermaid
stateDiagram-v2
    [*] --> home: 🏛 Province (prov:home, /province)
    [*] --> rounds: prov:rounds
    home --> list: 📥 not in a round / 📅 a round (province_dossiers)
    home --> rounds: 🗓 Rounds (province_rounds)
    home --> [*]: ⬅️ Main menu
    list --> home: ⬅️ Back
    rounds --> home: ⬅️ Back
```
"""

from __future__ import annotations

from bot.button_family import Family
from bot.callbacks import Button
from bot.flow import Context, Flow, Registry
from bot.i18n import _
from bot.messages import Choice
from bot.roles import Scope
from bot.text import shorten
from handlers import (
    province_batch,
    province_council,
    province_dossiers,
    province_rounds,
)
from handlers.province_common import (
    FLOW_NAME,
    LABEL_MAX,
    VISIBLE,
    WORKING,
    OpenList,
    OpenRounds,
    OpenUnassigned,
    ProvinceEntry,
    ProvinceHome,
    ProvinceRounds,
    form,
    guard,
    province_communes,
    province_scope,
    round_line,
)
from handlers.province_form import UNASSIGNED, ProvinceForm
from storage import province, rounds


class MainMenu(Button, prefix="pv:menu"):
    pass


steps = Flow(FLOW_NAME, first_step="home")


# Entry ---------------------------------------------------------------------------------------------------


# 🏛 Province / its rounds, from the main menu or any older message: the family's check is the role, before the
# conversation the user was in is left (and the flow's guard checks it again on every step).
entry = Family(ProvinceEntry, province_scope)


@entry.on(ProvinceHome)
async def open_home(ctx: Context, _scope: Scope, _pressed: ProvinceHome) -> None:
    await ctx.start(FLOW_NAME, ProvinceForm(), step="home")


@entry.on(ProvinceRounds)
async def open_rounds(ctx: Context, _scope: Scope, _pressed: ProvinceRounds) -> None:
    await ctx.start(FLOW_NAME, ProvinceForm(), step="rounds")


async def on_command(ctx: Context, _argument: str | None) -> None:
    await entry(ctx, ProvinceHome())


# home ----------------------------------------------------------------------------------------------------


@steps.ask("home")
async def ask_home(ctx: Context) -> None:
    ctx.reset_form(ProvinceForm())  # every task starts afresh from here
    counts = await province.count_by_round(ctx.session, province_communes(ctx), VISIBLE)
    working = await province.count_by_round(ctx.session, province_communes(ctx), [s.value for s in WORKING])
    all_rounds = await rounds.rounds_of(ctx.session, ctx.settings.ocop.province)
    lines = [_("🏛 OCOP dossiers at the province — {province}").format(province=ctx.settings.ocop.province)]
    lines.append(_("Not in a round yet: {count}").format(count=working.get(None, 0)))
    choices = [Choice(_("📥 Not in a round ({count})").format(count=working.get(None, 0)), OpenUnassigned())]
    shown = [r for r in all_rounds if r.status == rounds.OPEN or counts.get(r.id)][:8]
    for found in shown:
        lines.append(round_line(found, ctx.today) + " — " + _("{count} dossiers").format(count=counts.get(found.id, 0)))
        choices.append(
            Choice(shorten(f"📅 {found.name} ({counts.get(found.id, 0)})", LABEL_MAX), OpenList(round=found.id))
        )
    if not all_rounds:
        lines.append(_("No round yet: create this year's rounds under 🗓 Rounds."))
    choices += [Choice(_("🗓 Rounds"), OpenRounds()), Choice(_("⬅️ Main menu"), MainMenu())]
    ctx.say("\n".join(lines), choices)


@steps.on("home", MainMenu)
async def home_to_menu(ctx: Context, _pressed: MainMenu) -> None:
    await ctx.finish()


@steps.on("home", OpenRounds)
async def home_to_rounds(ctx: Context, _pressed: OpenRounds) -> None:
    await ctx.goto("rounds")


@steps.on("home", OpenUnassigned)
async def home_to_unassigned(ctx: Context, _pressed: OpenUnassigned) -> None:
    form(ctx).listing, form(ctx).page = UNASSIGNED, 0
    await ctx.goto("list")


@steps.on("home", OpenList)
async def home_to_round_list(ctx: Context, pressed: OpenList) -> None:
    form(ctx).listing, form(ctx).page = pressed.round, 0
    await ctx.goto("list")


# One conversation ----------------------------------------------------------------------------------------


def joined_flow() -> Flow:
    """The steps of every province module as one flow: a button may lead from a step of one module to a step
    of another (a round's 📂 Dossiers, the round picker's 🗓 Rounds) with the step data kept, and stored
    conversations name the flow "province" whichever module wrote the step. The province role is checked
    once, ahead of every question and answer of any part."""
    flow = Flow(FLOW_NAME, first_step=steps.first_step, data=ProvinceForm)
    flow.before(guard)
    for part in (steps, province_dossiers.steps, province_batch.steps, province_rounds.steps, province_council.steps):
        clash = (set(flow.asks) | flow.steps()) & (set(part.asks) | part.steps())
        if clash:
            raise ValueError(f"province steps defined twice: {sorted(clash)}")
        flow.asks.update(part.asks)
        flow.answers.update(part.answers)
        flow.on_buttons.update(part.on_buttons)
        flow.on_texts.update(part.on_texts)
        flow.on_numbers.update(part.on_numbers)
        flow.on_files.update(part.on_files)
        flow.guards += part.guards
        flow.free_text_steps |= part.free_text_steps
        flow.number_steps |= part.number_steps
    return flow


def register(registry: Registry) -> None:
    registry.add_flow(joined_flow())
    entry.register(registry)
    registry.commands.setdefault("province", on_command)
