"""Long staff lists, one page at a time: "21–40 / 105" and ◀ ▶ buttons.

A province has hundreds of dossiers; a chat message holds a screenful. Every staff list shows one page,
says where it is in the whole, and offers the previous and next page as buttons (numbers and words work
on the numbered channels as for any button).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from bot.callbacks import Button
from bot.i18n import _
from bot.messages import Choice

T = TypeVar("T")
PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: list[T]
    number: int  # from 0
    pages: int
    first: int  # position of the first row, from 1
    total: int

    @property
    def position(self) -> str:
        """Where this page is in the whole list, e.g. "21–40 / 105"."""
        if not self.rows:
            return f"0 / {self.total}"
        return f"{self.first}–{self.first + len(self.rows) - 1} / {self.total}"


def page_of(rows: Sequence[T], number: int, size: int = PAGE_SIZE) -> Page[T]:
    """Page ``number`` of ``rows``; a number past either end gives the nearest page (a list may have
    shrunk since the button was drawn)."""
    pages = max((len(rows) + size - 1) // size, 1)
    number = min(max(number, 0), pages - 1)
    start = number * size
    return Page(list(rows[start : start + size]), number, pages, start + 1, len(rows))


def nav_choices(page: Page[T], to: str | Callable[[int], Button]) -> list[Choice]:
    """◀ and ▶ for the pages before and after this one: ``to(number)`` is the button of page ``number`` (a
    payload prefix string, to which the number is appended, is still read for lists not yet typed)."""

    def button(number: int) -> str | Button:
        return f"{to}{number}" if isinstance(to, str) else to(number)

    choices = []
    if page.number > 0:
        choices.append(Choice(_("◀ Previous"), button(page.number - 1)))
    if page.number < page.pages - 1:
        choices.append(Choice(_("Next ▶"), button(page.number + 1)))
    return choices
