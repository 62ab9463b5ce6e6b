"""Staff invites and the admin's panel: redeem an invite link, create invites, list staff, revoke a role.

A staff member joins through ``/start inv_…`` (a Telegram deep link, handled before the onboarding gate,
so a brand-new user can join without registering as a producer). Every admin button is re-checked on the
server: the payload only names what to do, the scope says whether it may be done.

```mermaid
stateDiagram-v2
    [*] --> Welcome: /start inv_… (valid) → role granted
    Welcome --> Name: what is your full name?
    Name --> [*]: a name (audit) → main menu
    [*] --> Refused: /start inv_… (used / expired / revoked / unknown)
    [*] --> Panel: 🔑 Staff and invites (admins only)
    Panel --> Role: ➕ Invite
    Role --> Link: province / admin
    Role --> commune: commune officer
    commune --> commune: no match / too short (hint)
    commune --> Pick: typed part of the name
    Pick --> Link: commune chosen
    Panel --> Staff: 👥 Staff
    Staff --> Confirm: ❌ a role
    Confirm --> Staff: ✅ revoke (audit) / ⬅️ back
```
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bot import invites
from bot.callbacks import Button
from bot.communes import commune_by_code, find_communes
from bot.flow import Context, Flow, Registry
from bot.i18n import _, format_day
from bot.messages import Choice, Text
from bot.notices import notice
from bot.paging import nav_choices, page_of
from bot.roles import actor_label, commune_name, deny, forget_scope, is_admin, role_text, scope_of
from bot.rules import ROLE_LABELS, Role, label
from bot.text import tidy
from bot.typed_answers import text_problem
from storage import audit, producers, staff
from storage.models import Invite, StaffRole

FLOW = "admin"
MAX_COMMUNE_BUTTONS = 8
MAX_STAFF_BUTTONS = 30
NAME_MIN, NAME_MAX = 2, 100


class AdminButton(Button):
    """The admin panel's buttons: valid from any message, for administrators only (checked once, in
    ``on_admin_button``); the button only names what to do, the scope says whether it may be done."""


class AdminHome(AdminButton, prefix="adm:home"):
    pass


class AdminMenu(AdminButton, prefix="adm:menu"):
    pass


class NewInvite(AdminButton, prefix="adm:new"):
    # Was "adm:inv", which is now InviteRole's prefix (a prefix reads one set of fields): pressed on an older
    # message, the bare "adm:inv" is answered as a stale button.
    pass


class InviteRole(AdminButton, prefix="adm:inv"):
    role: str


class InviteCommune(AdminButton, prefix="adm:ic"):
    commune: int


class StaffList(AdminButton, prefix="adm:staff"):
    pass


class StaffPage(AdminButton, prefix="adm:sp"):
    page: int


class ConfirmRevoke(AdminButton, prefix="adm:rv"):
    role: int


class RevokeStaff(AdminButton, prefix="adm:rvy"):
    role: int


class PendingInvites(AdminButton, prefix="adm:pending"):
    pass


class ConfirmWithdraw(AdminButton, prefix="adm:wd"):
    invite: int


class WithdrawInvite(AdminButton, prefix="adm:wdy"):
    invite: int


A = TypeVar("A", bound=AdminButton)
PanelStep = Callable[[Context, A], Awaitable[None]]
_PANEL: dict[type[AdminButton], PanelStep[Any]] = {}


def panel(button: type[A]) -> Callable[[PanelStep[A]], PanelStep[A]]:
    """What pressing ``button`` does, once ``on_admin_button`` has checked the role."""

    def register(function: PanelStep[A]) -> PanelStep[A]:
        _PANEL[button] = function
        return function

    return register


flow = Flow(FLOW, first_step="commune")


# Redeeming an invite ------------------------------------------------------------------------------------------


async def on_invite_link(ctx: Context, code: str | None) -> None:
    """/start inv_…: use the invite once and grant its role."""
    ctx.end_flow()
    result, invite = await staff.redeem_invite(ctx.session, code or "", user_id=ctx.user.id, now=ctx.now)
    if result is not staff.Redeemed.OK or invite is None or invite.province != ctx.settings.ocop.province:
        ctx.say(_refusal(result))
        await _after_refusal(ctx)
        return
    row = await staff.grant(
        ctx.session,
        user_id=ctx.user.id,
        role=invite.role,
        province=invite.province,
        commune_code=invite.commune_code,
        granted_by=invite.created_by,
        now=ctx.now,
    )
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=actor_label(ctx),
        action="role.grant",
        object_type="staff_role",
        object_id=row.id,
        before=None,
        after={"user_id": ctx.user.id, "role": row.role, "commune_code": row.commune_code},
        note=f"invite #{invite.id}",
    )
    forget_scope(ctx)
    ctx.say(_welcome(ctx, invite))
    # Staff lists, the audit log and notices name people: "Cán bộ xã Nguyễn Thị Hoa (Bình Lư)", not "user #2".
    await ctx.start(FLOW, step="staff_name")


def _refusal(result: staff.Redeemed) -> str:
    if result is staff.Redeemed.USED:
        return _("This invite link has already been used. Each link works once. Please ask for a new one.")
    if result is staff.Redeemed.EXPIRED:
        return _("This invite link has expired. Please ask the OCOP office for a new one.")
    if result is staff.Redeemed.REVOKED:
        return _("This invite link was withdrawn. Please ask the OCOP office for a new one.")
    return _("I do not know this invite code. Please check that you copied the whole link.")


async def _after_refusal(ctx: Context) -> None:
    scope = await scope_of(ctx)
    if scope.is_staff or await producers.producer_of_user(ctx.session, ctx.user.id) is not None:
        await ctx.main_menu()
    else:
        ctx.say(_("If you are a producer, type /start to register."))


def _welcome(ctx: Context, invite: Invite) -> str:
    what = role_text(ctx.settings.ocop.province, invite.role, invite.commune_code)
    if invite.role == Role.COMMUNE:
        can = _(
            "You can now review the product ideas and dossiers of your commune: confirm the four local "
            "criteria, or return them with a reason. Press “📋 Waiting for commune review” in the menu."
        )
    elif invite.role == Role.PROVINCE:
        can = _(
            "You can now manage the province's evaluation rounds, check dossiers, record the council's "
            "scores and issue certificates. Use the province button in the menu."
        )
    else:
        can = _("You can now invite staff, see the staff list and revoke roles. Press “🔑 Staff and invites”.")
    return _("👋 Welcome! You are now: {role}.\n{can}").format(role=what, can=can)


@flow.ask("staff_name", free_text=True)
async def ask_staff_name(ctx: Context) -> None:
    ctx.say(_("What is your full name? Colleagues and producers will see it, e.g. Nguyễn Thị Hoa."))


@flow.on_text("staff_name")
async def got_staff_name(ctx: Context, text: str) -> None:
    name = tidy(text)
    problem = text_problem(name or None, minimum=NAME_MIN, maximum=NAME_MAX)
    if problem is None and sum(ch.isalpha() for ch in name) < NAME_MIN:
        problem = _("Please type your name in letters.")
    if problem is not None:
        await ctx.reask(problem)
        return
    before = ctx.user.display_name
    ctx.user.display_name = name
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=name,
        action="staff.name",
        object_type="user",
        object_id=ctx.user.id,
        before={"name": before},
        after={"name": name},
    )
    ctx.say(_("✓ Thank you, {name}.").format(name=name))
    # A commune officer says once whether producers may call them (handlers.commune_contact).
    if (await scope_of(ctx)).communes and "staff_phone" in ctx.registry.flows:
        await ctx.start("staff_phone")
        return
    await ctx.finish()


def staff_title(province: str, role: str, commune_code: int | None, name: str) -> str:
    """How staff are named to others: "Commune officer Nguyễn Thị Hoa (Xã Bình Lư)"."""
    try:
        title = label(ROLE_LABELS, role)
    except KeyError:
        title = role
    where = commune_name(province, commune_code)
    return f"{title} {name} ({where})" if where else f"{title} {name}"


# The panel ----------------------------------------------------------------------------------------------------


async def on_admin_button(ctx: Context, pressed: AdminButton) -> None:
    """Every admin button: the admin role is re-checked first, then the button does what it names."""
    if not is_admin(await scope_of(ctx)):
        await deny(ctx)
        return
    await _PANEL[type(pressed)](ctx, pressed)


@panel(AdminHome)
async def on_home(ctx: Context, _pressed: AdminHome) -> None:
    await show_panel(ctx)


@panel(AdminMenu)
async def on_menu(ctx: Context, _pressed: AdminMenu) -> None:
    await ctx.finish()


async def show_panel(ctx: Context) -> None:
    ctx.end_flow()
    ctx.say(
        _("🔑 Staff and invites. What would you like to do?"),
        [
            Choice(_("➕ Invite a staff member"), NewInvite()),
            Choice(_("👥 Staff list"), StaffList()),
            Choice(_("📨 Unused invites"), PendingInvites()),
            Choice(_("⬅️ Menu"), AdminMenu()),
        ],
    )


@panel(NewInvite)
async def ask_role(ctx: Context, _pressed: NewInvite) -> None:
    ctx.end_flow()
    ctx.say(
        _("Invite whom?"),
        [Choice(label(ROLE_LABELS, role), InviteRole(role=role.value)) for role in Role]
        + [Choice(_("⬅️ Back"), AdminHome())],
    )


@panel(InviteRole)
async def invite_for_role(ctx: Context, pressed: InviteRole) -> None:
    try:
        role = Role(pressed.role)
    except ValueError:
        await show_panel(ctx)
        return
    if role is Role.COMMUNE:
        await ctx.start(FLOW, step="commune")
        return
    await _create_and_show(ctx, role, None)


@panel(InviteCommune)
async def invite_for_commune(ctx: Context, pressed: InviteCommune) -> None:
    code = pressed.commune
    if commune_by_code(ctx.settings.ocop.province, code) is None:
        ctx.say(_("That commune is not in the province. Please type its name again."))
        await ctx.start(FLOW, step="commune")
        return
    await _create_and_show(ctx, Role.COMMUNE, code)


async def _create_and_show(ctx: Context, role: Role, commune_code: int | None) -> None:
    created = await invites.create(
        ctx.session,
        ctx.settings,
        role=role,
        commune_code=commune_code,
        created_by=ctx.user.id,
        actor_label=actor_label(ctx),
        now=ctx.now,
    )
    how = created.link or created.start_command
    ctx.end_flow()
    ctx.say(
        _(
            "✅ Invite for: {role}\n{how}\n\nSend this to the person. It works once and expires on {day}. "
            "It is shown only now."
        ).format(
            role=role_text(ctx.settings.ocop.province, role.value, commune_code),
            how=how,
            day=format_day(created.expires_at, ctx.settings.ocop.timezone),
        ),
        [Choice(_("➕ Another invite"), NewInvite()), Choice(_("⬅️ Back"), AdminHome())],
    )


@flow.before
async def admins_search_communes(ctx: Context) -> bool:
    """The commune search is the admin's (the role may have been revoked while typing); naming oneself right
    after redeeming an invite is every new staff member's."""
    if ctx.state.step == "staff_name" or is_admin(await scope_of(ctx)):
        return True
    await deny(ctx)
    return False


