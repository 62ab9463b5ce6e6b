"""Translations: every user-visible string goes through ``_``.

Message ids are English; ``locales/vi`` is the complete default catalogue. The locale of the user being
served is kept in a context variable set by the engine for each update, so handlers simply call ``_()``.

Where the catalogues are: an installed package carries them compiled (``bot/locales/*/LC_MESSAGES/messages.mo``,
written by the build hook in ``setup.py``); a source checkout (``pip install -e .``) has ``locales/`` beside the
packages, where a compiled ``.mo`` is used when it is newer than its ``.po`` and the ``.po`` is read otherwise.
``require_catalogue`` (called at start-up) refuses to run without the default locale's catalogue rather
than greet every farmer in English.
"""

from __future__ import annotations

import datetime as dt
from contextvars import ContextVar
from functools import cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

PACKAGE_LOCALES = Path(__file__).resolve().parent / "locales"
SOURCE_LOCALES = Path(__file__).resolve().parent.parent / "locales"
LOCALES_DIR = PACKAGE_LOCALES if PACKAGE_LOCALES.is_dir() else SOURCE_LOCALES
DOMAIN = "messages"
DEFAULT_LOCALE = "vi"
SUPPORTED_LOCALES = ("vi", "en")

current_locale: ContextVar[str] = ContextVar("current_locale", default=DEFAULT_LOCALE)
# Whether the user being served sees choices as buttons (Telegram, Zalo OA) or as a numbered list they answer
# by typing (Zalo Bot Platform, console). A sentence that says "press" has a variant under the message
# context ``NUMBERED`` that says "type the number of" instead; ``_`` picks it where there are no buttons.
has_buttons: ContextVar[bool] = ContextVar("has_buttons", default=True)
NUMBERED = "numbered"


class MissingCatalogue(RuntimeError):
    """The default locale has no catalogue: every sentence would come out in English."""


def _load(locale: str, directory: Path) -> Translations | None:
    folder = directory / locale / "LC_MESSAGES"
    compiled, source = folder / f"{DOMAIN}.mo", folder / f"{DOMAIN}.po"
    if compiled.is_file() and (not source.is_file() or compiled.stat().st_mtime >= source.stat().st_mtime):
        with compiled.open("rb") as handle:
            return Translations(handle, DOMAIN)
    if source.is_file():
        with source.open("rb") as handle:
            catalog = read_po(handle, locale=locale, domain=DOMAIN)
        buffer = BytesIO()
        write_mo(buffer, catalog)  # fuzzy entries are left out, as pybabel compile does
        buffer.seek(0)
        return Translations(buffer, DOMAIN)
    return None


@cache
def translations(locale: str) -> NullTranslations:
    """The catalogue of ``locale``; the message ids themselves (English) when there is none."""
    found = _load(locale, LOCALES_DIR)
    return found if found is not None else NullTranslations()


def require_catalogue(locale: str) -> None:
    """Fail loudly at start-up when ``locale`` (the default) has no catalogue, or an empty one."""
    found = _load(locale, LOCALES_DIR)
    if found is None or not set(found._catalog) - {""}:  # "" is the header, present in any catalogue
        raise MissingCatalogue(
            f"no translation catalogue for the default locale {locale!r} in {LOCALES_DIR}: the bot would answer "
            "in English. Install the package built with its catalogues (pip install .), or run from a source "
            "checkout that has locales/."
        )


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
