"""What the province officer's screens share: the rules of the pipeline as data, the checks every step makes,
the one way a dossier is changed, and the lines that say what the province decided.

Every step of the ``province`` conversation (``handlers.province``, ``handlers.province_dossiers``,
``handlers.province_rounds``, ``handlers.province_council``) re-checks the province role (``guard``), loads the
dossier through the province's communes (``current_dossier``) and writes with a compare-and-set on
``Dossier.version`` (``apply_change``), so nothing from a payload is trusted and an officer acting on what another
one changed meanwhile gets a clear answer and nothing half-written. Every change is audit-logged
(``record_audit``) and the producer is told through the outbox (``tell_producer``; the texts are in
``handlers.province_notices``). ``producer_facts`` is what the producer's status report (``handlers.status``)
shows of the province's work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Button
from bot.communes import communes_of
from bot.flow import Context, Flow
from bot.i18n import _, format_day, format_number
from bot.messages import Choice
from bot.roles import Scope, deny, is_province_officer, scope_of
from bot.rules import DossierStatus, IllegalTransition, check_transition, mandatory_criterion
from bot.text import has_words
from handlers.province_form import DossierAction, ProvinceForm
from storage import audit, certificates, dossiers, province, rounds
from storage.models import Certificate, CouncilResult, Dossier, Round
from storage.overview import Decided

FLOW_NAME = "province"


# Buttons the province screens share ------------------------------------------------------------------------


class ProvinceEntry(Button):
    """The ways into the province conversation from any message (the main menu, an older message)."""


class ProvinceHome(ProvinceEntry, prefix="prov:home"):
    pass


class ProvinceRounds(ProvinceEntry, prefix="prov:rounds"):
    pass


class Back(Button, prefix="pv:back"):
    pass


class OpenRounds(Button, prefix="pv:rounds"):
    """🗓 Rounds, from the home screen and from a round picker that has no open round."""


class OpenUnassigned(Button, prefix="pv:list:none"):
    """The list of dossiers not in a round yet."""


class OpenList(Button, prefix="pv:list"):
    """The list of one round's dossiers."""

    round: int


# The pipeline at the province, as data -------------------------------------------------------------------

_S = DossierStatus
# Dossiers the province works on, in the order of the pipeline (lists are grouped in this order).
WORKING = (
    _S.AT_PROVINCE,
    _S.COMPLETENESS_CHECK,
    _S.PROVINCE_SUPPLEMENT,
    _S.SCHEDULED,
    _S.SCORED,
    _S.PROPOSED_5,
)
FINISHED = (_S.CERTIFIED_5, _S.CERTIFIED_4, _S.CERTIFIED_3, _S.NOT_RATED)
VISIBLE = tuple(s.value for s in WORKING + FINISHED)
CHECKABLE = frozenset({_S.AT_PROVINCE, _S.COMPLETENESS_CHECK})
ROUND_ASSIGNABLE = frozenset({_S.AT_PROVINCE, _S.COMPLETENESS_CHECK, _S.PROVINCE_SUPPLEMENT, _S.SCHEDULED})
CERTIFIED = {3: _S.CERTIFIED_3, 4: _S.CERTIFIED_4, 5: _S.CERTIFIED_5}
PROVINCE_STARS = frozenset({3, 4})  # 5★ only by the central level's decision

NOTE_MIN, NOTE_MAX = 5, 1000
ROUND_NAME_MIN, ROUND_NAME_MAX = 3, 100
DECISION_MAX = 100
LIST_MAX = 40  # buttons on one list screen
LABEL_MAX = 48


# Small helpers -------------------------------------------------------------------------------------------


@cache
def _communes_of_province(province_name: str) -> frozenset[int]:
    return frozenset(c.code for c in communes_of(province_name))


def province_communes(ctx: Context) -> frozenset[int]:
    return _communes_of_province(ctx.settings.ocop.province)


def stars_text(stars: int) -> str:
    return "★" * stars + "☆" * (5 - stars)


def points_text(value: float) -> str:
    return format_number(round(value, 2))


def form(ctx: Context) -> ProvinceForm:
    """The province conversation's data (``handlers.province_form``), read once per update."""
    return ctx.form(ProvinceForm)


def back_choice() -> Choice:
    return Choice(_("⬅️ Back"), Back())


async def province_scope(ctx: Context) -> Scope | None:
    """The province role, from the database: the check of the ways in (``ProvinceEntry``); anything else gets
    the one refusal."""
    scope = await scope_of(ctx)
    if is_province_officer(scope):
        return scope
    await deny(ctx)
    return None


async def guard(ctx: Context) -> bool:
    """The same check before every question and answer of the conversation (``Flow.before``)."""
    return await province_scope(ctx) is not None