@flow.ask("commune")
async def ask_commune(ctx: Context) -> None:
    ctx.say(_("Which commune? Type its name, for example: Bình Lư"), [Choice(_("⬅️ Back"), AdminHome())])


@flow.on_text("commune")
async def got_commune(ctx: Context, typed: str) -> None:
    found = find_communes(ctx.settings.ocop.province, typed, limit=MAX_COMMUNE_BUTTONS) if len(typed) >= 2 else []
    if not found:
        await ctx.reask(_("I found no commune with that name. Please type it again."))
        return
    if len(found) == 1:
        await _create_and_show(ctx, Role.COMMUNE, found[0].code)
        return
    ctx.say(
        _("Which one?"),
        [Choice(c.name, InviteCommune(commune=c.code)) for c in found] + [Choice(_("⬅️ Back"), AdminHome())],
    )


# Unused invites: see and withdraw ------------------------------------------------------------------------------


@panel(PendingInvites)
async def on_pending(ctx: Context, _pressed: PendingInvites) -> None:
    await show_pending(ctx)


async def show_pending(ctx: Context) -> None:
    ctx.end_flow()
    province = ctx.settings.ocop.province
    pending = await staff.pending_invites(ctx.session, province, ctx.now)
    if not pending:
        ctx.say(_("No unused invite."), [Choice(_("⬅️ Back"), AdminHome())])
        return
    lines = [_("📨 Unused invites ({count}):").format(count=len(pending))]
    choices: list[Choice] = []
    for invite in pending[:MAX_STAFF_BUTTONS]:
        what = role_text(province, invite.role, invite.commune_code)
        lines.append(
            "• "
            + _("#{id} {role}, made {made}, valid until {until}").format(
                id=invite.id, role=what, made=format_day(invite.created_at), until=format_day(invite.expires_at)
            )
        )
        choices.append(Choice(_("❌ Withdraw #{id}").format(id=invite.id), ConfirmWithdraw(invite=invite.id)))
    choices.append(Choice(_("⬅️ Back"), AdminHome()))
    ctx.say("\n".join(lines), choices)


