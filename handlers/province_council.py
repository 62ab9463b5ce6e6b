"""The council's result and what follows from it: points A, B, C and the mandatory criteria → stars, then the
province's certificate (decision number and date, valid 36 months), and its revocation.

Reached from a dossier's screen (``handlers.province_dossiers``), which offers each action only at the status
that allows it; every step reloads the dossier and re-checks. The stars come from the dossier's rule set
(``bot.rules``: ``star_for``): below 3 stars the dossier is NOT_RATED, 5 stars is PROPOSED_5 to the central
level, 3 or 4 stars wait for the certificate. A 5★ proposal the ministry did not grant is certified 4★.

```mermaid
stateDiagram-v2
    [*] --> score_a: 🏅 Council result (SCHEDULED)
    score_a --> score_b: points A
    score_b --> score_c: points B
    score_c --> mandatory: points C
    mandatory --> score_confirm: yes / no
    score_confirm --> score_a: ✏️ Type the points again
    score_confirm --> [*]: 💾 Save (→ SCORED → NOT_RATED / PROPOSED_5), the dossier
    [*] --> cert_no: 📜 Issue certificate (SCORED 3–4★ / PROPOSED_5)
    cert_no --> cert_date: decision number
    cert_date --> cert_confirm: decision date (not in the future)
    cert_confirm --> [*]: 💾 Save (→ CERTIFIED_3 / CERTIFIED_4, expiry = +36 months), the dossier
    [*] --> revoke_reason: ⛔ Revoke certificate (CERTIFIED, valid)
    revoke_reason --> revoke_confirm: a reason
    revoke_confirm --> [*]: ⛔ Revoke, the dossier
```
Every ⬅️ Back leads to the dossier, except from ``mandatory`` (to ``score_c``) and ``cert_date`` (to ``cert_no``).
"""

from __future__ import annotations

import datetime as dt
import re

from bot.dates import BadDate, When, parse_day
from bot.flow import Context, Flow
from bot.i18n import _, format_day
from bot.messages import Choice
from bot.rules import DossierStatus, certificate_expiry, rule_set_by_code
from bot.text import fold, has_words, tidy
from handlers.province_common import (
    CERTIFIED,
    DECISION_MAX,
    FLOW_NAME,
    NOTE_MAX,
    NOTE_MIN,
    P,
    apply_change,
    back_choice,
    current_dossier,
    guard,
    not_now,
    points_text,
    record_audit,
    stars_text,
    tell_producer,
)
from storage import certificates
from storage.models import Certificate, Dossier

_S = DossierStatus
_POINTS = re.compile(r"^\s*(\d{1,3})(?:[.,](\d{1,2}))?\s*(?:d|diem)?\s*$")

# This module's steps of the province conversation; ``handlers.province`` joins them into one flow.
steps = Flow(FLOW_NAME, first_step="score_a")


# Council result ------------------------------------------------------------------------------------------


def parse_points(text: str | None, maximum: int) -> float:
    """Points typed as "32", "32,5" or "32.5", from 0 to ``maximum``; ValueError with a hint otherwise."""
    match = _POINTS.match(fold(text or ""))
    if match is None:
        raise ValueError(_("Please type a number from 0 to {max}, for example 32 or 32,5.").format(max=maximum))
    value = float(f"{match.group(1)}.{match.group(2) or 0}")
    if value > maximum:
        raise ValueError(_("At most {max} points for this part. Please type the points again.").format(max=maximum))
    return value


def _part_max(dossier: Dossier, part: str) -> int:
    return rule_set_by_code(dossier.rule_set).part_max[part]


async def _ask_part(ctx: Context, part: str) -> None:
    if not await guard(ctx):
        return
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    ctx.say(
        _("Council result for {product}.\nPoints for part {part} (0 to {max}):").format(
            product=dossier.product.name, part=part, max=_part_max(dossier, part)
        ),
        [back_choice()],
    )


async def _got_part(ctx: Context, part: str, next_step: str) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("score", None)
        await ctx.goto("dossier")
        return
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    try:
        value = parse_points(ctx.text, _part_max(dossier, part))
    except ValueError as error:
        await ctx.reask(str(error))
        return
    score = dict(ctx.data.get("score") or {})
    score[part] = value
    ctx.data["score"] = score
    await ctx.goto(next_step)


