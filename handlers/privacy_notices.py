"""What people are told about their data when nobody asked just then: one ``@notice`` template per kind.

| kind                    | to          | queued when                                                 |
|-------------------------|-------------|-------------------------------------------------------------|
| privacy_erased          | the person  | their deletion was carried out: what was kept and why       |
| privacy_request_staff   | admins      | a person asked for deletion                                 |
| privacy_deadline_staff  | admins      | a request is still pending close to its legal deadline      |
| privacy_correction      | commune     | a producer asks to correct a submitted record               |
| privacy_correction_voice | commune    | the recording of a spoken correction, after its notice      |
| retention_dossier       | the person  | an abandoned draft dossier will be deleted in 30 days       |
| retention_idea          | the person  | an abandoned draft idea will be deleted in 30 days          |
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.i18n import _, format_day
from bot.menu_buttons import MenuDossier, MenuIdea
from bot.messages import Choice, SendFile, Text
from bot.notices import notice
from bot.privacy_sweep import DEADLINE_STAFF, ERASED, REQUEST_STAFF, RETENTION_DOSSIER, RETENTION_IDEA
from handlers.privacy_buttons import ShowRequests

CORRECTION = "privacy_correction"
CORRECTION_VOICE = "privacy_correction_voice"


def when(value: Any) -> str:
    """A stored ISO moment as dd/MM/yyyy HH:mm in Vietnam (the province's clock)."""
    from zoneinfo import ZoneInfo

    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    return f"{format_day(local.date())} {local:%H:%M}"


def kept_lines(kept: list[dict[str, Any]]) -> list[str]:
    lines = []
    for record in kept:
        if record.get("what") == "certificate":
            lines.append(
                "• "
                + _("OCOP certificate {stars}★ for {product}, decision {decision} of {day}").format(
                    stars=record.get("stars", ""),
                    product=record.get("product", ""),
                    decision=record.get("decision_no", ""),
                    day=format_day(dt.date.fromisoformat(str(record.get("issued_on")))),
                )
            )
        else:
            lines.append(
                "• "
                + _("The council's result ({stars}★) for {product}").format(
                    stars=record.get("stars", ""), product=record.get("product", "")
                )
            )
    return lines


@notice(ERASED)
def _erased(params: dict[str, Any]) -> Text:
    text = _(
        "✅ Your data has been deleted (request no. {number}): your phone number, names, chats, drafts, ideas "
        "and files."
    ).format(number=params.get("request", ""))
    kept = list(params.get("kept") or [])
    if kept:
        text += "\n" + _(
            "The province must keep these administrative records, with only your organisation and product:"
        )
        text += "\n" + "\n".join(kept_lines(kept))
    else:
        text += "\n" + _("Nothing of yours is kept.")
    return Text(text + "\n" + _("We will not write to you again."))


@notice(REQUEST_STAFF)
def _request_staff(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "🔒 Request no. {number}: a producer asked for their personal data to be deleted. It will be carried "
            "out on {execute} (legal deadline {due}). If the law requires keeping it, record a hold with the reason."
        ).format(number=params.get("request", ""), execute=when(params.get("execute")), due=when(params.get("due"))),
        (Choice(_("🔒 Data requests"), ShowRequests()),),
    )


@notice(DEADLINE_STAFF)
def _deadline_staff(params: dict[str, Any]) -> Text:
    return Text(
        _("⏰ Request no. {number} to delete personal data must be settled by {due}.").format(
            number=params.get("request", ""), due=when(params.get("due"))
        ),
        (Choice(_("🔒 Data requests"), ShowRequests()),),
    )


@notice(CORRECTION)
def _correction(params: dict[str, Any]) -> Text:
    return Text(
        _("✏️ {producer} asks the commune to correct a record they submitted:\n“{text}”\nPhone: {phone}").format(
            producer=params.get("producer", ""), text=params.get("text", ""), phone=params.get("phone", "")
        )
    )


@notice(CORRECTION_VOICE)
def _correction_voice(params: dict[str, Any]) -> SendFile | Text:
    from pathlib import Path

    if not Path(str(params["path"])).is_file():
        # Erased (the person asked for their data to be deleted) before the notice went out: say so once,
        # rather than failing the send again and again.
        return Text(
            _("✏️ {producer}: the recording was deleted at the person's request.").format(
                producer=params.get("producer", "")
            )
        )
    return SendFile(
        path=Path(str(params["path"])),
        name=str(params["name"]),
        mime=str(params["mime"]),
        caption=f"✏️ {params.get('producer', '')}: {params.get('caption', '')}",
    )


@notice(RETENTION_DOSSIER)
def _retention_dossier(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "🗂 Your draft dossier for {product} has not changed for a long time. "
            "It will be deleted on {day} unless you continue it."
        ).format(product=params.get("product", ""), day=format_day(dt.date.fromisoformat(str(params.get("day"))))),
        (Choice(_("📂 My dossier"), MenuDossier()),),
    )


@notice(RETENTION_IDEA)
def _retention_idea(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "🗂 Your draft product idea {name} has not changed for a long time. "
            "It will be deleted on {day} unless you continue it."
        ).format(name=params.get("name", ""), day=format_day(dt.date.fromisoformat(str(params.get("day"))))),
        (Choice(_("📝 Register a product idea"), MenuIdea()),),
    )
