"""Messages the bot sends on its own (staff decisions, reminders), as data: a kind → a function that
writes the text in the recipient's language from the stored parameters.

Writers queue ``(kind, params)`` with ``storage.outbox.enqueue`` (or ``Context.notify``); the sender
renders here at send time, so a producer who switches language gets the next notice in the new one.

``@notice(kind)`` only marks a function as the template of a kind. The templates are registered in one
place, ``bot.wiring`` (which the bot and the sender both import), so a process knows every kind however few
handler modules it happened to import.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from bot.i18n import current_locale
from bot.messages import Outbound

Render = Callable[[dict[str, Any]], Outbound]

TEMPLATES: dict[str, Render] = {}

_KIND = "__notice_kind__"


def notice(kind: str) -> Callable[[Render], Render]:
    """Mark how a kind of notice is written (``@notice("dossier_returned")``); ``register`` collects it."""

    def mark(function: Render) -> Render:
        setattr(function, _KIND, kind)
        return function

    return mark


def templates_of(module: ModuleType) -> dict[str, Render]:
    """The templates a module writes (its functions marked ``@notice``)."""
    found: dict[str, Render] = {}
    for value in vars(module).values():
        kind = getattr(value, _KIND, None)
        if isinstance(kind, str) and getattr(value, "__module__", None) == module.__name__:
            found[kind] = value
    return found


def register(*modules: ModuleType) -> dict[str, Render]:
    """Register the templates of ``modules`` (a kind written twice is a mistake, found at start)."""
    for module in modules:
        for kind, function in templates_of(module).items():
            if TEMPLATES.get(kind, function) is not function:
                raise ValueError(f"notice {kind!r} registered twice")
            TEMPLATES[kind] = function
    return TEMPLATES


def render(kind: str, params: dict[str, Any], locale: str) -> Outbound:
    token = current_locale.set(locale)
    try:
        return TEMPLATES[kind](params)
    finally:
        current_locale.reset(token)