@steps.ask("score_a", number=True)
async def ask_score_a(ctx: Context) -> None:
    await _ask_part(ctx, "A")


@steps.answer("score_a")
async def got_score_a(ctx: Context) -> None:
    await _got_part(ctx, "A", "score_b")


@steps.ask("score_b", number=True)
async def ask_score_b(ctx: Context) -> None:
    await _ask_part(ctx, "B")


@steps.answer("score_b")
async def got_score_b(ctx: Context) -> None:
    await _got_part(ctx, "B", "score_c")


@steps.ask("score_c", number=True)
async def ask_score_c(ctx: Context) -> None:
    await _ask_part(ctx, "C")


@steps.answer("score_c")
async def got_score_c(ctx: Context) -> None:
    await _got_part(ctx, "C", "mandatory")


@steps.ask("mandatory")
async def ask_mandatory(ctx: Context) -> None:
    if not await guard(ctx):
        return
    ctx.say(
        _("Did the product pass every mandatory criterion?"),
        [Choice(_("✅ Yes, all passed"), P + "yes"), Choice(_("❌ No, one failed"), P + "no"), back_choice()],
    )


@steps.answer("mandatory")
async def got_mandatory(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        await ctx.goto("score_c")
        return
    if ctx.payload not in (P + "yes", P + "no"):
        await ctx.reask(_("Please press Yes or No."))
        return
    score = dict(ctx.data.get("score") or {})
    score["ok"] = ctx.payload == P + "yes"
    ctx.data["score"] = score
    await ctx.goto("score_confirm")


def _score_values(ctx: Context) -> tuple[tuple[float, float, float], bool] | None:
    score = ctx.data.get("score") or {}
    try:
        points = (float(score["A"]), float(score["B"]), float(score["C"]))
        return points, bool(score["ok"])
    except (KeyError, TypeError, ValueError):
        return None


def _outcome(stars: int) -> str:
    if stars < 3:
        return _("Outcome: not rated (below 3 stars).")
    if stars == 5:
        return _("Outcome: proposed to the central level for 5 stars.")
    return _("Outcome: the province issues a {stars} certificate.").format(stars=stars_text(stars))


@steps.ask("score_confirm")
async def ask_score_confirm(ctx: Context) -> None:
    if not await guard(ctx):
        return
    dossier = await current_dossier(ctx)
    values = _score_values(ctx)
    if dossier is None:
        return
    if values is None:
        await ctx.goto("score_a")
        return
    points, mandatory_ok = values
    total = round(sum(points), 2)
    stars = rule_set_by_code(dossier.rule_set).star_for(total, mandatory_ok)
    lines = [
        dossier.product.name,
        f"A {points_text(points[0])} + B {points_text(points[1])} + C {points_text(points[2])} = {points_text(total)}",
        ("✓ " if mandatory_ok else "✗ ")
        + (_("Mandatory criteria passed") if mandatory_ok else _("A mandatory criterion failed")),
        f"{stars_text(stars)}",
        _outcome(stars),
        _("Save this result?"),
    ]
    ctx.say(
        "\n".join(lines),
        [Choice(_("💾 Save"), P + "save"), Choice(_("✏️ Type the points again"), P + "again"), back_choice()],
    )


@steps.answer("score_confirm")
async def got_score_confirm(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("score", None)
        await ctx.goto("dossier")
        return
    if ctx.payload == P + "again":
        ctx.data["score"] = {}
        await ctx.goto("score_a")
        return
    if ctx.payload != P + "save":
        await ctx.reask(_("Please press one of the buttons."))
        return
    dossier = await current_dossier(ctx)
    values = _score_values(ctx)
    if dossier is None:
        return
    if values is None:
        await ctx.goto("score_a")
        return
    await _save_result(ctx, dossier, *values)


async def _save_result(ctx: Context, dossier: Dossier, points: tuple[float, float, float], mandatory_ok: bool) -> None:
    rule_set = rule_set_by_code(dossier.rule_set)
    total = round(sum(points), 2)
    stars = rule_set.star_for(total, mandatory_ok)
    if not await apply_change(ctx, dossier, "dossier.score", status=_S.SCORED):
        return
    ctx.data.pop("score", None)
    result = await certificates.save_result(
        ctx.session,
        dossier_id=dossier.id,
        points=points,
        mandatory_ok=mandatory_ok,
        stars=stars,
        rule_set=rule_set.code,
        recorded_by=ctx.user.id,
        now=ctx.now,
    )
    await record_audit(ctx, "council_result.record", "dossier", dossier.id, after=certificates.result_snapshot(result))
    params = {"points": total, "stars": stars, "mandatory_ok": mandatory_ok}
    if stars < 3:
        if await apply_change(ctx, dossier, "dossier.not_rated", status=_S.NOT_RATED):
            await tell_producer(ctx, dossier, "province_not_rated", params)
    elif stars == 5:
        if await apply_change(ctx, dossier, "dossier.propose_5", status=_S.PROPOSED_5):
            await tell_producer(ctx, dossier, "province_proposed_5", params)
    else:
        await tell_producer(ctx, dossier, "province_scored", params)
    ctx.say(_("💾 Saved: {total} points → {stars}.").format(total=points_text(total), stars=stars_text(stars)))
    await ctx.goto("dossier")


# Certificate ---------------------------------------------------------------------------------------------


async def _certificate_stars(ctx: Context, dossier: Dossier) -> int | None:
    """3 or 4 when a certificate may be issued on this dossier now; None otherwise."""
    if dossier.status == _S.PROPOSED_5:
        return 4  # the ministry did not grant 5★: the province's 4★ stands
    if dossier.status != _S.SCORED:
        return None
    result = await certificates.result_of(ctx.session, dossier.id)
    return result.stars if result is not None and result.stars in CERTIFIED else None


@steps.ask("cert_no", number=True)
async def ask_cert_no(ctx: Context) -> None:
    if not await guard(ctx):
        return
    ctx.say(_("The number of the decision, for example 1234/QĐ-UBND:"), [back_choice()])


@steps.answer("cert_no")
async def got_cert_no(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("cert", None)
        await ctx.goto("dossier")
        return
    number = tidy(ctx.text)
    if not number or len(number) > DECISION_MAX or not any(ch.isdigit() for ch in number):
        await ctx.reask(_("Please type the decision number with its digits, for example 1234/QĐ-UBND."))
        return
    ctx.data["cert"] = {"no": number}
    await ctx.goto("cert_date")


@steps.ask("cert_date", free_text=True)
async def ask_cert_date(ctx: Context) -> None:
    if not await guard(ctx):
        return
    ctx.say(
        _("The date of the decision (day/month/year, for example {example}):").format(example=format_day(ctx.today)),
        [Choice(_("📅 Today, {day}").format(day=format_day(ctx.today)), P + "today"), back_choice()],
    )


@steps.answer("cert_date")
async def got_cert_date(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        await ctx.goto("cert_no")
        return
    if ctx.payload == P + "today":
        day = ctx.today
    else:
        try:
            day = parse_day(ctx.text, ctx.today, When.NOT_FUTURE)
        except BadDate as error:
            await ctx.reask(error.hint)
            return
    cert = dict(ctx.data.get("cert") or {})
    cert["date"] = day.isoformat()
    ctx.data["cert"] = cert
    await ctx.goto("cert_confirm")


def _cert_values(ctx: Context) -> tuple[str, dt.date] | None:
    cert = ctx.data.get("cert") or {}
    try:
        return str(cert["no"]), dt.date.fromisoformat(str(cert["date"]))
    except (KeyError, ValueError):
        return None


@steps.ask("cert_confirm")
async def ask_cert_confirm(ctx: Context) -> None:
    if not await guard(ctx):
        return
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    values = _cert_values(ctx)
    stars = await _certificate_stars(ctx, dossier)
    if values is None or stars is None:
        await not_now(ctx)
        return
    number, issued = values
    ctx.say(
        _("Certificate {stars} for {product}\nDecision {number} of {issued}\nValid until {expires}\nSave it?").format(
            stars=stars_text(stars),
            product=dossier.product.name,
            number=number,
            issued=format_day(issued),
            expires=format_day(certificate_expiry(issued)),
        ),
        [Choice(_("💾 Save"), P + "save"), back_choice()],
    )


@steps.answer("cert_confirm")
async def got_cert_confirm(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("cert", None)
        await ctx.goto("dossier")
        return
    if ctx.payload != P + "save":
        await ctx.reask(_("Please press one of the buttons."))
        return
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    values = _cert_values(ctx)
    stars = await _certificate_stars(ctx, dossier)
    if values is None or stars is None:
        await not_now(ctx)
        return
    number, issued = values
    if not await apply_change(ctx, dossier, "dossier.certify", status=CERTIFIED[stars]):
        return
    ctx.data.pop("cert", None)
    certificate = await certificates.issue(
        ctx.session,
        product_id=dossier.product_id,
        dossier_id=dossier.id,
        stars=stars,
        decision_no=number,
        issued_on=issued,
        expires_on=certificate_expiry(issued),
        issued_by=ctx.user.id,
        now=ctx.now,
    )
    await record_audit(
        ctx, "certificate.issue", "certificate", certificate.id, after=certificates.certificate_snapshot(certificate)
    )
    await tell_producer(
        ctx,
        dossier,
        "province_certified",
        {
            "stars": stars,
            "decision_no": number,
            "issued_on": issued.isoformat(),
            "expires_on": certificate.expires_on.isoformat(),
        },
    )
    ctx.say(_("📜 Certificate saved. The producer has been told."))
    await ctx.goto("dossier")


# Revocation ----------------------------------------------------------------------------------------------


async def _valid_certificate(ctx: Context, dossier: Dossier) -> Certificate | None:
    if dossier.status not in (_S.CERTIFIED_3, _S.CERTIFIED_4):
        return None
    certificate = await certificates.certificate_of_dossier(ctx.session, dossier.id)
    return certificate if certificate is not None and certificate.status == certificates.VALID else None


@steps.ask("revoke_reason", free_text=True)
async def ask_revoke_reason(ctx: Context) -> None:
    if not await guard(ctx):
        return
    ctx.say(_("Why is the certificate revoked? The producer will read this reason."), [back_choice()])


@steps.answer("revoke_reason")
async def got_revoke_reason(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("revoke", None)
        await ctx.goto("dossier")
        return
    reason = (ctx.text or "").strip()
    if not (NOTE_MIN <= len(reason) <= NOTE_MAX) or not has_words(reason):
        await ctx.reask(
            _("Please type a reason of {min} to {max} characters, in words.").format(min=NOTE_MIN, max=NOTE_MAX)
        )
        return
    ctx.data["revoke"] = reason
    await ctx.goto("revoke_confirm")


@steps.ask("revoke_confirm")
async def ask_revoke_confirm(ctx: Context) -> None:
    if not await guard(ctx):
        return
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    certificate = await _valid_certificate(ctx, dossier)
    if certificate is None:
        await not_now(ctx)
        return
    ctx.say(
        _("Revoke certificate {number} of {product}?\nReason: {reason}").format(
            number=certificate.decision_no, product=dossier.product.name, reason=ctx.data.get("revoke", "")
        ),
        [Choice(_("⛔ Revoke"), P + "save"), back_choice()],
    )


@steps.answer("revoke_confirm")
async def got_revoke_confirm(ctx: Context) -> None:
    if not await guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("revoke", None)
        await ctx.goto("dossier")
        return
    if ctx.payload != P + "save":
        await ctx.reask(_("Please press one of the buttons."))
        return
    dossier = await current_dossier(ctx)
    reason = ctx.data.get("revoke")
    if dossier is None:
        return
    certificate = await _valid_certificate(ctx, dossier)
    if certificate is None or not isinstance(reason, str):
        await not_now(ctx)
        return
    # No status change on the dossier, but the version still moves: a second officer's revoke is refused.
    if not await apply_change(ctx, dossier, "dossier.certificate_revoked", note=reason):
        return
    before = certificates.certificate_snapshot(certificate)
    await certificates.revoke(ctx.session, certificate, reason, ctx.now)
    ctx.data.pop("revoke", None)
    await record_audit(
        ctx,
        "certificate.revoke",
        "certificate",
        certificate.id,
        before=before,
        after=certificates.certificate_snapshot(certificate),
        note=reason,
    )
    await tell_producer(ctx, dossier, "province_revoked", {"decision_no": certificate.decision_no, "reason": reason})
    ctx.say(_("⛔ Certificate revoked. The producer has been told."))
    await ctx.goto("dossier")
