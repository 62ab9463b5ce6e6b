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

from bot.callbacks import Button
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
    loaded_producer,
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
from handlers.dossier_form import FILES_FLOW, FLOW_NAME, DossierForm, WaitingFile
from storage import dossiers, ideas
from storage.models import Dossier, DossierItem, Producer

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


# The buttons (the packed strings are those of earlier versions: buttons already sent keep working) -----------


class ChooseProduct(Button, prefix="dos:prod"):
    product: int


class ChooseIdea(Button, prefix="dos:idea"):
    idea: int


class NewProduct(Button, prefix="dos:new"):
    pass


class ChooseGroup(Button, prefix="dos:grp"):
    group: str


class ChooseCase(Button, prefix="dos:case"):
    case: str


class Back(Button, prefix="dos:back"):
    pass


class ToMenu(Button, prefix="dos:menu"):
    pass


class OpenItem(Button, prefix="dos:item"):
    item: int


class SeeAll(Button, prefix="dos:more"):
    pass


class SeeRequired(Button, prefix="dos:req"):
    pass


class Submit(Button, prefix="dos:submit"):
    pass


class HandedIn(Button, prefix="dos:handin"):
    pass


class ExpiryDate(Button, prefix="dos:exp"):
    pass


class ItemFiles(Button, prefix="dos:files"):
    pass


class ItemDone(Button, prefix="dos:done"):
    pass


class NoExpiry(Button, prefix="dos:noexp"):
    pass


class Skip(Button, prefix="dos:skip"):
    pass


class AttachTo(Button, prefix="dos:att"):
    item: int


class AttachToDossier(Button, prefix="dos:attd"):
    dossier: int


class AnotherItem(Button, prefix="dos:attall"):
    pass


class LeaveOut(Button, prefix="dos:drop"):
    pass


flow = Flow(FLOW_NAME, first_step="product", data=DossierForm)


def _form(ctx: Context) -> DossierForm:
    return ctx.form(DossierForm)


def _short(text: str) -> str:
    return shorten(text, BUTTON_LABEL_MAX)


# Small shared moves --------------------------------------------------------------------------------------


@flow.before
async def has_producer(ctx: Context) -> bool:
    """Every question and answer is about the producer's own products: registering comes first."""
    if await loaded_producer(ctx) is not None:
        return True
    ctx.say(_("Please finish registering your production unit first, then come back to the dossier."))
    await ctx.finish()
    return False


async def _producer(ctx: Context) -> Producer:
    """The producer, whom ``has_producer`` found already in this update."""
    producer = await loaded_producer(ctx)
    assert producer is not None
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
    form = _form(ctx)
    form.dossier_id = dossier.id
    form.page = "required"
    form.product_id = None
    form.name = None
    # Files that came while the product was being chosen are placed first.
    await ctx.goto("place" if form.stray else "checklist")


async def _editable_dossier(ctx: Context) -> Dossier | None:
    dossier_id = _form(ctx).dossier_id
    if not isinstance(dossier_id, int):
        return None
    dossier = await dossiers.dossier_of(ctx.session, (await _producer(ctx)).id, dossier_id)
    return dossier if dossier is not None and dossier.status in EDITABLE else None


async def _keep_stray(ctx: Context, received: ReceivedFile) -> bool:
    """Record the file (content-addressed, so nothing is lost) and remember it until an item is chosen, in the
    order sent. True when it came with the file before (same album, or within a burst): one question then
    covers both, so the caller does not ask again."""
    stored = await _stored_row(ctx, received)
    _form(ctx).keep_waiting(WaitingFile(stored, received.original_name, received.mime))
    return _joins_burst(ctx)


def _joins_burst(ctx: Context) -> bool:
    """Whether this file belongs with the one before: the same Telegram album, or sent within
    ``FILE_BURST_SECONDS`` of it (Zalo has no albums: several photos picked at once arrive one by one)."""
    form = _form(ctx)
    group, last = ctx.inbound.group, form.burst
    form.burst = [group, ctx.now.isoformat()]
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


async def file_while_choosing(ctx: Context, received: ReceivedFile) -> None:
    """A file sent before the dossier is open: keep it, place it once the checklist exists."""
    if await _keep_stray(ctx, received):
        ctx.quiet = True  # the rest of an album: the question is already out
    else:
        await ctx.reask(_("I kept your file. Answer this first, then I will ask where the file belongs."))


