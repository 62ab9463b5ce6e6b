"""📞 Contact the commune officer: the producer sees who handles OCOP in their commune, with a number to tap
and call, for officers who allowed it. Each commune officer chooses when joining (after their name) and can
change it from their menu; until they say yes, producers see only their name.

```mermaid
stateDiagram-v2
    [*] --> Officers: 📞 Contact (producer) → names, and the phones officers allowed
    [*] --> share: invite used and name given (commune officer) / 📞 My phone for producers
    share --> [*]: 🙈 No (hidden) / ✅ Yes with a phone already known (shown)
    share --> phone: ✅ Yes, no phone known yet
    phone --> phone: not a mobile number (hint)
    phone --> [*]: a number (saved, shown)
```
"""

from __future__ import annotations

from bot.callbacks import Button
from bot.flow import Context, Flow, Registry
from bot.i18n import _
from bot.messages import Choice
from bot.roles import deny, scope_of
from bot.text import normalise_phone
from storage import audit, staff
from storage.producers import producer_of_user

FLOW = "staff_phone"


class ShowContacts(Button, prefix="cc:show"):
    """The producer's menu entry: who to call at the commune."""


class PhoneSetting(Button, prefix="cc:phone"):
    """The commune officer's menu entry: whether producers see their phone."""


class SharePhone(Button, prefix="sp:yes"):
    pass


class HidePhone(Button, prefix="sp:no"):
    pass


flow = Flow(FLOW, first_step="share")


def tap_to_call(phone: str) -> str:
    """International form: Telegram and Zalo turn it into a link that starts a call."""
    return "+84" + phone[1:] if phone.startswith("0") else phone


async def show_officers(ctx: Context) -> None:
    producer = await producer_of_user(ctx.session, ctx.user.id)
    if producer is None:
        await ctx.main_menu()
        return
    officers = await staff.commune_officers(ctx.session, ctx.settings.ocop.province, producer.commune_code)
    if not officers:
        ctx.say(
            _(
                "No OCOP officer of {commune} uses this chat yet.\nPlease ask at the commune People's Committee office."
            ).format(commune=producer.commune_name)
        )
        await ctx.main_menu()
        return
    lines = [_("📞 OCOP officers of {commune}:").format(commune=producer.commune_name)]
    for officer in officers:
        name = officer.display_name or _("Commune officer")
        if officer.phone_public and officer.phone:
            lines.append(f"👤 {name}: {tap_to_call(officer.phone)}")
        else:
            lines.append(f"👤 {name}: " + _("phone not shared, ask at the commune office"))
    ctx.say("\n".join(lines))
    await ctx.main_menu()


async def start_setting(ctx: Context) -> None:
    """From the staff menu: change whether producers see this officer's phone."""
    scope = await scope_of(ctx)
    if not scope.communes:
        await deny(ctx)
        return
    await ctx.start(FLOW)


async def on_show(ctx: Context, _pressed: ShowContacts) -> None:
    ctx.end_flow()
    await show_officers(ctx)


async def on_setting(ctx: Context, _pressed: PhoneSetting) -> None:
    await start_setting(ctx)


@flow.ask("share")
async def ask_share(ctx: Context) -> None:
    now = _("Now: shown") if ctx.user.phone_public else _("Now: hidden")
    ctx.say(
        _("May producers of your commune see your phone number, to call you about OCOP?") + "\n" + now,
        [Choice(_("✅ Yes, show it"), SharePhone()), Choice(_("🙈 No, keep it hidden"), HidePhone())],
    )


@flow.on("share", HidePhone)
async def keep_hidden(ctx: Context, _pressed: HidePhone) -> None:
    await _save(ctx, public=False)


@flow.on("share", SharePhone)
async def share(ctx: Context, _pressed: SharePhone) -> None:
    if ctx.user.phone:
        await _save(ctx, public=True)
    else:
        await ctx.goto("phone")


@flow.ask("phone", free_text=True)
async def ask_phone(ctx: Context) -> None:
    ctx.ask_phone(_("Which number? Type it, or use the share button below."))


@flow.answer("phone")
async def got_phone(ctx: Context) -> None:
    raw = ctx.inbound.phone or ctx.text
    phone = normalise_phone(raw) if raw else None
    if phone is None:
        await ctx.reask(_("Please type 10 digits starting with 0, for example 0912 345 678."))
        return
    ctx.user.phone = phone
    await _save(ctx, public=True)


async def _save(ctx: Context, *, public: bool) -> None:
    before = ctx.user.phone_public
    ctx.user.phone_public = public
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=(ctx.user.display_name or f"user {ctx.user.id}")[:100],
        action="staff.phone_public",
        object_type="user",
        object_id=ctx.user.id,
        before={"phone_public": before},
        after={"phone_public": public},
    )
    if public and ctx.user.phone:
        ctx.say(_("✓ Producers of your commune can now see {phone}.").format(phone=ctx.user.phone))
    else:
        ctx.say(_("✓ Your phone stays hidden from producers."))
    await ctx.finish()


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.on_button(ShowContacts)(on_show)
    registry.on_button(PhoneSetting)(on_setting)
