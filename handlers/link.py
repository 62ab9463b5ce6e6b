"""One person, two apps: join a Telegram and a Zalo account into one user with a one-time code.

"Liên kết tài khoản" (typed, ``/link``, or a ``lk:start`` button) shows an 8-digit code in one app and waits
for a code from the other; the code typed there does not join anything by itself: the app that showed the
code is asked "Zalo account Lò Văn Sáng wants to join — allow?" and only ✅ Allow there joins the accounts.
Both apps are told the outcome.

Guessing is made useless, not just slow: codes are read only inside this flow and only after consent; an
account may type at most ``TRIES_PER_HOUR`` codes an hour (counted in the database, so across processes);
every wrong code typed anywhere counts against every live code, which dies after ``MAX_WRONG_PER_CODE``;
and a right guess still needs the owner's ✅. Staff accounts are never joined into or out of by code
(their roles come with an invite only). The code is stored only as a SHA-256, works once, for ten minutes.
The older user's data is kept; when both accounts have a producer profile nothing is joined.

```mermaid
stateDiagram-v2
    [*] --> code: "lien ket", /link, 🔗 button (after consent, not staff) → a new code is shown
    [*] --> allow: "lien ket" while a code of ours waits for ✅ → the question again
    code --> code: not 8 digits (hint) / wrong or expired code (hint, at most 3 in the flow)
    code --> [*]: ⬅️ Menu, 3 wrong codes, or 5 codes typed this hour → main menu
    code --> [*]: a live code → its owner is asked (notice); this app waits → main menu
    allow --> [*]: ✅ (lk:yes:<id>) → joined, both apps told / ❌ (lk:no:<id>) → nothing joined, both told
```
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from bot.callbacks import Button
from bot.flow import Context, Flow, FlowData, Intent, Registry
from bot.i18n import _
from bot.messages import Choice, Text, choices_of
from bot.notices import notice
from bot.text import fold
from storage import audit, links, staff
from storage.models import ChannelIdentity, LinkCode, User

FLOW = "link"
CODE_DIGITS = 8
CODE_MINUTES = 10
# How long the code's owner has to answer "allow?" once the code was typed in the other app.
ANSWER_MINUTES = 30
MAX_TRIES = 3
TRIES_PER_HOUR = 5
MAX_WRONG_PER_CODE = 5
PHRASES = ("lien ket", "ket noi tai khoan", "link account")
# Before onboarding only the request itself counts: "liên kết" is an everyday word inside names and answers.
EXACT_PHRASES = frozenset({"lien ket", "lien ket tai khoan", "ket noi tai khoan", "link account", "link"})
APP_NAMES = {"telegram": "Telegram", "zalo_bot": "Zalo", "zalo_oa": "Zalo"}

REQUEST_NOTICE = "link_request"
JOINED_NOTICE = "link_joined"
REFUSED_NOTICE = "link_refused"

_CODE = re.compile(r"^\s*(\d{4})[\s.-]?(\d{4})\s*$")
_HOUR = dt.timedelta(hours=1)


class LinkButton(Button):
    """The link's buttons: valid from any message (the "allow?" question comes as a notice)."""


class LinkStart(LinkButton, prefix="lk:start"):
    pass


class LinkMenu(LinkButton, prefix="lk:menu"):
    pass


class AllowLink(LinkButton, prefix="lk:yes"):
    code: int


class RefuseLink(LinkButton, prefix="lk:no"):
    code: int


@dataclass
class CodeTries(FlowData):
    tries: int = 0  # wrong codes typed in this flow


flow = Flow(FLOW, first_step="code", data=CodeTries)


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _digits(text: str | None) -> str | None:
    match = _CODE.match(text or "")
    return match.group(1) + match.group(2) if match else None


async def _is_staff(ctx: Context, user_id: int) -> bool:
    return bool(await staff.active_roles(ctx.session, user_id))


def _staff_refusal(ctx: Context) -> None:
    ctx.say(
        _(
            "Staff accounts cannot be linked with a code. To use the assistant in another app, ask your "
            "administrator for a staff invite there."
        )
    )


async def start_link(ctx: Context) -> None:
    """Show a fresh code and wait for one from the other app (or ask again about a code typed there)."""
    before_consent = ctx.user.consent_at is None
    if before_consent and ctx.registry.gate is not None and await ctx.registry.gate(ctx):
        return  # /link before consent: onboarding comes first
    if await _is_staff(ctx, ctx.user.id):
        _staff_refusal(ctx)
        await ctx.finish()
        return
    waiting = await links.pending_claim(ctx.session, ctx.user.id, code_id=None, since=_answer_since(ctx))
    if waiting is not None:
        ctx.end_flow()
        await _ask_allow(ctx, waiting)
        return
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    await links.create_code(ctx.session, ctx.user.id, code_hash(code), ctx.now + dt.timedelta(minutes=CODE_MINUTES))
    ctx.say(
        _(
            "🔗 Link your accounts\n"
            "Your code: {code}\n"
            "Open the OCOP assistant in your other app (Zalo or Telegram) and type this code there. "
            "It works once, for {minutes} minutes."
        ).format(code=f"{code[:4]} {code[4:]}", minutes=CODE_MINUTES)
    )
    await ctx.start(FLOW, CodeTries())