async def press_a_button(ctx: Context, _text: str) -> None:
    await ctx.reask(_("Please press one of the buttons."))


# 1. The product ------------------------------------------------------------------------------------------


@flow.ask("product")
async def ask_product(ctx: Context) -> None:
    producer = await _producer(ctx)
    products, ideas = await dossiers.products_and_ideas(ctx.session, producer.id, READY_IDEAS)
    choices = [Choice(_short("📦 " + p.name), ChooseProduct(product=p.id)) for p in products]
    choices += [Choice(_short("💡 " + idea.name), ChooseIdea(idea=idea.id)) for idea in ideas]
    choices += [Choice(_("➕ Another product"), NewProduct()), Choice(_("⬅️ Menu"), ToMenu())]
    ctx.say(_("Which product is this dossier for?"), choices)


flow.on_file("product")(file_while_choosing)
flow.on_text("product", free_text=False)(press_a_button)


@flow.on("product", ToMenu)
@flow.on("checklist", ToMenu)
async def to_menu(ctx: Context, _pressed: ToMenu) -> None:
    await ctx.finish()


@flow.on("product", NewProduct)
async def new_product(ctx: Context, _pressed: NewProduct) -> None:
    await ctx.goto("new_name")


@flow.on("product", ChooseProduct)
async def product_chosen(ctx: Context, pressed: ChooseProduct) -> None:
    producer = await _producer(ctx)
    product = await dossiers.product_of(ctx.session, producer.id, pressed.product)
    if product is None:
        await _stale(ctx)
        return
    await _product_chosen(ctx, producer, product.id)


@flow.on("product", ChooseIdea)
async def idea_chosen(ctx: Context, pressed: ChooseIdea) -> None:
    producer = await _producer(ctx)
    idea = await ideas.idea_of(ctx.session, producer.id, pressed.idea)
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
        _form(ctx).product_id = product_id
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
        [Choice(_("⬅️ Back"), Back())],
    )


flow.on_file("new_name")(file_while_choosing)


