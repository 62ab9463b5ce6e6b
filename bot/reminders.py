"""How each reminder the sweep (``bot.sweep``) queues is written, in the recipient's language.

The sweep stores only facts (names, ISO dates, item codes) in ``OutboxMessage.params``; the words are chosen
here at send time. Dates are shown as dd/MM/yyyy. Every reminder carries a button to the calendar (/lich) and,
where there is something to do, to the dossier.

Digests (``DIGESTS``): when one user has several due reminders of the same family (39 certificates of the
province for one officer, two dossiers of one producer), the sender (``bot.sender``) claims them together and
sends one message: the family's title with the count, then one line per reminder. A single row is rendered by
its own template as always; urgent rows join a digest only where the family says so (the producer's legal
certificate notices are in no family, so they always go alone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.i18n import N_, _, current_locale, format_day
from bot.menu_buttons import MenuCalendar, MenuDossier
from bot.messages import Choice, Outbound, Text
from bot.notices import notice
from bot.rules import all_requirements, requirement

# Main-menu payloads (handlers.menu): valid from any message, so a reminder's buttons never go stale.
CALENDAR_PAYLOAD = MenuCalendar()
DOSSIER_PAYLOAD = MenuDossier()

ROUND_DEADLINE = "round_deadline"
ROUND_DEADLINE_REVIEW = "round_deadline_review"
DRAFT_MISSING = "draft_missing"
REVIEW_WAITING = "review_waiting"
CERTIFICATE_EXPIRY = "certificate_expiry"
CERTIFICATE_EXPIRED = "certificate_expired"
CERTIFICATE_EXPIRY_STAFF = "certificate_expiry_staff"
CERTIFICATE_EXPIRED_STAFF = "certificate_expired_staff"
DOCUMENT_EXPIRING = "document_expiring"


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


# Digests ------------------------------------------------------------------------------------------------------

Line = Callable[[dict[str, Any]], str]


def _missing_count(params: dict[str, Any]) -> int:
    return len({code for code in str(params.get("missing") or "").split(",") if code})


def _round_deadline_line(params: dict[str, Any]) -> str:
    missing = _missing_count(params)
    text = (
        _("• {product}: round {round}, deadline {deadline}, {count} item(s) missing")
        if missing
        else _("• {product}: round {round}, deadline {deadline}, ready to submit")
    )
    return text.format(
        product=params.get("product", ""),
        round=params.get("round", ""),
        deadline=day_of(params.get("deadline")),
        count=missing,
    )


def _draft_missing_line(params: dict[str, Any]) -> str:
    return _("• {product}: the draft still misses {count} item(s)").format(
        product=params.get("product", ""), count=_missing_count(params)
    )


def _document_expiring_line(params: dict[str, Any]) -> str:
    return _("• {product}: {item} expires on {day}, before the council meets on {meeting}").format(
        product=params.get("product", ""),
        item=item_name(str(params.get("item", ""))),
        day=day_of(params.get("expires")),
        meeting=day_of(params.get("meeting")),
    )


def _round_deadline_review_line(params: dict[str, Any]) -> str:
    return _("• Round {round} (deadline {deadline}): {count} dossier(s) to review").format(
        round=params.get("round", ""), deadline=day_of(params.get("deadline")), count=params.get("count", 0)
    )


def _review_waiting_line(params: dict[str, Any]) -> str:
    return _("• {product} of {producer}: waiting since {day}").format(
        product=params.get("product", ""), producer=params.get("producer", ""), day=day_of(params.get("submitted"))
    )


def _certificate_staff_line(expired: bool) -> Line:
    def line(params: dict[str, Any]) -> str:
        text = (
            _("• ⚠️ {product} ({stars}★), {producer}: expired on {day}")
            if expired
            else _("• {product} ({stars}★), {producer}: expires on {day}")
        )
        return text.format(
            product=params.get("product", ""),
            stars=params.get("stars", ""),
            producer=params.get("producer", ""),
            day=day_of(params.get("expires")),
        )

    return line


def _calendar_only() -> tuple[Choice, ...]:
    return (_calendar_button(),)


@dataclass(frozen=True)
class Digest:
    """A family of reminder kinds one user receives together, as one message."""

    title: str  # an N_() msgid with {count}, translated at send time
    lines: Mapping[str, Line]  # kind → its one-line summary; the keys are the kinds that may be combined
    buttons: Callable[[], tuple[Choice, ...]]
    urgent: bool = False  # whether urgent rows of these kinds join the digest (else they go alone)


# Which kinds are combined, and how. Kinds in no family (the producer's certificate notices, above all the
# legal −30-day and expiry-day ones) always go out one by one.
DIGESTS: dict[str, Digest] = {
    "certificates_staff": Digest(
        N_("🏅 {count} OCOP certificates of the province need attention:"),
        {
            CERTIFICATE_EXPIRED_STAFF: _certificate_staff_line(expired=True),
            CERTIFICATE_EXPIRY_STAFF: _certificate_staff_line(expired=False),
        },
        _calendar_only,
        urgent=True,  # an officer's legal notices are urgent too, yet 39 of them are still one message
    ),
    "producer_dossiers": Digest(
        N_("📂 {count} reminders about your dossiers:"),
        {
            ROUND_DEADLINE: _round_deadline_line,
            DOCUMENT_EXPIRING: _document_expiring_line,
            DRAFT_MISSING: _draft_missing_line,
        },
        _dossier_buttons,
    ),
    "commune_reviews": Digest(
        N_("⏳ {count} reminders about reviews in your commune:"),
        {ROUND_DEADLINE_REVIEW: _round_deadline_review_line, REVIEW_WAITING: _review_waiting_line},
        _calendar_only,
    ),
}
# At most this many reminders in one digest (about 4,000 characters); the rest make the next one.
DIGEST_MAX_ITEMS = 50


def render_digest(family: str, items: Sequence[tuple[str, dict[str, Any]]], locale: str) -> Outbound:
    """One message for several reminders ``(kind, params)`` of one family, in the recipient's language.

    Lines follow the family's order of kinds (expired before expiring), then the order given.
    """
    digest = DIGESTS[family]
    order = {kind: index for index, kind in enumerate(digest.lines)}
    ordered = sorted(enumerate(items), key=lambda pair: (order[pair[1][0]], pair[0]))
    token = current_locale.set(locale)
    try:
        lines = [_(digest.title).format(count=len(items))]
        lines += [digest.lines[kind](params) for _index, (kind, params) in ordered]
        return Text("\n".join(lines), digest.buttons())
    finally:
        current_locale.reset(token)
