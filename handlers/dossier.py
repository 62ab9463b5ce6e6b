"""The evaluation dossier: pick a product, pick the case, then fill the checklist item by item with photos.

A producer on a cheap phone sends photos of papers, one item at a time; every file is acknowledged at once
and the checklist shows ✓/✗ and a progress bar over the required items the producer supplies (the commune
writes its own report; samples are handed in, not uploaded). Submit appears only when nothing required is
missing. Documents that expire on their own (food-safety certificate, lab test) get their expiry date asked
once, so that the reminder sweep can warn when one runs out before the council meets.

```mermaid
stateDiagram-v2
    [*] --> product: 📂 My dossier
    product --> checklist: product with an open dossier
    product --> case: product / submitted idea
    product --> new_name: ➕ Another product
    new_name --> new_group: a name
    new_group --> case: a group
    case --> checklist: dossier created (DRAFT)
    checklist --> item: an item
    checklist --> checklist: 📋 See all items / ⬅️ Back
    item --> item: a file (acknowledged) / rejected file
    item --> checklist: ✅ Done / ⬅️ Checklist / samples handed in
    item --> [*]: 🗂 See, remove or move files (handlers.dossier_files, which returns to the item)
    item --> expiry: first file or ✅ Done of a document that expires (asked once) / 📅 Expiry date
    expiry --> expiry: unreadable date (hint) / a file (kept)
    expiry --> item: a date / No expiry date / Skip (came from a file or 📅)
    expiry --> checklist: a date / No expiry date / Skip (came from ✅ Done)
    checklist --> [*]: 📤 Submit (SUBMITTED_COMMUNE) / ⬅️ Menu
    [*] --> place: a file nobody asked for (stray), draft dossier exists
    checklist --> place: a file sent at the checklist
    place --> place: more files of the same album or burst (kept, no second question) / a later file (asked again)
    place --> checklist: ✅ Yes (the first missing required item) / 🗑 Discard
    place --> attach: 📂 Another item (or nothing required is missing)
    attach --> checklist: item chosen, files linked in the order sent
```

Photos first: a file that comes without an item chosen is offered to the first required item still missing
("Is this photo the “Registration form”?"), so the common case is one tap; the whole list is one tap further.
Several photos sent together (a Telegram album, or files within ``FILE_BURST_SECONDS`` of each other on any
channel) are one question and go to one item together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.dates import BadDate, parse_day
from bot.dossier_facts import (
    EDITABLE,
    FINISHED,
    case_label,
    expiry_warning,
    file_size,
    has_expiry,
    item_done,
    item_label,
    item_line,
    meeting_date,
    missing_items,
    next_step,
    progress_line,
    rejected_text,
    status_label,
    supplied_by,
)
from bot.flow import Context, Flow, Registry
from bot.i18n import _, format_day
from bot.messages import Choice, ReceivedFile, RejectedFile
from bot.rules import (
    DOSSIER_CASE_LABELS,
    PRODUCT_GROUP_LABELS,
    SERVICE_GROUPS,
    DossierCase,
    DossierStatus,
    IdeaStatus,
    ProductGroup,
    SuppliedBy,
    check_transition,
    requirements_for,
    rule_set_for,
)
from bot.text import fold, has_words, shorten, tidy
from handlers import dossier_reuse
from storage import dossiers, ideas
from storage.models import Dossier, DossierItem, Producer
from storage.producers import producer_of_user

PREFIX = "dos:"
FLOW_NAME = "dossier"
FILES = f"{PREFIX}files"
# Taking a file back is its own small conversation (handlers.dossier_files); this is what it carries there.
FILES_FLOW = "dossier_files"
CARRIED = ("dossier_id", "item_id", "page", "expiry_asked")

# Ideas the commune has (or will have) seen; a draft idea is finished in the idea flow first.
READY_IDEAS = (IdeaStatus.SUBMITTED_COMMUNE.value, IdeaStatus.ACCEPTED.value)

NAME_MIN, NAME_MAX = 2, 120
BUTTON_LABEL_MAX = 48
SUBMIT_WORDS = frozenset({"nop", "nop ho so", "gui", "gui ho so", "submit", "gui di", "nop di"})
DONE_WORDS = frozenset({"xong", "da xong", "done", "ok", "xong roi"})
# Files sent within this many seconds of each other are one batch (the pages of one paper): one question.
FILE_BURST_SECONDS = 15
# The checklist's first page lists at most this many items still to do, so it fits a phone screen.
CHECKLIST_LINES = 5
# Where the expiry question returns to: the item after a file or the 📅 button, the checklist after ✅ Done.
EXPIRY_RETURNS = ("item", "checklist")

flow = Flow(FLOW_NAME, first_step="product")


def _short(text: str) -> str:
    return shorten(text, BUTTON_LABEL_MAX)


def _number(payload: str | None, prefix: str) -> int | None:
    """The id in a payload such as ``dos:item:12``; None when the payload is not of that kind."""
    if payload is None or not payload.startswith(prefix):
        return None
    tail = payload[len(prefix) :]
    return int(tail) if tail.isdigit() and len(tail) <= 12 else None


# Small shared moves --------------------------------------------------------------------------------------


async def _producer(ctx: Context) -> Producer | None:
    producer = await producer_of_user(ctx.session, ctx.user.id)
    if producer is None:
        ctx.say(_("Please finish registering your production unit first, then come back to the dossier."))
        await ctx.finish()
    return producer


async def _stale(ctx: Context) -> None:
    """A button naming something that is not (or no longer) this producer's: a friendly word and the menu."""
    ctx.end_flow()
    if ctx.registry.stale_button is not None:
        await ctx.registry.stale_button(ctx)
    else:
        ctx.say(_("That button is from an older message. Here is the menu again."))
        await ctx.main_menu()


