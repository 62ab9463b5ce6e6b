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
from bot.callbacks import Button
from bot.flow import Context, Flow, Registry
from bot.i18n import _
from bot.messages import Choice
from bot.roles import office_communes, office_scope
from storage.db import detached_sessions

FLOW_NAME = "reports"


class OpenReports(Button, prefix="reports:start"):
    """📊 in the staff menu, valid from any message."""


class FileWanted(Button, prefix="xls"):
    what: str  # one of office_jobs.WHATS


class ReportsMenu(Button, prefix="xls:menu"):
    pass


flow = Flow(FLOW_NAME, first_step="menu")


@flow.before
async def an_officer(ctx: Context) -> bool:
    return await office_scope(ctx) is not None


@flow.ask("menu")
async def ask_menu(ctx: Context) -> None:
    ctx.say(
        _("📊 Which file do you need? It arrives in this chat in a moment."),
        [
            Choice(_("📂 Dossiers (.xlsx)"), FileWanted(what="dossiers")),
            Choice(
                _("⏳ Certificates expiring within {days} days").format(days=office_jobs.EXPIRING_DAYS),
                FileWanted(what="expiring"),
            ),
            Choice(_("👥 Producers (.xlsx)"), FileWanted(what="producers")),
            Choice(_("📊 Report {year}").format(year=ctx.today.year), FileWanted(what="report")),
            Choice(_("⬅️ Menu"), ReportsMenu()),
        ],
    )


@flow.on("menu", FileWanted)
async def file_wanted(ctx: Context, pressed: FileWanted) -> None:
    scope = await office_scope(ctx)
    if scope is None or pressed.what not in office_jobs.WHATS:
        await ctx.finish()
        return
    office_jobs.start(
        detached_sessions(ctx.session),
        files_root=ctx.files.root,
        user_id=ctx.user.id,
        locale=ctx.user.locale,
        what=pressed.what,
        communes=office_communes(scope),
        today=ctx.today,
        year=ctx.today.year,
        tz=ctx.settings.ocop.timezone,
    )
    ctx.say(_("⏳ Preparing the file. I will send it here as soon as it is ready."))
    await ctx.finish()


@flow.on("menu", ReportsMenu)
async def menu_pressed(ctx: Context, _pressed: ReportsMenu) -> None:
    await ctx.finish()


async def start(ctx: Context, _argument: str | None = None) -> None:
    if await office_scope(ctx) is None:
        return
    await ctx.start(FLOW_NAME)


async def open_pressed(ctx: Context, _pressed: OpenReports) -> None:
    await start(ctx)


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.on_button(OpenReports)(open_pressed)
    registry.commands["baocao"] = start
