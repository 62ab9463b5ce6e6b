"""What changed in a dossier since a staff member last looked: files added or removed per item, answers
edited (an expiry date, samples handed in).

Each staff view (the commune's review, the province's completeness check) keeps, per officer and dossier,
a small snapshot of what it showed (``storage.dossier_views``). Showing the dossier again compares the
dossier with that snapshot, lists the differences above the checklist, and keeps the new snapshot. The
first look lists nothing: there is nothing to compare with.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.dossier_facts import item_label
from bot.flow import Context
from bot.i18n import _, format_day
from storage import dossier_views
from storage.models import Dossier, DossierItem

COMMUNE, PROVINCE = "commune", "province"
MAX_LINES = 15  # a dossier rebuilt from scratch is summarised, not listed file by file


def snapshot(dossier: Dossier) -> dict[str, Any]:
    """What a staff member sees of each item: its files (by stored file, with the producer's name) and answers."""
    return {
        "items": {
            item.code: {
                "files": {str(link.stored_file_id): link.original_name or "" for link in item.files},
                "expires_on": item.expires_on.isoformat() if item.expires_on else None,
                "handed_in": item.handed_in_at is not None,
            }
            for item in dossier.items
        }
    }


def _changes(before: dict[str, Any], dossier: Dossier) -> list[str]:
    old_items: dict[str, Any] = before.get("items") or {}
    lines: list[str] = []
    for item in dossier.items:
        old = old_items.get(item.code) or {"files": {}, "expires_on": None, "handed_in": False}
        lines += _item_changes(item, old)
    return lines


def _item_changes(item: DossierItem, old: dict[str, Any]) -> list[str]:
    name = item_label(item.code)
    old_files: dict[str, str] = old.get("files") or {}
    new_files = {str(link.stored_file_id): link.original_name or "" for link in item.files}
    lines = [
        "➕ " + _("{item}: file added {file}").format(item=name, file=new_files[key]).rstrip()
        for key in new_files
        if key not in old_files
    ]
    lines += [
        "➖ " + _("{item}: file removed {file}").format(item=name, file=old_files[key]).rstrip()
        for key in old_files
        if key not in new_files
    ]
    expires = item.expires_on.isoformat() if item.expires_on else None
    if expires != old.get("expires_on"):
        lines.append(
            "✏️ "
            + _("{item}: expiry date {before} → {after}").format(
                item=name, before=_day(old.get("expires_on")), after=_day(expires)
            )
        )
    if (item.handed_in_at is not None) != bool(old.get("handed_in")):
        lines.append("✏️ " + _("{item}: samples handed in").format(item=name))
    return lines


def _day(iso: Any) -> str:
    if not isinstance(iso, str):
        return "—"
    return format_day(dt.date.fromisoformat(iso))


async def changes_since_last_look(ctx: Context, dossier: Dossier, view: str) -> list[str]:
    """The lines to show above the dossier (empty on a first look or when nothing changed); the dossier as
    shown now becomes what this officer last saw."""
    now = snapshot(dossier)
    seen = await dossier_views.last_view(ctx.session, ctx.user.id, dossier.id, view)
    lines: list[str] = []
    if seen is not None and seen.snapshot != now:
        changes = _changes(seen.snapshot, dossier)
        if changes:
            shown = changes[:MAX_LINES]
            if len(changes) > MAX_LINES:
                shown.append(_("… and {count} more changes").format(count=len(changes) - MAX_LINES))
            day = format_day(seen.seen_at, ctx.settings.ocop.timezone)
            lines = [_("🔄 Changed since you last looked ({day}):").format(day=day), *shown]
    await dossier_views.save_view(ctx.session, ctx.user.id, dossier.id, view, now, ctx.now)
    return lines
