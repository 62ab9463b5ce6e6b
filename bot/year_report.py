"""The programme report a province sends upward for one year: per commune, ideas registered, dossiers by
where they stand, products by stars, certificates issued / expiring / expired — as a workbook with a native
Excel chart (no plotting library) and as a short text with bar glyphs for the chat.

Definitions (the report's own footnote says them too):
- ideas and dossiers count those registered (dossiers: submitted, or created when never submitted) in the year;
- products by stars count certificates in force on 31/12 of the year;
- issued: decision dated in the year; expired: validity ended in the year; expiring: in force on 31/12 and
  ending within the following ``EXPIRING_MONTHS`` months (the −180-day reminder window).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import N_, _
from bot.rules import DossierStatus, add_months
from bot.spreadsheet import add_table, new_workbook
from bot.text import progress_bar
from storage import certificates, office

EXPIRING_MONTHS = 6
_S = DossierStatus
# Where a dossier stands, in the words of the report's columns.
STAGES: tuple[tuple[str, frozenset[str]], ...] = (
    (N_("Being prepared"), frozenset({_S.DRAFT})),
    (N_("At the commune"), frozenset({_S.SUBMITTED_COMMUNE, _S.COMMUNE_REVIEW, _S.NEEDS_SUPPLEMENT})),
    (
        N_("At the province"),
        frozenset({_S.COMMUNE_CONFIRMED, _S.AT_PROVINCE, _S.COMPLETENESS_CHECK, _S.PROVINCE_SUPPLEMENT, _S.SCHEDULED}),
    ),
    (N_("Scored, not certified"), frozenset({_S.SCORED, _S.NOT_RATED, _S.PROPOSED_5})),
    (N_("Certified"), frozenset({_S.CERTIFIED_3, _S.CERTIFIED_4})),
)
STARS = (3, 4, 5)


@dataclass
class CommuneLine:
    commune: str
    ideas: int = 0
    stages: Counter[str] = field(default_factory=Counter)
    stars: Counter[int] = field(default_factory=Counter)
    issued: int = 0
    expiring: int = 0
    expired: int = 0

    @property
    def dossiers(self) -> int:
        return sum(self.stages.values())


@dataclass
class YearReport:
    year: int
    lines: list[CommuneLine]

    def total(self) -> CommuneLine:
        total = CommuneLine(_("Whole province"))
        for line in self.lines:
            total.ideas += line.ideas
            total.stages.update(line.stages)
            total.stars.update(line.stars)
            total.issued += line.issued
            total.expiring += line.expiring
            total.expired += line.expired
        return total


def _in_year(value: dt.date | dt.datetime | None, year: int) -> bool:
    return value is not None and value.year == year


async def build(session: AsyncSession, year: int, *, communes: set[int] | None = None) -> YearReport:
    year_end = dt.date(year, 12, 31)
    by_commune: dict[int, CommuneLine] = {}
    names: dict[int, str] = {}

    def line(code: int) -> CommuneLine:
        if code not in by_commune:
            by_commune[code] = CommuneLine(names.get(code) or _("(commune not known)"))
        return by_commune[code]

    producers = await office.producer_rows(session, communes=communes)
    for producer in producers:
        names.setdefault(producer.commune_code, producer.commune)
    ideas = await office.idea_counts_by_commune(session, year)
    for code, count in ideas.items():
        if communes is None or code in communes:
            line(code).ideas += count
    stage_of = {status: name for name, statuses in STAGES for status in statuses}
    for dossier in await office.dossier_rows(session, communes=communes):
        names.setdefault(dossier.commune_code, dossier.commune)
        registered = dossier.submitted_at or dossier.created_at
        if _in_year(registered, year) and dossier.status in stage_of:
            line(dossier.commune_code).stages[stage_of[dossier.status]] += 1
    expiring_until = add_months(year_end, EXPIRING_MONTHS)
    for certificate in await office.certificate_rows(session, communes=communes):
        names.setdefault(certificate.commune_code, certificate.commune)
        target = line(certificate.commune_code)
        in_force = certificate.issued_on <= year_end < certificate.expires_on and certificate.status not in (
            certificates.REVOKED,
            certificates.SUPERSEDED,
        )
        if _in_year(certificate.issued_on, year):
            target.issued += 1
        if _in_year(certificate.expires_on, year) and certificate.status != certificates.REVOKED:
            target.expired += 1
        if in_force:
            target.stars[certificate.stars] += 1
            if certificate.expires_on <= expiring_until:
                target.expiring += 1
    lines = sorted(by_commune.values(), key=lambda found: found.commune)
    return YearReport(year, lines)


def _row(line: CommuneLine) -> list[str | int]:
    return [
        line.commune,
        line.ideas,
        line.dossiers,
        *(line.stages[name] for name, _statuses in STAGES),
        *(line.stars[stars] for stars in STARS),
        line.issued,
        line.expiring,
        line.expired,
    ]


def headers() -> list[str]:
    return [
        _("Commune"),
        _("Product ideas"),
        _("Dossiers"),
        *(_(name) for name, _statuses in STAGES),
        *(_("{stars}★ products").format(stars=stars) for stars in STARS),
        _("Certificates issued"),
        _("Certificates expiring"),
        _("Certificates expired"),
    ]


def workbook(report: YearReport) -> Workbook:
    book = new_workbook()
    rows = [_row(line) for line in report.lines]
    add_table(book, _("Communes {year}").format(year=report.year), headers(), [*rows, _row(report.total())])
    summary = add_table(
        book,
        _("Summary {year}").format(year=report.year),
        [_("Commune"), *(_("{stars}★ products").format(stars=stars) for stars in STARS)],
        [[line.commune, *(line.stars[stars] for stars in STARS)] for line in report.lines],
    )
    book.move_sheet(summary, offset=-1)
    chart = BarChart()
    chart.type = "bar"
    chart.grouping = "stacked"
    chart.overlap = 100
    chart.title = _("OCOP products by stars per commune, {year}").format(year=report.year)
    chart.y_axis.title = _("Products")
    count = len(report.lines)
    data = Reference(summary, min_col=2, max_col=1 + len(STARS), min_row=1, max_row=count + 1)
    categories = Reference(summary, min_col=1, min_row=2, max_row=count + 1)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(categories)
    chart.height = max(8.0, 0.6 * count + 3)
    chart.width = 22.0
    summary.add_chart(chart, "F2")
    notes = book.create_sheet(_("Notes"))
    for note in (
        _("Ideas and dossiers: registered in {year} (dossiers by the day they were submitted).").format(
            year=report.year
        ),
        _("Products by stars: certificates in force on 31/12/{year}.").format(year=report.year),
        _("Expiring: in force on 31/12/{year} and ending within {months} months.").format(
            year=report.year, months=EXPIRING_MONTHS
        ),
    ):
        notes.append([note])
    return book


def summary_text(report: YearReport, width: int = 10) -> str:
    """The same report in a few lines for the chat: totals, then one bar per commune by certified products."""
    total = report.total()
    lines = [
        _("📊 OCOP report {year}").format(year=report.year),
        _("Ideas: {ideas} · Dossiers: {dossiers} · Certified: {certified}").format(
            ideas=total.ideas, dossiers=total.dossiers, certified=sum(total.stars.values())
        ),
        _("Certificates: {issued} issued, {expiring} expiring, {expired} expired").format(
            issued=total.issued, expiring=total.expiring, expired=total.expired
        ),
    ]
    ranked = sorted(report.lines, key=lambda line: -sum(line.stars.values()))
    most = max((sum(line.stars.values()) for line in ranked), default=0)
    for line in ranked[:8]:
        certified = sum(line.stars.values())
        if certified:
            lines.append(f"{progress_bar(certified, most, width)} {certified} · {line.commune}")
    return "\n".join(lines)
