"""Every user-visible sentence has a Vietnamese translation, and the catalogues say what the code says."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, _, current_locale, format_day

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
_PLACEHOLDER = re.compile(r"\{[a-z_]*\}|%\([a-z_]+\)[sd]")


def _msgids_in_code() -> set[str]:
    found: set[str] = set()
    for folder in ("bot", "handlers"):
        for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT / folder), method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(locale: str) -> dict[str, str]:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    return {str(m.id): str(m.string) for m in catalog if m.id and isinstance(m.id, str) and "fuzzy" not in m.flags}


def test_every_message_has_a_vietnamese_translation() -> None:
    vietnamese = _catalog("vi")
    missing = sorted(msgid for msgid in _msgids_in_code() if not vietnamese.get(msgid))
    assert not missing, "untranslated (run scripts/i18n update, then translate):\n" + "\n".join(missing)


def test_translations_keep_their_placeholders() -> None:
    for msgid, msgstr in _catalog("vi").items():
        if msgstr:
            assert sorted(_PLACEHOLDER.findall(msgid)) == sorted(_PLACEHOLDER.findall(msgstr)), msgid


def test_vietnamese_is_the_default_and_has_diacritics() -> None:
    token = current_locale.set("vi")
    try:
        assert _("What would you like to do?") == "Bạn muốn làm gì?"
    finally:
        current_locale.reset(token)


def test_dates_are_day_month_year_in_vietnam() -> None:
    # 20:30 UTC on 19/05 is already 20/05 in Lai Châu.
    assert format_day(dt.datetime(2026, 5, 19, 20, 30, tzinfo=dt.UTC)) == "20/05/2026"
    assert format_day(dt.date(2026, 10, 20)) == "20/10/2026"


def test_the_bot_calls_everyone_ban() -> None:
    """One way of addressing people throughout ("bạn"), never "anh/chị" in one corner (it was /lich)."""
    formal = sorted(msgid for msgid, msgstr in _catalog("vi").items() if re.search(r"anh\s*/\s*chị", msgstr, re.I))
    assert not formal, formal
