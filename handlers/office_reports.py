"""📊 Excel and reports (staff): the office's lists as ``.xlsx`` files in the chat, and the year's report.

A commune officer gets their communes' records; a province officer the whole province. The file is built in
the background (``bot.office_jobs``) and arrives a moment later; nobody waits on it meanwhile.

```mermaid
stateDiagram-v2
    [*] --> menu: 📊 Excel và báo cáo (staff menu), /baocao
    menu --> [*]: 📂 Dossiers · ⏳ Certificates expiring · 👥 Producers · 📊 Year report (file follows)
    menu --> [*]: ⬅️ Menu
```
"""

from __future__ import annotations

from bot import office_jobs
from bot.flow import Context, Flow, Registry
from bot.i18n import _
from bot.messages import Choice
from bot.roles import office_communes, office_scope
from storage.db import detached_sessions

FLOW_NAME = "reports"
START = "reports:start"
P = "xls:"

flow = Flow(FLOW_NAME, first_step="menu")


@flow.ask("menu")
async def ask_menu(ctx: Context) -> None:
    if await office_scope(ctx) is None:
        return
    ctx.say(
        _("📊 Which file do you need? It arrives in this chat in a moment."),
        [
            Choice(_("📂 Dossiers (.xlsx)"), P + "dossiers"),
            Choice(
                _("⏳ Certificates expiring within {days} days").format(days=office_jobs.EXPIRING_DAYS),
                P + "expiring",
            ),
            Choice(_("👥 Producers (.xlsx)"), P + "producers"),
            Choice(_("📊 Report {year}").format(year=ctx.today.year), P + "report"),
            Choice(_("⬅️ Menu"), P + "menu"),
        ],
    )


@flow.answer("menu")
async def got_menu(ctx: Context) -> None:
    scope = await office_scope(ctx)
    if scope is None:
        return
    what = (ctx.payload or "").removeprefix(P)
    if what not in office_jobs.WHATS:
        await ctx.finish()
        return
    office_jobs.start(
        detached_sessions(ctx.session),
        files_root=ctx.files.root,
        user_id=ctx.user.id,
        locale=ctx.user.locale,
        what=what,
        communes=office_communes(scope),
        today=ctx.today,
        year=ctx.today.year,
        tz=ctx.settings.ocop.timezone,
    )
    ctx.say(_("⏳ Preparing the file. I will send it here as soon as it is ready."))
    await ctx.finish()


async def start(ctx: Context, _argument: str | None = None) -> None:
    if await office_scope(ctx) is None:
        return
    await ctx.start(FLOW_NAME)


async def on_button(ctx: Context) -> None:
    await start(ctx)


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.global_payloads["reports:"] = on_button
    registry.commands["baocao"] = start
