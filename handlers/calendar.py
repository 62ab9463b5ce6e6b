"""“📅 Lịch” (/lich): what is coming up for this user, and whether the optional reminders are on.

A producer sees the next rounds' deadlines, their dossiers still to finish (with what is missing), their
certificates' expiry dates and dossier documents that expire. Commune officers see how many dossiers wait for
their review; province officers how many certificates expire within 180 days. A producer can turn off the
optional nudges (the weekly "items missing" reminder, early certificate reminders); the legal notice 30 days
before a certificate expires, the expiry itself and round deadlines are always sent.

```mermaid
stateDiagram-v2
    [*] --> show: /lich, 📅 Lịch, "xem lich", a reminder's button
    show --> show: 🔕 Mute / 🔔 Unmute reminders
    show --> [*]: ⬅️ Menu
```
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from bot.callbacks import Button
from bot.dossier_facts import item_label, missing_items
from bot.flow import Context, Flow, Intent, Registry
from bot.i18n import _, format_day
from bot.messages import Choice
from bot.roles import scope_of
from bot.rules import PRODUCER_EDITABLE
from bot.sweep import BEFORE_COUNCIL, WAITING_FOR_COMMUNE
from storage import calendar, dossiers
from storage.models import Round
from storage.producers import producer_of_user

FLOW_NAME = "calendar"
PHRASES = ("xem lich", "lich cua toi", "lich nop", "han nop", "bao gio het han", "lich han")
# Certificates expiring within this many days get a ⚠️ on the calendar.
SOON_DAYS = 180


class ReminderSwitch(Button):
    """🔕 / 🔔: the optional reminders off or on."""

    mute: ClassVar[bool]


class MuteReminders(ReminderSwitch, prefix="cal:mute"):
    mute = True


class UnmuteReminders(ReminderSwitch, prefix="cal:unmute"):
    mute = False


class CalendarBack(Button, prefix="cal:back"):
    pass


flow = Flow(FLOW_NAME, first_step="show")


def _round_lines(rounds: list[Round]) -> list[str]:
    if not rounds:
        return [_("No evaluation round is open at the moment.")]
    lines = [_("Evaluation rounds:")]
    for found in rounds:
        line = _("• {round}: submit by {deadline}").format(round=found.name, deadline=format_day(found.submit_deadline))
        if found.meeting_date is not None:
            line += _(", council meets on {day}").format(day=format_day(found.meeting_date))
        lines.append(line)
    return lines


async def _producer_blocks(ctx: Context, producer_id: int) -> list[str]:
    blocks: list[str] = []
    open_dossiers = await dossiers.dossiers_of(ctx.session, producer_id, [s.value for s in PRODUCER_EDITABLE])
    if open_dossiers:
        lines = [_("Dossiers to finish:")]
        for dossier in open_dossiers:
            missing = missing_items(dossier)
            if missing:
                names = ", ".join(item_label(item.code) for item in missing)
                lines.append(_("📂 {product}: missing {items}").format(product=dossier.product.name, items=names))
            else:
                lines.append(_("📂 {product}: ready, press Submit").format(product=dossier.product.name))
        blocks.append("\n".join(lines))
    certificates = await calendar.live_certificates(ctx.session, producer_id)
    if certificates:
        lines = [_("OCOP certificates:")]
        soon = ctx.today + dt.timedelta(days=SOON_DAYS)
        for certificate, product in certificates:
            mark = "⚠️" if certificate.expires_on <= soon else "🏅"
            lines.append(
                _("{mark} {product} ({stars}★): valid until {day}").format(
                    mark=mark, product=product, stars=certificate.stars, day=format_day(certificate.expires_on)
                )
            )
        blocks.append("\n".join(lines))
    documents = await calendar.expiring_documents(ctx.session, producer_id, BEFORE_COUNCIL, ctx.today)
    if documents:
        lines = [_("Documents that expire:")]
        lines += [
            _("📄 {item} ({product}): until {day}").format(item=item_label(code), product=product, day=format_day(day))
            for code, product, day in documents
        ]
        blocks.append("\n".join(lines))
    return blocks


async def show_calendar(ctx: Context) -> None:
    """Start (or restart) the calendar: its one step shows it."""
    await ctx.start(FLOW_NAME)


async def render_calendar(ctx: Context) -> None:
    rounds = await calendar.upcoming_rounds(ctx.session, ctx.settings.ocop.province, ctx.today)
    blocks = ["📅 " + _("Your calendar") + "\n" + "\n".join(_round_lines(rounds))]
    producer = await producer_of_user(ctx.session, ctx.user.id)
    if producer is not None:
        blocks += await _producer_blocks(ctx, producer.id)
    scope = await scope_of(ctx)
    if scope.communes:
        waiting = await calendar.dossiers_waiting(ctx.session, scope.communes, WAITING_FOR_COMMUNE)
        blocks.append(_("📋 Dossiers waiting for your review: {count}").format(count=waiting))
    if scope.province_officer:
        until = ctx.today + dt.timedelta(days=SOON_DAYS)
        expiring = await calendar.certificates_expiring(ctx.session, ctx.today, until)
        blocks.append(_("🏅 Certificates expiring before {day}: {count}").format(day=format_day(until), count=expiring))
    choices: list[Choice] = []
    if producer is not None:
        if ctx.user.mute_nudges:
            blocks.append(_("🔕 Weekly reminders are off. Deadlines and the 30-day certificate notice still come."))
            choices.append(Choice(_("🔔 Turn weekly reminders on"), UnmuteReminders()))
        else:
            blocks.append(_("🔔 I remind you of deadlines and missing documents."))
            choices.append(Choice(_("🔕 Stop weekly reminders"), MuteReminders()))
    choices.append(Choice(_("⬅️ Menu"), CalendarBack()))
    ctx.say("\n\n".join(blocks), choices)


async def on_command(ctx: Context, _argument: str | None) -> None:
    await show_calendar(ctx)


@flow.ask("show")
async def ask_show(ctx: Context) -> None:
    await render_calendar(ctx)


@flow.on("show", ReminderSwitch)
async def switch_reminders(ctx: Context, pressed: ReminderSwitch) -> None:
    # Re-checked here: only a producer has optional reminders to mute.
    if await producer_of_user(ctx.session, ctx.user.id) is None:
        await ctx.finish()
        return
    ctx.user.mute_nudges = pressed.mute
    if pressed.mute:
        ctx.say(_("Done: no more weekly reminders. Deadlines and certificate notices will still come."))
    else:
        ctx.say(_("Done: weekly reminders are on again."))
    await render_calendar(ctx)


@flow.on("show", CalendarBack)
async def back_to_menu(ctx: Context, _pressed: CalendarBack) -> None:
    await ctx.finish()


@flow.on_text("show", free_text=False)
async def typed_on_calendar(ctx: Context, _text: str) -> None:
    await ctx.reask(_("Please press one of the buttons."))


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.commands["lich"] = on_command
    registry.commands["calendar"] = on_command
    registry.intents.append(Intent(phrases=PHRASES, run=show_calendar))