# A typed note (a return for supplement, a correction's reason, a revocation's reason, the council's note) --

NoteTaken = Callable[[Context, str], Awaitable[None]]


def note_step(
    steps: Flow,
    step: str,
    *,
    prompt: Callable[[Context], str],
    back: Callable[[Context], Awaitable[None]],
    reason: bool = False,
) -> Callable[[NoteTaken], NoteTaken]:
    """A step that asks for a short typed note (⬅️ Back beside it), checks its length and that it has words,
    and hands the note to the decorated function: one shape for every note and reason the province types."""

    @steps.ask(step, free_text=True)
    async def ask(ctx: Context) -> None:
        ctx.say(prompt(ctx), [back_choice()])

    @steps.on(step, Back)
    async def pressed_back(ctx: Context, _pressed: Back) -> None:
        await back(ctx)

    def register(taken: NoteTaken) -> NoteTaken:
        @steps.on_text(step)
        async def typed(ctx: Context, text: str) -> None:
            note = text.strip()
            if NOTE_MIN <= len(note) <= NOTE_MAX and has_words(note):
                await taken(ctx, note)
                return
            hint = (
                _("Please type a reason of {min} to {max} characters, in words.")
                if reason
                else _("Please type a note of {min} to {max} characters, in words.")
            )
            await ctx.reask(hint.format(min=NOTE_MIN, max=NOTE_MAX))

        return taken

    return register


async def find_round(ctx: Context, round_id: int | None) -> Round | None:
    if round_id is None:
        return None
    return await rounds.round_of(ctx.session, ctx.settings.ocop.province, round_id)


def round_line(found: Round, today: dt.date | None = None) -> str:
    """One round on one line; with ``today``, an open round says how many days are left to submit."""
    meeting = format_day(found.meeting_date) if found.meeting_date else _("not set")
    state = _("open") if found.status == rounds.OPEN else _("closed")
    line = _("📅 {name}: submit by {deadline}, council on {meeting} ({state})").format(
        name=found.name, deadline=format_day(found.submit_deadline), meeting=meeting, state=state
    )
    if today is None or found.status != rounds.OPEN:
        return line
    left = rounds.days_left(found, today)
    if left > 0:
        return line + " · " + _("{days} days left").format(days=left)
    if left == 0:
        return line + " · " + _("deadline is today")
    return line + " · " + _("⚠️ deadline passed {days} days ago").format(days=-left)


def reached_after_deadline(ctx: Context, dossier: Dossier, found: Round) -> bool:
    """The dossier reached the commune after the round's deadline (or has not been submitted at all): it goes
    into that round only by an explicit exception."""
    if dossier.submitted_at is None:
        return True
    submitted = dossier.submitted_at if dossier.submitted_at.tzinfo else dossier.submitted_at.replace(tzinfo=dt.UTC)
    return submitted.astimezone(ZoneInfo(ctx.settings.ocop.timezone)).date() > found.submit_deadline


async def record_audit(ctx: Context, action: str, object_type: str, object_id: int | None, **kwargs: Any) -> None:
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        **kwargs,
    )


async def tell_producer(ctx: Context, dossier: Dossier, kind: str, params: dict[str, Any]) -> None:
    producer = await province.producer_of_dossier(ctx.session, dossier)
    if producer is None:
        return
    params = {"product": dossier.product.name, **params}
    await ctx.notify(producer.user_id, kind, params, dedupe_key=f"{kind}:{dossier.id}:{dossier.version}")


# The dossier being worked on -----------------------------------------------------------------------------


async def _dossier_of(ctx: Context) -> Dossier | None:
    dossier_id = form(ctx).dossier_id
    if dossier_id is None:
        return None
    return await dossiers.dossier_in_communes(ctx.session, dossier_id, province_communes(ctx))


async def current_dossier(ctx: Context) -> Dossier | None:
    """The dossier being worked on, reloaded; the refusal is said when it is gone or out of scope."""
    dossier = await _dossier_of(ctx)
    if dossier is None or dossier.status not in VISIBLE:
        await deny(ctx)
        return None
    return dossier


async def changed_meanwhile(ctx: Context) -> None:
    ctx.say(_("Someone else changed this dossier meanwhile, so nothing was saved. Here it is as it is now:"))
    form(ctx).action = DossierAction()
    await ctx.goto("dossier")


async def not_now(ctx: Context) -> None:
    ctx.say(_("That is not possible at this stage of the dossier. Here it is as it is now:"))
    await ctx.goto("dossier")