@panel(ConfirmWithdraw)
async def confirm_withdraw(ctx: Context, pressed: ConfirmWithdraw) -> None:
    pending = {i.id: i for i in await staff.pending_invites(ctx.session, ctx.settings.ocop.province, ctx.now)}
    invite = pending.get(pressed.invite)
    if invite is None:
        ctx.say(_("That invite is already used, expired or withdrawn."))
        await show_pending(ctx)
        return
    what = role_text(ctx.settings.ocop.province, invite.role, invite.commune_code)
    ctx.say(
        _("Withdraw invite #{id} ({role})? The link will stop working.").format(id=invite.id, role=what),
        [Choice(_("✅ Withdraw"), WithdrawInvite(invite=invite.id)), Choice(_("⬅️ Back"), PendingInvites())],
    )


@panel(WithdrawInvite)
async def withdraw(ctx: Context, pressed: WithdrawInvite) -> None:
    invite_id = pressed.invite
    if not await staff.revoke_invite(ctx.session, invite_id, ctx.settings.ocop.province, ctx.now):
        ctx.say(_("That invite is already used, expired or withdrawn."))
        await show_pending(ctx)
        return
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=actor_label(ctx),
        action="invite.withdraw",
        object_type="invite",
        object_id=invite_id,
        before=None,
        after={"revoked": True},
    )
    ctx.say(_("✅ Invite #{id} withdrawn.").format(id=invite_id))
    await show_pending(ctx)


