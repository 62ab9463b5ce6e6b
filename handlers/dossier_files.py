"""Taking back a file: the files of one dossier item, each removable (after a confirmation) or movable to
another item, while the dossier is with the producer (draft, needs supplement, province supplement).

Entered from an item of the dossier flow ("🗂 See, remove or move files") and left back into it, so the
checklist and the item read as before. Every button names the file by its link id and is re-checked against
the producer and the dossier's status; a file already removed (from another phone, or a second press of an
old confirmation) gets a plain answer and the list as it is now. Removing deletes the link only: the bytes
stay while any other row references them, and the orphan sweep (``bot.orphans``) takes them after a day.
Both moves are audit-logged.

```mermaid
stateDiagram-v2
    [*] --> list: 🗂 from an item (dossier flow)
    list --> file: a file
    list --> [*]: ⬅️ Back to the item (dossier flow, item)
    file --> confirm: 🗑 Remove
    file --> move: ↔ Move to another item
    file --> list: ⬅️ Back
    confirm --> list: 🗑 Yes, remove it (audit) / ⬅️ No, keep it
    move --> list: an item (audit) / ⬅️ Back
    list --> [*]: the item has no files left (dossier flow, item)
    list --> [*]: a photo, on any step (handed to the dossier flow's item, which takes it)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.callbacks import Button
from bot.dossier_facts import EDITABLE, file_size, item_done, item_label, loaded_producer, supplied_by
from bot.flow import Context, Flow, FlowData, Registry
from bot.i18n import _, format_day
from bot.messages import Choice
from bot.rules import SuppliedBy
from bot.text import shorten
from handlers.dossier_form import FILES_FLOW, DossierForm
from handlers.dossier_form import FLOW_NAME as DOSSIER_FLOW
from storage import audit, dossiers
from storage.models import DossierItem, DossierItemFile

FLOW = FILES_FLOW
BUTTON_LABEL_MAX = 48


class BackToItem(Button, prefix="dof:back"):
    pass


class FileList(Button, prefix="dof:list"):
    pass


class ChooseFile(Button, prefix="dof:f"):
    link: int


class Remove(Button, prefix="dof:rm"):
    pass


class RemoveYes(Button, prefix="dof:rmok"):
    pass


class Move(Button, prefix="dof:mv"):
    pass


class MoveTo(Button, prefix="dof:to"):
    item: int


class BackToFile(Button, prefix="dof:file"):
    pass


@dataclass
class FilesForm(FlowData):
    """The dossier flow's place (its item, its checklist page, the expiry dates asked), carried there and
    back, and the file being looked at."""

    dossier_id: int | None = None
    item_id: int | None = None
    page: str = "required"
    expiry_asked: list[int] = field(default_factory=list)
    link_id: int | None = None

    def back(self) -> DossierForm:
        return DossierForm.load(self.dump())  # the same keys, less the file


flow = Flow(FLOW, first_step="list", data=FilesForm)


def _form(ctx: Context) -> FilesForm:
    return ctx.form(FilesForm)


async def _back_to_item(ctx: Context) -> None:
    await ctx.start(DOSSIER_FLOW, _form(ctx).back(), step="item")


@flow.before
async def file_goes_to_item(ctx: Context) -> bool:
    """A photo sent here is the replacement for what is being removed: the item takes it, as it would have."""
    if ctx.received is None:
        return True
    back = _form(ctx).back()
    ctx.state.flow, ctx.state.step, ctx.state.data = DOSSIER_FLOW, "item", back.dump()
    ctx.form(DossierForm)  # the form written back at the end of this update is the dossier's
    item_flow = ctx.flow
    assert item_flow is not None
    await item_flow.run_answer(ctx, "item")
    return False


def file_name(link: DossierItemFile, number: int) -> str:
    return link.original_name or _("File {number}").format(number=number)


def file_line(ctx: Context, link: DossierItemFile, number: int) -> str:
    """ "ket-qua.pdf · 02/03/2026 · 120 KB" """
    day = format_day(link.created_at, ctx.settings.ocop.timezone)
    return f"{file_name(link, number)} · {day} · {file_size(link.stored_file.size)}"


async def _item(ctx: Context) -> DossierItem | None:
    """The item being looked at, while it is the producer's and the dossier is with them."""
    producer = await loaded_producer(ctx)
    item_id = _form(ctx).item_id
    if producer is None or not isinstance(item_id, int):
        return None
    item = await dossiers.item_of(ctx.session, producer.id, item_id)
    return item if item is not None and item.dossier.status in EDITABLE else None


