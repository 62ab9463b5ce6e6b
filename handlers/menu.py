"""Main menu, help (per role: producer, commune officer, province officer, admin), and the answers for what
nobody asked for (unknown text, stale buttons).

```mermaid
stateDiagram-v2
    [*] --> Menu: /menu, "menu", cancel, stale button
    Menu --> idea: 📝 Ý tưởng sản phẩm
    Menu --> dossier: 📂 Hồ sơ
    Menu --> status: 🔎 Tình trạng
    Menu --> calendar: 📅 Lịch
    Menu --> Help: ❓ Hướng dẫn
    Help --> privacy: 🔒 Dữ liệu của tôi
```
"""

from __future__ import annotations

from bot.communes import commune_by_code
from bot.flow import Context, Registry
from bot.i18n import _
from bot.menu_buttons import MenuButton, MenuCalendar, MenuDossier, MenuHelp, MenuIdea, MenuStatus
from bot.messages import Choice
from bot.roles import Scope, scope_of
from bot.rules import CONSENT_VERSION
from handlers.commune_contact import ShowContacts
from handlers.link import LinkStart
from storage import producers


def menu_choices(with_producer: bool = True) -> list[Choice]:
    """The menu's entries; staff who are not producers get only the calendar and help."""
    producer = [
        Choice(_("📝 Register a product idea"), MenuIdea()),
        Choice(_("📂 My dossier"), MenuDossier()),
        Choice(_("🔎 Status"), MenuStatus()),
        Choice(_("📞 Contact the commune officer"), ShowContacts()),
    ]
    return (producer if with_producer else []) + [
        Choice(_("📅 Calendar"), MenuCalendar()),
        Choice(_("❓ Help"), MenuHelp()),
    ]


async def show_menu(ctx: Context) -> None:
    from handlers.staff_menu import staff_choices

    # A producer without consent to the current text (an older one, withdrawn, a deletion pending): "menu" is
    # answered before the gates, so the menu asks them instead of offering what needs consent.
    if await _asked_for_consent(ctx):
        return

    staff, with_producer = await staff_choices(ctx)
    ctx.say(_("What would you like to do?"), staff + menu_choices(with_producer))


async def _asked_for_consent(ctx: Context) -> bool:
    gate = ctx.registry.gate
    if ctx.user.consent_version == CONSENT_VERSION or ctx.state.flow is not None or gate is None:
        return False
    return await producers.producer_of_user(ctx.session, ctx.user.id) is not None and await gate(ctx)


async def on_menu_button(ctx: Context, pressed: MenuButton) -> None:
    """Main-menu buttons work from any older message too: they only start something."""
    await ctx.start(pressed.flow)


async def on_help_button(ctx: Context, _pressed: MenuHelp) -> None:
    await show_help(ctx, None)


async def show_help(ctx: Context, _argument: str | None) -> None:
    """Help for what this user can do: a producer's tasks, and a paragraph for each staff role they hold."""
    from handlers.staff_menu import staff_choices

    ctx.end_flow()
    scope = await scope_of(ctx)
    _staff, with_producer = await staff_choices(ctx)
    paragraphs = _staff_help(ctx, scope)
    if with_producer:
        paragraphs.append(
            _(
                "I help you take part in OCOP (One Commune One Product):\n"
                "• 📝 register a product idea with your commune;\n"
                "• 📂 prepare the evaluation dossier: send photos or documents for each item;\n"
                "• 🔎 see where your idea or dossier is.\n\n"
                'Press a button, or type a few words without accents, for example "kiem tra ho so".\n'
                'Type "menu" at any time to come back here, or "huy" to stop what you are doing.'
            )
        )
    else:
        paragraphs.append(
            _(
                "Press a button, or type a few words without accents.\n"
                'Type "menu" at any time to come back here, or "huy" to stop what you are doing.'
            )
        )
    ctx.say("\n\n".join(paragraphs))
    # Staff accounts join by invite only, never by a link code.
    if not scope.is_staff:
        ctx.say(
            _("Do you use both Telegram and Zalo? Link them, and your dossier is the same in both apps."),
            [Choice(_("🔗 Link Telegram and Zalo"), LinkStart())],
        )
    ctx.say(
        _("Your data: see it, download it, correct it, or have it deleted."),
        [Choice(_("🔒 My data"), "pdo:home")],
    )
    await show_menu(ctx)


def _staff_help(ctx: Context, scope: Scope) -> list[str]:
    paragraphs: list[str] = []
    if scope.communes:
        names = [commune_by_code(ctx.settings.ocop.province, code) for code in sorted(scope.communes)]
        paragraphs.append(
            _(
                "You are a commune officer ({communes}):\n"
                "• 📋 Waiting for commune review: the ideas and dossiers of your commune, oldest first;\n"
                "• open one to see its answers and files, then confirm ✅ or reject ❌ each of the four local "
                "criteria with a reason, or return the dossier for a supplement with a note;\n"
                "• the producer is told at once, with your reason. Four confirmations send the dossier to the "
                "province."
            ).format(communes=", ".join(c.name for c in names if c is not None))
        )
    if scope.province_officer:
        paragraphs.append(
            _(
                "You are a province OCOP officer (🏛 Province: rounds and dossiers):\n"
                "• evaluation rounds: create, edit, close;\n"
                "• the dossiers of each round: check they are complete, accept them into a round or return them "
                "with a note;\n"
                "• record the council's points and mandatory criteria, issue certificates (3–4★), propose 5★ to "
                "the central level, revoke a certificate with a reason."
            )
        )
    if scope.admin:
        paragraphs.append(
            _(
                "You are an administrator (🔑 Staff and invites): invite commune and province officers with a "
                "single-use link, see the staff list, revoke a role."
            )
        )
    return paragraphs


async def on_menu_command(ctx: Context, _argument: str | None) -> None:
    ctx.end_flow()
    await show_menu(ctx)


async def on_not_understood(ctx: Context) -> None:
    ctx.say(_("Sorry, I did not understand that. Please press one of the buttons below."))
    await show_menu(ctx)


async def on_stale(ctx: Context) -> None:
    ctx.say(_("That button belongs to an older message, so I cannot use it now. Here is the menu again."))
    await show_menu(ctx)


async def on_help_word(ctx: Context) -> None:
    await show_help(ctx, None)


def register(registry: Registry) -> None:
    registry.main_menu = show_menu
    registry.not_understood = on_not_understood
    registry.stale_button = on_stale
    registry.on_button(MenuButton)(on_menu_button)
    registry.on_button(MenuHelp)(on_help_button)
    registry.help = on_help_word
    registry.commands["menu"] = on_menu_command
    registry.commands["help"] = show_help
