"""The staff part of the main menu: one button per role the user holds, with the commune's count.

Kept apart from ``handlers.menu`` so the producer menu stays as it was; the buttons belong to
``handlers.commune_review``, ``handlers.province``, ``handlers.staff_search``, ``handlers.office_reports``,
``handlers.privacy`` and ``handlers.admin``, and each is offered only when its module is in the build.
"""

from __future__ import annotations

from bot.flow import Context
from bot.i18n import _
from bot.messages import Choice
from bot.roles import scope_of
from bot.rules import DossierStatus, IdeaStatus
from handlers.admin import AdminHome
from handlers.commune_contact import PhoneSetting
from handlers.province_common import ProvinceHome
from storage import claims, producers, reviews

# Buttons of modules that still read their own strings; they become those modules' button classes.
COMMUNE_QUEUE = "cr:q"
FIND = "find:start"  # handlers.staff_search
REPORTS = "reports:start"  # handlers.office_reports
DATA_REQUESTS = "pdo:requests"  # handlers.privacy

# What waits for a commune officer: submitted ideas, and dossiers submitted or being reviewed.
QUEUE_IDEA_STATUS = IdeaStatus.SUBMITTED_COMMUNE.value
QUEUE_DOSSIER_STATUSES = (DossierStatus.SUBMITTED_COMMUNE.value, DossierStatus.COMMUNE_REVIEW.value)


async def staff_choices(ctx: Context) -> tuple[list[Choice], bool]:
    """The staff buttons of this user, and whether the producer buttons should be shown as well
    (staff who are not producers themselves only see their work)."""
    scope = await scope_of(ctx)
    if not scope.is_staff:
        return [], True
    choices: list[Choice] = []
    if scope.communes:
        count = await reviews.count_waiting(ctx.session, scope.communes, QUEUE_IDEA_STATUS, QUEUE_DOSSIER_STATUSES)
        count += await claims.count_pending(ctx.session, scope.communes)
        choices.append(Choice(_("📋 Waiting for commune review ({count})").format(count=count), COMMUNE_QUEUE))
        choices.append(Choice(_("📞 My phone for producers"), PhoneSetting()))
    if scope.province_officer:
        choices.append(Choice(_("🏛 Province: rounds and dossiers"), ProvinceHome()))
    if scope.communes or scope.province_officer:
        choices.append(Choice(_("🔎 Find a product or producer"), FIND))
        choices.append(Choice(_("📊 Excel and reports"), REPORTS))
    if scope.admin:
        choices.append(Choice(_("🔑 Staff and invites"), AdminHome()))
        from handlers.privacy import pending_count

        count = await pending_count(ctx)
        choices.append(Choice(_("🔒 Data requests ({count})").format(count=count), DATA_REQUESTS))
    is_producer = await producers.producer_of_user(ctx.session, ctx.user.id) is not None
    return choices, is_producer
