"""Typed dates: day first, several separators, a missing year means the next (or last) such day."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.dates import BadDate, When, parse_day

TODAY = dt.date(2026, 3, 2)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("20/05/2026", dt.date(2026, 5, 20)),
        ("20/5/2026", dt.date(2026, 5, 20)),
        ("20-5-2026", dt.date(2026, 5, 20)),
        ("20.5.2026", dt.date(2026, 5, 20)),
        (" 20 / 5 / 2026 ", dt.date(2026, 5, 20)),
        ("20/5/26", dt.date(2026, 5, 20)),
        ("20/5", dt.date(2026, 5, 20)),  # later this year
        ("1/2", dt.date(2027, 2, 1)),  # already passed this year: next year's
        ("2/3", dt.date(2026, 3, 2)),  # today counts
        ("29/2", dt.date(2028, 2, 29)),  # the next leap year
    ],
)
def test_accepted_forms(typed: str, expected: dt.date) -> None:
    assert parse_day(typed, TODAY, When.FUTURE) == expected


def test_short_date_in_the_past_mode_is_the_last_such_day() -> None:
    assert parse_day("20/5", TODAY, When.NOT_FUTURE) == dt.date(2025, 5, 20)
    assert parse_day("1/3", TODAY, When.NOT_FUTURE) == dt.date(2026, 3, 1)
    assert parse_day("2/3", TODAY, When.NOT_FUTURE) == TODAY


@pytest.mark.parametrize(
    ("typed", "when", "reason"),
    [
        ("", When.ANY, "format"),
        (None, When.ANY, "format"),
        ("mai", When.ANY, "format"),
        ("2026-05-20", When.ANY, "format"),
        ("20/05/20266", When.ANY, "format"),
        ("20 5 2026", When.ANY, "format"),
        ("😀", When.ANY, "format"),
        ("31/4/2026", When.ANY, "impossible"),
        ("29/2/2026", When.ANY, "impossible"),
        ("0/5/2026", When.ANY, "impossible"),
        ("20/13/2026", When.ANY, "impossible"),
        ("20/13", When.FUTURE, "impossible"),
        ("31/4", When.FUTURE, "impossible"),
        ("20/5/1999", When.ANY, "impossible"),
        ("1/3/2026", When.FUTURE, "past"),
        ("20/05/2025", When.FUTURE, "past"),
        ("3/3/2026", When.NOT_FUTURE, "future"),
    ],
)
def test_refusals_say_why(typed: str | None, when: When, reason: str) -> None:
    with pytest.raises(BadDate) as error:
        parse_day(typed, TODAY, when)
    assert error.value.reason == reason
    assert error.value.hint  # a sentence for the user, whatever the language
    assert "/" in error.value.hint  # with an example date in dd/MM/yyyy


def test_past_hint_shows_a_future_example() -> None:
    with pytest.raises(BadDate) as error:
        parse_day("1/1/2026", TODAY, When.FUTURE)
    assert "01/04/2026" in error.value.hint


def test_any_accepts_both_sides_of_today() -> None:
    assert parse_day("1/1/2020", TODAY) == dt.date(2020, 1, 1)
    assert parse_day("1/1/2030", TODAY) == dt.date(2030, 1, 1)