@flow.on("new_name", Back)
@flow.on("case", Back)
async def back_to_product(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("product")


@flow.on_text("new_name")
async def got_new_name(ctx: Context, text: str) -> None:
    name = tidy(text)
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
    _form(ctx).name = name
    await ctx.goto("new_group")


@flow.ask("new_group")
async def ask_new_group(ctx: Context) -> None:
    choices = [Choice(_(text), ChooseGroup(group=group.value)) for group, text in PRODUCT_GROUP_LABELS.items()]
    choices.append(Choice(_("⬅️ Back"), Back()))
    ctx.say(_("Which group does {name} belong to?").format(name=_form(ctx).name or ""), choices)


flow.on_file("new_group")(file_while_choosing)
flow.on_text("new_group", free_text=False)(press_a_button)


@flow.on("new_group", Back)
async def back_to_name(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("new_name")


@flow.on("new_group", ChooseGroup)
async def group_chosen(ctx: Context, pressed: ChooseGroup) -> None:
    producer = await _producer(ctx)
    form = _form(ctx)
    name = form.name
    if pressed.group not in {g.value for g in ProductGroup} or not isinstance(name, str):
        await ctx.reask(_("Please press one of the buttons."))
        return
    product = await dossiers.create_product(
        ctx.session,
        producer.id,
        name=name,
        name_folded=fold(name),
        group_code=pressed.group,
        is_service=ProductGroup(pressed.group) in SERVICE_GROUPS,
        commune_code=producer.commune_code,
    )
    form.name = None
    form.product_id = product.id
    await ctx.goto("case")


# 2. The case ---------------------------------------------------------------------------------------------


@flow.ask("case")
async def ask_case(ctx: Context) -> None:
    choices = [Choice(_(text), ChooseCase(case=case.value)) for case, text in DOSSIER_CASE_LABELS.items()]
    choices.append(Choice(_("⬅️ Back"), Back()))
    ctx.say(_("What kind of application is it?"), choices)


flow.on_file("case")(file_while_choosing)
flow.on_text("case", free_text=False)(press_a_button)


@flow.on("case", ChooseCase)
async def case_chosen(ctx: Context, pressed: ChooseCase) -> None:
    producer = await _producer(ctx)
    case_code = pressed.case
    if case_code not in {c.value for c in DossierCase}:
        await ctx.reask(_("Please press one of the buttons."))
        return
    form = _form(ctx)
    product_id = form.product_id
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
        if await dossier_reuse.after_creation(ctx, producer, dossier, files_waiting=bool(form.stray)):
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
    return Choice(_short(f"{mark} {item_label(item.code)}"), OpenItem(item=item.id))


def _checklist_choices(dossier: Dossier, page: str, today: dt.date | None = None) -> list[Choice]:
    """One button per line of the first page (an expired paper, a required item still to do); every item (done
    and optional too) behind "📋 See all", so that more files can still be added to any of them."""
    producer_items = [i for i in dossier.items if supplied_by(i.code) is not SuppliedBy.COMMUNE]
    required_missing = [i for i in producer_items if i.required and not item_done(i)]
    choices: list[Choice] = []
    if page == "more":
        choices += [_item_choice(i) for i in producer_items]
        choices.append(Choice(_("⬅️ Back"), SeeRequired()))
    else:
        expired = [i for i in producer_items if expiry_warning(i, today)]
        choices += [_item_choice(i) for i in (*expired, *required_missing)]
        choices.append(Choice(_("📋 See all items"), SeeAll()))
    if not required_missing:
        choices.append(Choice(_("📤 Submit"), Submit()))
    choices.append(Choice(_("⬅️ Menu"), ToMenu()))
    return choices


@flow.ask("checklist")
async def ask_checklist(ctx: Context) -> None:
    dossier = await _editable_dossier(ctx)
    if dossier is None:
        await _stale(ctx)
        return
    page = "more" if _form(ctx).page == "more" else "required"
    ctx.say(checklist_text(dossier, ctx.today, page), _checklist_choices(dossier, page, ctx.today))


@flow.on_file("checklist")
async def file_at_checklist(ctx: Context, received: ReceivedFile) -> None:
    await _keep_stray(ctx, received)
    await ctx.goto("place")


@flow.on("checklist", SeeAll)
async def see_all(ctx: Context, _pressed: SeeAll) -> None:
    _form(ctx).page = "more"
    await ctx.goto("checklist")


@flow.on("checklist", SeeRequired)
async def see_required(ctx: Context, _pressed: SeeRequired) -> None:
    _form(ctx).page = "required"
    await ctx.goto("checklist")


@flow.on("checklist", Submit)
async def submit_pressed(ctx: Context, _pressed: Submit) -> None:
    await _submit(ctx)


@flow.on_text("checklist", free_text=False)
async def checklist_typed(ctx: Context, text: str) -> None:
    if fold(text) in SUBMIT_WORDS:
        await _submit(ctx)
        return
    await ctx.reask(_("Please press an item below, or send a photo."))


@flow.on("checklist", OpenItem)
async def item_chosen(ctx: Context, pressed: OpenItem) -> None:
    item = await dossiers.item_of(ctx.session, (await _producer(ctx)).id, pressed.item)
    if item is None or item.dossier.status not in EDITABLE:
        await _stale(ctx)
        return
    form = _form(ctx)
    form.dossier_id = item.dossier_id
    form.item_id = item.id
    await ctx.goto("item")


# 4. One item ---------------------------------------------------------------------------------------------


def _item_choices(item: DossierItem) -> list[Choice]:
    choices: list[Choice] = []
    if supplied_by(item.code) is SuppliedBy.HAND_IN and item.handed_in_at is None:
        choices.append(Choice(_("📦 I have handed in the 5 samples"), HandedIn()))
    if has_expiry(item.code):
        if item.expires_on is None:
            choices.append(Choice(_("📅 Add expiry date"), ExpiryDate()))
        else:
            choices.append(Choice(_("📅 Expiry date: {day}").format(day=format_day(item.expires_on)), ExpiryDate()))
    if item.files:
        choices.append(Choice(_("🗂 See, remove or move files ({count})").format(count=len(item.files)), ItemFiles()))
    choices += [Choice(_("✅ Done with this item"), ItemDone()), Choice(_("⬅️ Checklist"), Back())]
    return choices


async def _current_item(ctx: Context) -> DossierItem | None:
    item_id = _form(ctx).item_id
    if not isinstance(item_id, int):
        return None
    item = await dossiers.item_of(ctx.session, (await _producer(ctx)).id, item_id)
    if item is None or item.dossier.status not in EDITABLE:
        return None
    return item


async def _item_or_stale(ctx: Context) -> DossierItem | None:
    """The item being filled in; None (after a word and the menu) when it is no longer the producer's to fill."""
    item = await _current_item(ctx)
    if item is None:
        await _stale(ctx)
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
    item = await _item_or_stale(ctx)
    if item is None:
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


def _item_hint(ctx: Context, item: DossierItem) -> None:
    ctx.ask_file(
        _("Please send a photo of the document (press 📎 and choose the photo), or press a button below."),
        _item_choices(item),
    )


@flow.on_file("item")
async def file_for_item(ctx: Context, received: ReceivedFile) -> None:
    item = await _item_or_stale(ctx)
    if item is None:
        return
    _joins_burst(ctx)  # remembered, so that the rest of an album does not repeat the expiry question
    await _file_for_item(ctx, item, received)


@flow.on("item", ExpiryDate)
async def expiry_pressed(ctx: Context, _pressed: ExpiryDate) -> None:
    item = await _item_or_stale(ctx)
    if item is None:
        return
    if has_expiry(item.code):
        await _ask_expiry(ctx, item, then="item")
    else:
        _item_hint(ctx, item)


@flow.on("item", ItemFiles)
async def files_pressed(ctx: Context, _pressed: ItemFiles) -> None:
    item = await _item_or_stale(ctx)
    if item is None:
        return
    if item.files:
        await ctx.start(FILES_FLOW, _form(ctx).item_view().dump(), step="list")
    else:
        _item_hint(ctx, item)


@flow.on("item", ItemDone)
async def done_pressed(ctx: Context, _pressed: ItemDone) -> None:
    item = await _item_or_stale(ctx)
    if item is not None:
        await _item_finished(ctx, item)


@flow.on_text("item", free_text=False)
async def item_typed(ctx: Context, text: str) -> None:
    item = await _item_or_stale(ctx)
    if item is None:
        return
    if fold(text) in DONE_WORDS:
        await _item_finished(ctx, item)
    else:
        _item_hint(ctx, item)


async def _item_finished(ctx: Context, item: DossierItem) -> None:
    if item_done(item) and _expiry_unasked(ctx, item):
        await _ask_expiry(ctx, item, then="checklist")
        return
    await ctx.goto("checklist")


@flow.on("item", Back)
async def back_to_checklist(ctx: Context, _pressed: Back) -> None:
    if await _item_or_stale(ctx) is not None:
        await ctx.goto("checklist")


@flow.on("item", HandedIn)
async def handed_in(ctx: Context, _pressed: HandedIn) -> None:
    item = await _item_or_stale(ctx)
    if item is None:
        return
    if supplied_by(item.code) is not SuppliedBy.HAND_IN:
        _item_hint(ctx, item)
        return
    await dossiers.mark_handed_in(ctx.session, item, ctx.now)
    ctx.say(_("✓ Noted: samples handed in on {day}.").format(day=format_day(ctx.now)))
    await ctx.goto("checklist")


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
    return has_expiry(item.code) and item.expires_on is None and item.id not in _form(ctx).expiry_asked


async def _ask_expiry(ctx: Context, item: DossierItem, *, then: str) -> None:
    form = _form(ctx)
    if item.id not in form.expiry_asked:
        form.expiry_asked.append(item.id)
    form.expiry_then = then
    await ctx.goto("expiry")


async def _after_expiry(ctx: Context) -> None:
    form = _form(ctx)
    then, form.expiry_then = form.expiry_then or "item", None
    await ctx.goto(then if then in EXPIRY_RETURNS else "item")


async def _expiring_item(ctx: Context) -> DossierItem | None:
    item = await _current_item(ctx)
    if item is None or not has_expiry(item.code):
        await _stale(ctx)
        return None
    return item


@flow.ask("expiry", free_text=True)
async def ask_expiry(ctx: Context) -> None:
    item = await _expiring_item(ctx)
    if item is None:
        return
    example = format_day(dt.date(ctx.today.year + 1, 12, 31))
    lines = [
        f"📅 {item_label(item.code)}",
        _("When does this document expire? Type the date (e.g. {example})").format(example=example),
    ]
    if item.expires_on is not None:
        lines.append(_("Saved now: {day}").format(day=format_day(item.expires_on)))
    later = _("Skip for now") if item.expires_on is None else _("⬅️ Back")
    ctx.say("\n".join(lines), [Choice(_("No expiry date on it"), NoExpiry()), Choice(later, Skip())])


@flow.on_file("expiry")
async def file_at_expiry(ctx: Context, received: ReceivedFile) -> None:
    item = await _expiring_item(ctx)
    if item is None:
        return
    # A second page of the certificate: keep it, then the date is still wanted (asked once per batch).
    _linked, _count, text = await _link_received(ctx, item, received)
    if _joins_burst(ctx):
        ctx.quiet = True
    else:
        await ctx.reask(text)


@flow.on("expiry", NoExpiry)
async def no_expiry(ctx: Context, _pressed: NoExpiry) -> None:
    item = await _expiring_item(ctx)
    if item is None:
        return
    await dossiers.set_expiry(ctx.session, item, None)
    ctx.say(_("✓ Noted: this document has no expiry date."))
    await _after_expiry(ctx)


@flow.on("expiry", Skip)
async def skip_expiry(ctx: Context, _pressed: Skip) -> None:
    item = await _expiring_item(ctx)
    if item is None:
        return
    if item.expires_on is None:
        ctx.say(_("All right. You can add the date later with the 📅 button of this item."))
    await _after_expiry(ctx)


@flow.on_text("expiry")
async def got_expiry(ctx: Context, text: str) -> None:
    item = await _expiring_item(ctx)
    if item is None:
        return
    try:
        # A date without a year is the next such day, as for any date in the future.
        expires_on = parse_day(text, ctx.today)
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


async def _submit(ctx: Context) -> None:
    dossier = await _editable_dossier(ctx)
    if dossier is None:
        await _stale(ctx)
        return
    missing = missing_items(dossier)  # re-checked from the database, not from the buttons shown earlier
    if missing:
        # The checklist that follows names them: a count here keeps both messages short.
        ctx.say(_("Not yet: {count} required items are still missing.").format(count=len(missing)))
        _form(ctx).page = "required"
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


def _place_question(waiting: Sequence[WaitingFile], item: str) -> str:
    count = len(waiting)
    if all(file.mime.startswith("image/") for file in waiting):
        if count == 1:
            return _("Is this photo the “{item}”?").format(item=item)
        return _("Are these {count} photos the “{item}”?").format(count=count, item=item)
    if count == 1:
        return _("Is this file the “{item}”?").format(item=item)
    return _("Are these {count} files the “{item}”?").format(count=count, item=item)


async def _dossier_for_files(ctx: Context) -> Dossier | None:
    """The dossier the waiting files go to; None when the producer was asked which one (or has none)."""
    dossier = await _editable_dossier(ctx)
    if dossier is not None:
        return dossier
    drafts = await dossiers.dossiers_of(ctx.session, (await _producer(ctx)).id, EDITABLE)
    if len(drafts) == 1:
        _form(ctx).dossier_id = drafts[0].id
        return drafts[0]
    if drafts:
        choices = [Choice(_short("📂 " + d.product.name), AttachToDossier(dossier=d.id)) for d in drafts]
        choices.append(Choice(_("Not now"), Skip()))
        ctx.say(_("I got your file. Which product is it for?"), choices)
    else:
        await _no_dossier_for_file(ctx)
    return None


@flow.ask("place")
async def ask_place(ctx: Context) -> None:
    """One tap in the common case: the files are offered to the first required item still missing."""
    waiting = _form(ctx).waiting()
    if not waiting:
        await ctx.goto("checklist")
        return
    dossier = await _dossier_for_files(ctx)
    if dossier is None:
        return
    missing = missing_items(dossier)
    if not missing:
        await ctx.goto("attach")
        return
    ctx.say(
        _place_question(waiting, item_label(missing[0].code)),
        [
            Choice(_("✅ Yes"), AttachTo(item=missing[0].id)),
            Choice(_("📂 Another item"), AnotherItem()),
            Choice(_("🗑 Leave out"), LeaveOut()),
        ],
        columns=3,
    )


@flow.ask("attach")
async def ask_attach(ctx: Context) -> None:
    waiting = _form(ctx).waiting()
    if not waiting:
        await ctx.goto("checklist")
        return
    dossier = await _dossier_for_files(ctx)
    if dossier is None:
        return
    items = sorted(
        (i for i in dossier.items if supplied_by(i.code) is not SuppliedBy.COMMUNE),
        key=lambda i: (item_done(i), not i.required, i.position),
    )
    choices = [
        Choice(_short(("✓ " if item_done(i) else "✗ ") + item_label(i.code)), AttachTo(item=i.id)) for i in items
    ]
    choices.append(Choice(_("Not now"), Skip()))
    ctx.say(
        _("I got {count} file(s) for {product}. Which item do they belong to?").format(
            count=len(waiting), product=dossier.product.name
        ),
        choices,
    )


@flow.on_file("place")
@flow.on_file("attach")
async def another_waiting_file(ctx: Context, received: ReceivedFile) -> None:
    if await _keep_stray(ctx, received):
        ctx.quiet = True  # the next page of the same batch: the question already out covers it
    else:
        await ctx.reask()


@flow.on_text("place", free_text=False)
@flow.on_text("attach", free_text=False)
async def place_typed(ctx: Context, _text: str) -> None:
    await ctx.reask(_("Please press the item this file belongs to."))


@flow.on("place", AnotherItem)
@flow.on("attach", AnotherItem)
async def another_item(ctx: Context, _pressed: AnotherItem) -> None:
    await ctx.goto("attach")


@flow.on("place", LeaveOut)
@flow.on("attach", LeaveOut)
async def leave_out(ctx: Context, _pressed: LeaveOut) -> None:
    form = _form(ctx)
    count = len(form.stray)
    form.stray, form.burst = [], None
    ctx.say(_("🗑 Left out: {count} file(s), not added.").format(count=count))
    if form.then == "menu" or not isinstance(form.dossier_id, int):
        await ctx.finish()
    else:
        await ctx.goto("checklist")


@flow.on("place", Skip)
@flow.on("attach", Skip)
async def not_now(ctx: Context, _pressed: Skip) -> None:
    ctx.say(_("All right. The file is kept; you can send it again from the item later."))
    await ctx.finish()


@flow.on("place", AttachToDossier)
@flow.on("attach", AttachToDossier)
async def dossier_for_files(ctx: Context, pressed: AttachToDossier) -> None:
    dossier = await dossiers.dossier_of(ctx.session, (await _producer(ctx)).id, pressed.dossier)
    if dossier is None or dossier.status not in EDITABLE:
        await _stale(ctx)
        return
    _form(ctx).dossier_id = dossier.id
    await ctx.goto("place")


@flow.on("place", AttachTo)
@flow.on("attach", AttachTo)
async def attach_to_item(ctx: Context, pressed: AttachTo) -> None:
    item = await dossiers.item_of(ctx.session, (await _producer(ctx)).id, pressed.item)
    if item is None or item.dossier.status not in EDITABLE or supplied_by(item.code) is SuppliedBy.COMMUNE:
        await _stale(ctx)
        return
    form = _form(ctx)
    await _link_strays(ctx, item, form.waiting())
    form.stray, form.burst, form.then = [], None, None
    form.dossier_id = item.dossier_id
    form.page = "required"
    await ctx.goto("checklist")


async def _link_strays(ctx: Context, item: DossierItem, waiting: Sequence[WaitingFile]) -> None:
    gone = 0
    for file in waiting:
        # The ids came from our own flow data, but the row is re-read rather than trusted; a file that waited
        # more than a day for its item was taken by the orphan sweep (bot.orphans).
        if await dossiers.stored_file_by_id(ctx.session, file.stored_id) is None:
            gone += 1
            continue
        await dossiers.link_file(
            ctx.session,
            item.id,
            file.stored_id,
            original_name=file.original_name,
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
    producer = await loaded_producer(ctx)
    if producer is None:
        ctx.say(_("I kept your file. Please finish registering first; then you can add it to a dossier."))
        await ctx.finish()
        return
    drafts = await dossiers.dossiers_of(ctx.session, producer.id, EDITABLE)
    if not drafts:
        await _no_dossier_for_file(ctx)
        return
    stored = await _stored_row(ctx, received)
    form = DossierForm(
        stray=[[stored, received.original_name, received.mime]],
        burst=[ctx.inbound.group, ctx.now.isoformat()],
        then="menu",  # discarding the files returns to the menu, where the producer was
        dossier_id=drafts[0].id if len(drafts) == 1 else None,
    )
    await ctx.start(FLOW_NAME, form, step="place")


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.stray_file = on_stray_file
