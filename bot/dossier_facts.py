"""What a dossier's checklist says, shared by every view of a dossier: the producer's checklist
(``handlers.dossier``), its status report, the commune's and the province's review, the calendar.

Facts only (labels, what counts as done, what is missing, the lines that show them); no conversation.
"""

from __future__ import annotations

import datetime as dt

from bot.files import refusal_text
from bot.flow import Context
from bot.i18n import _, format_day, format_number
from bot.messages import RejectedFile
from bot.rules import (
    DOSSIER_CASE_LABELS,
    DOSSIER_NEXT_STEP,
    DOSSIER_STATUS_LABELS,
    PRODUCER_EDITABLE,
    DossierCase,
    DossierStatus,
    SuppliedBy,
    requirement,
)
from bot.text import progress_bar
from storage import rounds
from storage.models import Dossier, DossierItem, Producer
from storage.producers import producer_of_user

# The producer may still add files; other statuses are with the commune or the province.
EDITABLE = frozenset(status.value for status in PRODUCER_EDITABLE)
# A product may get a new dossier only once its last one has reached one of these.
FINISHED = frozenset(
    {
        DossierStatus.NOT_RATED.value,
        DossierStatus.CERTIFIED_3.value,
        DossierStatus.CERTIFIED_4.value,
        DossierStatus.PROPOSED_5.value,
        DossierStatus.CERTIFIED_5.value,
    }
)
# The status report warns about documents expiring within this many days (or before the council meets).
EXPIRY_SOON_DAYS = 60


def item_label(code: str) -> str:
    found = requirement(code)
    return found.label if found is not None else code


def supplied_by(code: str) -> SuppliedBy:
    found = requirement(code)
    return found.supplied_by if found is not None else SuppliedBy.PRODUCER


def item_done(item: DossierItem) -> bool:
    return bool(item.files) or item.handed_in_at is not None


def counts_for_submit(item: DossierItem) -> bool:
    """Required and supplied by the producer: the items that block Submit."""
    return item.required and supplied_by(item.code) is not SuppliedBy.COMMUNE


def missing_items(dossier: Dossier) -> list[DossierItem]:
    return [i for i in dossier.items if counts_for_submit(i) and not item_done(i)]


def required_progress(dossier: Dossier) -> tuple[int, int]:
    counted = [i for i in dossier.items if counts_for_submit(i)]
    return sum(1 for i in counted if item_done(i)), len(counted)


def progress_line(dossier: Dossier) -> str:
    done, total = required_progress(dossier)
    return _("{bar} {done}/{total} required items").format(bar=progress_bar(done, total), done=done, total=total)


def case_label(case: str) -> str:
    try:
        return _(DOSSIER_CASE_LABELS[DossierCase(case)])
    except ValueError:
        return case


def status_label(status: str) -> str:
    try:
        return _(DOSSIER_STATUS_LABELS[DossierStatus(status)])
    except ValueError:
        return status


def next_step(status: str) -> str:
    try:
        return _(DOSSIER_NEXT_STEP[DossierStatus(status)])
    except ValueError:
        return ""


def has_expiry(code: str) -> bool:
    found = requirement(code)
    return found is not None and found.has_expiry


def expiry_note(item: DossierItem, today: dt.date | None) -> str:
    """ " (expires 31/12/2027)" after a checklist line; empty when no date is known."""
    if item.expires_on is None:
        return ""
    day = format_day(item.expires_on)
    if today is not None and item.expires_on < today:
        return " (" + _("⚠️ expired {day}").format(day=day) + ")"
    return " (" + _("expires {day}").format(day=day) + ")"


def expiry_warning(item: DossierItem, today: dt.date | None) -> bool:
    """A document with files whose expiry date has passed: it needs a new paper, like a missing item."""
    return today is not None and item_done(item) and item.expires_on is not None and item.expires_on < today


def item_line(item: DossierItem, today: dt.date | None) -> str:
    """One checklist line as the producer sees it: ✓/✗, the files, handed in, the expiry date."""
    name = item_label(item.code)
    if supplied_by(item.code) is SuppliedBy.COMMUNE:
        return "🏛 " + _("{item} — the commune writes this").format(item=name)
    if item.handed_in_at is not None:
        handed = _("handed in {day}").format(day=format_day(item.handed_in_at))
        extra = f" · 📎 {len(item.files)}" if item.files else ""
        return f"✓ {name} · {handed}{extra}"
    if item.files:
        return f"✓ {name} · 📎 {len(item.files)}{expiry_note(item, today)}"
    return f"✗ {name}{expiry_note(item, today)}"


async def meeting_date(ctx: Context, dossier: Dossier) -> dt.date | None:
    """The day the council meets on this dossier's round, when it is known and still ahead."""
    if dossier.round_id is None:
        return None
    found = await rounds.round_of(ctx.session, ctx.settings.ocop.province, dossier.round_id)
    if found is None or found.status != rounds.OPEN or found.meeting_date is None:
        return None
    return found.meeting_date if found.meeting_date >= ctx.today else None


def file_size(size: int) -> str:
    if size < 1024 * 1024:
        return _("{size} KB").format(size=format_number(max(1, round(size / 1024))))
    return _("{size} MB").format(size=format_number(round(size / (1024 * 1024), 1)))


def rejected_text(ctx: Context, rejected: RejectedFile) -> str:
    """Why a file was not kept (``bot.files.refusal_text``) with this deployment's size limit."""
    return refusal_text(rejected, ctx.settings.ocop.max_file_mb)


async def loaded_producer(ctx: Context) -> Producer | None:
    """The user's production unit, read once per update however many steps ask."""
    return await ctx.loaded("producer", lambda: producer_of_user(ctx.session, ctx.user.id))
