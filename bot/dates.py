"""Dates typed by people: ``20/5``, ``20/05/2026``, ``20-5-2026``, ``20.5.2026`` (day first, always).

A date without a year means the next such day from today (a deadline typed in March as ``20/5`` is this
May's), or the last such day when the date must not be in the future (a decision signed ``20/5`` in March
was signed last May). Every refusal carries a short hint in the user's language saying what to type.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from enum import StrEnum

from bot.i18n import _, format_day

_DATE = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*(?:[/.\-]\s*(\d{2}|\d{4}))?\s*$")
YEAR_MIN, YEAR_MAX = 2000, 2100

log = logging.getLogger(__name__)


class When(StrEnum):
    ANY = "any"
    FUTURE = "future"  # today or later: deadlines, meetings
    NOT_FUTURE = "not_future"  # today or earlier: the date a decision was signed


class BadDate(ValueError):
    """A typed date we cannot use; ``reason`` is one of format / impossible / past / future."""

    def __init__(self, reason: str, today: dt.date) -> None:
        super().__init__(reason)
        self.reason = reason
        self.today = today

    @property
    def hint(self) -> str:
        """What went wrong and what to type instead, translated for the user being served."""
        example = format_day(self.today)
        if self.reason == "impossible":
            return _("That date does not exist. Please check the day and the month, for example {example}.").format(
                example=example
            )
        if self.reason == "past":
            return _("That date has already passed. Please type a date from today on, for example {example}.").format(
                example=format_day(self.today + dt.timedelta(days=30))
            )
        if self.reason == "future":
            return _("That date is in the future. Please type a date up to today, for example {example}.").format(
                example=example
            )
        return _("Please type the date as day/month/year, for example {example}.").format(example=example)


def parse_day(text: str | None, today: dt.date, when: When = When.ANY) -> dt.date:
    """The date in ``text``; raises ``BadDate`` (with a hint) when it is unreadable or on the wrong side of
    ``today``."""
    match = _DATE.match(text or "")
    if match is None:
        raise BadDate("format", today)
    day, month = int(match.group(1)), int(match.group(2))
    year_text = match.group(3)
    if year_text is None:
        found = _without_year(day, month, today, when)
    else:
        year = int(year_text) + (2000 if len(year_text) == 2 else 0)
        if not YEAR_MIN <= year <= YEAR_MAX:
            raise BadDate("impossible", today)
        try:
            found = dt.date(year, month, day)
        except ValueError:
            raise BadDate("impossible", today) from None
    if when is When.FUTURE and found < today:
        raise BadDate("past", today)
    if when is When.NOT_FUTURE and found > today:
        raise BadDate("future", today)
    return found


def _without_year(day: int, month: int, today: dt.date, when: When) -> dt.date:
    """The next (or, for past dates, the last) existing ``day/month``; 29/2 may be up to 8 years away."""
    step = -1 if when is When.NOT_FUTURE else 1
    for offset in range(9):
        try:
            candidate = dt.date(today.year + step * offset, month, day)
        except ValueError:
            if not (1 <= month <= 12 and 1 <= day <= 31):
                break
            continue
        if (step == 1 and candidate >= today) or (step == -1 and candidate <= today):
            return candidate
    raise BadDate("impossible", today)


def day_months(raw: str) -> list[tuple[int, int]]:
    """``"20/05,20/10"`` (a setting such as ``OCOP_DEFAULT_ROUNDS``) → ``[(20, 5), (20, 10)]``, as (day, month)
    pairs in calendar order; a part that is no day of the year is skipped and logged."""
    found: list[tuple[int, int]] = []
    for part in raw.split(","):
        day, _slash, month = part.strip().partition("/")
        try:
            dt.date(2000, int(month), int(day))  # a leap year: 29/02 is a day of some years
        except ValueError:
            log.warning("cannot read %r as dd/MM", part)
            continue
        found.append((int(day), int(month)))
    return sorted(found, key=lambda pair: (pair[1], pair[0]))