async def _link(ctx: Context, link_id: int | None) -> tuple[DossierItemFile, int] | None:
    """The file (and its number in its item) if it is still in the current item; None otherwise."""
    producer = await loaded_producer(ctx)
    if producer is None or not isinstance(link_id, int):
        return None
    link = await dossiers.file_link_of(ctx.session, producer.id, link_id)
    if link is None or link.item_id != _form(ctx).item_id or link.item.dossier.status not in EDITABLE:
        return None
    siblings = await dossiers.files_of_item(ctx.session, link.item_id)
    return link, next(n for n, other in enumerate(siblings, start=1) if other.id == link.id)


async def _gone(ctx: Context) -> None:
    """The dossier left the producer's hands, or the item is not theirs: back to the dossier flow's checks."""
    ctx.say(_("This dossier cannot be changed now."))
    await _back_to_item(ctx)


async def _file_gone(ctx: Context) -> None:
    ctx.say(_("That file is no longer in this item. Here are its files now:"))
    await ctx.goto("list")


# The list of the item's files ----------------------------------------------------------------------------


@flow.ask("list")
async def ask_list(ctx: Context) -> None:
    item = await _item(ctx)
    if item is None:
        await _gone(ctx)
        return
    links = await dossiers.files_of_item(ctx.session, item.id)
    if not links:
        ctx.say(_("{item} has no files now.").format(item=item_label(item.code)))
        await _back_to_item(ctx)
        return
    lines = [_("🗂 Files of {item}:").format(item=item_label(item.code))]
    lines += [f"• {file_line(ctx, link, number)}" for number, link in enumerate(links, start=1)]
    lines += ["", _("Choose a file to remove it or move it to another item.")]
    choices = [
        Choice(shorten(f"📄 {file_name(link, number)}", BUTTON_LABEL_MAX), ChooseFile(link=link.id))
        for number, link in enumerate(links, start=1)
    ]
    choices.append(Choice(_("⬅️ Back to the item"), BackToItem()))
    ctx.say("\n".join(lines), choices)


@flow.on("list", BackToItem)
async def list_back(ctx: Context, _pressed: BackToItem) -> None:
    await _back_to_item(ctx)


@flow.on_text("list", free_text=False)
async def list_typed(ctx: Context, _text: str) -> None:
    await ctx.reask(_("Please choose a file, or go back to the item."))


@flow.on("list", ChooseFile)
async def file_chosen(ctx: Context, pressed: ChooseFile) -> None:
    if await _item(ctx) is None:
        await _gone(ctx)
        return
    if await _link(ctx, pressed.link) is None:
        await _file_gone(ctx)
        return
    _form(ctx).link_id = pressed.link
    await ctx.goto("file")


# One file: remove or move --------------------------------------------------------------------------------


@flow.ask("file")
async def ask_file(ctx: Context) -> None:
    found = await _link(ctx, _form(ctx).link_id)
    if found is None:
        await _file_gone(ctx)
        return
    link, number = found
    ctx.say(
        _("📄 {file}\nIn: {item}").format(file=file_line(ctx, link, number), item=item_label(link.item.code)),
        [
            Choice(_("🗑 Remove this file"), Remove()),
            Choice(_("↔ Move to another item"), Move()),
            Choice(_("⬅️ Back to the files"), FileList()),
        ],
    )


@flow.on("file", FileList)
async def file_back(ctx: Context, _pressed: FileList) -> None:
    await ctx.goto("list")


@flow.on("file", Remove)
async def remove_pressed(ctx: Context, _pressed: Remove) -> None:
    await ctx.goto("confirm")


@flow.on("file", Move)
async def move_pressed(ctx: Context, _pressed: Move) -> None:
    await ctx.goto("move")


@flow.on_text("file", free_text=False)
async def file_typed(ctx: Context, _text: str) -> None:
    await ctx.reask(_("Please choose what to do with this file."))


@flow.on("confirm", BackToFile)
@flow.on("move", BackToFile)
async def back_to_file(ctx: Context, _pressed: BackToFile) -> None:
    await ctx.goto("file")


