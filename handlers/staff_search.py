"""🔎 Find (staff): type part of a product's or producer's name, a phone number, a commune or a decision
number — without diacritics is fine — page through what matches, and open a producer's card to call them.

A commune officer finds the records of their communes only; a province officer finds all. Opening a card
shows the producer's phone, which is a read of personal data: it is written to the audit log.

```mermaid
stateDiagram-v2
    [*] --> query: 🔎 Tìm (staff menu), /tim
    query --> results: typed words
    query --> filters: 🔽 Filters
    filters --> results: expiring certificates · stars · state · round
    results --> results: ◀ ▶ (pages), typed words (a new search)
    results --> card: a row
    card --> results: ⬅️ Results
    results --> query: 🔎 New search
    results --> [*]: ⬅️ Menu
```
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from bot.callbacks import Button
from bot.flow import Context, Flow, FlowData, Registry
from bot.i18n import _, format_day
from bot.messages import Choice
from bot.roles import Scope, deny, office_communes, office_scope
from bot.rules import DOSSIER_STATUS_LABELS, PRODUCER_KIND_LABELS, DossierStatus, label
from bot.search import matches
from bot.text import has_words, shorten, tidy
from storage import audit, certificates, office, rounds
from storage.office import FindRow

FLOW_NAME = "find"
PAGE_SIZE = 8
LABEL_MAX = 60
QUERY_MAX = 100
EXPIRING_DAYS = 90
ROUNDS_SHOWN = 4
_S = DossierStatus
FILTER_STATES = (
    _S.SUBMITTED_COMMUNE,
    _S.NEEDS_SUPPLEMENT,
    _S.AT_PROVINCE,
    _S.PROVINCE_SUPPLEMENT,
    _S.SCHEDULED,
    _S.CERTIFIED_4,
)
CHANNEL_NAMES = {"telegram": "Telegram", "zalo_bot": "Zalo", "zalo_oa": "Zalo OA", "console": "console"}


class OpenFind(Button, prefix="find:start"):
    """🔎 in the staff menu, valid from any message."""


class ShowFilters(Button, prefix="sr:filters"):
    pass


class FindMenu(Button, prefix="sr:menu"):
    pass


class Back(Button, prefix="sr:back"):
    """From the filters to the typed search, from a card to the results."""


class PreviousPage(Button, prefix="sr:prev"):
    pass


class NextPage(Button, prefix="sr:next"):
    pass


class OpenRow(Button, prefix="sr:o"):
    producer: int
    product: int  # 0: a producer without a product yet


class Filter(Button):
    """What an officer looks at daily; kept in the form as [kind, value]."""

    def chosen(self) -> list[str]:
        raise NotImplementedError


class ExpiringFilter(Filter, prefix="sr:f:expiring"):
    def chosen(self) -> list[str]:
        return ["expiring", ""]


class StarsFilter(Filter, prefix="sr:f:stars"):
    stars: int

    def chosen(self) -> list[str]:
        return ["stars", str(self.stars)]


class StatusFilter(Filter, prefix="sr:f:status"):
    status: str

    def chosen(self) -> list[str]:
        return ["status", self.status]


class RoundFilter(Filter, prefix="sr:f:round"):
    round: int

    def chosen(self) -> list[str]:
        return ["round", str(self.round)]


@dataclass
class Find(FlowData):
    """The typed words or the chosen filter, the page shown, and the card opened ([producer, product])."""

    q: str = ""
    page: int = 0
    filter: list[str] | None = None
    open: list[int] | None = None


flow = Flow(FLOW_NAME, first_step="query", data=Find)


@flow.before
async def an_officer(ctx: Context) -> bool:
    return await office_scope(ctx) is not None


async def _found(ctx: Context, scope: Scope) -> list[FindRow]:
    rows = await office.find_rows(ctx.session, communes=office_communes(scope))
    form = ctx.form(Find)
    chosen = form.filter
    if chosen is not None and len(chosen) == 2:
        return [row for row in rows if _passes(row, str(chosen[0]), str(chosen[1]), ctx.today)]
    return [
        row
        for row in rows
        if matches(form.q, (row.product, row.producer, row.commune, row.decision_no), phone=row.phone)
    ]


def _passes(row: FindRow, kind: str, value: str, today: dt.date) -> bool:
    if kind == "expiring":
        return (
            row.certificate_status == certificates.VALID
            and row.expires_on is not None
            and today <= row.expires_on <= today + dt.timedelta(days=EXPIRING_DAYS)
        )
    if kind == "stars":
        return row.certificate_status == certificates.VALID and str(row.stars) == value
    if kind == "status":
        return row.dossier_status == value
    if kind == "round":
        return str(row.round_id) == value
    return False


def _title(form: Find) -> str:
    """What the list shows: the typed words, or the filter chosen."""
    chosen = form.filter
    if not (chosen is not None and len(chosen) == 2):
        return "“" + form.q + "”"
    kind, value = str(chosen[0]), str(chosen[1])
    if kind == "expiring":
        return _("⏳ Certificates expiring within {days} days").format(days=EXPIRING_DAYS)
    if kind == "stars":
        return _("{stars}★ products").format(stars=value)
    if kind == "status" and value in DOSSIER_STATUS_LABELS:
        return label(DOSSIER_STATUS_LABELS, value)
    return "📅 " + _("Round")


def _state(row: FindRow) -> str:
    if row.product is None:
        return _("no product yet")
    if row.dossier_status is None:
        return _("no dossier yet")
    return label(DOSSIER_STATUS_LABELS, row.dossier_status) if row.dossier_status in DOSSIER_STATUS_LABELS else ""


def _line(row: FindRow) -> str:
    """Product, producer, commune and state: enough to tell namesakes apart."""
    name = row.product or _("(no product)")
    return f"• {name} — {row.producer} — {row.commune} — {_state(row)}"


def _filters_and_menu() -> list[Choice]:
    return [Choice(_("🔽 Filters: round, state, stars, expiring"), ShowFilters()), Choice(_("⬅️ Menu"), FindMenu())]


async def _menu(ctx: Context, _pressed: Button) -> None:
    await ctx.finish()


async def _to_filters(ctx: Context, _pressed: Button) -> None:
    await ctx.goto("filters")


# query -----------------------------------------------------------------------------------------------------


@flow.ask("query", free_text=True)
async def ask_query(ctx: Context) -> None:
    ctx.say(
        _("🔎 Type part of a product or producer name, a phone number, a commune or a decision number:"),
        _filters_and_menu(),
    )


flow.on("query", FindMenu)(_menu)
flow.on("query", ShowFilters)(_to_filters)


@flow.on_text("query")
async def got_query(ctx: Context, text: str) -> None:
    await _search(ctx, text)


# filters: what an officer looks at daily -------------------------------------------------------------------


@flow.ask("filters")
async def ask_filters(ctx: Context) -> None:
    choices = [
        Choice(_("⏳ Certificates expiring within {days} days").format(days=EXPIRING_DAYS), ExpiringFilter()),
        *(Choice(_("{stars}★ products").format(stars=stars), StarsFilter(stars=stars)) for stars in (3, 4, 5)),
        *(Choice(_(DOSSIER_STATUS_LABELS[status]), StatusFilter(status=status.value)) for status in FILTER_STATES),
    ]
    for found in (await rounds.rounds_of(ctx.session, ctx.settings.ocop.province))[:ROUNDS_SHOWN]:
        choices.append(Choice(shorten(f"📅 {found.name}", LABEL_MAX), RoundFilter(round=found.id)))
    choices.append(Choice(_("⬅️ Back"), Back()))
    ctx.say(_("🔽 Show the records of:"), choices)


@flow.on("filters", Filter)
async def filter_chosen(ctx: Context, pressed: Filter) -> None:
    form = ctx.form(Find)
    form.q, form.page, form.filter = "", 0, pressed.chosen()
    await ctx.goto("results")


@flow.on("filters", Back)
async def filters_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("query")


async def _search(ctx: Context, text: str) -> None:
    query = tidy(text)[:QUERY_MAX]
    if not has_words(query):
        await ctx.reask(_("Please type a few letters or digits."))
        return
    form = ctx.form(Find)
    form.q, form.page, form.filter = query, 0, None
    await ctx.goto("results")


# results ---------------------------------------------------------------------------------------------------


@flow.ask("results", free_text=True)
async def ask_results(ctx: Context) -> None:
    scope = await office_scope(ctx)
    if scope is None:  # asked again after a stale button, which the flow's guard does not see
        return
    rows = await _found(ctx, scope)
    form = ctx.form(Find)
    title = _title(form)
    if not rows:
        ctx.say(
            _("Nothing found for {query}. Type other words, or part of the name.").format(query=title),
            _filters_and_menu(),
        )
        return
    pages = (len(rows) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(form.page, 0), pages - 1)
    form.page = page
    shown = rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    first = page * PAGE_SIZE + 1
    header = _("{query}: {first}–{last} / {total}").format(
        query=title, first=first, last=first + len(shown) - 1, total=len(rows)
    )
    choices = [
        Choice(shorten(f"{row.product or row.producer} · {row.producer}", LABEL_MAX), _open(row)) for row in shown
    ]
    if page > 0:
        choices.append(Choice(_("◀ Previous"), PreviousPage()))
    if page < pages - 1:
        choices.append(Choice(_("Next ▶"), NextPage()))
    choices += _filters_and_menu()
    ctx.say("\n".join([header, *(_line(row) for row in shown), _("Type other words to search again.")]), choices)


def _open(row: FindRow) -> OpenRow:
    return OpenRow(producer=row.producer_id, product=row.product_id or 0)


flow.on("results", FindMenu)(_menu)
flow.on("results", ShowFilters)(_to_filters)


@flow.on("results", NextPage)
async def next_page(ctx: Context, _pressed: NextPage) -> None:
    ctx.form(Find).page += 1
    await ctx.goto("results")


@flow.on("results", PreviousPage)
async def previous_page(ctx: Context, _pressed: PreviousPage) -> None:
    ctx.form(Find).page -= 1
    await ctx.goto("results")


@flow.on("results", OpenRow)
async def open_row(ctx: Context, pressed: OpenRow) -> None:
    ctx.form(Find).open = [pressed.producer, pressed.product]
    await ctx.goto("card")


@flow.on_text("results")
async def search_again(ctx: Context, text: str) -> None:
    await _search(ctx, text)


# card ------------------------------------------------------------------------------------------------------


@flow.ask("card")
async def ask_card(ctx: Context) -> None:
    scope = await office_scope(ctx)
    if scope is None:  # asked again after a stale button, which the flow's guard does not see
        return
    form = ctx.form(Find)
    producer_id, product_id = form.open or [0, 0]
    rows = await office.find_rows(ctx.session, communes=office_communes(scope))
    mine = [row for row in rows if row.producer_id == producer_id]
    row = next((r for r in mine if (r.product_id or 0) == product_id), None)
    if row is None:  # not in this officer's communes (a crafted button), or gone meanwhile
        form.open = None
        await deny(ctx)
        return
    user_id = await office.user_of_producer(ctx.session, producer_id)
    seen = await office.last_seen(ctx.session, user_id) if user_id is not None else {}
    lines = [
        f"🏷 {row.product}" if row.product else _("(no product)"),
        f"🏠 {row.producer} ({label(PRODUCER_KIND_LABELS, row.producer_kind)})"
        if row.producer_kind in PRODUCER_KIND_LABELS
        else f"🏠 {row.producer}",
        f"📍 {row.commune}",
        _("📞 {phone}").format(phone=_callable(row.phone)) if row.phone else _("📞 no phone number given"),
        _("💬 {apps}").format(apps=_presence(seen)),
        _("State: {state}").format(state=_state(row)),
    ]
    others = [r.product for r in mine if r.product and r.product_id != row.product_id]
    if others:
        lines.append(_("Other products: {names}").format(names=", ".join(others[:5])))
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        action="personal_data.read",
        object_type="producer",
        object_id=producer_id,
        before=None,
        after=None,
        note="staff search card",
    )
    ctx.say("\n".join(lines), [Choice(_("⬅️ Results"), Back()), Choice(_("⬅️ Menu"), FindMenu())])


def _callable(phone: str) -> str:
    """+84 form: phones and chat apps turn it into a tap-to-call link."""
    return "+84" + phone[1:] if phone.startswith("0") else phone


def _presence(seen: Mapping[str, dt.datetime | None]) -> str:
    if not seen:
        return _("does not use the chat (imported from a list)")
    parts = []
    for channel, when in sorted(seen.items()):
        name = CHANNEL_NAMES.get(channel, channel)
        parts.append(_("{app}: last seen {day}").format(app=name, day=format_day(when)) if when is not None else name)
    return " · ".join(parts)


@flow.on("card", Back)
async def card_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("results")


flow.on("card", FindMenu)(_menu)


# entry -----------------------------------------------------------------------------------------------------


async def start(ctx: Context, argument: str | None = None) -> None:
    """🔎 from the menu, or "/tim <words>", which shows the results at once."""
    if await office_scope(ctx) is None:
        return
    if argument:
        await ctx.start(FLOW_NAME, Find(q=tidy(argument)[:QUERY_MAX]), step="results")
        return
    await ctx.start(FLOW_NAME, Find())


async def open_pressed(ctx: Context, _pressed: OpenFind) -> None:
    await start(ctx)


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.on_button(OpenFind)(open_pressed)
    registry.commands["tim"] = start
    registry.commands["find"] = start
