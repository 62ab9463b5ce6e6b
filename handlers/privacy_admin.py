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

from dataclasses import dataclass

from bot.button_family import Family
from bot.callbacks import Button
from bot.flow import Context, Flow, FlowData, Registry
from bot.i18n import _
from bot.messages import Choice
from bot.roles import Scope, scope_of
from bot.text import has_words, tidy
from handlers.privacy_buttons import HoldRequest, ReleaseRequest, RequestButton, ShowRequests
from handlers.privacy_notices import when
from storage import audit, privacy
from storage.models import PrivacyRequest

FLOW = "privacy_admin"
REASON_MAX = 500


class BackToRequests(Button, prefix="pda:back"):
    pass


@dataclass
class Hold(FlowData):
    """The request whose hold reason is being typed."""

    request: int = 0


flow = Flow(FLOW, first_step="hold_reason", data=Hold)


async def _admin(ctx: Context) -> Scope | None:
    scope = await scope_of(ctx)
    if scope.admin:
        return scope
    ctx.say(_("Only an administrator can do this."))
    await ctx.main_menu()
    return None


requests = Family(RequestButton, _admin)


@flow.before
async def an_admin(ctx: Context) -> bool:
    return await _admin(ctx) is not None


async def show_requests(ctx: Context) -> None:
    """The pending requests with their deadlines (the caller has checked that this is an admin)."""
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
            choices.append(
                Choice(_("▶️ Release no. {number}").format(number=request.id), ReleaseRequest(request=request.id))
            )
        else:
            choices.append(Choice(_("⏸ Hold no. {number}").format(number=request.id), HoldRequest(request=request.id)))
        lines.append(line)
    ctx.say("\n".join(lines), choices)


@requests.on(ShowRequests)
async def requests_pressed(ctx: Context, _scope: Scope, _pressed: ShowRequests) -> None:
    await show_requests(ctx)


async def _pending(ctx: Context, request_id: int) -> PrivacyRequest | None:
    """The request, locked, if it is still pending; otherwise the list again."""
    request = await privacy.request_by_id(ctx.session, request_id, lock=True)
    if request is None or request.status not in privacy.PENDING:
        ctx.say(_("That request is no longer pending."))
        await show_requests(ctx)
        return None
    return request


@requests.on(HoldRequest)
async def hold_pressed(ctx: Context, _scope: Scope, pressed: HoldRequest) -> None:
    request = await _pending(ctx, pressed.request)
    if request is not None:
        await ctx.start(FLOW, Hold(request=request.id))


@requests.on(ReleaseRequest)
async def release_pressed(ctx: Context, _scope: Scope, pressed: ReleaseRequest) -> None:
    request = await _pending(ctx, pressed.request)
    if request is None:
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
            number=ctx.form(Hold).request
        ),
        [Choice(_("⬅️ Back"), BackToRequests())],
    )


@flow.on("hold_reason", BackToRequests)
async def back_pressed(ctx: Context, _pressed: BackToRequests) -> None:
    await show_requests(ctx)


@flow.on_text("hold_reason")
async def got_reason(ctx: Context, text: str) -> None:
    reason = tidy(text)
    if not has_words(reason):
        await ctx.reask(_("Please type the reason in words."))
        return
    request = await _pending(ctx, ctx.form(Hold).request)
    if request is None:
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
    requests.register(registry)
