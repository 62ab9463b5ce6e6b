"""Text helpers shared by every flow: NFC normalisation, diacritic folding, typed-answer checks, phone numbers,
splitting."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SPACES = re.compile(r"\s+")
# Button labels and menu words are folded on every update, the same few hundred again and again.
_SHORT = 120


def nfc(text: str) -> str:
    """Normalise to NFC: phones send both precomposed and combining Vietnamese letters."""
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Fold for matching: no diacritics, đ→d, casefolded, single spaces.

    Producers often type without diacritics ("ho so cua toi"); folding both sides lets that find
    "hồ sơ của tôi".
    """
    return _fold_short(text) if len(text) <= _SHORT else _fold(text)


@lru_cache(maxsize=4096)
def _fold_short(text: str) -> str:
    return _fold(text)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.casefold()).strip()


@lru_cache(maxsize=4096)
def label_words(label: str) -> str:
    """The words of a button label (emoji and marks dropped), what a user types to choose it."""
    return " ".join("".join(ch if ch.isalnum() or ch.isspace() or ch in "-/★" else " " for ch in label).split())


def tidy(text: str | None) -> str:
    """A typed answer on one line: runs of spaces and line breaks become one space, none at the ends."""
    return " ".join((text or "").split())


def has_words(text: str) -> bool:
    """At least one letter or digit: not empty, not a sticker, not only emoji or punctuation."""
    return any(ch.isalnum() for ch in text)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut (for button labels and lists)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_PHONE_JUNK = re.compile(r"[\s.\-()]")
_VN_MOBILE = re.compile(r"^0[35789]\d{8}$")


def normalise_phone(raw: str) -> str | None:
    """Return a Vietnamese mobile number as 0xxxxxxxxx, or None when it is not one.

    Accepts +84/84 prefixes and the spaces, dots and dashes people type between groups.
    """
    digits = _PHONE_JUNK.sub("", raw.strip())
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if _VN_MOBILE.match(digits) else None


def split_message(text: str, limit: int) -> list[str]:
    """Split a long reply on line boundaries so that no part exceeds ``limit`` characters."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single overlong line: cut it hard
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            current = line
        else:
            current = candidate
    if current:
        parts.append(current)
    return parts


def progress_bar(done: int, total: int, width: int = 5) -> str:
    """A bar such as ``▰▰▰▱▱`` that reads at a glance on a small screen."""
    if total <= 0:
        return "▱" * width
    filled = round(width * done / total)
    return "▰" * filled + "▱" * (width - filled)


# What a platform says a person is called goes into our database and into staff's lists: one tidy line, short.
DISPLAY_NAME_LIMIT = 100


def display_name(value: object) -> str | None:
    """A platform's display name as we keep it: text only, control characters dropped, one line, at most
    ``DISPLAY_NAME_LIMIT`` characters (a 500,000-character name was once sent); None when nothing is left."""
    if not isinstance(value, str):
        return None
    printable = "".join(ch if ch.isprintable() else " " for ch in value[: DISPLAY_NAME_LIMIT * 4])
    name = shorten(tidy(nfc(printable)), DISPLAY_NAME_LIMIT)
    return name or None
