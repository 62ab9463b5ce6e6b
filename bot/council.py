"""The council's result from its members' sheets, as the scoring software computes it: the mean per part
(rounded as the rule set says), the star band of the dossier's rule set, the spread between the highest and
lowest sheet, and the sheets too far from the mean to save without a second look."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.i18n import _
from bot.rules import SHEET_SPREAD_FLAG_POINTS, RuleSet
from bot.text import fold

Points = tuple[float, float, float]
PARTS = ("A", "B", "C")
_POINTS = re.compile(r"^\s*(\d{1,3})(?:[.,](\d{1,2}))?\s*(?:d|diem)?\s*$")


def parse_points(text: str | None, maximum: int) -> float:
    """Points typed as "32", "32,5" or "32.5", from 0 to ``maximum``; ValueError with a hint otherwise."""
    match = _POINTS.match(fold(text or ""))
    if match is None:
        raise ValueError(_("Please type a number from 0 to {max}, for example 32 or 32,5.").format(max=maximum))
    value = float(f"{match.group(1)}.{match.group(2) or 0}")
    if value > maximum:
        raise ValueError(_("At most {max} points for this part. Please type the points again.").format(max=maximum))
    return value


@dataclass(frozen=True, slots=True)
class Sheet:
    member: str
    points: Points

    @property
    def total(self) -> float:
        return round(sum(self.points), 2)


@dataclass(frozen=True, slots=True)
class Outcome:
    parts: Points
    total: float
    stars: int
    spread: float
    # (member, that sheet's total, its distance from the mean total)
    flagged: tuple[tuple[str, float, float], ...]
    sheet_count: int


def outcome(rule_set: RuleSet, sheets: list[Sheet], mandatory_ok: bool = True) -> Outcome:
    if not sheets:
        raise ValueError("a council result needs at least one sheet")
    parts = rule_set.mean_of([s.points for s in sheets])
    total = rule_set.total_of(parts)
    totals = [s.total for s in sheets]
    flagged = tuple(
        (s.member, s.total, round(abs(s.total - total), 2))
        for s in sheets
        if abs(s.total - total) > SHEET_SPREAD_FLAG_POINTS
    )
    return Outcome(
        parts=parts,
        total=total,
        stars=rule_set.star_for(total, mandatory_ok),
        spread=round(max(totals) - min(totals), 2),
        flagged=flagged,
        sheet_count=len(sheets),
    )