@flow.ask("code", free_text=True)
async def ask_code(ctx: Context) -> None:
    ctx.say(
        _("If the other app showed you a code, type it here."),
        [Choice(_("⬅️ Menu"), LinkMenu())],
    )


@flow.on_text("code")
async def got_code(ctx: Context, text: str) -> None:
    if fold(text) in EXACT_PHRASES:  # asked again: perhaps to answer "allow?"
        await start_link(ctx)
        return
    digits = _digits(text)
    if digits is None:
        await ctx.reask(_("A code has 8 digits, for example 1234 5678."))
        return
    if await links.recent_attempts(ctx.session, ctx.identity.id, ctx.now - _HOUR) >= TRIES_PER_HOUR:
        ctx.say(_("Too many codes were typed here. Please wait an hour, then ask for a new code in the other app."))
        await ctx.finish()
        return
    await links.record_attempt(ctx.session, ctx.identity.id, ctx.now, forget_before=ctx.now - _HOUR)
    if await try_code(ctx, digits):
        return
    await links.count_wrong_try(ctx.session, ctx.now)
    form = ctx.form(CodeTries)
    form.tries += 1
    if form.tries >= MAX_TRIES:
        ctx.say(_("That code did not work. Ask for a new code in the other app and try again."))
        await ctx.finish()
        return
    await ctx.reask(_("That code is wrong or has expired. Check it and type it again."))


async def try_code(ctx: Context, digits: str) -> bool:
    """Ask the code's owner to allow the join when ``digits`` is a live code; False when it is not one."""
    code = await links.take_code(ctx.session, code_hash(digits), ctx.now, MAX_WRONG_PER_CODE)
    if code is None:
        return False
    me = ctx.user
    if code.user_id == me.id:
        ctx.say(_("This code belongs to this same account. Type it in your other app."))
        await ctx.finish()
        return True
    if await _is_staff(ctx, me.id) or await _is_staff(ctx, code.user_id):
        _staff_refusal(ctx)
        await ctx.finish()
        return True
    if await _both_producers(ctx, me.id, code.user_id):
        await ctx.finish()
        return True
    await links.claim_code(ctx.session, code, ctx.identity.id, ctx.now)
    await ctx.notify(
        code.user_id,
        REQUEST_NOTICE,
        {"code_id": code.id, "app": _app_name(ctx.channel), "name": _name_of(me)},
        dedupe_key=f"{REQUEST_NOTICE}:{code.id}",
    )
    ctx.say(
        _(
            "⏳ Almost done. Open your other app: it asks whether this account may join. "
            "Press ✅ Allow there, and I will tell you here."
        )
    )
    await ctx.finish()
    return True


async def _both_producers(ctx: Context, first: int, second: int) -> bool:
    if await links.has_producer(ctx.session, first) and await links.has_producer(ctx.session, second):
        ctx.say(
            _(
                "Both accounts already have a producer profile, so they cannot be joined: one of them would "
                "lose its data. Keep using each app separately, or ask your commune officer for help."
            )
        )
        return True
    return False


# The owner's answer -----------------------------------------------------------------------------------------
def _answer_since(ctx: Context) -> dt.datetime:
    return ctx.now - dt.timedelta(minutes=ANSWER_MINUTES)


async def _claimer(ctx: Context, code: LinkCode) -> tuple[ChannelIdentity, User] | None:
    if code.claimed_by is None:
        return None
    identity = await ctx.session.get(ChannelIdentity, code.claimed_by)
    if identity is None:
        return None
    return identity, await ctx.session.get_one(User, identity.user_id)


async def _ask_allow(ctx: Context, code: LinkCode) -> None:
    """The question the owner answers in a reply (on numbered channels the buttons of a notice cannot be
    typed as numbers, so "lien ket" shows it again as a reply)."""
    found = await _claimer(ctx, code)
    if found is None:
        await ctx.main_menu()
        return
    identity, user = found
    params = {"code_id": code.id, "app": _app_name(identity.channel), "name": _name_of(user)}
    ctx.replies.append(_allow_question(params))


@notice(REQUEST_NOTICE)
def _allow_question(params: dict[str, Any]) -> Text:
    code = int(params.get("code_id", 0))
    return Text(
        _(
            "🔗 The {app} account “{name}” typed your link code and wants to join your account. Allow it?\n"
            "Only allow it if that account is yours: it will see your dossiers and act for you."
        ).format(app=params.get("app", ""), name=params.get("name", "")),
        (Choice(_("✅ Allow"), AllowLink(code=code)), Choice(_("❌ Do not allow"), RefuseLink(code=code))),
    )


