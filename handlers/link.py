"""One person, two apps: join a Telegram and a Zalo account into one user with a one-time code.

"Liên kết tài khoản" (typed, ``/link``, or a ``lk:start`` button) shows an 8-digit code in one app; typing
it in the other app joins the two accounts. The code is stored only as a SHA-256, works once, for ten
minutes. The older user's data (producer, ideas, dossiers) is kept and the other account's identities
move to it; when both accounts have a producer profile nothing is joined and the user is told why. A phone
number alone never joins anything. The code is recognised wherever it is typed (even before onboarding,
so a brand-new Zalo account can join the Telegram one straight away); inside this flow a wrong code gets
a hint, three wrong codes end the flow.

```mermaid
stateDiagram-v2
    [*] --> code: "lien ket", /link, lk:start → a new code is shown
    code --> code: not 8 digits / unknown or expired code (hint, at most 3 tries)
    code --> [*]: ⬅️ Menu, or 3 wrong codes → main menu
    code --> [*]: code from the other app → accounts joined (or refused: two producers) → main menu
    [*] --> [*]: 8-digit code typed anywhere else → joined when it is a live code
```
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from bot.flow import Context, Flow, Intent, Registry
from bot.i18n import _
from bot.messages import Choice, choices_of
from bot.text import fold
from storage import audit, links
from storage.models import User

FLOW = "link"
PREFIX = "lk:"
START = "lk:start"
MENU = "lk:menu"
CODE_DIGITS = 8
CODE_MINUTES = 10
MAX_TRIES = 3
PHRASES = ("lien ket", "ket noi tai khoan", "link account")
# Before onboarding only the request itself counts: "liên kết" is an everyday word inside names and answers.
EXACT_PHRASES = frozenset({"lien ket", "lien ket tai khoan", "ket noi tai khoan", "link account", "link"})

_CODE = re.compile(r"^\s*(\d{4})[\s.-]?(\d{4})\s*$")

flow = Flow(FLOW, first_step="code")


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _digits(text: str | None) -> str | None:
    match = _CODE.match(text or "")
    return match.group(1) + match.group(2) if match else None


async def start_link(ctx: Context) -> None:
    """Show a fresh code and wait for one from the other app."""
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
    await ctx.start(FLOW, {"tries": 0})


@flow.ask("code", free_text=True)
async def ask_code(ctx: Context) -> None:
    ctx.say(
        _("If the other app showed you a code, type it here."),
        [Choice(_("⬅️ Menu"), MENU)],
    )


@flow.answer("code")
async def got_code(ctx: Context) -> None:
    if ctx.payload == MENU:
        await ctx.finish()
        return
    digits = _digits(ctx.text)
    if digits is None:
        await ctx.reask(_("A code has 8 digits, for example 1234 5678."))
        return
    if await try_code(ctx, digits):
        return
    tries = int(ctx.data.get("tries", 0)) + 1
    ctx.data["tries"] = tries
    if tries >= MAX_TRIES:
        ctx.say(_("That code did not work. Ask for a new code in the other app and try again."))
        await ctx.finish()
        return
    await ctx.reask(_("That code is wrong or has expired. Check it and type it again."))


async def try_code(ctx: Context, digits: str) -> bool:
    """Join the accounts when ``digits`` is a live code; False when it is not one (nothing said)."""
    code = await links.take_code(ctx.session, code_hash(digits), ctx.now)
    if code is None:
        return False
    me = ctx.user
    if code.user_id == me.id:
        ctx.say(_("This code belongs to this same account. Type it in your other app."))
        await ctx.finish()
        return True
    other = await ctx.session.get_one(User, code.user_id)
    if await links.has_producer(ctx.session, me.id) and await links.has_producer(ctx.session, other.id):
        ctx.say(
            _(
                "Both accounts already have a producer profile, so they cannot be joined: one of them would "
                "lose its data. Keep using each app separately, or ask your commune officer for help."
            )
        )
        await ctx.finish()
        return True
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
        after={"user_id": keep.id, "channel": ctx.channel},
    )
    ctx.say(_("✅ Done: your two apps now share one account. Reminders come to the app you used last."))
    await ctx.finish()
    if keep.id != me.id:
        # This update's conversation belongs to the emptied account; the next message reads the kept one.
        offered = [[_label_words(c.label), c.payload] for reply in ctx.replies for c in choices_of(reply)]
        await links.reset_conversation(ctx.session, keep.id, offered)
    return True


def _age(user: User) -> tuple[dt.datetime, int]:
    created = user.created_at
    return (created if created.tzinfo else created.replace(tzinfo=dt.UTC), user.id)


def _label_words(label: str) -> str:
    return "".join(ch for ch in label if ch.isalnum() or ch.isspace() or ch in "-/★").strip()


async def on_link_command(ctx: Context, _argument: str | None) -> None:
    await start_link(ctx)


async def on_link_button(ctx: Context) -> None:
    if ctx.payload == START:
        await start_link(ctx)
        return
    await ctx.finish()


def _wrap_gate(registry: Registry) -> None:
    """Codes and the link request work before onboarding too: a new Zalo account joins the Telegram one
    instead of onboarding again."""
    inner = registry.gate

    async def gate(ctx: Context) -> bool:
        if ctx.state.flow == FLOW or (ctx.payload or "").startswith(PREFIX):
            return False
        digits = _digits(ctx.text) if ctx.payload is None else None
        if digits is not None and await try_code(ctx, digits):
            return True
        folded = fold(ctx.text or "")
        if folded in EXACT_PHRASES:
            await start_link(ctx)
            return True
        return await inner(ctx) if inner is not None else False

    registry.gate = gate


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.commands["link"] = on_link_command
    registry.global_payloads[PREFIX] = on_link_button
    registry.intents.append(Intent(PHRASES, start_link))
    _wrap_gate(registry)