@flow.ask("confirm")
async def ask_confirm(ctx: Context) -> None:
    found = await _link(ctx, _form(ctx).link_id)
    if found is None:
        await _file_gone(ctx)
        return
    link, number = found
    ctx.say(
        _("Remove {file} from {item}? Staff will no longer see it.").format(
            file=file_name(link, number), item=item_label(link.item.code)
        ),
        [Choice(_("🗑 Yes, remove it"), RemoveYes()), Choice(_("⬅️ No, keep it"), BackToFile())],
    )


@flow.on_text("confirm", free_text=False)
async def confirm_typed(ctx: Context, _text: str) -> None:
    await ctx.reask(_("Please press one of the buttons."))


@flow.on("confirm", RemoveYes)
async def remove_confirmed(ctx: Context, _pressed: RemoveYes) -> None:
    form = _form(ctx)
    found = await _link(ctx, form.link_id)
    if found is None:
        await _file_gone(ctx)
        return
    link, number = found
    item, name = link.item, file_name(link, number)
    before = _facts(link, item)
    await dossiers.unlink_file(ctx.session, link)
    if not await dossiers.files_of_item(ctx.session, item.id) and item.expires_on is not None:
        # The date was read from the paper just removed; a new paper brings its own.
        before["expires_on"] = item.expires_on.isoformat()
        await dossiers.set_expiry(ctx.session, item, None)
    await _audit(ctx, "dossier.file_removed", item.dossier_id, before, None)
    form.link_id = None
    ctx.say(_("🗑 Removed {file} from {item}.").format(file=name, item=item_label(item.code)))
    await ctx.goto("list")


@flow.ask("move")
async def ask_move(ctx: Context) -> None:
    found = await _link(ctx, _form(ctx).link_id)
    if found is None:
        await _file_gone(ctx)
        return
    link, number = found
    dossier = await _items_of_dossier(ctx, link)
    targets = [i for i in dossier if i.id != link.item_id and supplied_by(i.code) is not SuppliedBy.COMMUNE]
    choices = [
        Choice(shorten(("✓ " if item_done(i) else "✗ ") + item_label(i.code), BUTTON_LABEL_MAX), MoveTo(item=i.id))
        for i in targets
    ]
    choices.append(Choice(_("⬅️ Back"), BackToFile()))
    ctx.say(_("Move {file} to which item?").format(file=file_name(link, number)), choices)


async def _items_of_dossier(ctx: Context, link: DossierItemFile) -> list[DossierItem]:
    """The items of the file's dossier (this reloads the dossier's files: read what you need from ``link`` first)."""
    producer = await loaded_producer(ctx)
    assert producer is not None  # _link checked it
    dossier = await dossiers.dossier_of(ctx.session, producer.id, link.item.dossier_id)
    return list(dossier.items) if dossier is not None else []


@flow.on_text("move", free_text=False)
async def move_typed(ctx: Context, _text: str) -> None:
    await ctx.reask(_("Please press the item this file belongs to."))


@flow.on("move", MoveTo)
async def moved_to(ctx: Context, pressed: MoveTo) -> None:
    form = _form(ctx)
    found = await _link(ctx, form.link_id)
    if found is None:
        await _file_gone(ctx)
        return
    link, number = found
    name, source_id, before = file_name(link, number), link.item_id, _facts(link, link.item)
    dossier_id = link.item.dossier_id
    target = next((i for i in await _items_of_dossier(ctx, link) if i.id == pressed.item), None)
    if target is None or target.id == source_id or supplied_by(target.code) is SuppliedBy.COMMUNE:
        await ctx.reask(_("Please press the item this file belongs to."))
        return
    moved = await dossiers.move_file(ctx.session, link, target.id)
    await _audit(ctx, "dossier.file_moved", dossier_id, before, {"item": target.code})
    form.link_id = None
    text = _("↔ Moved {file} to {item}.") if moved else _("{item} already had this file; it is now only there.")
    ctx.say(text.format(file=name, item=item_label(target.code)))
    await ctx.goto("list")


def _facts(link: DossierItemFile, item: DossierItem) -> dict[str, Any]:
    return {
        "item": item.code,
        "stored_file_id": link.stored_file_id,
        "sha256": link.stored_file.sha256,
        "name": link.original_name,
    }


async def _audit(
    ctx: Context, action: str, dossier_id: int, before: dict[str, Any], after: dict[str, Any] | None
) -> None:
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        action=action,
        object_type="dossier",
        object_id=dossier_id,
        before=before,
        after=after,
    )


def register(registry: Registry) -> None:
    registry.add_flow(flow)