async def on_answer(ctx: Context, allow: bool, code_id: int) -> None:
    code = await links.pending_claim(ctx.session, ctx.user.id, code_id=code_id, since=_answer_since(ctx))
    found = await _claimer(ctx, code) if code is not None else None
    if code is None or found is None:
        ctx.say(_("This request is no longer open. To link your accounts, start again with “Link account”."))
        await ctx.main_menu()
        return
    code.decided_at = ctx.now
    identity, other = found
    if allow and await _may_join(ctx, other):
        await _join(ctx, other, identity)
        return
    if not allow:
        ctx.say(_("Not allowed: nothing was joined."))
    await ctx.notify(other.id, REFUSED_NOTICE, {}, identity_id=identity.id)
    await ctx.finish()


async def _may_join(ctx: Context, other: User) -> bool:
    """Checked again when the owner answers: a role or a producer profile may have come meanwhile."""
    if await _is_staff(ctx, ctx.user.id) or await _is_staff(ctx, other.id):
        _staff_refusal(ctx)
        return False
    return not await _both_producers(ctx, ctx.user.id, other.id)


async def _join(ctx: Context, other: User, joining: ChannelIdentity) -> None:
    me = ctx.user
    keep, drop = sorted((me, other), key=_age)
    await links.merge_users(ctx.session, keep=keep.id, drop=drop.id)
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=keep.id,
        action="accounts_linked",
        object_type="user",
        object_id=keep.id,
        before={"user_id": drop.id},
        after={"user_id": keep.id, "channel": joining.channel, "allowed_from": ctx.channel},
    )
    ctx.say(_("✅ Done: your two apps now share one account. Reminders come to the app you used last."))
    await ctx.notify(keep.id, JOINED_NOTICE, {"app": _app_name(ctx.channel)}, identity_id=joining.id)
    await ctx.finish()
    if keep.id != me.id:
        # This update's conversation belongs to the emptied account; the next message reads the kept one.
        offered = [[_label_words(c.label), c.payload] for reply in ctx.replies for c in choices_of(reply)]
        await links.reset_conversation(ctx.session, keep.id, offered)


@notice(JOINED_NOTICE)
def _joined(params: dict[str, Any]) -> Text:
    return Text(
        _("✅ Your {app} account allowed it: your two apps now share one account.").format(app=params.get("app", ""))
    )


@notice(REFUSED_NOTICE)
def _refused(_params: dict[str, Any]) -> Text:
    return Text(_("❌ The other account did not allow the link: nothing was joined."))


def _app_name(channel: str) -> str:
    return APP_NAMES.get(channel, channel)


def _name_of(user: User) -> str:
    return user.display_name or _("(no name)")


def _age(user: User) -> tuple[dt.datetime, int]:
    created = user.created_at
    return (created if created.tzinfo else created.replace(tzinfo=dt.UTC), user.id)


def _label_words(label: str) -> str:
    return "".join(ch for ch in label if ch.isalnum() or ch.isspace() or ch in "-/★").strip()


# Wiring -----------------------------------------------------------------------------------------------------
async def on_link_command(ctx: Context, _argument: str | None) -> None:
    await start_link(ctx)


async def on_start_button(ctx: Context, _pressed: LinkStart) -> None:
    await start_link(ctx)


async def on_menu_button(ctx: Context, _pressed: LinkMenu) -> None:
    await ctx.finish()


async def on_allow_button(ctx: Context, pressed: AllowLink) -> None:
    await on_answer(ctx, True, pressed.code)


async def on_refuse_button(ctx: Context, pressed: RefuseLink) -> None:
    await on_answer(ctx, False, pressed.code)


def _wrap_gate(registry: Registry) -> None:
    """The link request works before onboarding is finished, but after consent: a new Zalo account joins
    the Telegram one instead of registering again. Before consent nothing here answers."""
    inner = registry.gate

    async def gate(ctx: Context) -> bool:
        if ctx.user.consent_at is not None:
            if ctx.state.flow == FLOW or isinstance(ctx.button, LinkButton):
                return False
            if fold(ctx.text or "") in EXACT_PHRASES and ctx.payload is None:
                await start_link(ctx)
                return True
        return await inner(ctx) if inner is not None else False

    registry.gate = gate


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.commands["link"] = on_link_command
    registry.on_button(LinkStart)(on_start_button)
    registry.on_button(LinkMenu)(on_menu_button)
    registry.on_button(AllowLink)(on_allow_button)
    registry.on_button(RefuseLink)(on_refuse_button)
    registry.intents.append(Intent(PHRASES, start_link))
    _wrap_gate(registry)
