"""The province OCOP officer: rounds, completeness check, the council's result, stars and certificates.

Reached from the main menu (``prov:home``, a global payload, so the button works from any older message).
Inside the flow the buttons carry ``pv:`` payloads, which the engine only accepts when they were offered
in the last message. Nothing from a payload is trusted: every step re-checks the province role, loads the
dossier through the province's communes, checks the status allows the action, and writes with a
compare-and-set on ``Dossier.version`` (``storage.province.change``), so an officer acting on what another
one changed meanwhile gets a clear answer and nothing half-written. Every change is audit-logged and the
producer is told through the outbox (``ctx.notify``; templates registered below with ``@notice``).

```mermaid
stateDiagram-v2
    [*] --> home: 🏛 Province (prov:home)
    home --> list: not in a round / a round
    home --> rounds: 🗓 Rounds
    list --> dossier: a dossier (summary + files)
    dossier --> round_pick: 📅 Assign round / ✅ Complete (no open round yet)
    round_pick --> dossier: round chosen (→ SCHEDULED when accepting)
    dossier --> dossier: ✅ Complete (→ SCHEDULED)
    dossier --> return_note: ↩️ Return for supplement
    return_note --> dossier: a note (→ PROVINCE_SUPPLEMENT)
    dossier --> score_a: 🏅 Council result
    score_a --> score_b: points A
    score_b --> score_c: points B
    score_c --> mandatory: points C
    mandatory --> score_confirm: yes / no
    score_confirm --> dossier: 💾 Save (→ SCORED → NOT_RATED / PROPOSED_5)
    dossier --> cert_no: 📜 Issue certificate
    cert_no --> cert_date: decision number
    cert_date --> cert_confirm: decision date (not in the future)
    cert_confirm --> dossier: 💾 Save (→ CERTIFIED_3 / CERTIFIED_4, expiry = +36 months)
    dossier --> revoke_reason: ⛔ Revoke certificate
    revoke_reason --> revoke_confirm: a reason
    revoke_confirm --> dossier: ⛔ Revoke
    rounds --> round: a round
    rounds --> round_name: ➕ New round
    rounds --> rounds: 📅 This year's two rounds (20/05, 20/10)
    round_name --> round_deadline: a name (new round)
    round_deadline --> round_meeting: a future date (new round)
    round_meeting --> round: a date ≥ deadline, or skip (round created)
    round --> round_name: ✏️ name
    round --> round_deadline: ✏️ deadline
    round --> round_meeting: ✏️ meeting
    round --> round: 🔒 close / 🔓 reopen
    round --> list: 📂 dossiers
```
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.communes import commune_by_code, communes_of
from bot.dates import BadDate, When, parse_day
from bot.flow import Context, Flow, Registry
from bot.i18n import _, format_day, format_number
from bot.messages import Choice, SendFile, Text
from bot.notices import notice
from bot.roles import deny, is_province_officer, scope_of
from bot.rules import (
    DossierStatus,
    IllegalTransition,
    SuppliedBy,
    certificate_expiry,
    check_transition,
    rule_set_by_code,
)
from bot.text import fold
from handlers.dossier import case_label, item_done, item_label, progress_line, status_label, supplied_by
from storage import audit, certificates, province, rounds
from storage.models import Certificate, CouncilResult, Dossier, Round

FLOW_NAME = "province"
ENTRY_PREFIX = "prov:"
HOME = "prov:home"
ROUNDS = "prov:rounds"
P = "pv:"  # in-flow buttons

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
FINISHED = (_S.CERTIFIED_4, _S.CERTIFIED_3, _S.NOT_RATED)
VISIBLE = tuple(s.value for s in WORKING + FINISHED)
CHECKABLE = frozenset({_S.AT_PROVINCE, _S.COMPLETENESS_CHECK})
ROUND_ASSIGNABLE = frozenset({_S.AT_PROVINCE, _S.COMPLETENESS_CHECK, _S.PROVINCE_SUPPLEMENT, _S.SCHEDULED})
CERTIFIED = {3: _S.CERTIFIED_3, 4: _S.CERTIFIED_4}

PARTS = ("A", "B", "C")
NOTE_MIN, NOTE_MAX = 5, 1000
ROUND_NAME_MIN, ROUND_NAME_MAX = 3, 100
DECISION_MAX = 100
LIST_MAX = 40  # buttons on one list screen
FILES_MAX = 20  # files sent back when a dossier is opened
LABEL_MAX = 48
_POINTS = re.compile(r"^\s*(\d{1,3})(?:[.,](\d{1,2}))?\s*(?:d|diem)?\s*$")

flow = Flow(FLOW_NAME, first_step="home")


# Small helpers -----------------------------------------------------------------------------------------


@cache
def _province_communes(province_name: str) -> frozenset[int]:
    return frozenset(c.code for c in communes_of(province_name))


def _communes(ctx: Context) -> frozenset[int]:
    return _province_communes(ctx.settings.ocop_province)


def stars_text(stars: int) -> str:
    return "★" * stars + "☆" * (5 - stars)


def points_text(value: float) -> str:
    return format_number(round(value, 2))


def _short(text: str, limit: int = LABEL_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _id(payload: str | None, prefix: str) -> int | None:
    if payload is None or not payload.startswith(prefix):
        return None
    tail = payload[len(prefix) :]
    return int(tail) if tail.isdigit() and len(tail) <= 12 else None


def _meaningful(text: str) -> bool:
    """Some letters or digits, not only emoji or punctuation."""
    return any(ch.isalnum() for ch in text)


def parse_points(text: str | None, maximum: int) -> float:
    """Points typed as "32", "32,5" or "32.5", from 0 to ``maximum``; ValueError with a hint otherwise."""
    match = _POINTS.match(fold(text or ""))
    if match is None:
        raise ValueError(_("Please type a number from 0 to {max}, for example 32 or 32,5.").format(max=maximum))
    value = float(f"{match.group(1)}.{match.group(2) or 0}")
    if value > maximum:
        raise ValueError(_("At most {max} points for this part. Please type the points again.").format(max=maximum))
    return value


def _back() -> Choice:
    return Choice(_("⬅️ Back"), P + "back")


async def _guard(ctx: Context) -> bool:
    """The province role, from the database, on every step; anything else gets the one refusal."""
    if is_province_officer(await scope_of(ctx)):
        return True
    await deny(ctx)
    return False


async def _round(ctx: Context, round_id: int | None) -> Round | None:
    if round_id is None:
        return None
    return await rounds.round_of(ctx.session, ctx.settings.ocop_province, round_id)


def _round_line(found: Round) -> str:
    meeting = format_day(found.meeting_date) if found.meeting_date else _("not set")
    state = _("open") if found.status == rounds.OPEN else _("closed")
    return _("📅 {name}: submit by {deadline}, council on {meeting} ({state})").format(
        name=found.name, deadline=format_day(found.submit_deadline), meeting=meeting, state=state
    )


async def _audit(ctx: Context, action: str, object_type: str, object_id: int | None, **kwargs: Any) -> None:
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        **kwargs,
    )


async def _tell_producer(ctx: Context, dossier: Dossier, kind: str, params: dict[str, Any]) -> None:
    producer = await province.producer_of_dossier(ctx.session, dossier)
    if producer is None:
        return
    params = {"product": dossier.product.name, **params}
    await ctx.notify(producer.user_id, kind, params, dedupe_key=f"{kind}:{dossier.id}:{dossier.version}")


# Entry ---------------------------------------------------------------------------------------------------


async def on_entry(ctx: Context) -> None:
    """``prov:home`` / ``prov:rounds`` from the main menu, from any older message."""
    if not await _guard(ctx):
        return
    await ctx.start(FLOW_NAME, step="rounds" if ctx.payload == ROUNDS else "home")


async def on_command(ctx: Context, _argument: str | None) -> None:
    ctx.payload = HOME
    await on_entry(ctx)


# home ----------------------------------------------------------------------------------------------------


@flow.ask("home")
async def ask_home(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    for key in ("dossier_id", "version", "list", "score", "cert", "round_id", "new_round", "then", "revoke"):
        ctx.data.pop(key, None)
    counts = await province.count_by_round(ctx.session, _communes(ctx), VISIBLE)
    working = await province.count_by_round(ctx.session, _communes(ctx), [s.value for s in WORKING])
    all_rounds = await rounds.rounds_of(ctx.session, ctx.settings.ocop_province)
    lines = [_("🏛 OCOP dossiers at the province — {province}").format(province=ctx.settings.ocop_province)]
    lines.append(_("Not in a round yet: {count}").format(count=working.get(None, 0)))
    choices = [Choice(_("📥 Not in a round ({count})").format(count=working.get(None, 0)), P + "list:none")]
    shown = [r for r in all_rounds if r.status == rounds.OPEN or counts.get(r.id)][:8]
    for found in shown:
        lines.append(_round_line(found) + " — " + _("{count} dossiers").format(count=counts.get(found.id, 0)))
        choices.append(Choice(_short(f"📅 {found.name} ({counts.get(found.id, 0)})"), f"{P}list:{found.id}"))
    if not all_rounds:
        lines.append(_("No round yet: create this year's rounds under 🗓 Rounds."))
    choices += [Choice(_("🗓 Rounds"), P + "rounds"), Choice(_("⬅️ Main menu"), P + "menu")]
    ctx.say("\n".join(lines), choices)


@flow.answer("home")
async def got_home(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "menu":
        await ctx.finish()
    elif ctx.payload == P + "rounds":
        await ctx.goto("rounds")
    elif ctx.payload == P + "list:none":
        ctx.data["list"] = "none"
        await ctx.goto("list")
    elif (round_id := _id(ctx.payload, P + "list:")) is not None:
        ctx.data["list"] = round_id
        await ctx.goto("list")
    else:
        await ctx.reask(_("Please press one of the buttons."))


# list ----------------------------------------------------------------------------------------------------


@flow.ask("list")
async def ask_list(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    which = ctx.data.get("list")
    if which == "none":
        rows = await province.dossiers_at_province(
            ctx.session, _communes(ctx), [s.value for s in WORKING], without_round=True
        )
        title = _("Dossiers not in a round yet")
    else:
        found = await _round(ctx, which if isinstance(which, int) else None)
        if found is None:
            await deny(ctx)
            return
        rows = await province.dossiers_at_province(ctx.session, _communes(ctx), VISIBLE, round_id=found.id)
        title = _round_line(found)
    order = {status.value: index for index, status in enumerate(WORKING + FINISHED)}
    rows.sort(key=lambda d: (order.get(d.status, 99), d.submitted_at or d.created_at, d.id))
    lines = [title]
    if not rows:
        lines.append(_("No dossier here."))
    status_seen = None
    for dossier in rows[:LIST_MAX]:
        if dossier.status != status_seen:
            status_seen = dossier.status
            lines.append("")
            lines.append(f"▸ {status_label(dossier.status)}")
        lines.append(f"• {dossier.product.name}")
    if len(rows) > LIST_MAX:
        lines.append(_("… and {count} more.").format(count=len(rows) - LIST_MAX))
    choices = [Choice(_short(f"📂 {d.product.name}"), f"{P}d:{d.id}") for d in rows[:LIST_MAX]]
    choices.append(_back())
    ctx.say("\n".join(lines), choices)


@flow.answer("list")
async def got_list(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        await ctx.goto("round" if isinstance(ctx.data.get("round_id"), int) else "home")
        return
    dossier_id = _id(ctx.payload, P + "d:")
    if dossier_id is None:
        await ctx.reask(_("Please press one of the buttons."))
        return
    ctx.data["dossier_id"] = dossier_id
    ctx.data.pop("version", None)
    ctx.data["send_files"] = True
    await ctx.goto("dossier")


# dossier -------------------------------------------------------------------------------------------------


async def _dossier(ctx: Context) -> Dossier | None:
    dossier_id = ctx.data.get("dossier_id")
    if not isinstance(dossier_id, int):
        return None
    return await province.province_dossier(ctx.session, _communes(ctx), dossier_id)


async def _current(ctx: Context) -> Dossier | None:
    """The dossier being worked on, reloaded; the refusal is said when it is gone or out of scope."""
    dossier = await _dossier(ctx)
    if dossier is None or dossier.status not in VISIBLE:
        await deny(ctx)
        return None
    return dossier


async def dossier_facts(session: AsyncSession, province_name: str, dossier: Dossier) -> list[str]:
    """Round, council result and certificate lines of a dossier: shown to officers and to the producer."""
    lines: list[str] = []
    if dossier.round_id is not None:
        found = await rounds.round_of(session, province_name, dossier.round_id)
        if found is not None:
            lines.append(_round_line(found))
    result = await certificates.result_of(session, dossier.id)
    if result is not None:
        lines.append(_result_line(result))
    certificate = await certificates.certificate_of_dossier(session, dossier.id)
    if certificate is not None:
        lines.append(_certificate_line(certificate))
    return lines


async def producer_facts(session: AsyncSession, province_name: str, dossier: Dossier) -> list[str]:
    """What the producer's status report adds for a dossier the province has seen: the province's note
    while it waits for a supplement, the round, the council's result and the certificate with its expiry."""
    lines: list[str] = []
    if dossier.status == _S.PROVINCE_SUPPLEMENT and dossier.review_note:
        lines.append(_("The province asks: {note}").format(note=dossier.review_note))
    return lines + await dossier_facts(session, province_name, dossier)


