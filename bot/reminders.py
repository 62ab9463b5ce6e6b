"""How each reminder the sweep (``bot.sweep``) queues is written, in the recipient's language.

The sweep stores only facts (names, ISO dates, item codes) in ``OutboxMessage.params``; the words are chosen
here at send time. Dates are shown as dd/MM/yyyy. Every reminder carries a button to the calendar (/lich) and,
where there is something to do, to the dossier.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.i18n import _, format_day
from bot.messages import Choice, Outbound, Text
from bot.notices import notice
from bot.rules import all_requirements, requirement

# Main-menu payloads (handlers.menu): valid from any message, so a reminder's buttons never go stale.
CALENDAR_PAYLOAD = "m:calendar"
DOSSIER_PAYLOAD = "m:dossier"

ROUND_DEADLINE = "round_deadline"
ROUND_DEADLINE_REVIEW = "round_deadline_review"
DRAFT_MISSING = "draft_missing"
REVIEW_WAITING = "review_waiting"
CERTIFICATE_EXPIRY = "certificate_expiry"
CERTIFICATE_EXPIRED = "certificate_expired"
CERTIFICATE_EXPIRY_STAFF = "certificate_expiry_staff"
CERTIFICATE_EXPIRED_STAFF = "certificate_expired_staff"
DOCUMENT_EXPIRING = "document_expiring"

KINDS = (
    ROUND_DEADLINE,
    ROUND_DEADLINE_REVIEW,
    DRAFT_MISSING,
    REVIEW_WAITING,
    CERTIFICATE_EXPIRY,
    CERTIFICATE_EXPIRED,
    CERTIFICATE_EXPIRY_STAFF,
    CERTIFICATE_EXPIRED_STAFF,
    DOCUMENT_EXPIRING,
)


def day_of(raw: Any) -> str:
    """A stored date or timestamp (ISO text from either database) as dd/MM/yyyy; "?" when absent."""
    if raw is None or raw == "":
        return "?"
    text = str(raw)
    try:
        if len(text) <= 10:
            return format_day(dt.date.fromisoformat(text))
        return format_day(dt.datetime.fromisoformat(text))
    except ValueError:
        return text


def item_name(code: str) -> str:
    found = requirement(code)
    return found.label if found is not None else code


def missing_lines(raw: Any) -> list[str]:
    """The missing item codes (comma-separated, in any order) as "✗ label" lines in checklist order."""
    codes = {code for code in str(raw or "").split(",") if code}
    order = {r.code: index for index, r in enumerate(all_requirements())}
    return [f"✗ {item_name(code)}" for code in sorted(codes, key=lambda c: (order.get(c, len(order)), c))]


def _calendar_button() -> Choice:
    return Choice(_("📅 Calendar"), CALENDAR_PAYLOAD)


def _dossier_buttons() -> tuple[Choice, ...]:
    return (Choice(_("📂 My dossier"), DOSSIER_PAYLOAD), _calendar_button())


@notice(ROUND_DEADLINE)
def _round_deadline(params: dict[str, Any]) -> Outbound:
    lines = [
        _("⏰ Round {round}: dossiers must reach the commune by {deadline}.").format(
            round=params.get("round", ""), deadline=day_of(params.get("deadline"))
        ),
        _("Your dossier for {product} is not submitted yet.").format(product=params.get("product", "")),
    ]
    missing = missing_lines(params.get("missing"))
    if missing:
        lines.append(_("Still missing:"))
        lines += missing
    else:
        lines.append(_("Everything required is there: open the dossier and press Submit."))
    return Text("\n".join(lines), _dossier_buttons())


@notice(ROUND_DEADLINE_REVIEW)
def _round_deadline_review(params: dict[str, Any]) -> Outbound:
    text = _("⏰ Round {round}: the deadline is {deadline}. {count} dossier(s) of your commune wait for your review.")
    return Text(
        text.format(
            round=params.get("round", ""), deadline=day_of(params.get("deadline")), count=params.get("count", 0)
        ),
        (_calendar_button(),),
    )


@notice(DRAFT_MISSING)
def _draft_missing(params: dict[str, Any]) -> Outbound:
    lines = [_("📂 Your dossier for {product} still misses:").format(product=params.get("product", ""))]
    lines += missing_lines(params.get("missing"))
    lines.append(_("Send a photo of each one when you can. To stop these weekly reminders, open 📅 Calendar."))
    return Text("\n".join(lines), _dossier_buttons())


@notice(REVIEW_WAITING)
def _review_waiting(params: dict[str, Any]) -> Outbound:
    text = _("⏳ The dossier {product} of {producer} has waited for the commune's review since {day}.")
    return Text(
        text.format(
            product=params.get("product", ""), producer=params.get("producer", ""), day=day_of(params.get("submitted"))
        ),
        (_calendar_button(),),
    )


def _certificate_line(params: dict[str, Any]) -> str:
    return _("OCOP certificate of {product} ({stars}★), decision {decision}").format(
        product=params.get("product", ""), stars=params.get("stars", ""), decision=params.get("decision") or "—"
    )


@notice(CERTIFICATE_EXPIRY)
def _certificate_expiry(params: dict[str, Any]) -> Outbound:
    lines = [
        "🏅 " + _certificate_line(params),
        _("It expires on {day}. To keep the stars, apply for re-evaluation before that day.").format(
            day=day_of(params.get("expires"))
        ),
    ]
    return Text("\n".join(lines), _dossier_buttons())


@notice(CERTIFICATE_EXPIRED)
def _certificate_expired(params: dict[str, Any]) -> Outbound:
    lines = [
        "⚠️ " + _certificate_line(params),
        _("It expired on {day}. The product may no longer use the OCOP logo. Apply for re-evaluation.").format(
            day=day_of(params.get("expires"))
        ),
    ]
    return Text("\n".join(lines), _dossier_buttons())


@notice(CERTIFICATE_EXPIRY_STAFF)
def _certificate_expiry_staff(params: dict[str, Any]) -> Outbound:
    lines = [
        "🏅 " + _certificate_line(params),
        _("Producer: {producer}. It expires on {day}.").format(
            producer=params.get("producer", ""), day=day_of(params.get("expires"))
        ),
    ]
    return Text("\n".join(lines), (_calendar_button(),))


@notice(CERTIFICATE_EXPIRED_STAFF)
def _certificate_expired_staff(params: dict[str, Any]) -> Outbound:
    lines = [
        "⚠️ " + _certificate_line(params),
        _("Producer: {producer}. It expired on {day}.").format(
            producer=params.get("producer", ""), day=day_of(params.get("expires"))
        ),
    ]
    return Text("\n".join(lines), (_calendar_button(),))


@notice(DOCUMENT_EXPIRING)
def _document_expiring(params: dict[str, Any]) -> Outbound:
    text = _(
        "📄 {item} in your dossier for {product} expires on {day}, before the council meets on {meeting}.\n"
        "Please send a new one."
    )
    return Text(
        text.format(
            item=item_name(str(params.get("item", ""))),
            product=params.get("product", ""),
            day=day_of(params.get("expires")),
            meeting=day_of(params.get("meeting")),
        ),
        _dossier_buttons(),
    )
