"""Finding records by what people type: folded (no diacritics, any case), partial, every word counted.

"che shan" finds "Chè Shan Tuyết", "binh lu" finds "Xã Bình Lư", "0912 345" finds 0912345678 and
"+84 912…" too: a phone is compared on its digits, with a leading 84 read as 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from bot.text import fold

_DIGITS = re.compile(r"\D")


def digits(text: str) -> str:
    """The digits of a phone number, "+84…" (or a whole "84…" number) read as "0…"."""
    found = _DIGITS.sub("", text)
    if text.strip().startswith("+84") or (found.startswith("84") and len(found) == 11):
        return "0" + found[2:]
    return found


def matches(query: str, texts: Iterable[str | None], phone: str | None = None) -> bool:
    """Every word of ``query`` is in one of ``texts`` (folded), or the query's digits are part of ``phone``."""
    folded = fold(query)
    if not folded:
        return False
    wanted_digits = digits(query)
    # A query that is (nearly) all digits is a phone number, typed with spaces, dots or +84.
    typed_digits = len(_DIGITS.sub("", folded))
    is_phone = typed_digits >= 4 and typed_digits >= len(folded.replace(" ", "")) - 1
    if phone and is_phone and wanted_digits in digits(phone):
        return True
    haystack = " ".join(fold(text) for text in texts if text)
    return all(word in haystack for word in folded.split())
