"""The commune confirms or refuses a claim on an imported producer (one from an office list, without a chat
account) made by someone who started the bot with that producer's phone (``handlers.onboarding``).

Claims appear in the commune officer's queue (``handlers.commune_review``). Every "pc:" button
(``handlers.review_buttons.ClaimButton``) passes the family's one role check, then its handler checks the commune
of the producer *as stored*; another commune's claim gets the same answer as one that
does not exist. Confirming moves the producer, with its products, dossiers, certificates and queued notices,
to the claimant's account (``storage.claims.transfer``); two producer profiles are never merged.

```mermaid
stateDiagram-v2
    [*] --> Claim: 🔑 open from the queue (record and claimant side by side, phone to call)
    Claim --> Queue: ✅ confirm → producer moved to the claimant, audit-logged, claimant told
    Claim --> Queue: ❌ refuse → claimant told, registers as a new producer
    Claim --> Queue: claimant already has a producer of their own → refused, nothing merged
    Claim --> Queue: decided meanwhile (double click, another officer) → nothing changed
```
"""

from __future__ import annotations

from typing import Any

from bot.button_family import Family
from bot.flow import Context, Registry
from bot.i18n import _
from bot.menu_buttons import MenuStatus
from bot.messages import Choice, Text
from bot.notices import notice
from bot.roles import Scope, actor_label, deny
from handlers.commune_review import officer_scope, show_queue
from handlers.review_buttons import ClaimButton, ConfirmClaim, OpenClaim, RefuseClaim, ShowQueue
from storage import audit, claims, producers
from storage.models import Producer, ProducerClaim, User

claim_buttons = Family(ClaimButton, officer_scope)


async def _claim(ctx: Context, scope: Scope, claim_id: int) -> tuple[ProducerClaim, Producer] | None:
    found = await claims.claim_in(ctx.session, claim_id, scope.communes)
    if found is None:
        await deny(ctx)
    return found


async def _decided(ctx: Context, scope: Scope) -> None:
    ctx.say(_("This claim has already been decided. Nothing was changed."))
    await show_queue(ctx, scope)


@claim_buttons.on(OpenClaim)
async def show_claim(ctx: Context, scope: Scope, pressed: OpenClaim) -> None:
    found = await _claim(ctx, scope, pressed.claim)
    if found is None:
        return
    claim, producer = found
    if claim.status != claims.PENDING:
        await _decided(ctx, scope)
        return
    claimant = await ctx.session.get(User, claim.claimant_user_id)
    products = await claims.product_names(ctx.session, producer.id)
    lines = [
        _("🔑 Someone asks to take over a producer imported from the office list."),
        "",
        _("On the list: {producer} · {commune}").format(producer=producer.name, commune=producer.commune_name),
        _("Products: {products}").format(products=", ".join(products) or "—"),
        _("Phone on the list: {phone}").format(phone=claim.phone),
        "",
        _("Asked by: {name} · 📱 {phone}").format(
            name=(claimant.display_name if claimant and claimant.display_name else "?"),
            phone=(claimant.phone if claimant and claimant.phone else "?"),
        ),
        "",
        _("Please call this number and check that it is really them before you confirm."),
    ]
    ctx.say(
        "\n".join(lines),
        [
            Choice(_("✅ Confirm: it is them"), ConfirmClaim(claim=claim.id)),
            Choice(_("❌ Refuse"), RefuseClaim(claim=claim.id)),
            Choice(_("⬅️ Queue"), ShowQueue()),
        ],
    )


@claim_buttons.on(ConfirmClaim)
async def confirm_claim(ctx: Context, scope: Scope, pressed: ConfirmClaim) -> None:
    found = await _claim(ctx, scope, pressed.claim)
    if found is None:
        return
    claim, producer = found
    if claim.status != claims.PENDING:
        await _decided(ctx, scope)
        return
    # Never merge two producer profiles, and never take a producer that someone already uses in chat.
    has_own = await producers.producer_of_user(ctx.session, claim.claimant_user_id) is not None
    if has_own or not await claims.is_imported(ctx.session, producer):
        if await claims.decide(ctx.session, claim, claims.REFUSED, ctx.user.id, ctx.now):
            await _audit(ctx, "producer.claim_refuse", claim, producer, note="claimant has a producer already")
        ctx.say(
            _("This person already has a producer profile, or the producer is in use. Nothing was merged or moved.")
        )
        await show_queue(ctx, scope)
        return
    others = await claims.other_claimants(ctx.session, producer.id, claim.id)
    imported_user = producer.user_id
    # The claim row first (a double click or a withdrawal meanwhile stops here), then the producer, moved
    # only if it is still the imported user's.
    if not await claims.decide(ctx.session, claim, claims.CONFIRMED, ctx.user.id, ctx.now):
        await _decided(ctx, scope)
        return
    if not await claims.transfer(ctx.session, producer, claim, imported_user, ctx.now):
        await claims.set_status(ctx.session, claim, claims.REFUSED)
        await _audit(ctx, "producer.claim_refuse", claim, producer, note="the producer was taken meanwhile")
        await _decided(ctx, scope)
        return
    await _audit(
        ctx,
        "producer.claim_confirm",
        claim,
        producer,
        before={"user_id": imported_user},
        after={"user_id": claim.claimant_user_id},
    )
    await ctx.notify(
        claim.claimant_user_id, "claim_confirmed", {"producer": producer.name}, dedupe_key=f"claim:{claim.id}"
    )
    for user_id in others:
        await ctx.notify(
            user_id, "claim_refused", {"producer": producer.name}, dedupe_key=f"claim:{producer.id}:{user_id}"
        )
    ctx.say(
        _("✅ Confirmed. {producer}, its products and certificates now belong to this person. They were told.").format(
            producer=producer.name
        )
    )
    await show_queue(ctx, scope)


@claim_buttons.on(RefuseClaim)
async def refuse_claim(ctx: Context, scope: Scope, pressed: RefuseClaim) -> None:
    found = await _claim(ctx, scope, pressed.claim)
    if found is None:
        return
    claim, producer = found
    if not await claims.decide(ctx.session, claim, claims.REFUSED, ctx.user.id, ctx.now):
        await _decided(ctx, scope)
        return
    await _audit(ctx, "producer.claim_refuse", claim, producer)
    await ctx.notify(
        claim.claimant_user_id, "claim_refused", {"producer": producer.name}, dedupe_key=f"claim:{claim.id}"
    )
    ctx.say(_("❌ Refused. The person was told and can register as a new producer."))
    await show_queue(ctx, scope)


async def _audit(
    ctx: Context,
    action: str,
    claim: ProducerClaim,
    producer: Producer,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str | None = None,
) -> None:
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=actor_label(ctx),
        action=action,
        object_type="producer",
        object_id=producer.id,
        before={"claim": claim.id, **(before or {})},
        after={"claim": claim.id, "status": claim.status, **(after or {})},
        note=note,
    )


# Notices to the claimant ------------------------------------------------------------------------------------


@notice("claim_confirmed")
def render_claim_confirmed(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "✅ The commune confirmed that you are {producer}.\n"
            "Your products, certificates and reminders are now in this chat."
        ).format(producer=params.get("producer", "")),
        (Choice(_("🔎 Status"), MenuStatus()),),
    )


@notice("claim_refused")
def render_claim_refused(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "The commune could not confirm that you are {producer}.\n"
            "Send me any message to register as a new producer, or call the commune."
        ).format(producer=params.get("producer", ""))
    )


def register(registry: Registry) -> None:
    claim_buttons.register(registry)
