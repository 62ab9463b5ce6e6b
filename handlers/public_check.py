"""A certificate anyone can check, against counterfeit labels: the QR on the label opens ``/start cert_<code>``
(or the code is typed), and the bot answers with what the certificate says and whether it is in force.

Nothing is asked and nothing is needed: no onboarding, no consent, no phone. The answer holds the product, the
producer's organisation, the commune, the stars, the decision's number and date, the expiry and the state
(✅ in force / ⌛ expired / ⛔ revoked / replaced) — never a phone, a file or another product. Checks are
rate-limited per identity (``storage.lookups``). Typed codes are caught before the onboarding gate, the way
``handlers.link`` catches account-linking codes; a bare code (no "cert" prefix) only outside a conversation,
so that an answer typed in a form is never taken for one.

```mermaid
stateDiagram-v2
    [*] --> answer: /start cert_<code> (deep link) · "cert_<code>" / "<code>" typed
    answer --> [*]: the certificate and its state, or "no such code", or "too many checks"
```
"""

from __future__ import annotations

import datetime as dt

from bot.communes import commune_by_code
from bot.flow import Context, Registry
from bot.i18n import _, format_day
from bot.public_codes import DEEP_LINK_PREFIX, parse
from storage import certificates, lookups
from storage.models import Certificate, Producer, Product

ONBOARDING_FLOW = "onboarding"


def _stars(stars: int) -> str:
    return "★" * stars + "☆" * (5 - stars)


def state_line(certificate: Certificate, today: dt.date) -> str:
    if certificate.status == certificates.REVOKED:
        # The local day of the revocation (format_day converts a UTC time to the province's zone).
        return _("⛔ Revoked on {day}").format(day=format_day(certificate.revoked_at or today))
    if certificate.status == certificates.SUPERSEDED:
        return _("🔁 Replaced by a newer certificate of the same product")
    if certificate.status == certificates.EXPIRED or certificate.expires_on < today:
        return _("⌛ Expired on {day}").format(day=format_day(certificate.expires_on))
    return _("✅ In force")


async def answer(ctx: Context, code: str) -> None:
    window = dt.timedelta(minutes=ctx.settings.certificates.check_window_minutes)
    if not await lookups.allow(
        ctx.session,
        ctx.identity.id,
        now=ctx.now,
        window=window,
        limit=ctx.settings.certificates.checks_per_window,
    ):
        ctx.say(
            _("Too many checks in a short time. Please try again in {minutes} minutes.").format(
                minutes=ctx.settings.certificates.check_window_minutes
            )
        )
        return
    certificate = await certificates.by_public_code(ctx.session, code)
    if certificate is None:
        ctx.say(_("❓ No OCOP certificate has the code {code}. Please check the code on the label.").format(code=code))
        return
    product = await ctx.session.get(Product, certificate.product_id)
    producer = await ctx.session.get(Producer, product.producer_id) if product is not None else None
    commune = commune_by_code(ctx.settings.ocop.province, product.commune_code) if product is not None else None
    authority = _("the central level") if certificate.authority == certificates.CENTRAL else _("the province")
    lines = [
        _("🔎 OCOP certificate {code}").format(code=code),
        _("Product: {product}").format(product=product.name if product else ""),
        _("Producer: {producer}").format(producer=producer.name if producer else ""),
        _("Commune: {commune}").format(commune=commune.name if commune else ""),
        _("Rating: {stars} (certified by {authority})").format(stars=_stars(certificate.stars), authority=authority),
        _("Decision {number} of {day}").format(number=certificate.decision_no, day=format_day(certificate.issued_on)),
        _("Valid until {day}").format(day=format_day(certificate.expires_on)),
        state_line(certificate, ctx.today),
    ]
    ctx.say("\n".join(lines))


async def on_deep_link(ctx: Context, argument: str | None) -> None:
    parsed = parse(argument)
    if parsed is None:
        ctx.say(_("❓ That is not a certificate code. The code on the label has 8 letters and digits."))
        return
    await answer(ctx, parsed[0])


def _wrap_gate(registry: Registry) -> None:
    inner = registry.gate

    async def gate(ctx: Context) -> bool:
        parsed = parse(ctx.text) if ctx.payload is None and ctx.received is None else None
        if parsed is not None:
            code, marked = parsed
            stranger = ctx.state.flow is None or (ctx.state.flow == ONBOARDING_FLOW and ctx.state.step == "consent")
            if marked or stranger:
                await answer(ctx, code)
                return True
        return await inner(ctx) if inner is not None else False

    registry.gate = gate


def register(registry: Registry) -> None:
    registry.deep_links[DEEP_LINK_PREFIX] = on_deep_link
    _wrap_gate(registry)
