"""Who may do what: a user's staff ``Scope`` and the checks every staff action makes on the server.

Every staff handler starts with ``scope = await scope_of(ctx)`` and checks the object it is about to touch
*as loaded from the database* (never an id or commune taken from a button payload on trust)::

    scope = await scope_of(ctx)
    if dossier.product.commune_code not in scope.communes:
        await deny(ctx)
        return

Roles live in ``staff_roles`` (``storage.staff``); only roles of the configured province count. Least
privilege: an admin manages staff and invites but does not review or score unless also given that role.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from bot.communes import commune_by_code
from bot.flow import Context
from bot.i18n import _
from bot.rules import ROLE_LABELS, Role, label
from storage import staff


@dataclass(frozen=True, slots=True)
class Scope:
    """What one user may do, as of this update."""

    user_id: int
    province: str
    communes: frozenset[int] = frozenset()  # communes whose ideas and dossiers they review
    province_officer: bool = False  # rounds, completeness, scores, certificates of the whole province
    admin: bool = False  # invites, staff list, revoking roles

    @property
    def is_staff(self) -> bool:
        return bool(self.communes) or self.province_officer or self.admin


# One load per update: several checks in one step share it, the next update loads afresh (a revoked role
# takes effect on the very next message).
_CACHE: weakref.WeakKeyDictionary[Context, Scope] = weakref.WeakKeyDictionary()


async def load_scope(session: AsyncSession, user_id: int, province: str) -> Scope:
    """The scope of ``user_id`` from the database (for code without a ``Context``, e.g. the CLI)."""
    communes: set[int] = set()
    province_officer = admin = False
    for row in await staff.active_roles(session, user_id):
        if row.province != province:
            continue
        if row.role == Role.COMMUNE and row.commune_code is not None:
            communes.add(row.commune_code)
        elif row.role == Role.PROVINCE:
            province_officer = True
        elif row.role == Role.ADMIN:
            admin = True
    return Scope(user_id, province, frozenset(communes), province_officer, admin)


async def scope_of(ctx: Context) -> Scope:
    """The scope of the user who sent this update (loaded once per update)."""
    scope = _CACHE.get(ctx)
    if scope is None:
        scope = await load_scope(ctx.session, ctx.user.id, ctx.settings.ocop.province)
        _CACHE[ctx] = scope
    return scope


def forget_scope(ctx: Context) -> None:
    """Drop the cached scope (after granting or revoking a role within this update)."""
    _CACHE.pop(ctx, None)


def is_commune_officer(scope: Scope) -> bool:
    return bool(scope.communes)


def is_province_officer(scope: Scope) -> bool:
    """May run rounds, completeness checks, scores and certificates of the configured province."""
    return scope.province_officer


def is_admin(scope: Scope) -> bool:
    """May create invites, list staff and revoke roles."""
    return scope.admin


async def office_scope(ctx: Context) -> Scope | None:
    """The scope of a commune or province officer (the office views: search, Excel, reports); for anyone else
    the refusal is said and None returned. Commune officers see their communes, the province everything."""
    scope = await scope_of(ctx)
    if not (scope.province_officer or scope.communes):
        await deny(ctx)
        return None
    return scope


def office_communes(scope: Scope) -> frozenset[int] | None:
    """None (the whole province) for a province officer; the officer's communes otherwise."""
    return None if scope.province_officer else scope.communes


async def deny(ctx: Context) -> None:
    """The one friendly answer to an action outside the user's scope: nothing is said about whether the
    object exists, nothing is written; the main menu follows."""
    ctx.end_flow()
    ctx.say(_("Sorry, you cannot do that. It is outside your role, or the item no longer exists."))
    await ctx.main_menu()


# How staff and their roles are named in lists, audit lines and notices ------------------------------------------


def actor_label(ctx: Context) -> str:
    return (ctx.user.display_name or f"user {ctx.user.id}")[:100]


def commune_name(province: str, code: int | None) -> str:
    if code is None:
        return ""
    commune = commune_by_code(province, code)
    return commune.name if commune is not None else str(code)


def role_text(province: str, role: str, commune_code: int | None) -> str:
    """ "Commune officer — Xã Bình Lư", "Province OCOP officer"."""
    try:
        name = label(ROLE_LABELS, role)
    except KeyError:
        name = role
    where = commune_name(province, commune_code)
    return f"{name} — {where}" if where else name