async def _open_checklist(ctx: Context, dossier: Dossier) -> None:
    ctx.data["dossier_id"] = dossier.id
    ctx.data["page"] = "required"
    ctx.data.pop("product_id", None)
    ctx.data.pop("name", None)
    # Files that came while the product was being chosen are placed first.
    await ctx.goto("place" if ctx.data.get("stray") else "checklist")


async def _editable_dossier(ctx: Context, producer: Producer) -> Dossier | None:
    dossier_id = ctx.data.get("dossier_id")
    if not isinstance(dossier_id, int):
        return None
    dossier = await dossiers.dossier_of(ctx.session, producer.id, dossier_id)
    return dossier if dossier is not None and dossier.status in EDITABLE else None


async def _keep_stray(ctx: Context, received: ReceivedFile) -> bool:
    """Record the file (content-addressed, so nothing is lost) and remember it until an item is chosen, in the
    order sent. True when it came with the file before (same album, or within a burst): one question then
    covers both, so the caller does not ask again."""
    stored = await _stored_row(ctx, received)
    stray: list[list[Any]] = list(ctx.data.get("stray") or [])
    if all(entry[0] != stored for entry in stray):
        stray.append([stored, received.original_name, received.mime])
    ctx.data["stray"] = stray
    return _joins_burst(ctx)


def _joins_burst(ctx: Context) -> bool:
    """Whether this file belongs with the one before: the same Telegram album, or sent within
    ``FILE_BURST_SECONDS`` of it (Zalo has no albums: several photos picked at once arrive one by one)."""
    group, last = ctx.inbound.group, ctx.data.get("burst")
    ctx.data["burst"] = [group, ctx.now.isoformat()]
    if not isinstance(last, list) or len(last) != 2:
        return False
    if group is not None and last[0] == group:
        return True
    try:
        seconds = (ctx.now - dt.datetime.fromisoformat(str(last[1]))).total_seconds()
    except ValueError:
        return False
    return 0 <= seconds <= FILE_BURST_SECONDS


async def _stored_row(ctx: Context, received: ReceivedFile) -> int:
    path = received.path
    try:
        relative: Path | str = path.relative_to(ctx.files.root)
    except ValueError:
        relative = path
    row = await dossiers.stored_file(
        ctx.session, sha256=received.sha256, size=received.size, mime=received.mime, path=str(relative)
    )
    return row.id


async def _file_while_choosing(ctx: Context) -> bool:
    """A file sent before the dossier is open: keep it, place it once the checklist exists."""
    if isinstance(ctx.received, ReceivedFile):
        if await _keep_stray(ctx, ctx.received):
            ctx.quiet = True  # the rest of an album: the question is already out
        else:
            await ctx.reask(_("I kept your file. Answer this first, then I will ask where the file belongs."))
        return True
    if isinstance(ctx.received, RejectedFile):
        await ctx.reask(rejected_text(ctx, ctx.received))
        return True
    return False


# 1. The product ------------------------------------------------------------------------------------------


