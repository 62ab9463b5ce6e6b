"""The main menu's buttons, one family: valid from any message (a notice, a reminder, an older menu), since they
only start something. Handled in ``handlers.menu``; any module that offers "📂 My dossier" imports them here."""

from __future__ import annotations

from typing import ClassVar

from bot.callbacks import Button


class MenuButton(Button):
    """A main-menu entry: ``flow`` is the flow it starts (flows register themselves under these names)."""

    flow: ClassVar[str]


class MenuIdea(MenuButton, prefix="m:idea"):
    flow = "idea"


class MenuDossier(MenuButton, prefix="m:dossier"):
    flow = "dossier"


class MenuStatus(MenuButton, prefix="m:status"):
    flow = "status"


class MenuCalendar(MenuButton, prefix="m:calendar"):
    flow = "calendar"


class MenuHelp(MenuButton, prefix="m:help"):
    flow = ""  # help is an answer, not a flow (``handlers.menu.show_help``)
