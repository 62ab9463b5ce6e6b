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

from bot.flow import Context, Flow, Registry
from bot.i18n import _, format_day
from bot.messages import Choice
from bot.roles import Scope, deny, office_communes, office_scope
from bot.rules import DOSSIER_STATUS_LABELS, PRODUCER_KIND_LABELS, DossierStatus, label
from bot.search import matches
from bot.text import has_words, shorten, tidy
from storage import audit, certificates, office, rounds
from storage.office import FindRow

FLOW_NAME = "find"
START = "find:start"  # the staff menu's button, valid from any message
P = "sr:"
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

flow = Flow(FLOW_NAME, first_step="query")


async def _found(ctx: Context, scope: Scope) -> list[FindRow]:
    rows = await office.find_rows(ctx.session, communes=office_communes(scope))
    chosen = ctx.data.get("filter")
    if isinstance(chosen, list) and len(chosen) == 2:
        return [row for row in rows if _passes(row, str(chosen[0]), str(chosen[1]), ctx.today)]
    query = str(ctx.data.get("q") or "")
    return [
        row
        for row in rows
        if matches(query, (row.product, row.producer, row.commune, row.decision_no), phone=row.phone)
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


def _title(ctx: Context) -> str:
    """What the list shows: the typed words, or the filter chosen."""
    chosen = ctx.data.get("filter")
    if not (isinstance(chosen, list) and len(chosen) == 2):
        return "“" + str(ctx.data.get("q") or "") + "”"
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


# query -----------------------------------------------------------------------------------------------------


@flow.ask("query", free_text=True)
async def ask_query(ctx: Context) -> None:
    ctx.say(
        _("🔎 Type part of a product or producer name, a phone number, a commune or a decision number:"),
        [Choice(_("🔽 Filters: round, state, stars, expiring"), P + "filters"), Choice(_("⬅️ Menu"), P + "menu")],
    )


@flow.answer("query")
async def got_query(ctx: Context) -> None:
    if ctx.payload == P + "menu":
        await ctx.finish()
        return
    if ctx.payload == P + "filters":
        await ctx.goto("filters")
        return
    await _search(ctx)


# filters: what an officer looks at daily -------------------------------------------------------------------


@flow.ask("filters")
async def ask_filters(ctx: Context) -> None:
    if await office_scope(ctx) is None:
        return
    choices = [
        Choice(_("⏳ Certificates expiring within {days} days").format(days=EXPIRING_DAYS), P + "f:expiring"),
        *(Choice(_("{stars}★ products").format(stars=stars), f"{P}f:stars:{stars}") for stars in (3, 4, 5)),
        *(Choice(_(DOSSIER_STATUS_LABELS[status]), f"{P}f:status:{status.value}") for status in FILTER_STATES),
    ]
    for found in (await rounds.rounds_of(ctx.session, ctx.settings.ocop.province))[:ROUNDS_SHOWN]:
        choices.append(Choice(shorten(f"📅 {found.name}", LABEL_MAX), f"{P}f:round:{found.id}"))
    choices.append(Choice(_("⬅️ Back"), P + "back"))
    ctx.say(_("🔽 Show the records of:"), choices)


@flow.answer("filters")
async def got_filters(ctx: Context) -> None:
    payload = ctx.payload or ""
    if not payload.startswith(P + "f:"):
        await ctx.goto("query")
        return
    kind, _sep, value = payload.removeprefix(P + "f:").partition(":")
    ctx.data.update(q="", page=0, filter=[kind, value])
    await ctx.goto("results")


async def _search(ctx: Context) -> None:
    query = tidy(ctx.text)[:QUERY_MAX]
    if not has_words(query):
        await ctx.reask(_("Please type a few letters or digits."))
        return
    ctx.data.update(q=query, page=0, filter=None)
    await ctx.goto("results")


# results ---------------------------------------------------------------------------------------------------


@flow.ask("results", free_text=True)
async def ask_results(ctx: Context) -> None:
    scope = await office_scope(ctx)
    if scope is None:
        return
    rows = await _found(ctx, scope)
    title = _title(ctx)
    if not rows:
        ctx.say(
            _("Nothing found for {query}. Type other words, or part of the name.").format(query=title),
            [Choice(_("🔽 Filters: round, state, stars, expiring"), P + "filters"), Choice(_("⬅️ Menu"), P + "menu")],
        )
        return
    pages = (len(rows) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(int(ctx.data.get("page") or 0), 0), pages - 1)
    ctx.data["page"] = page
    shown = rows[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    first = page * PAGE_SIZE + 1
    header = _("{query}: {first}–{last} / {total}").format(
        query=title, first=first, last=first + len(shown) - 1, total=len(rows)
    )
    choices = [
        Choice(shorten(f"{row.product or row.producer} · {row.producer}", LABEL_MAX), _payload(row)) for row in shown
    ]
    if page > 0:
        choices.append(Choice(_("◀ Previous"), P + "prev"))
    if page < pages - 1:
        choices.append(Choice(_("Next ▶"), P + "next"))
    choices.append(Choice(_("🔽 Filters: round, state, stars, expiring"), P + "filters"))
    choices.append(Choice(_("⬅️ Menu"), P + "menu"))
    ctx.say("\n".join([header, *(_line(row) for row in shown), _("Type other words to search again.")]), choices)


def _payload(row: FindRow) -> str:
    return f"{P}o:{row.producer_id}:{row.product_id or 0}"


@flow.answer("results")
async def got_results(ctx: Context) -> None:
    payload = ctx.payload or ""
    if payload == P + "menu":
        await ctx.finish()
    elif payload in (P + "next", P + "prev"):
        ctx.data["page"] = int(ctx.data.get("page") or 0) + (1 if payload == P + "next" else -1)
        await ctx.goto("results")
    elif payload.startswith(P + "o:"):
        producer_id, _sep, product_id = payload[len(P) + 2 :].partition(":")
        ctx.data["open"] = [int(producer_id), int(product_id or 0)]
        await ctx.goto("card")
    elif payload == P + "filters":
        await ctx.goto("filters")
    elif ctx.text:
        await _search(ctx)
    else:
        await ctx.reask()


# card ------------------------------------------------------------------------------------------------------


@flow.ask("card")
async def ask_card(ctx: Context) -> None:
    scope = await office_scope(ctx)
    if scope is None:
        return
    producer_id, product_id = ctx.data.get("open") or [0, 0]
    rows = await office.find_rows(ctx.session, communes=office_communes(scope))
    mine = [row for row in rows if row.producer_id == producer_id]
    row = next((r for r in mine if (r.product_id or 0) == product_id), None)
    if row is None:  # not in this officer's communes (a crafted button), or gone meanwhile
        ctx.data.pop("open", None)
        await deny(ctx)
        await ctx.goto("results")
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
    ctx.say("\n".join(lines), [Choice(_("⬅️ Results"), P + "back"), Choice(_("⬅️ Menu"), P + "menu")])


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


@flow.answer("card")
async def got_card(ctx: Context) -> None:
    if ctx.payload == P + "back":
        await ctx.goto("results")
    elif ctx.payload == P + "menu":
        await ctx.finish()
    else:
        await ctx.reask()


# entry -----------------------------------------------------------------------------------------------------


async def start(ctx: Context, _argument: str | None = None) -> None:
    if await office_scope(ctx) is None:
        return
    if _argument:
        ctx.state.flow, ctx.state.data = FLOW_NAME, {"q": tidy(_argument)[:QUERY_MAX], "page": 0}
        await ctx.goto("results")
        return
    await ctx.start(FLOW_NAME)


async def on_button(ctx: Context) -> None:
    await start(ctx)


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.global_payloads["find:"] = on_button
    registry.commands["tim"] = start
    registry.commands["find"] = start
