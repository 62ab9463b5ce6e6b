"""Translations: every user-visible string goes through ``_``.

Message ids are English; ``locales/vi`` is the complete default catalogue. The locale of the user being
served is kept in a context variable set by the engine for each update, so handlers simply call ``_()``.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
DEFAULT_LOCALE = "vi"
SUPPORTED_LOCALES = ("vi", "en")

current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT_LOCALE)
# Whether the user being served sees choices as buttons (Telegram, Zalo OA) or as a numbered list they answer
# by typing (Zalo Bot Platform, console). A sentence that says "press" has a variant under the message
# context ``NUMBERED`` that says "type the number of" instead; ``_`` picks it where there are no buttons.
has_buttons: ContextVar[bool] = ContextVar("has_buttons", default=True)
NUMBERED = "numbered"


@cache
def translations(locale: str) -> NullTranslations:
    """Load compiled catalogues; a missing .mo means the build step did not run (compile_catalogs)."""
    return Translations.load(str(LOCALES_DIR), [locale], DOMAIN)


def _(message: str) -> str:
    """Translate ``message`` into the locale of the user being served, worded for their channel."""
    catalogue = translations(current_locale.get())
    if not has_buttons.get():
        variant = str(catalogue.pgettext(NUMBERED, message))
        if variant != message:
            return variant
    return catalogue.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current_locale.get()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (module-level data)."""
    return message


def format_day(value: dt.date | dt.datetime, tz: str = "Asia/Ho_Chi_Minh") -> str:
    """Dates as dd/MM/yyyy in local time; datetimes are stored in UTC."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(ZoneInfo(tz)).date()
    return format_date(value, "dd/MM/yyyy", locale=current_locale.get())


def format_number(value: int | float) -> str:
    return format_decimal(value, locale=current_locale.get())