async def apply_change(
    ctx: Context,
    dossier: Dossier,
    action: str,
    *,
    status: _S | None = None,
    note: str | None = None,
    **changes: Any,
) -> bool:
    """Check the transition, write it only if the dossier is still the version the officer saw, and log
    it; False (with the answer already given) otherwise."""
    if status is not None:
        try:
            check_transition(dossier.status, status)
        except IllegalTransition:
            await not_now(ctx)
            return False
    before = province.dossier_snapshot(dossier)
    expected = form(ctx).version
    if expected is None or not await province.change(
        ctx.session, dossier, expected, now=ctx.now, status=status.value if status else None, **changes
    ):
        await changed_meanwhile(ctx)
        return False
    form(ctx).version = dossier.version
    await record_audit(
        ctx, action, "dossier", dossier.id, before=before, after=province.dossier_snapshot(dossier), note=note
    )
    return True


# What the province decided, in words ---------------------------------------------------------------------


async def dossier_facts(
    session: AsyncSession, province_name: str, dossier: Dossier, *, staff: bool = True, decided: Decided | None = None
) -> list[str]:
    """Round, council result and certificate lines of a dossier: shown to officers and (``staff`` False,
    without the council's internals) to the producer. ``decided``: the result and certificate when the caller
    read them already (the status report reads them for all dossiers at once)."""
    lines: list[str] = []
    if dossier.round_id is not None:
        found = await rounds.round_of(session, province_name, dossier.round_id)
        if found is not None:
            lines.append(round_line(found))
    if decided is None:
        result = await certificates.result_of(session, dossier.id)
        certificate = await certificates.certificate_of_dossier(session, dossier.id)
    else:
        result, certificate = decided.result, decided.certificate
    if result is not None:
        lines += _result_lines(result, dossier, staff)
    if certificate is not None:
        lines.append(certificate_line(certificate))
        lines += [
            "   ↳ " + _("renews {line}").format(line=certificate_line(older))
            for older in await certificates.history(session, certificate)
        ]
    return lines


async def producer_facts(
    session: AsyncSession, province_name: str, dossier: Dossier, decided: Decided | None = None
) -> list[str]:
    """What the producer's status report adds for a dossier the province has seen: the province's note
    while it waits for a supplement, the round, the council's result and the certificate with its expiry."""
    lines: list[str] = []
    if dossier.status == _S.PROVINCE_SUPPLEMENT and dossier.review_note:
        lines.append(_("The province asks: {note}").format(note=dossier.review_note))
    return lines + await dossier_facts(session, province_name, dossier, staff=False, decided=decided)


def failed_criterion_lines(code: Any, note: Any) -> list[str]:
    """The failed mandatory criterion, the council's note and what to fix: never a star rating."""
    found = mandatory_criterion(str(code) if code else None)
    lines = [_("Mandatory criterion not met: {criterion}.").format(criterion=found.label if found else "")]
    if note:
        lines.append(_("The council noted: {note}").format(note=note))
    if found is not None:
        lines.append(_("What to fix: {fix}").format(fix=found.fix))
    return lines


def _result_lines(result: CouncilResult, dossier: Dossier, staff: bool) -> list[str]:
    points = _("🏅 Council: A {a} + B {b} + C {c} = {total} points").format(
        a=points_text(result.points_a),
        b=points_text(result.points_b),
        c=points_text(result.points_c),
        total=points_text(result.total),
    )
    if not result.mandatory_ok:
        lines = [
            points + " — " + _("❌ not certified"),
            *failed_criterion_lines(result.failed_criterion, result.council_note),
        ]
    elif result.stars < 3:
        lines = [points + " — " + _("❌ not certified (at least 50 points are needed)")]
    elif result.stars == 5 and dossier.status == _S.PROPOSED_5:
        lines = [points + " — " + _("proposed to the central level for 5 stars (not granted yet)")]
    elif result.stars == 5:
        lines = [points + " — " + _("proposed to the central level for 5 stars")]
    else:
        lines = [points + " → " + stars_text(result.stars)]
    if staff and result.sheet_count:
        lines.append(
            _("{count} sheets, spread {spread} points").format(
                count=result.sheet_count, spread=points_text(result.spread)
            )
        )
    if staff and result.correction_reason:
        lines.append(_("Corrected: {reason}").format(reason=result.correction_reason))
    return lines


def certificate_line(certificate: Certificate) -> str:
    if certificate.status == certificates.REVOKED:
        return _("⛔ Certificate {number} was revoked: {reason}").format(
            number=certificate.decision_no, reason=certificate.revoked_reason or ""
        )
    line = _("📜 Certificate {stars}, decision {number} of {issued}, valid until {expires}").format(
        stars=stars_text(certificate.stars),
        number=certificate.decision_no,
        issued=format_day(certificate.issued_on),
        expires=format_day(certificate.expires_on),
    )
    if certificate.status == certificates.EXPIRED:
        line += " — " + _("expired")
    elif certificate.status == certificates.SUPERSEDED:
        line += " — " + _("replaced by a newer certificate")
    return line