# Staff list and revoking ------------------------------------------------------------------------------------


@panel(StaffList)
async def on_staff(ctx: Context, _pressed: StaffList) -> None:
    await show_staff(ctx)


@panel(StaffPage)
async def on_staff_page(ctx: Context, pressed: StaffPage) -> None:
    await show_staff(ctx, pressed.page)


async def show_staff(ctx: Context, page_number: int = 0) -> None:
    ctx.end_flow()
    province = ctx.settings.ocop.province
    members = await staff.list_staff(ctx.session, province)
    if not members:
        ctx.say(
            _("There is no staff yet."),
            [Choice(_("➕ Invite a staff member"), NewInvite()), Choice(_("⬅️ Back"), AdminHome())],
        )
        return
    page = page_of(members, page_number)
    lines = [_("👥 Staff ({count}):").format(count=len(members)), page.position]
    choices: list[Choice] = []
    for member in page.rows:
        # Never a bare number: typed, it would be read as the number of a choice.
        who = member.display_name or member.phone or _("user #{id}").format(id=member.role.user_id)
        # Bullets, not numbers: on numbered-menu channels only the choices carry numbers.
        lines.append(f"• {staff_title(province, member.role.role, member.role.commune_code, who)}")
        choices.append(Choice(f"❌ {who}"[:48], ConfirmRevoke(role=member.role.id)))
    lines.append(_("Press ❌ to revoke a role."))
    choices += nav_choices(page, lambda number: StaffPage(page=number))
    choices.append(Choice(_("⬅️ Back"), AdminHome()))
    ctx.say("\n".join(lines), choices)


async def _role(ctx: Context, role_id: int) -> StaffRole | None:
    return await staff.role_by_id(ctx.session, role_id, ctx.settings.ocop.province)


@panel(ConfirmRevoke)
async def confirm_revoke(ctx: Context, pressed: ConfirmRevoke) -> None:
    row = await _role(ctx, pressed.role)
    if row is None:
        ctx.say(_("That role was already revoked or no longer exists."))
        await show_staff(ctx)
        return
    if row.user_id == ctx.user.id:
        ctx.say(_("You cannot revoke your own role. Ask another administrator."))
        await show_staff(ctx)
        return
    ctx.say(
        _("Revoke this role?\n{role}").format(role=role_text(ctx.settings.ocop.province, row.role, row.commune_code)),
        [Choice(_("✅ Yes, revoke"), RevokeStaff(role=row.id)), Choice(_("⬅️ Back"), StaffList())],
    )


@panel(RevokeStaff)
async def revoke(ctx: Context, pressed: RevokeStaff) -> None:
    role_id = pressed.role
    row = await _role(ctx, role_id)
    if row is None:
        ctx.say(_("That role was already revoked or no longer exists."))
        await show_staff(ctx)
        return
    if row.user_id == ctx.user.id:
        ctx.say(_("You cannot revoke your own role. Ask another administrator."))
        await show_staff(ctx)
        return
    revoked = await staff.revoke_role(ctx.session, role_id, ctx.settings.ocop.province, ctx.now)
    if revoked is None:  # someone else revoked it between our read and our write
        ctx.say(_("That role was already revoked or no longer exists."))
        await show_staff(ctx)
        return
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=actor_label(ctx),
        action="role.revoke",
        object_type="staff_role",
        object_id=revoked.id,
        before={"user_id": revoked.user_id, "role": revoked.role, "commune_code": revoked.commune_code},
        after={"revoked": True},
    )
    await ctx.notify(
        revoked.user_id,
        "role_revoked",
        {"role": revoked.role, "commune_code": revoked.commune_code, "province": revoked.province},
        dedupe_key=f"role_revoked:{revoked.id}:{ctx.now.isoformat()}",
    )
    ctx.say(_("✅ Role revoked."))
    await show_staff(ctx)


@notice("role_revoked")
def render_role_revoked(params: dict[str, Any]) -> Text:
    code = params.get("commune_code")
    what = role_text(
        str(params.get("province", "")), str(params.get("role", "")), code if isinstance(code, int) else None
    )
    return Text(_("Your staff role has ended: {role}. Thank you for your work.").format(role=what))


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.deep_links[staff.INVITE_PREFIX] = on_invite_link
    registry.on_button(AdminButton)(on_admin_button)