@flow.ask("product")
async def ask_product(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    choices = [
        Choice(_short("📦 " + p.name), f"{PREFIX}prod:{p.id}")
        for p in await dossiers.products_of(ctx.session, producer.id)
    ]
    choices += [
        Choice(_short("💡 " + idea.name), f"{PREFIX}idea:{idea.id}")
        for idea in await dossiers.ideas_without_product(ctx.session, producer.id, READY_IDEAS)
    ]
    choices += [Choice(_("➕ Another product"), f"{PREFIX}new"), Choice(_("⬅️ Menu"), f"{PREFIX}menu")]
    ctx.say(_("Which product is this dossier for?"), choices)


@flow.answer("product")
async def got_product(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    if await _file_while_choosing(ctx):
        return
    payload = ctx.payload
    if payload == f"{PREFIX}menu":
        await ctx.finish()
        return
    if payload == f"{PREFIX}new":
        await ctx.goto("new_name")
        return
    product_id = _number(payload, f"{PREFIX}prod:")
    if product_id is not None:
        product = await dossiers.product_of(ctx.session, producer.id, product_id)
        if product is None:
            await _stale(ctx)
            return
        await _product_chosen(ctx, producer, product.id)
        return
    idea_id = _number(payload, f"{PREFIX}idea:")
    if idea_id is not None:
        await _idea_chosen(ctx, producer, idea_id)
        return
    await ctx.reask(_("Please press one of the buttons."))


async def _idea_chosen(ctx: Context, producer: Producer, idea_id: int) -> None:
    idea = await ideas.idea_of(ctx.session, producer.id, idea_id)
    if idea is None or idea.status not in READY_IDEAS:
        await _stale(ctx)
        return
    product = await dossiers.product_of_idea(ctx.session, producer.id, idea.id)
    if product is None:
        product = await dossiers.create_product(
            ctx.session,
            producer.id,
            name=idea.name,
            name_folded=idea.name_folded,
            group_code=idea.group_code,
            is_service=idea.group_code in SERVICE_GROUPS,
            commune_code=idea.commune_code,
            idea_id=idea.id,
        )
    await _product_chosen(ctx, producer, product.id)


async def _product_chosen(ctx: Context, producer: Producer, product_id: int) -> None:
    dossier = await dossiers.open_dossier_of_product(ctx.session, producer.id, product_id, FINISHED)
    if dossier is None:
        ctx.data["product_id"] = product_id
        await ctx.goto("case")
        return
    if dossier.status in EDITABLE:
        await _open_checklist(ctx, dossier)
        return
    # Already with the commune or the province: nothing to edit, say where it is.
    ctx.say(
        _("The dossier of {product} is already submitted.\nStatus: {status}\n{next}").format(
            product=dossier.product.name, status=status_label(dossier.status), next=next_step(dossier.status)
        )
    )
    await ctx.finish()


@flow.ask("new_name", free_text=True)
async def ask_new_name(ctx: Context) -> None:
    ctx.say(
        _("What is the product called? Type its name, for example: Shan tuyet tea."),
        [Choice(_("⬅️ Back"), f"{PREFIX}back")],
    )


@flow.answer("new_name")
async def got_new_name(ctx: Context) -> None:
    if ctx.payload == f"{PREFIX}back":
        await ctx.goto("product")
        return
    if await _file_while_choosing(ctx):
        return
    name = tidy(ctx.text)
    if not name:
        await ctx.reask(_("Please type the product name."))
        return
    if not has_words(name):
        await ctx.reask(_("Please type the name in letters, for example: Shan tuyet tea."))
        return
    if len(name) < NAME_MIN or len(name) > NAME_MAX:
        await ctx.reask(
            _("The name should be between {low} and {high} characters.").format(low=NAME_MIN, high=NAME_MAX)
        )
        return
    ctx.data["name"] = name
    await ctx.goto("new_group")


@flow.ask("new_group")
async def ask_new_group(ctx: Context) -> None:
    choices = [Choice(_(text), f"{PREFIX}grp:{group.value}") for group, text in PRODUCT_GROUP_LABELS.items()]
    choices.append(Choice(_("⬅️ Back"), f"{PREFIX}back"))
    ctx.say(_("Which group does {name} belong to?").format(name=ctx.data.get("name", "")), choices)


@flow.answer("new_group")
async def got_new_group(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    if await _file_while_choosing(ctx):
        return
    payload = ctx.payload or ""
    if payload == f"{PREFIX}back":
        await ctx.goto("new_name")
        return
    group_code = payload.removeprefix(f"{PREFIX}grp:") if payload.startswith(f"{PREFIX}grp:") else ""
    name = ctx.data.get("name")
    if group_code not in {g.value for g in ProductGroup} or not isinstance(name, str):
        await ctx.reask(_("Please press one of the buttons."))
        return
    product = await dossiers.create_product(
        ctx.session,
        producer.id,
        name=name,
        name_folded=fold(name),
        group_code=group_code,
        is_service=ProductGroup(group_code) in SERVICE_GROUPS,
        commune_code=producer.commune_code,
    )
    ctx.data.pop("name", None)
    ctx.data["product_id"] = product.id
    await ctx.goto("case")


# 2. The case ---------------------------------------------------------------------------------------------


@flow.ask("case")
async def ask_case(ctx: Context) -> None:
    choices = [Choice(_(text), f"{PREFIX}case:{case.value}") for case, text in DOSSIER_CASE_LABELS.items()]
    choices.append(Choice(_("⬅️ Back"), f"{PREFIX}back"))
    ctx.say(_("What kind of application is it?"), choices)


@flow.answer("case")
async def got_case(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    if await _file_while_choosing(ctx):
        return
    payload = ctx.payload or ""
    if payload == f"{PREFIX}back":
        await ctx.goto("product")
        return
    case_code = payload.removeprefix(f"{PREFIX}case:") if payload.startswith(f"{PREFIX}case:") else ""
    if case_code not in {c.value for c in DossierCase}:
        await ctx.reask(_("Please press one of the buttons."))
        return
    product_id = ctx.data.get("product_id")
    product = await dossiers.product_of(ctx.session, producer.id, product_id) if isinstance(product_id, int) else None
    if product is None:
        await _stale(ctx)
        return
    # A double press (or a second phone) must not make two dossiers of one product.
    dossier = await dossiers.open_dossier_of_product(ctx.session, producer.id, product.id, FINISHED)
    if dossier is None:
        requirements = requirements_for(ProductGroup(product.group_code), DossierCase(case_code))
        created = await dossiers.create_dossier(
            ctx.session,
            product.id,
            case=case_code,
            status=DossierStatus.DRAFT.value,
            rule_set=rule_set_for(ctx.today).code,
            items=[dossiers.NewItem(r.code, position, r.required) for position, r in enumerate(requirements)],
            now=ctx.now,
        )
        dossier = await dossiers.dossier_of(ctx.session, producer.id, created.id)
        assert dossier is not None
        if await dossier_reuse.after_creation(ctx, producer, dossier):
            return
    await _open_checklist(ctx, dossier)


# 3. The checklist ----------------------------------------------------------------------------------------


def checklist_text(dossier: Dossier, today: dt.date | None = None, page: str = "required") -> str:
    """A phone screen at most: what is missing first; done and optional items only on "📋 See all"."""
    lines = [
        _("📂 {product} — {case}").format(product=dossier.product.name, case=case_label(dossier.case)),
        progress_line(dossier),
    ]
    if page == "more":
        lines += [item_line(i, today) for i in dossier.items if i.expires_on is not None and item_done(i)]
        lines.append(_("All items are below: ✓ has files, ✗ not yet."))
        return "\n".join(lines)
    todo = [i for i in dossier.items if expiry_warning(i, today)] + missing_items(dossier)
    shown = todo if len(todo) <= CHECKLIST_LINES else todo[: CHECKLIST_LINES - 1]
    lines += [item_line(i, today) for i in shown]
    if len(todo) > len(shown):
        lines.append(_("… and {count} more").format(count=len(todo) - len(shown)))
    lines.append(_("Press an item to send its photos.") if todo else _("Everything required is here."))
    return "\n".join(lines)


def _item_choice(item: DossierItem) -> Choice:
    mark = "✓" if item_done(item) else "✗"
    return Choice(_short(f"{mark} {item_label(item.code)}"), f"{PREFIX}item:{item.id}")


def _checklist_choices(dossier: Dossier, page: str, today: dt.date | None = None) -> list[Choice]:
    """One button per line of the first page (an expired paper, a required item still to do); every item (done
    and optional too) behind "📋 See all", so that more files can still be added to any of them."""
    producer_items = [i for i in dossier.items if supplied_by(i.code) is not SuppliedBy.COMMUNE]
    required_missing = [i for i in producer_items if i.required and not item_done(i)]
    choices: list[Choice] = []
    if page == "more":
        choices += [_item_choice(i) for i in producer_items]
        choices.append(Choice(_("⬅️ Back"), f"{PREFIX}req"))
    else:
        expired = [i for i in producer_items if expiry_warning(i, today)]
        choices += [_item_choice(i) for i in (*expired, *required_missing)]
        choices.append(Choice(_("📋 See all items"), f"{PREFIX}more"))
    if not required_missing:
        choices.append(Choice(_("📤 Submit"), f"{PREFIX}submit"))
    choices.append(Choice(_("⬅️ Menu"), f"{PREFIX}menu"))
    return choices


@flow.ask("checklist")
async def ask_checklist(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    dossier = await _editable_dossier(ctx, producer)
    if dossier is None:
        await _stale(ctx)
        return
    page = "more" if ctx.data.get("page") == "more" else "required"
    ctx.say(checklist_text(dossier, ctx.today, page), _checklist_choices(dossier, page, ctx.today))


@flow.answer("checklist")
async def got_checklist(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    if isinstance(ctx.received, ReceivedFile):
        await _keep_stray(ctx, ctx.received)
        await ctx.goto("place")
        return
    if isinstance(ctx.received, RejectedFile):
        await ctx.reask(rejected_text(ctx, ctx.received))
        return
    payload = ctx.payload
    if payload == f"{PREFIX}menu":
        await ctx.finish()
        return
    if payload in (f"{PREFIX}more", f"{PREFIX}req"):
        ctx.data["page"] = "more" if payload == f"{PREFIX}more" else "required"
        await ctx.goto("checklist")
        return
    if payload == f"{PREFIX}submit" or (payload is None and fold(ctx.text or "") in SUBMIT_WORDS):
        await _submit(ctx, producer)
        return
    item_id = _number(payload, f"{PREFIX}item:")
    if item_id is not None:
        item = await dossiers.item_of(ctx.session, producer.id, item_id)
        if item is None or item.dossier.status not in EDITABLE:
            await _stale(ctx)
            return
        ctx.data["dossier_id"] = item.dossier_id
        ctx.data["item_id"] = item.id
        await ctx.goto("item")
        return
    await ctx.reask(_("Please press an item below, or send a photo."))


# 4. One item ---------------------------------------------------------------------------------------------


def _item_choices(item: DossierItem) -> list[Choice]:
    choices: list[Choice] = []
    if supplied_by(item.code) is SuppliedBy.HAND_IN and item.handed_in_at is None:
        choices.append(Choice(_("📦 I have handed in the 5 samples"), f"{PREFIX}handin"))
    if has_expiry(item.code):
        if item.expires_on is None:
            choices.append(Choice(_("📅 Add expiry date"), f"{PREFIX}exp"))
        else:
            choices.append(Choice(_("📅 Expiry date: {day}").format(day=format_day(item.expires_on)), f"{PREFIX}exp"))
    if item.files:
        choices.append(Choice(_("🗂 See, remove or move files ({count})").format(count=len(item.files)), FILES))
    choices += [Choice(_("✅ Done with this item"), f"{PREFIX}done"), Choice(_("⬅️ Checklist"), f"{PREFIX}back")]
    return choices


async def _current_item(ctx: Context, producer: Producer) -> DossierItem | None:
    item_id = ctx.data.get("item_id")
    if not isinstance(item_id, int):
        return None
    item = await dossiers.item_of(ctx.session, producer.id, item_id)
    if item is None or item.dossier.status not in EDITABLE:
        return None
    return item


def _expiry_line(item: DossierItem, today: dt.date) -> str | None:
    if item.expires_on is None:
        return None
    day = format_day(item.expires_on)
    if item.expires_on < today:
        return _("⚠️ This document expired on {day}. Please get a new one and send it here.").format(day=day)
    return _("📅 Valid until {day}.").format(day=day)


@flow.ask("item")
async def ask_item(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    item = await _current_item(ctx, producer)
    if item is None:
        await _stale(ctx)
        return
    lines = [f"📎 {item_label(item.code)}"]
    if supplied_by(item.code) is SuppliedBy.HAND_IN:
        lines.append(_("Bring 5 units of the product to the commune office, then press the button below."))
        if item.handed_in_at is not None:
            lines.append(_("Handed in on {day}.").format(day=format_day(item.handed_in_at)))
        lines.append(_("You can also send a photo of the samples."))
    else:
        lines.append(_("Send photos or scanned documents for this item. You can send several, one after another."))
    lines.append(_("Files received so far: {count}").format(count=len(item.files)))
    expiry = _expiry_line(item, ctx.today)
    if expiry is not None:
        lines.append(expiry)
    ctx.ask_file("\n".join(lines), _item_choices(item))


@flow.answer("item")
async def got_item(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    item = await _current_item(ctx, producer)
    if item is None:
        await _stale(ctx)
        return
    received, payload = ctx.received, ctx.payload
    if isinstance(received, ReceivedFile):
        _joins_burst(ctx)  # remembered, so that the rest of an album does not repeat the expiry question
        await _file_for_item(ctx, item, received)
        return
    if isinstance(received, RejectedFile):
        ctx.ask_file(rejected_text(ctx, received), _item_choices(item))
        return
    if payload == f"{PREFIX}exp" and has_expiry(item.code):
        await _ask_expiry(ctx, item, then="item")
        return
    if payload == FILES and item.files:
        await ctx.start(FILES_FLOW, {key: ctx.data[key] for key in CARRIED if key in ctx.data}, step="list")
        return
    done = payload == f"{PREFIX}done" or (payload is None and fold(ctx.text or "") in DONE_WORDS)
    if done and item_done(item) and _expiry_unasked(ctx, item):
        await _ask_expiry(ctx, item, then="checklist")
        return
    if done or payload == f"{PREFIX}back":
        await ctx.goto("checklist")
        return
    if payload == f"{PREFIX}handin" and supplied_by(item.code) is SuppliedBy.HAND_IN:
        await dossiers.mark_handed_in(ctx.session, item, ctx.now)
        ctx.say(_("✓ Noted: samples handed in on {day}.").format(day=format_day(ctx.now)))
        await ctx.goto("checklist")
        return
    ctx.ask_file(
        _("Please send a photo of the document (press 📎 and choose the photo), or press a button below."),
        _item_choices(item),
    )


async def _link_received(ctx: Context, item: DossierItem, received: ReceivedFile) -> tuple[bool, int, str]:
    """Attach the file to the item: whether it is new there, how many files the item has, the acknowledgement."""
    stored = await _stored_row(ctx, received)
    linked = await dossiers.link_file(
        ctx.session, item.id, stored, original_name=received.original_name, uploaded_by=ctx.user.id, now=ctx.now
    )
    count = await dossiers.file_count(ctx.session, item.id)
    name = item_label(item.code)
    if not linked:
        return False, count, _("You already sent this file for {item}. It is counted once.").format(item=name)
    text = _("Received file {number} for {item}: {size}").format(number=count, item=name, size=file_size(received.size))
    return True, count, text


async def _file_for_item(ctx: Context, item: DossierItem, received: ReceivedFile) -> None:
    linked, count, text = await _link_received(ctx, item, received)
    if linked and count == 1 and _expiry_unasked(ctx, item):
        # The acknowledgement carries no buttons: the expiry question right after it is the one to answer.
        ctx.say(text)
        await _ask_expiry(ctx, item, then="item")
        return
    if linked:
        text += "\n" + _("Send more, or press ✅ when this item is complete.")
    ctx.say(text, _item_choices(item))


# 4b. The expiry date of a document that expires ----------------------------------------------------------


def _expiry_unasked(ctx: Context, item: DossierItem) -> bool:
    """A document with an expiry date we do not know yet, not asked about in this conversation."""
    asked = ctx.data.get("expiry_asked") or []
    return has_expiry(item.code) and item.expires_on is None and item.id not in asked


async def _ask_expiry(ctx: Context, item: DossierItem, *, then: str) -> None:
    asked: list[Any] = list(ctx.data.get("expiry_asked") or [])
    if item.id not in asked:
        asked.append(item.id)
    ctx.data["expiry_asked"] = asked
    ctx.data["expiry_then"] = then
    await ctx.goto("expiry")


async def _after_expiry(ctx: Context) -> None:
    then = ctx.data.pop("expiry_then", "item")
    await ctx.goto(then if then in EXPIRY_RETURNS else "item")


@flow.ask("expiry", free_text=True)
async def ask_expiry(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    item = await _current_item(ctx, producer)
    if item is None or not has_expiry(item.code):
        await _stale(ctx)
        return
    example = format_day(dt.date(ctx.today.year + 1, 12, 31))
    lines = [
        f"📅 {item_label(item.code)}",
        _("When does this document expire? Type the date (e.g. {example})").format(example=example),
    ]
    if item.expires_on is not None:
        lines.append(_("Saved now: {day}").format(day=format_day(item.expires_on)))
    later = _("Skip for now") if item.expires_on is None else _("⬅️ Back")
    ctx.say(
        "\n".join(lines),
        [Choice(_("No expiry date on it"), f"{PREFIX}noexp"), Choice(later, f"{PREFIX}skip")],
    )


@flow.answer("expiry")
async def got_expiry(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    item = await _current_item(ctx, producer)
    if item is None or not has_expiry(item.code):
        await _stale(ctx)
        return
    received, payload = ctx.received, ctx.payload
    if isinstance(received, ReceivedFile):
        # A second page of the certificate: keep it, then the date is still wanted (asked once per batch).
        _linked, _count, text = await _link_received(ctx, item, received)
        if _joins_burst(ctx):
            ctx.quiet = True
        else:
            await ctx.reask(text)
        return
    if isinstance(received, RejectedFile):
        await ctx.reask(rejected_text(ctx, received))
        return
    if payload == f"{PREFIX}noexp":
        await dossiers.set_expiry(ctx.session, item, None)
        ctx.say(_("✓ Noted: this document has no expiry date."))
        await _after_expiry(ctx)
        return
    if payload == f"{PREFIX}skip":
        if item.expires_on is None:
            ctx.say(_("All right. You can add the date later with the 📅 button of this item."))
        await _after_expiry(ctx)
        return
    try:
        # A date without a year is the next such day, as for any date in the future.
        expires_on = parse_day(ctx.text, ctx.today)
    except BadDate as bad:
        await ctx.reask(bad.hint)
        return
    await dossiers.set_expiry(ctx.session, item, expires_on)
    ctx.say(await _expiry_saved_text(ctx, item, expires_on))
    await _after_expiry(ctx)


async def _expiry_saved_text(ctx: Context, item: DossierItem, expires_on: dt.date) -> str:
    day = format_day(expires_on)
    if expires_on < ctx.today:
        # Still recorded, so the checklist and the status report show why a new document is needed.
        return _(
            "⚠️ This document expired on {day}. The council needs a valid one: "
            "please get a new document and send it to this item."
        ).format(day=day)
    meeting = await meeting_date(ctx, item.dossier)
    if meeting is not None and expires_on < meeting:
        return _(
            "⚠️ Saved: valid until {day}, but the council meets on {meeting}. "
            "Please renew it before then and send the new one."
        ).format(day=day, meeting=format_day(meeting))
    return _("✓ Saved: valid until {day}.").format(day=day)


# 5. Submit -----------------------------------------------------------------------------------------------


async def _submit(ctx: Context, producer: Producer) -> None:
    dossier = await _editable_dossier(ctx, producer)
    if dossier is None:
        await _stale(ctx)
        return
    missing = missing_items(dossier)  # re-checked from the database, not from the buttons shown earlier
    if missing:
        # The checklist that follows names them: a count here keeps both messages short.
        ctx.say(_("Not yet: {count} required items are still missing.").format(count=len(missing)))
        ctx.data["page"] = "required"
        await ctx.goto("checklist")
        return
    # A dossier the province returned goes back to the province; everything else goes to the commune.
    back_to_province = dossier.status == DossierStatus.PROVINCE_SUPPLEMENT
    target = DossierStatus.COMPLETENESS_CHECK if back_to_province else DossierStatus.SUBMITTED_COMMUNE
    check_transition(dossier.status, target)
    await dossiers.submit(ctx.session, dossier, target.value, ctx.now)
    if back_to_province:
        sent = _("📤 Sent again on {day}: the dossier of {product} is back with the province.\n{next}")
    else:
        sent = _("📤 Submitted on {day}: the dossier of {product} is now with the commune.\n{next}")
    ctx.say(sent.format(day=format_day(ctx.now), product=dossier.product.name, next=next_step(dossier.status)))
    await ctx.finish()


# A file nobody asked for ---------------------------------------------------------------------------------


def _all_photos(stray: Sequence[Sequence[Any]]) -> bool:
    return all(len(entry) > 2 and str(entry[2]).startswith("image/") for entry in stray)


def _place_question(stray: Sequence[Sequence[Any]], item: str) -> str:
    count = len(stray)
    if _all_photos(stray):
        if count == 1:
            return _("Is this photo the “{item}”?").format(item=item)
        return _("Are these {count} photos the “{item}”?").format(count=count, item=item)
    if count == 1:
        return _("Is this file the “{item}”?").format(item=item)
    return _("Are these {count} files the “{item}”?").format(count=count, item=item)


async def _dossier_for_files(ctx: Context, producer: Producer) -> Dossier | None:
    """The dossier the waiting files go to; None when the producer was asked which one (or has none)."""
    dossier = await _editable_dossier(ctx, producer)
    if dossier is not None:
        return dossier
    drafts = await dossiers.dossiers_of(ctx.session, producer.id, EDITABLE)
    if len(drafts) == 1:
        ctx.data["dossier_id"] = drafts[0].id
        return drafts[0]
    if drafts:
        choices = [Choice(_short("📂 " + d.product.name), f"{PREFIX}attd:{d.id}") for d in drafts]
        choices.append(Choice(_("Not now"), f"{PREFIX}skip"))
        ctx.say(_("I got your file. Which product is it for?"), choices)
    else:
        await _no_dossier_for_file(ctx)
    return None


@flow.ask("place")
async def ask_place(ctx: Context) -> None:
    """One tap in the common case: the files are offered to the first required item still missing."""
    producer = await _producer(ctx)
    if producer is None:
        return
    stray = ctx.data.get("stray") or []
    if not stray:
        await ctx.goto("checklist")
        return
    dossier = await _dossier_for_files(ctx, producer)
    if dossier is None:
        return
    missing = missing_items(dossier)
    if not missing:
        await ctx.goto("attach")
        return
    ctx.say(
        _place_question(stray, item_label(missing[0].code)),
        [
            Choice(_("✅ Yes"), f"{PREFIX}att:{missing[0].id}"),
            Choice(_("📂 Another item"), f"{PREFIX}attall"),
            Choice(_("🗑 Leave out"), f"{PREFIX}drop"),
        ],
        columns=3,
    )


@flow.ask("attach")
async def ask_attach(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    stray = ctx.data.get("stray") or []
    if not stray:
        await ctx.goto("checklist")
        return
    dossier = await _dossier_for_files(ctx, producer)
    if dossier is None:
        return
    items = sorted(
        (i for i in dossier.items if supplied_by(i.code) is not SuppliedBy.COMMUNE),
        key=lambda i: (item_done(i), not i.required, i.position),
    )
    choices = [
        Choice(_short(("✓ " if item_done(i) else "✗ ") + item_label(i.code)), f"{PREFIX}att:{i.id}") for i in items
    ]
    choices.append(Choice(_("Not now"), f"{PREFIX}skip"))
    ctx.say(
        _("I got {count} file(s) for {product}. Which item do they belong to?").format(
            count=len(stray), product=dossier.product.name
        ),
        choices,
    )


@flow.answer("place")
@flow.answer("attach")
async def got_attach(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is None:
        return
    payload = ctx.payload
    if isinstance(ctx.received, ReceivedFile):
        if await _keep_stray(ctx, ctx.received):
            ctx.quiet = True  # the next page of the same batch: the question already out covers it
        else:
            await ctx.reask()
        return
    if isinstance(ctx.received, RejectedFile):
        await ctx.reask(rejected_text(ctx, ctx.received))
        return
    if payload == f"{PREFIX}attall":
        await ctx.goto("attach")
        return
    if payload == f"{PREFIX}drop":
        count = len(ctx.data.pop("stray", None) or [])
        ctx.data.pop("burst", None)
        ctx.say(_("🗑 Left out: {count} file(s), not added.").format(count=count))
        if ctx.data.get("then") == "menu" or not isinstance(ctx.data.get("dossier_id"), int):
            await ctx.finish()
        else:
            await ctx.goto("checklist")
        return
    if payload == f"{PREFIX}skip":
        ctx.say(_("All right. The file is kept; you can send it again from the item later."))
        await ctx.finish()
        return
    dossier_id = _number(payload, f"{PREFIX}attd:")
    if dossier_id is not None:
        dossier = await dossiers.dossier_of(ctx.session, producer.id, dossier_id)
        if dossier is None or dossier.status not in EDITABLE:
            await _stale(ctx)
            return
        ctx.data["dossier_id"] = dossier.id
        await ctx.goto("place")
        return
    item_id = _number(payload, f"{PREFIX}att:")
    if item_id is None:
        await ctx.reask(_("Please press the item this file belongs to."))
        return
    item = await dossiers.item_of(ctx.session, producer.id, item_id)
    if item is None or item.dossier.status not in EDITABLE or supplied_by(item.code) is SuppliedBy.COMMUNE:
        await _stale(ctx)
        return
    await _link_strays(ctx, item, ctx.data.get("stray") or [])
    for key in ("stray", "burst", "then"):
        ctx.data.pop(key, None)
    ctx.data["dossier_id"] = item.dossier_id
    ctx.data["page"] = "required"
    await ctx.goto("checklist")


async def _link_strays(ctx: Context, item: DossierItem, stray: Sequence[Sequence[Any]]) -> None:
    gone = 0
    for entry in stray:
        stored_id, original_name = entry[0], entry[1] if len(entry) > 1 else None
        # The ids came from our own flow data, but the row is re-read rather than trusted; a file that waited
        # more than a day for its item was taken by the orphan sweep (bot.orphans).
        if not isinstance(stored_id, int) or await dossiers.stored_file_by_id(ctx.session, stored_id) is None:
            gone += 1
            continue
        await dossiers.link_file(
            ctx.session,
            item.id,
            stored_id,
            original_name=original_name if isinstance(original_name, str) else None,
            uploaded_by=ctx.user.id,
            now=ctx.now,
        )
    if gone:
        ctx.say(
            _("{count} file(s) waited too long for an item and were not kept. Please send them again.").format(
                count=gone
            )
        )
    count = await dossiers.file_count(ctx.session, item.id)
    ctx.say(_("✓ Added to {item}. It now has {count} file(s).").format(item=item_label(item.code), count=count))


async def _no_dossier_for_file(ctx: Context) -> None:
    ctx.say(
        _(
            "I kept your file, but you have no dossier being prepared. Press 📂 My dossier, choose the product, "
            "then send the file again from its item."
        )
    )
    await ctx.finish()


async def on_stray_file(ctx: Context) -> None:
    """A file when no step asked for one: keep it and offer it to the first missing item of a draft dossier."""
    received = ctx.received
    if isinstance(received, RejectedFile) or received is None:
        ctx.say(rejected_text(ctx, received) if received else _("Please send the file again."))
        await ctx.main_menu()
        return
    producer = await producer_of_user(ctx.session, ctx.user.id)
    if producer is None:
        ctx.say(_("I kept your file. Please finish registering first; then you can add it to a dossier."))
        await ctx.finish()
        return
    drafts = await dossiers.dossiers_of(ctx.session, producer.id, EDITABLE)
    if not drafts:
        await _no_dossier_for_file(ctx)
        return
    stored = await _stored_row(ctx, received)
    # "then": discarding the files returns to the menu, where the producer was.
    data: dict[str, Any] = {
        "stray": [[stored, received.original_name, received.mime]],
        "burst": [ctx.inbound.group, ctx.now.isoformat()],
        "then": "menu",
    }
    if len(drafts) == 1:
        data["dossier_id"] = drafts[0].id
    await ctx.start(FLOW_NAME, data, step="place")


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.stray_file = on_stray_file
