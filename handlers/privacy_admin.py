"""Admins and deletion requests: the pending requests with their deadlines, a legal hold with its reason, and
releasing a hold. (The same from the command line: ``ocop-bot privacy requests|hold|release``.)

```mermaid
stateDiagram-v2
    [*] --> list: 🔒 Data requests (staff menu, or the button on an admin's notice)
    list --> hold_reason: ⏸ hold request N
    hold_reason --> hold_reason: no reason typed (hint)
    hold_reason --> [*]: reason typed → held, audit line, list again
    list --> [*]: ▶️ release request N → open again, carried out at the next sweep if due
```
"""

from __future__ import annotations

from bot.flow import Context, Flow, Registry
from bot.i18n import _
from bot.messages import Choice
from bot.roles import scope_of
from bot.text import has_words, tidy
from handlers.privacy_notices import when
from storage import audit, privacy

FLOW = "privacy_admin"
HOLD = "pdo:hold:"
RELEASE = "pdo:release:"
BACK = "pda:back"
REASON_MAX = 500

flow = Flow(FLOW, first_step="hold_reason")


async def _is_admin(ctx: Context) -> bool:
    if (await scope_of(ctx)).admin:
        return True
    ctx.say(_("Only an administrator can do this."))
    await ctx.main_menu()
    return False


async def show_requests(ctx: Context) -> None:
    if not await _is_admin(ctx):
        return
    ctx.end_flow()
    pending = await privacy.pending_requests(ctx.session)
    if not pending:
        ctx.say(_("🔒 No request to delete personal data is pending."))
        await ctx.main_menu()
        return
    lines = [_("🔒 Requests to delete personal data:")]
    choices = []
    for request in pending:
        line = _("No. {number} · received {day} · deadline {due}").format(
            number=request.id, day=when(request.requested_at.isoformat()), due=when(request.due_at.isoformat())
        )
        if request.status == privacy.HELD:
            line += "\n   " + _("⏸ held: {reason}").format(reason=request.hold_reason or "")
            choices.append(Choice(_("▶️ Release no. {number}").format(number=request.id), f"{RELEASE}{request.id}"))
        else:
            choices.append(Choice(_("⏸ Hold no. {number}").format(number=request.id), f"{HOLD}{request.id}"))
        lines.append(line)
    ctx.say("\n".join(lines), choices)


async def on_request_button(ctx: Context) -> None:
    if not await _is_admin(ctx):
        return
    payload = ctx.payload or ""
    raw = payload.rsplit(":", 1)[-1]
    request = await privacy.request_by_id(ctx.session, int(raw), lock=True) if raw.isdigit() else None
    if request is None or request.status not in privacy.PENDING:
        ctx.say(_("That request is no longer pending."))
        await show_requests(ctx)
        return
    if payload.startswith(HOLD):
        await ctx.start(FLOW, {"request": request.id})
        return
    request.status = privacy.OPEN
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=(ctx.user.display_name or "")[:100],
        action="privacy.released",
        object_type="privacy_request",
        object_id=request.id,
    )
    ctx.say(_("▶️ Request no. {number} will be carried out.").format(number=request.id))
    await show_requests(ctx)


@flow.ask("hold_reason", free_text=True)
async def ask_reason(ctx: Context) -> None:
    ctx.say(
        _("⏸ Why must request no. {number} wait? Name the legal ground (it is kept with the request).").format(
            number=ctx.data.get("request")
        ),
        [Choice(_("⬅️ Back"), BACK)],
    )


@flow.answer("hold_reason")
async def got_reason(ctx: Context) -> None:
    if ctx.payload == BACK:
        await show_requests(ctx)
        return
    reason = tidy(ctx.text)
    if not has_words(reason):
        await ctx.reask(_("Please type the reason in words."))
        return
    if not await _is_admin(ctx):
        return
    request = await privacy.request_by_id(ctx.session, int(ctx.data.get("request") or 0), lock=True)
    if request is None or request.status not in privacy.PENDING:
        ctx.say(_("That request is no longer pending."))
        await show_requests(ctx)
        return
    privacy.hold(request, reason=reason[:REASON_MAX], by=ctx.user.id, now=ctx.now)
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=(ctx.user.display_name or "")[:100],
        action="privacy.held",
        object_type="privacy_request",
        object_id=request.id,
        note=reason[:REASON_MAX],
    )
    ctx.say(_("⏸ Request no. {number} is on hold.").format(number=request.id))
    await show_requests(ctx)


def register(registry: Registry) -> None:
    registry.add_flow(flow)
