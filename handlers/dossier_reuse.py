"""Never ask twice: what a new dossier takes over from the producer's earlier ones, right after it is created.

* A re-evaluation starts from the documents of the product's last certified dossier; those whose expiry date
  has passed are not carried over and are named, so the producer knows what to renew.
* Documents of the producer rather than of the product (``bot.rules.PRODUCER_LEVEL_ITEMS``: registration,
  food-safety certificate, organisation) are offered one by one: ✅ use the copy sent on that day again, or
  🔁 send a new one. Their expiry dates come along.

Reusing links the same stored file (``storage.document_reuse``); no bytes are copied.

```mermaid
stateDiagram-v2
    [*] --> offer: dossier created (handlers.dossier), an earlier producer document exists
    offer --> offer: ✅ Use again (files linked) / 🔁 Send a new one, next document
    offer --> [*]: last one answered → the dossier's checklist, or the first 🔁 item to send it now
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.callbacks import Button
from bot.dossier_facts import item_label, loaded_producer
from bot.flow import Context, Flow, FlowData, Registry
from bot.i18n import _, format_day
from bot.messages import Choice, ReceivedFile
from bot.rules import PRODUCER_LEVEL_ITEMS, DossierCase, DossierStatus, SuppliedBy, requirement
from handlers.dossier_form import FLOW_NAME as DOSSIER_FLOW
from handlers.dossier_form import DossierForm
from storage import document_reuse, dossiers
from storage.models import Dossier, DossierItem, Producer

FLOW = "dossier_reuse"


class UseAgain(Button, prefix="reu:use"):
    pass


class SendNew(Button, prefix="reu:new"):
    pass


@dataclass
class ReuseForm(FlowData):
    dossier_id: int | None = None
    offers: list[str] = field(default_factory=list)  # the documents still to ask about, first one next
    fresh: list[str] = field(default_factory=list)  # those the producer will send anew


flow = Flow(FLOW, first_step="offer", data=ReuseForm)


def _form(ctx: Context) -> ReuseForm:
    return ctx.form(ReuseForm)


def _uploaded(code: str) -> bool:
    found = requirement(code)
    return found is not None and found.supplied_by is SuppliedBy.PRODUCER


async def after_creation(ctx: Context, producer: Producer, dossier: Dossier, *, files_waiting: bool) -> bool:
    """Fill the new dossier from earlier ones; True when this module now leads the conversation (it asks
    about reusing documents), False when the caller opens the checklist as usual."""
    if dossier.case == DossierCase.RE_EVALUATION.value:
        await _from_certified(ctx, producer, dossier)
    fresh = await dossiers.dossier_of(ctx.session, producer.id, dossier.id)
    assert fresh is not None
    empty = [i.code for i in fresh.items if i.code in PRODUCER_LEVEL_ITEMS and not i.files]
    earlier = await document_reuse.earlier_items(ctx.session, producer.id, empty, except_dossier=dossier.id)
    offers = [code for code in empty if code in earlier]
    # Files that came while the product was being chosen are placed first; the offer would lose them.
    if not offers or files_waiting:
        return False
    await ctx.start(FLOW, ReuseForm(dossier_id=dossier.id, offers=offers))
    return True


async def _from_certified(ctx: Context, producer: Producer, dossier: Dossier) -> None:
    certified = await document_reuse.last_certified_dossier(ctx.session, producer.id, dossier.product_id)
    if certified is None:
        return
    before = {item.code: item for item in certified.items if item.files and _uploaded(item.code)}
    carried, expired = 0, []
    for item in dossier.items:
        source = before.get(item.code)
        if source is None:
            continue
        if source.expires_on is not None and source.expires_on < ctx.today:
            expired.append(
                _("⚠️ {item}: expired {day}, please send a new one").format(
                    item=item_label(item.code), day=format_day(source.expires_on)
                )
            )
            continue
        await document_reuse.copy_files(ctx.session, source, item, user_id=ctx.user.id, now=ctx.now)
        carried += 1
    if carried or expired:
        lines = [_("♻️ I started from the documents of the certified dossier: {count} items.").format(count=carried)]
        ctx.say("\n".join(lines + expired))


async def _dossier(ctx: Context) -> tuple[Producer, Dossier] | None:
    producer = await loaded_producer(ctx)
    dossier_id = _form(ctx).dossier_id
    if producer is None or not isinstance(dossier_id, int):
        return None
    dossier = await dossiers.dossier_of(ctx.session, producer.id, dossier_id)
    if dossier is None or dossier.status != DossierStatus.DRAFT.value:
        return None
    return producer, dossier


def _pending(ctx: Context) -> list[str]:
    return [str(code) for code in _form(ctx).offers]


async def _stale(ctx: Context) -> None:
    ctx.end_flow()
    if ctx.registry.stale_button is not None:
        await ctx.registry.stale_button(ctx)
    else:
        await ctx.main_menu()


async def _earlier(ctx: Context, producer: Producer, dossier: Dossier, code: str) -> document_reuse.Earlier | None:
    found = await document_reuse.earlier_items(ctx.session, producer.id, [code], except_dossier=dossier.id)
    return found.get(code)


@flow.ask("offer")
async def ask_offer(ctx: Context) -> None:
    found = await _dossier(ctx)
    pending = _pending(ctx)
    if found is None or not pending:
        await _stale(ctx)
        return
    producer, dossier = found
    earlier = await _earlier(ctx, producer, dossier, pending[0])
    if earlier is None:  # removed meanwhile (an erasure, another phone): nothing to offer for this one
        await _next(ctx)
        return
    lines = [
        _("Use the {item} you sent on {day} again?").format(
            item=item_label(pending[0]), day=format_day(earlier.sent_at, ctx.settings.ocop.timezone)
        )
    ]
    if earlier.item.expires_on is not None:
        if earlier.item.expires_on < ctx.today:
            lines.append(_("⚠️ It expired on {day}.").format(day=format_day(earlier.item.expires_on)))
        else:
            lines.append(_("📅 Valid until {day}.").format(day=format_day(earlier.item.expires_on)))
    ctx.say("\n".join(lines), [Choice(_("✅ Use again"), UseAgain()), Choice(_("🔁 Send a new one"), SendNew())])


async def _offered(ctx: Context) -> tuple[Producer, Dossier, str] | None:
    """The dossier and the document being offered; None (after a word and the menu) once that is over."""
    found = await _dossier(ctx)
    pending = _pending(ctx)
    if found is None or not pending:
        await _stale(ctx)
        return None
    return found[0], found[1], pending[0]


@flow.on("offer", UseAgain)
async def use_again(ctx: Context, _pressed: UseAgain) -> None:
    offered = await _offered(ctx)
    if offered is None:
        return
    producer, dossier, code = offered
    earlier = await _earlier(ctx, producer, dossier, code)
    target = next((item for item in dossier.items if item.code == code), None)
    if earlier is not None and target is not None:
        await document_reuse.copy_files(ctx.session, earlier.item, target, user_id=ctx.user.id, now=ctx.now)
        ctx.say(_("✓ Added: {item}").format(item=item_label(code)))
    await _next(ctx)


@flow.on("offer", SendNew)
async def send_new(ctx: Context, _pressed: SendNew) -> None:
    offered = await _offered(ctx)
    if offered is None:
        return
    _form(ctx).fresh.append(offered[2])
    await _next(ctx)


@flow.on_text("offer", free_text=False)
async def offer_typed(ctx: Context, _text: str) -> None:
    if await _offered(ctx) is not None:
        await ctx.reask(_("Please press one of the buttons, or type its number."))


@flow.on_file("offer")
async def file_at_offer(ctx: Context, _file: ReceivedFile) -> None:
    await offer_typed(ctx, "")


async def _next(ctx: Context) -> None:
    form = _form(ctx)
    form.offers = _pending(ctx)[1:]
    if form.offers:
        await ctx.goto("offer")
        return
    found = await _dossier(ctx)
    if found is None:
        await _stale(ctx)
        return
    dossier = found[1]
    item = _first(dossier, [str(code) for code in form.fresh])
    if item is not None:  # the producer said a new copy is coming: ask for it now
        await ctx.start(DOSSIER_FLOW, DossierForm(dossier_id=dossier.id, item_id=item.id), step="item")
    else:
        await ctx.start(DOSSIER_FLOW, DossierForm(dossier_id=dossier.id), step="checklist")


def _first(dossier: Dossier, codes: list[str]) -> DossierItem | None:
    return next((item for item in dossier.items if item.code in codes), None)


def register(registry: Registry) -> None:
    registry.add_flow(flow)
