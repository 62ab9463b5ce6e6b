"""Messages the bot sends on its own (staff decisions, reminders), as data: a kind → a function that
writes the text in the recipient's language from the stored parameters.

Writers queue ``(kind, params)`` with ``storage.outbox.enqueue`` (or ``Context.notify``); the sender
renders here at send time, so a producer who switches language gets the next notice in the new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.i18n import current_locale
from bot.messages import Outbound

Render = Callable[[dict[str, Any]], Outbound]

TEMPLATES: dict[str, Render] = {}


def notice(kind: str) -> Callable[[Render], Render]:
    """Register how a kind of notice is written (``@notice("dossier_returned")``)."""

    def register(function: Render) -> Render:
        if kind in TEMPLATES:
            raise ValueError(f"notice {kind!r} registered twice")
        TEMPLATES[kind] = function
        return function

    return register


def render(kind: str, params: dict[str, Any], locale: str) -> Outbound:
    token = current_locale.set(locale)
    try:
        return TEMPLATES[kind](params)
    finally:
        current_locale.reset(token)