def _result_line(result: CouncilResult) -> str:
    line = _("🏅 Council: A {a} + B {b} + C {c} = {total} points → {stars}").format(
        a=points_text(result.points_a),
        b=points_text(result.points_b),
        c=points_text(result.points_c),
        total=points_text(result.total),
        stars=stars_text(result.stars),
    )
    if not result.mandatory_ok:
        line += "\n" + _("✗ A mandatory criterion failed (at most 2 stars).")
    return line


def _certificate_line(certificate: Certificate) -> str:
    if certificate.status == certificates.REVOKED:
        return _("⛔ Certificate {number} was revoked: {reason}").format(
            number=certificate.decision_no, reason=certificate.revoked_reason or ""
        )
    return _("📜 Certificate {stars}, decision {number} of {issued}, valid until {expires}").format(
        stars=stars_text(certificate.stars),
        number=certificate.decision_no,
        issued=format_day(certificate.issued_on),
        expires=format_day(certificate.expires_on),
    )


def _file_path(ctx: Context, stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else ctx.files.root / path


def _send_files(ctx: Context, dossier: Dossier) -> None:
    sent = 0
    total = sum(len(item.files) for item in dossier.items)
    for item in dossier.items:
        for link in item.files:
            if sent >= FILES_MAX:
                break
            stored = link.stored_file
            path = _file_path(ctx, stored.path)
            if not path.is_file():
                continue
            name = link.original_name or f"{item.code}{path.suffix}"
            ctx.send_file(SendFile(path=path, name=name, mime=stored.mime, caption=item_label(item.code)))
            sent += 1
    if total > sent:
        ctx.say(_("{sent} of {total} files sent here; the rest are in the dossier.").format(sent=sent, total=total))


def _dossier_text(ctx: Context, dossier: Dossier, facts: list[str], producer_line: str) -> str:
    lines = [
        f"📂 {dossier.product.name} — {case_label(dossier.case)}",
        producer_line,
        _("Status: {status}").format(status=status_label(dossier.status)),
    ]
    if dossier.round_id is None:
        lines.append(_("Not in a round yet."))
    if dossier.submitted_at is not None:
        lines.append(_("Submitted on {day}").format(day=format_day(dossier.submitted_at)))
    lines.append(progress_line(dossier))
    for item in dossier.items:
        # The commune's own report counts as written once the dossier has reached the province.
        done = item_done(item) or supplied_by(item.code) is SuppliedBy.COMMUNE
        if item.required or done:
            mark = "✓" if done else "✗"
            count = f" ({len(item.files)})" if item.files else ""
            lines.append(f"{mark} {item_label(item.code)}{count}")
    if dossier.review_note:
        lines.append(_("Last note: {note}").format(note=dossier.review_note))
    lines += facts
    return "\n".join(lines)


async def _dossier_choices(ctx: Context, dossier: Dossier) -> list[Choice]:
    status = _S(dossier.status)
    choices: list[Choice] = []
    files = sum(len(item.files) for item in dossier.items)
    if files:
        choices.append(Choice(_("📎 Files ({count})").format(count=files), P + "files"))
    if status in CHECKABLE:
        choices.append(Choice(_("✅ Complete: schedule for the council"), P + "accept"))
        choices.append(Choice(_("↩️ Return for supplement"), P + "return"))
    if status in ROUND_ASSIGNABLE:
        label = _("📅 Assign a round") if dossier.round_id is None else _("📅 Change the round")
        choices.append(Choice(label, P + "round"))
    if status is _S.SCHEDULED:
        choices.append(Choice(_("🏅 Record the council's result"), P + "score"))
    if status in (_S.SCORED, _S.PROPOSED_5):
        result = await certificates.result_of(ctx.session, dossier.id)
        if status is _S.PROPOSED_5:
            choices.append(Choice(_("📜 Issue a 4★ certificate (5★ not granted)"), P + "cert"))
        elif result is not None and result.stars in CERTIFIED:
            choices.append(Choice(_("📜 Issue the certificate"), P + "cert"))
    if status in (_S.CERTIFIED_3, _S.CERTIFIED_4):
        certificate = await certificates.certificate_of_dossier(ctx.session, dossier.id)
        if certificate is not None and certificate.status == certificates.VALID:
            choices.append(Choice(_("⛔ Revoke the certificate"), P + "revoke"))
    choices.append(_back())
    return choices


@flow.ask("dossier")
async def ask_dossier(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    dossier = await _current(ctx)
    if dossier is None:
        return
    # The officer acts on what this screen shows: its version is the one every action must still find.
    ctx.data["version"] = dossier.version
    if ctx.data.pop("send_files", False):
        _send_files(ctx, dossier)
    producer = await province.producer_of_dossier(ctx.session, dossier)
    commune = commune_by_code(ctx.settings.ocop_province, dossier.product.commune_code)
    producer_line = "🏠 " + " · ".join(
        part for part in (producer.name if producer else "", commune.name if commune else "") if part
    )
    facts = await dossier_facts(ctx.session, ctx.settings.ocop_province, dossier)
    ctx.say(_dossier_text(ctx, dossier, facts, producer_line), await _dossier_choices(ctx, dossier))


@flow.answer("dossier")
async def got_dossier(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    payload = ctx.payload
    if payload == P + "back":
        await ctx.goto("list" if ctx.data.get("list") is not None else "home")
        return
    dossier = await _current(ctx)
    if dossier is None:
        return
    if dossier.version != ctx.data.get("version"):
        await _changed_meanwhile(ctx)
        return
    if payload == P + "files":
        _send_files(ctx, dossier)
        await ctx.goto("dossier")
    elif payload == P + "accept":
        await _accept(ctx, dossier)
    elif payload == P + "return":
        await ctx.goto("return_note")
    elif payload == P + "round":
        ctx.data["then"] = "assign"
        await ctx.goto("round_pick")
    elif payload == P + "score":
        ctx.data["score"] = {}
        await ctx.goto("score_a")
    elif payload == P + "cert":
        ctx.data["cert"] = {}
        await ctx.goto("cert_no")
    elif payload == P + "revoke":
        await ctx.goto("revoke_reason")
    else:
        await ctx.reask(_("Please press one of the buttons."))


async def _changed_meanwhile(ctx: Context) -> None:
    ctx.say(_("Someone else changed this dossier meanwhile, so nothing was saved. Here it is as it is now:"))
    for key in ("score", "cert", "then", "revoke"):
        ctx.data.pop(key, None)
    await ctx.goto("dossier")


async def _not_now(ctx: Context) -> None:
    ctx.say(_("That is not possible at this stage of the dossier. Here it is as it is now:"))
    await ctx.goto("dossier")


async def _apply(
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
            await _not_now(ctx)
            return False
    before = province.dossier_snapshot(dossier)
    expected = ctx.data.get("version")
    if not isinstance(expected, int) or not await province.change(
        ctx.session, dossier, expected, now=ctx.now, status=status.value if status else None, **changes
    ):
        await _changed_meanwhile(ctx)
        return False
    ctx.data["version"] = dossier.version
    await _audit(ctx, action, "dossier", dossier.id, before=before, after=province.dossier_snapshot(dossier), note=note)
    return True


# Completeness --------------------------------------------------------------------------------------------


async def _accept(ctx: Context, dossier: Dossier) -> None:
    found = await _round(ctx, dossier.round_id)
    if found is None or found.status != rounds.OPEN:
        ctx.say(_("Choose the round for this dossier first."))
        ctx.data["then"] = "accept"
        await ctx.goto("round_pick")
        return
    await _schedule(ctx, dossier, found)


async def _schedule(ctx: Context, dossier: Dossier, found: Round) -> None:
    if not await _apply(ctx, dossier, "dossier.schedule", status=_S.SCHEDULED, round_id=found.id, review_note=None):
        return
    meeting = found.meeting_date.isoformat() if found.meeting_date else None
    await _tell_producer(ctx, dossier, "province_scheduled", {"round": found.name, "meeting": meeting})
    ctx.say(_("✅ Complete. {product} is scheduled in {round}.").format(product=dossier.product.name, round=found.name))
    await ctx.goto("dossier")


@flow.ask("round_pick")
async def ask_round_pick(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    open_rounds = await rounds.open_rounds(ctx.session, ctx.settings.ocop_province)
    if not open_rounds:
        ctx.say(
            _("There is no open round. Create one first (🗓 Rounds)."),
            [Choice(_("🗓 Rounds"), P + "rounds"), _back()],
        )
        return
    lines = [_("Which round?")] + [_round_line(r) for r in open_rounds]
    choices = [Choice(_short(f"📅 {r.name}"), f"{P}r:{r.id}") for r in open_rounds[:LIST_MAX]]
    ctx.say("\n".join(lines), [*choices, _back()])


@flow.answer("round_pick")
async def got_round_pick(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("then", None)
        await ctx.goto("dossier")
        return
    if ctx.payload == P + "rounds":
        ctx.data.pop("then", None)
        await ctx.goto("rounds")
        return
    round_id = _id(ctx.payload, P + "r:")
    if round_id is None:
        await ctx.reask(_("Please press one of the buttons."))
        return
    found = await _round(ctx, round_id)
    dossier = await _current(ctx)
    if dossier is None:
        return
    if found is None or found.status != rounds.OPEN:
        await ctx.reask(_("That round is closed now. Please choose another."))
        return
    then = ctx.data.pop("then", "assign")
    if then == "accept":
        if _S(dossier.status) not in CHECKABLE:
            await _not_now(ctx)
            return
        await _schedule(ctx, dossier, found)
        return
    if _S(dossier.status) not in ROUND_ASSIGNABLE:
        await _not_now(ctx)
        return
    if await _apply(ctx, dossier, "dossier.assign_round", round_id=found.id):
        meeting = found.meeting_date.isoformat() if found.meeting_date else None
        await _tell_producer(ctx, dossier, "province_round", {"round": found.name, "meeting": meeting})
        ctx.say(_("📅 {product} is now in {round}.").format(product=dossier.product.name, round=found.name))
        await ctx.goto("dossier")


@flow.ask("return_note", free_text=True)
async def ask_return_note(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    ctx.say(
        _("What must the producer add or correct? Type a short note; the producer will read it."),
        [_back()],
    )


@flow.answer("return_note")
async def got_return_note(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        await ctx.goto("dossier")
        return
    note = (ctx.text or "").strip()
    if not (NOTE_MIN <= len(note) <= NOTE_MAX) or not _meaningful(note):
        await ctx.reask(
            _("Please type a note of {min} to {max} characters, in words.").format(min=NOTE_MIN, max=NOTE_MAX)
        )
        return
    dossier = await _current(ctx)
    if dossier is None:
        return
    if _S(dossier.status) not in CHECKABLE:
        await _not_now(ctx)
        return
    if not await _apply(
        ctx, dossier, "dossier.return_supplement", status=_S.PROVINCE_SUPPLEMENT, review_note=note, note=note
    ):
        return
    await _tell_producer(ctx, dossier, "province_supplement", {"note": note})
    ctx.say(_("↩️ Returned. The producer has been told what to add."))
    await ctx.goto("dossier")


# Council result ------------------------------------------------------------------------------------------


def _part_max(dossier: Dossier, part: str) -> int:
    return rule_set_by_code(dossier.rule_set).part_max[part]


async def _ask_part(ctx: Context, part: str) -> None:
    if not await _guard(ctx):
        return
    dossier = await _current(ctx)
    if dossier is None:
        return
    ctx.say(
        _("Council result for {product}.\nPoints for part {part} (0 to {max}):").format(
            product=dossier.product.name, part=part, max=_part_max(dossier, part)
        ),
        [_back()],
    )


async def _got_part(ctx: Context, part: str, next_step: str) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("score", None)
        await ctx.goto("dossier")
        return
    dossier = await _current(ctx)
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


@flow.ask("score_a", free_text=True)
async def ask_score_a(ctx: Context) -> None:
    await _ask_part(ctx, "A")


@flow.answer("score_a")
async def got_score_a(ctx: Context) -> None:
    await _got_part(ctx, "A", "score_b")


@flow.ask("score_b", free_text=True)
async def ask_score_b(ctx: Context) -> None:
    await _ask_part(ctx, "B")


@flow.answer("score_b")
async def got_score_b(ctx: Context) -> None:
    await _got_part(ctx, "B", "score_c")


@flow.ask("score_c", free_text=True)
async def ask_score_c(ctx: Context) -> None:
    await _ask_part(ctx, "C")


@flow.answer("score_c")
async def got_score_c(ctx: Context) -> None:
    await _got_part(ctx, "C", "mandatory")


@flow.ask("mandatory")
async def ask_mandatory(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    ctx.say(
        _("Did the product pass every mandatory criterion?"),
        [Choice(_("✅ Yes, all passed"), P + "yes"), Choice(_("❌ No, one failed"), P + "no"), _back()],
    )


@flow.answer("mandatory")
async def got_mandatory(ctx: Context) -> None:
    if not await _guard(ctx):
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


@flow.ask("score_confirm")
async def ask_score_confirm(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    dossier = await _current(ctx)
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
        [Choice(_("💾 Save"), P + "save"), Choice(_("✏️ Type the points again"), P + "again"), _back()],
    )


@flow.answer("score_confirm")
async def got_score_confirm(ctx: Context) -> None:
    if not await _guard(ctx):
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
    dossier = await _current(ctx)
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
    if not await _apply(ctx, dossier, "dossier.score", status=_S.SCORED):
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
    await _audit(ctx, "council_result.record", "dossier", dossier.id, after=certificates.result_snapshot(result))
    params = {"points": total, "stars": stars, "mandatory_ok": mandatory_ok}
    if stars < 3:
        if await _apply(ctx, dossier, "dossier.not_rated", status=_S.NOT_RATED):
            await _tell_producer(ctx, dossier, "province_not_rated", params)
    elif stars == 5:
        if await _apply(ctx, dossier, "dossier.propose_5", status=_S.PROPOSED_5):
            await _tell_producer(ctx, dossier, "province_proposed_5", params)
    else:
        await _tell_producer(ctx, dossier, "province_scored", params)
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


@flow.ask("cert_no", free_text=True)
async def ask_cert_no(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    ctx.say(_("The number of the decision, for example 1234/QĐ-UBND:"), [_back()])


@flow.answer("cert_no")
async def got_cert_no(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("cert", None)
        await ctx.goto("dossier")
        return
    number = " ".join((ctx.text or "").split())
    if not number or len(number) > DECISION_MAX or not any(ch.isdigit() for ch in number):
        await ctx.reask(_("Please type the decision number with its digits, for example 1234/QĐ-UBND."))
        return
    ctx.data["cert"] = {"no": number}
    await ctx.goto("cert_date")


@flow.ask("cert_date", free_text=True)
async def ask_cert_date(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    ctx.say(
        _("The date of the decision (day/month/year, for example {example}):").format(example=format_day(ctx.today)),
        [Choice(_("📅 Today, {day}").format(day=format_day(ctx.today)), P + "today"), _back()],
    )


@flow.answer("cert_date")
async def got_cert_date(ctx: Context) -> None:
    if not await _guard(ctx):
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


@flow.ask("cert_confirm")
async def ask_cert_confirm(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    dossier = await _current(ctx)
    if dossier is None:
        return
    values = _cert_values(ctx)
    stars = await _certificate_stars(ctx, dossier)
    if values is None or stars is None:
        await _not_now(ctx)
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
        [Choice(_("💾 Save"), P + "save"), _back()],
    )


@flow.answer("cert_confirm")
async def got_cert_confirm(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("cert", None)
        await ctx.goto("dossier")
        return
    if ctx.payload != P + "save":
        await ctx.reask(_("Please press one of the buttons."))
        return
    dossier = await _current(ctx)
    if dossier is None:
        return
    values = _cert_values(ctx)
    stars = await _certificate_stars(ctx, dossier)
    if values is None or stars is None:
        await _not_now(ctx)
        return
    number, issued = values
    if not await _apply(ctx, dossier, "dossier.certify", status=CERTIFIED[stars]):
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
    await _audit(
        ctx, "certificate.issue", "certificate", certificate.id, after=certificates.certificate_snapshot(certificate)
    )
    await _tell_producer(
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


@flow.ask("revoke_reason", free_text=True)
async def ask_revoke_reason(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    ctx.say(_("Why is the certificate revoked? The producer will read this reason."), [_back()])


@flow.answer("revoke_reason")
async def got_revoke_reason(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("revoke", None)
        await ctx.goto("dossier")
        return
    reason = (ctx.text or "").strip()
    if not (NOTE_MIN <= len(reason) <= NOTE_MAX) or not _meaningful(reason):
        await ctx.reask(
            _("Please type a reason of {min} to {max} characters, in words.").format(min=NOTE_MIN, max=NOTE_MAX)
        )
        return
    ctx.data["revoke"] = reason
    await ctx.goto("revoke_confirm")


@flow.ask("revoke_confirm")
async def ask_revoke_confirm(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    dossier = await _current(ctx)
    if dossier is None:
        return
    certificate = await _valid_certificate(ctx, dossier)
    if certificate is None:
        await _not_now(ctx)
        return
    ctx.say(
        _("Revoke certificate {number} of {product}?\nReason: {reason}").format(
            number=certificate.decision_no, product=dossier.product.name, reason=ctx.data.get("revoke", "")
        ),
        [Choice(_("⛔ Revoke"), P + "save"), _back()],
    )


@flow.answer("revoke_confirm")
async def got_revoke_confirm(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        ctx.data.pop("revoke", None)
        await ctx.goto("dossier")
        return
    if ctx.payload != P + "save":
        await ctx.reask(_("Please press one of the buttons."))
        return
    dossier = await _current(ctx)
    reason = ctx.data.get("revoke")
    if dossier is None:
        return
    certificate = await _valid_certificate(ctx, dossier)
    if certificate is None or not isinstance(reason, str):
        await _not_now(ctx)
        return
    # No status change on the dossier, but the version still moves: a second officer's revoke is refused.
    if not await _apply(ctx, dossier, "dossier.certificate_revoked", note=reason):
        return
    before = certificates.certificate_snapshot(certificate)
    await certificates.revoke(ctx.session, certificate, reason, ctx.now)
    ctx.data.pop("revoke", None)
    await _audit(
        ctx,
        "certificate.revoke",
        "certificate",
        certificate.id,
        before=before,
        after=certificates.certificate_snapshot(certificate),
        note=reason,
    )
    await _tell_producer(ctx, dossier, "province_revoked", {"decision_no": certificate.decision_no, "reason": reason})
    ctx.say(_("⛔ Certificate revoked. The producer has been told."))
    await ctx.goto("dossier")


# Rounds --------------------------------------------------------------------------------------------------


@flow.ask("rounds")
async def ask_rounds(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    ctx.data.pop("round_id", None)
    ctx.data.pop("new_round", None)
    all_rounds = await rounds.rounds_of(ctx.session, ctx.settings.ocop_province)
    counts = await rounds.dossier_counts(ctx.session, [r.id for r in all_rounds])
    lines = [_("🗓 Evaluation rounds")]
    if not all_rounds:
        lines.append(_("No round yet."))
    lines += [
        _round_line(r) + " — " + _("{count} dossiers").format(count=counts.get(r.id, 0)) for r in all_rounds[:LIST_MAX]
    ]
    choices = [Choice(_short(f"📅 {r.name}"), f"{P}ro:{r.id}") for r in all_rounds[:LIST_MAX]]
    choices.append(Choice(_("➕ New round"), P + "new"))
    year = ctx.today.year
    if not await _this_years_rounds_exist(ctx, year):
        choices.append(Choice(_("📅 Create this year's two rounds (20/05 and 20/10)"), P + "seed"))
    choices.append(_back())
    ctx.say("\n".join(lines), choices)


async def _this_years_rounds_exist(ctx: Context, year: int) -> bool:
    names = {rounds.default_round_name(n, year) for n, _month, _day in rounds.DEFAULT_ROUNDS}
    deadlines = {dt.date(year, month, day) for _n, month, day in rounds.DEFAULT_ROUNDS}
    existing = await rounds.rounds_of(ctx.session, ctx.settings.ocop_province)
    found = sum(1 for r in existing if r.name in names or r.submit_deadline in deadlines)
    return found >= len(rounds.DEFAULT_ROUNDS)


@flow.answer("rounds")
async def got_rounds(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        await ctx.goto("home")
    elif ctx.payload == P + "new":
        ctx.data["new_round"] = {}
        await ctx.goto("round_name")
    elif ctx.payload == P + "seed":
        await _seed(ctx)
    elif (round_id := _id(ctx.payload, P + "ro:")) is not None:
        if await _round(ctx, round_id) is None:
            await deny(ctx)
            return
        ctx.data["round_id"] = round_id
        await ctx.goto("round")
    else:
        await ctx.reask(_("Please press one of the buttons."))


async def _seed(ctx: Context) -> None:
    year = ctx.today.year
    before = {r.id for r in await rounds.rounds_of(ctx.session, ctx.settings.ocop_province)}
    seeded = await rounds.seed_default_rounds(ctx.session, ctx.settings.ocop_province, year, ctx.now)
    for found in seeded:
        if found.id not in before:
            await _audit(ctx, "round.create", "round", found.id, after=rounds.snapshot(found), note="default rounds")
    ctx.say(_("📅 This year's rounds are ready. Set the council dates when they are known."))
    await ctx.goto("rounds")


@flow.ask("round")
async def ask_round(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    round_id = ctx.data.get("round_id")
    found = await _round(ctx, round_id if isinstance(round_id, int) else None)
    if found is None:
        await deny(ctx)
        return
    count = (await rounds.dossier_counts(ctx.session, [found.id])).get(found.id, 0)
    toggle = (
        Choice(_("🔒 Close the round"), P + "close")
        if found.status == rounds.OPEN
        else Choice(_("🔓 Reopen the round"), P + "reopen")
    )
    ctx.say(
        _round_line(found) + "\n" + _("{count} dossiers").format(count=count),
        [
            Choice(_("📂 Dossiers ({count})").format(count=count), P + "list"),
            Choice(_("✏️ Name"), P + "ename"),
            Choice(_("✏️ Submission deadline"), P + "edeadline"),
            Choice(_("✏️ Council meeting date"), P + "emeeting"),
            toggle,
            _back(),
        ],
    )


@flow.answer("round")
async def got_round(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    round_id = ctx.data.get("round_id")
    found = await _round(ctx, round_id if isinstance(round_id, int) else None)
    if ctx.payload == P + "back":
        await ctx.goto("rounds")
        return
    if found is None:
        await deny(ctx)
        return
    steps = {P + "ename": "round_name", P + "edeadline": "round_deadline", P + "emeeting": "round_meeting"}
    if ctx.payload in steps:
        await ctx.goto(steps[ctx.payload])
    elif ctx.payload == P + "list":
        ctx.data["list"] = found.id
        await ctx.goto("list")
    elif ctx.payload in (P + "close", P + "reopen"):
        await _set_round(
            ctx,
            found,
            "round.close" if ctx.payload == P + "close" else "round.reopen",
            status=rounds.CLOSED if ctx.payload == P + "close" else rounds.OPEN,
        )
    else:
        await ctx.reask(_("Please press one of the buttons."))


async def _set_round(ctx: Context, found: Round, action: str, **values: Any) -> None:
    before = rounds.snapshot(found)
    for key, value in values.items():
        setattr(found, key, value)
    await ctx.session.flush()
    await _audit(ctx, action, "round", found.id, before=before, after=rounds.snapshot(found))
    ctx.say(_("💾 Saved."))
    await ctx.goto("round")


async def _editing(ctx: Context) -> Round | None:
    round_id = ctx.data.get("round_id")
    return await _round(ctx, round_id) if isinstance(round_id, int) else None


def _new_round(ctx: Context) -> dict[str, Any] | None:
    value = ctx.data.get("new_round")
    return value if isinstance(value, dict) else None


async def _round_back(ctx: Context) -> None:
    if _new_round(ctx) is not None and ctx.data.get("round_id") is None:
        ctx.data.pop("new_round", None)
        await ctx.goto("rounds")
    else:
        await ctx.goto("round")


@flow.ask("round_name", free_text=True)
async def ask_round_name(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    example = rounds.default_round_name(1, ctx.today.year)
    ctx.say(_("The name of the round, for example {example}:").format(example=example), [_back()])


@flow.answer("round_name")
async def got_round_name(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        await _round_back(ctx)
        return
    name = " ".join((ctx.text or "").split())
    if not (ROUND_NAME_MIN <= len(name) <= ROUND_NAME_MAX) or not _meaningful(name):
        await ctx.reask(
            _("Please type a name of {min} to {max} characters.").format(min=ROUND_NAME_MIN, max=ROUND_NAME_MAX)
        )
        return
    found = await _editing(ctx)
    if found is not None:
        await _set_round(ctx, found, "round.edit", name=name)
        return
    ctx.data["new_round"] = {"name": name}
    await ctx.goto("round_deadline")


@flow.ask("round_deadline", free_text=True)
async def ask_round_deadline(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    ctx.say(
        _("The submission deadline (day/month, for example 20/5 or 20/05/{year}):").format(year=ctx.today.year),
        [_back()],
    )


@flow.answer("round_deadline")
async def got_round_deadline(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        await _round_back(ctx)
        return
    try:
        deadline = parse_day(ctx.text, ctx.today, When.FUTURE)
    except BadDate as error:
        await ctx.reask(error.hint)
        return
    found = await _editing(ctx)
    if found is not None:
        if found.meeting_date is not None and found.meeting_date < deadline:
            await ctx.reask(
                _("The deadline must come before the council meeting ({day}).").format(
                    day=format_day(found.meeting_date)
                )
            )
            return
        await _set_round(ctx, found, "round.edit", submit_deadline=deadline)
        return
    new = _new_round(ctx)
    if new is None or "name" not in new:
        await ctx.goto("round_name")
        return
    ctx.data["new_round"] = {**new, "deadline": deadline.isoformat()}
    await ctx.goto("round_meeting")


@flow.ask("round_meeting", free_text=True)
async def ask_round_meeting(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    choices = [_back()]
    if await _editing(ctx) is None:
        choices.insert(0, Choice(_("⏭ Not known yet"), P + "skip"))
    ctx.say(_("The date of the council meeting (day/month/year):"), choices)


@flow.answer("round_meeting")
async def got_round_meeting(ctx: Context) -> None:
    if not await _guard(ctx):
        return
    if ctx.payload == P + "back":
        await _round_back(ctx)
        return
    found = await _editing(ctx)
    meeting: dt.date | None = None
    if ctx.payload != P + "skip" or found is not None:
        try:
            meeting = parse_day(ctx.text, ctx.today, When.FUTURE)
        except BadDate as error:
            await ctx.reask(error.hint)
            return
    if found is not None:
        if meeting is not None and meeting < found.submit_deadline:
            await ctx.reask(
                _("The council meets after the deadline ({day}). Please type a later date.").format(
                    day=format_day(found.submit_deadline)
                )
            )
            return
        await _set_round(ctx, found, "round.edit", meeting_date=meeting)
        return
    new = _new_round(ctx)
    if new is None or "name" not in new or "deadline" not in new:
        await ctx.goto("round_name")
        return
    deadline = dt.date.fromisoformat(new["deadline"])
    if meeting is not None and meeting < deadline:
        await ctx.reask(
            _("The council meets after the deadline ({day}). Please type a later date.").format(
                day=format_day(deadline)
            )
        )
        return
    created = await rounds.create_round(
        ctx.session,
        province=ctx.settings.ocop_province,
        name=new["name"],
        submit_deadline=deadline,
        meeting_date=meeting,
        now=ctx.now,
    )
    await _audit(ctx, "round.create", "round", created.id, after=rounds.snapshot(created))
    ctx.data.pop("new_round", None)
    ctx.data["round_id"] = created.id
    ctx.say(_("➕ Round created."))
    await ctx.goto("round")


# What the producer is told -------------------------------------------------------------------------------


def _day(value: Any) -> str:
    try:
        return format_day(dt.date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


@notice("province_scheduled")
def _notice_scheduled(params: dict[str, Any]) -> Text:
    text = _("✅ The province found the dossier of {product} complete. It is in {round}.").format(
        product=params.get("product", ""), round=params.get("round", "")
    )
    if params.get("meeting"):
        text += "\n" + _("Council meeting: {day}. Bring the product samples.").format(day=_day(params["meeting"]))
    return Text(text)


@notice("province_round")
def _notice_round(params: dict[str, Any]) -> Text:
    text = _("📅 The dossier of {product} is now in {round}.").format(
        product=params.get("product", ""), round=params.get("round", "")
    )
    if params.get("meeting"):
        text += "\n" + _("Council meeting: {day}.").format(day=_day(params["meeting"]))
    return Text(text)


@notice("province_supplement")
def _notice_supplement(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "↩️ The province asks for more for the dossier of {product}:\n{note}\n"
            "Open 📂 My dossier, add it, then submit again."
        ).format(product=params.get("product", ""), note=params.get("note", ""))
    )


def _points_line(params: dict[str, Any]) -> str:
    return _("The council gave {points} points: {stars}.").format(
        points=points_text(float(params.get("points", 0))), stars=stars_text(int(params.get("stars", 0)))
    )


@notice("province_not_rated")
def _notice_not_rated(params: dict[str, Any]) -> Text:
    lines = [f"📂 {params.get('product', '')}", _points_line(params)]
    if not params.get("mandatory_ok", True):
        lines.append(_("A mandatory criterion was not met."))
    lines.append(_("The product is not rated this time. You can improve it and apply again in a later round."))
    return Text("\n".join(lines))


@notice("province_scored")
def _notice_scored(params: dict[str, Any]) -> Text:
    return Text(
        "\n".join(
            [f"🏅 {params.get('product', '')}", _points_line(params), _("The province will issue the certificate.")]
        )
    )


@notice("province_proposed_5")
def _notice_proposed(params: dict[str, Any]) -> Text:
    return Text(
        "\n".join(
            [
                f"🏅 {params.get('product', '')}",
                _points_line(params),
                _("The province proposes the product to the central level for 5 stars."),
            ]
        )
    )


@notice("province_certified")
def _notice_certified(params: dict[str, Any]) -> Text:
    return Text(
        _(
            "📜 Congratulations! {product} is certified OCOP {stars}.\n"
            "Decision {number} of {issued}. Valid until {expires}."
        ).format(
            product=params.get("product", ""),
            stars=stars_text(int(params.get("stars", 0))),
            number=params.get("decision_no", ""),
            issued=_day(params.get("issued_on")),
            expires=_day(params.get("expires_on")),
        )
    )


@notice("province_revoked")
def _notice_revoked(params: dict[str, Any]) -> Text:
    return Text(
        _("⛔ The OCOP certificate {number} of {product} has been revoked.\nReason: {reason}").format(
            number=params.get("decision_no", ""), product=params.get("product", ""), reason=params.get("reason", "")
        )
    )


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.global_payloads[ENTRY_PREFIX] = on_entry
    registry.commands.setdefault("province", on_command)
