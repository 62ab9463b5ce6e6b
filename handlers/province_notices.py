"""What the producer is told when the province decides on a dossier: one ``@notice`` template per kind.

The steps queue ``(kind, params)`` with ``tell_producer`` (``handlers.province_common``) in the same transaction
as the change; the sender renders the text here, in the producer's language, when it delivers it.

| kind                  | queued when                                          |
|-----------------------|------------------------------------------------------|
| province_scheduled    | the dossier is complete and scheduled in a round     |
| province_round        | the dossier is moved to another round                |
| province_supplement   | the province returns the dossier for a supplement    |
| province_not_rated    | the council's result is below 3 stars                |
| province_scored       | 3 or 4 stars: the certificate will follow            |
| province_proposed_5   | ≥ 90 points: proposed to the central level (not 5★)  |
| province_certified    | the certificate is issued (5★: the central decision) |
| province_revoked      | the certificate is revoked                           |
| province_decision_uploaded | the signed decision can be asked for in the chat |
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.i18n import _, format_day
from bot.messages import Text
from bot.notices import notice
from handlers.province_common import failed_criterion_lines, points_text, stars_text


def _day(value: Any) -> str:
    try:
        return format_day(dt.date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


@notice("province_scheduled")
def _notice_scheduled(params: dict[str, Any]) -> Text:
    text = _("✅ The province found the dossier of {product} complete. It is in {round}.").format(
        product=params.get("product", ""), round=params.get("round", "")
    )
    if params.get("meeting"):
        text += "\n" + _("Council meeting: {day}. Bring the product samples.").format(day=_day(params["meeting"]))
    return Text(text)


@notice("province_round")
def _notice_round(params: dict[str, Any]) -> Text:
    text = _("📅 The dossier of {product} is now in {round}.").format(
        product=params.get("product", ""), round=params.get("round", "")
    )
    if params.get("meeting"):
        text += "\n" + _("Council meeting: {day}.").format(day=_day(params["meeting"]))
    return Text(text)


@notice("province_supplement")
def _notice_supplement(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "↩️ The province asks for more for the dossier of {product}:\n{note}\n"
            "Open 📂 My dossier, add it, then submit again."
        ).format(product=params.get("product", ""), note=params.get("note", ""))
    )


def _points_line(params: dict[str, Any]) -> str:
    return _("The council gave {points} points: {stars}.").format(
        points=points_text(float(params.get("points", 0))), stars=stars_text(int(params.get("stars", 0)))
    )


@notice("province_not_rated")
def _notice_not_rated(params: dict[str, Any]) -> Text:
    lines = [f"📂 {params.get('product', '')}", _("❌ Not certified this time.")]
    if not params.get("mandatory_ok", True):
        lines += failed_criterion_lines(params.get("criterion"), params.get("note"))
    else:
        lines.append(
            _("The council gave {points} points; at least 50 are needed for a certificate.").format(
                points=points_text(float(params.get("points", 0)))
            )
        )
    lines.append(_("You can improve the product and apply again in a later round."))
    return Text("\n".join(lines))


@notice("province_scored")
def _notice_scored(params: dict[str, Any]) -> Text:
    return Text(
        "\n".join(
            [f"🏅 {params.get('product', '')}", _points_line(params), _("The province will issue the certificate.")]
        )
    )


@notice("province_proposed_5")
def _notice_proposed(params: dict[str, Any]) -> Text:
    return Text(
        "\n".join(
            [
                f"🏅 {params.get('product', '')}",
                _("The council gave {points} points.").format(points=points_text(float(params.get("points", 0)))),
                _(
                    "The province PROPOSES the product to the central level for 5 stars. "
                    "This is not yet a 5-star certificate: the central level decides, and we will tell you."
                ),
            ]
        )
    )


@notice("province_certified")
def _notice_certified(params: dict[str, Any]) -> Text:
    lines = []
    if params.get("central"):
        lines.append(_("🏛 The central level granted 5 stars."))
    elif params.get("central_declined"):
        lines.append(_("The central level did not grant 5 stars; the province certifies 4 stars."))
    return Text(
        "".join(line + "\n" for line in lines)
        + _(
            "📜 Congratulations! {product} is certified OCOP {stars}.\n"
            "Decision {number} of {issued}. Valid until {expires}."
        ).format(
            product=params.get("product", ""),
            stars=stars_text(int(params.get("stars", 0))),
            number=params.get("decision_no", ""),
            issued=_day(params.get("issued_on")),
            expires=_day(params.get("expires_on")),
        )
    )


@notice("province_revoked")
def _notice_revoked(params: dict[str, Any]) -> Text:
    return Text(
        _("⛔ The OCOP certificate {number} of {product} has been revoked.\nReason: {reason}").format(
            number=params.get("decision_no", ""), product=params.get("product", ""), reason=params.get("reason", "")
        )
    )


@notice("province_decision_uploaded")
def _notice_decision_uploaded(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "📄 The signed decision {number} for {product} is ready. Open 🔎 Status and press "
            "“📄 Decision” to get a copy."
        ).format(number=params.get("decision_no", ""), product=params.get("product", ""))
    )
