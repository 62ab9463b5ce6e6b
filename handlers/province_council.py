"""The council's result and what follows from it: each member's sheet (points A, B, C), the mean per part
and the star of the dossier's rule set, a failed mandatory criterion (which one, and the council's note),
corrections before the certificate, then the certificate (decision number and date, valid 36 months), the
central level's 5★ decision, and revocation.

Reached from a dossier's screen (``handlers.province_dossiers``), which offers each action only at the status
that allows it; every step reloads the dossier and re-checks. Sheets are entered once the round's council has
met; the result needs ``COUNCIL_MIN_SHEETS`` sheets and shows the spread and every sheet more than
``SHEET_SPREAD_FLAG_POINTS`` from the mean before it is saved. Below 3 stars the dossier is NOT_RATED (not
certified), ≥ 90 points is PROPOSED_5 (a state of its own: the central level decides), 3 or 4 stars wait for
the province's certificate. A decision is never dated before the council met.

```mermaid
stateDiagram-v2
    [*] --> sheets: 🏅 Council sheets (SCHEDULED) · ✏️ Correct (SCORED/NOT_RATED/PROPOSED_5, via correct_reason)
    sheets --> member_name: ➕ Add a member
    member_name --> member_role: a name
    member_role --> sheets: a role (member saved)
    sheets --> sheet_a: ✏️ a member
    sheet_a --> sheet_b: points A
    sheet_b --> sheet_c: points B
    sheet_c --> sheets: points C (sheet saved)
    sheets --> mandatory: 🧮 Work out the result
    mandatory --> score_confirm: ✅ all passed
    mandatory --> mandatory_which: ❌ one failed
    mandatory_which --> mandatory_note: the criterion
    mandatory_note --> score_confirm: the council's note
    score_confirm --> sheets: 📝 Back to the sheets
    score_confirm --> [*]: 💾 Save (→ SCORED → NOT_RATED / PROPOSED_5), the dossier
    [*] --> cert_no: 📜 Certificate (SCORED 3–4★) · 🏛 5★ granted / 4★ (PROPOSED_5)
    cert_no --> cert_date: decision number
    cert_date --> cert_confirm: decision date (not in the future, not before the meeting)
    cert_confirm --> [*]: 💾 Save (→ CERTIFIED_3/4/5, expiry = +36 months), the dossier
    [*] --> revoke_reason: ⛔ Revoke certificate (CERTIFIED, valid)
    revoke_reason --> revoke_confirm: a reason
    revoke_confirm --> [*]: ⛔ Revoke, the dossier
```
Every ⬅️ Back leads to the dossier or the step before.
"""

from __future__ import annotations

import asyncio
import datetime as dt

from bot import council_workbook
from bot.callbacks import Button
from bot.council import Outcome, Sheet, outcome, parse_points
from bot.dates import BadDate, When, parse_day
from bot.flow import Context, Flow
from bot.i18n import _, format_day
from bot.messages import Choice, ReceivedFile, SendFile
from bot.public_codes import new_public_code
from bot.roles import deny
from bot.rules import (
    COUNCIL_MIN_SHEETS,
    COUNCIL_ROLES,
    DossierStatus,
    certificate_expiry,
    label,
    mandatory_criteria,
    mandatory_criterion,
    rule_set_by_code,
)
from bot.text import fold, has_words, shorten, tidy
from handlers.certificate_share import DECISION_TYPES, send_decision, send_qr, stored_row
from handlers.province_common import (
    CERTIFIED,
    DECISION_MAX,
    FLOW_NAME,
    LABEL_MAX,
    LIST_MAX,
    PROVINCE_STARS,
    Back,
    apply_change,
    back_choice,
    current_dossier,
    find_round,
    form,
    not_now,
    note_step,
    points_text,
    record_audit,
    stars_text,
    tell_producer,
)
from handlers.province_form import CertificateDraft, DossierAction, Verdict
from storage import certificates, council
from storage.models import Certificate, CouncilMember, Dossier, Round

_S = DossierStatus


# The sheets' screen
class EditSheet(Button, prefix="pv:m"):
    member: int


class AddMember(Button, prefix="pv:addm"):
    pass


class Workbook(Button, prefix="pv:xlsx"):
    pass


class WorkOut(Button, prefix="pv:result"):
    pass


class MemberRole(Button, prefix="pv:role"):
    role: str


# The mandatory criteria
class AllPassed(Button, prefix="pv:yes"):
    pass


class OneFailed(Button, prefix="pv:no"):
    pass


class FailedCriterion(Button, prefix="pv:mc"):
    code: str


# Confirmations: the result, the certificate, the revocation
class Save(Button, prefix="pv:save"):
    pass


class BackToSheets(Button, prefix="pv:again"):
    pass


class Today(Button, prefix="pv:today"):
    pass


# This module's steps of the province conversation; ``handlers.province`` joins them into one flow.
steps = Flow(FLOW_NAME, first_step="sheets")

MEMBER_NAME_MIN, MEMBER_NAME_MAX = 3, 120
WORKBOOK_ERRORS_SHOWN = 10


# Council sheets ------------------------------------------------------------------------------------------
#
# The result is not typed as one number per part: each member's sheet is entered (or imported from the
# council's Excel file, ``bot.council_cli``), and the result is their mean (``bot.council``).

CORRECTABLE = frozenset({_S.SCORED, _S.NOT_RATED, _S.PROPOSED_5})


def _part_max(dossier: Dossier, part: str) -> int:
    return rule_set_by_code(dossier.rule_set).part_max[part]


def _action(ctx: Context) -> DossierAction:
    return form(ctx).action


def _correcting(ctx: Context) -> bool:
    return _action(ctx).correct is not None


async def _may_score(ctx: Context, dossier: Dossier) -> bool:
    """Sheets are entered while the dossier waits for its council, or when a saved result is corrected
    before any certificate; False (after saying so) otherwise."""
    status = _S(dossier.status)
    if status is _S.SCHEDULED and not _correcting(ctx):
        return True
    if _correcting(ctx) and status in CORRECTABLE:
        return True
    await not_now(ctx)
    return False


async def _council_round(ctx: Context, dossier: Dossier) -> Round | None:
    """The round whose council scores this dossier, once its meeting has taken place; otherwise says why
    and returns to the dossier."""
    found = await find_round(ctx, dossier.round_id)
    if found is None:
        ctx.say(_("This dossier is not in a round, so it has no council yet."))
        await ctx.goto("dossier")
        return None
    if found.meeting_date is None:
        ctx.say(_("Set the date of the council meeting of {round} first (🗓 Rounds).").format(round=found.name))
        await ctx.goto("dossier")
        return None
    if found.meeting_date > ctx.today:
        ctx.say(
            _("The council of {round} meets on {day}: its sheets can be entered from that day.").format(
                round=found.name, day=format_day(found.meeting_date)
            )
        )
        await ctx.goto("dossier")
        return None
    return found


async def _sheets(ctx: Context, dossier: Dossier, found: Round) -> tuple[list[CouncilMember], list[Sheet]]:
    members = await council.members_of(ctx.session, found.id)
    by_member = await council.sheets_of(ctx.session, dossier.id)
    sheets = [
        Sheet(m.name, (by_member[m.id].points_a, by_member[m.id].points_b, by_member[m.id].points_c))
        for m in members
        if m.id in by_member
    ]
    return members, sheets


def _sheet_line(member: CouncilMember, sheet: Sheet | None) -> str:
    name = f"{member.name} ({label(COUNCIL_ROLES, member.role)})"
    if sheet is None:
        return "▫️ " + name + ": " + _("no sheet yet")
    a, b, c = sheet.points
    return f"▪️ {name}: A {points_text(a)} + B {points_text(b)} + C {points_text(c)} = {points_text(sheet.total)}"


def _outcome_lines(result: Outcome) -> list[str]:
    a, b, c = result.parts
    lines = [
        _("Mean of {count} sheets: A {a} + B {b} + C {c} = {total} points").format(
            count=result.sheet_count,
            a=points_text(a),
            b=points_text(b),
            c=points_text(c),
            total=points_text(result.total),
        ),
        _("Spread between the sheets: {spread} points").format(spread=points_text(result.spread)),
    ]
    for member, total, distance in result.flagged:
        lines.append(
            _("⚠️ The sheet of {member} ({total}) is {distance} points from the mean: check it before saving.").format(
                member=member, total=points_text(total), distance=points_text(distance)
            )
        )
    return lines


@steps.ask("sheets")
async def ask_sheets(ctx: Context) -> None:
    dossier = await current_dossier(ctx)
    if dossier is None or not await _may_score(ctx, dossier):
        return
    found = await _council_round(ctx, dossier)
    if found is None:
        return
    members, sheets = await _sheets(ctx, dossier, found)
    named = {s.member: s for s in sheets}
    lines = [_("🏅 Council sheets for {product} ({round})").format(product=dossier.product.name, round=found.name)]
    if _correcting(ctx):
        lines.append(_("Correcting the saved result. Reason: {reason}").format(reason=_action(ctx).correct))
    if not members:
        lines.append(_("No council member yet: add the members first."))
    lines += [_sheet_line(m, named.get(m.name)) for m in members]
    if sheets:
        lines += _outcome_lines(outcome(rule_set_by_code(dossier.rule_set), sheets))
    choices = [Choice(shorten(f"✏️ {m.name}", LABEL_MAX), EditSheet(member=m.id)) for m in members[:LIST_MAX]]
    choices.append(Choice(_("➕ Add a council member"), AddMember()))
    if not _correcting(ctx):
        choices.append(Choice(_("📥 Excel workbook of the round"), Workbook()))
    if len(sheets) >= COUNCIL_MIN_SHEETS:
        choices.append(Choice(_("🧮 Work out the result"), WorkOut()))
    else:
        lines.append(_("At least {count} sheets are needed for the result.").format(count=COUNCIL_MIN_SHEETS))
    choices.append(back_choice())
    if not _correcting(ctx):
        lines.append(_("You can also send the council's filled Excel workbook here."))
    ctx.ask_file("\n".join(lines), choices)


@steps.on("sheets", Workbook)
async def _workbook_template(ctx: Context, _pressed: Workbook) -> None:
    current = await _round_of_current(ctx)
    if current is None:
        return
    _dossier, found = current
    made = await council_workbook.template(ctx.session, ctx.settings.ocop.province, found)
    if made is not None:
        data, _dossiers, _members = made
        _sha, path = await ctx.files.put(data, "xlsx")
        ctx.send_file(
            SendFile(
                path=path,
                name=f"phieu-cham-dot-{found.id}.xlsx",
                mime=council_workbook.MIME,
                caption=_(
                    "One sheet per dossier of {round}, one column per member. Fill it in and send it back here."
                ).format(round=found.name),
            )
        )
    await ctx.goto("sheets")


@steps.on_file("sheets")
async def _workbook_import(ctx: Context, received: ReceivedFile) -> None:
    current = await _round_of_current(ctx)
    if current is None or _correcting(ctx):
        if current is not None:
            await ctx.reask(_("During a correction, type the sheets again here."))
        return
    _dossier, found = current
    data = await asyncio.to_thread(received.path.read_bytes)
    plan, errors = await council_workbook.read(ctx.session, ctx.settings.ocop.province, found, data)
    if received.mime != council_workbook.MIME or errors:
        shown = errors[:WORKBOOK_ERRORS_SHOWN] or [_("This is not the council's Excel workbook (.xlsx).")]
        await ctx.reask("\n".join([_("Nothing was saved from this file:"), *shown]))
        return
    lines = await council_workbook.save(
        ctx.session,
        found,
        plan,
        now=ctx.now,
        source=council.XLSX,
        file_name=received.original_name or "workbook.xlsx",
        actor_user_id=ctx.user.id,
    )
    ctx.say(_("📥 Workbook read: the sheets are saved.") + "\n" + "\n".join(lines))
    await ctx.goto("sheets")


@steps.on("sheets", Back)
async def sheets_back(ctx: Context, _pressed: Back) -> None:
    action = _action(ctx)
    action.verdict, action.member_id, action.correct = Verdict(), None, None
    await ctx.goto("dossier")


@steps.on("sheets", AddMember)
async def sheets_add_member(ctx: Context, _pressed: AddMember) -> None:
    await ctx.goto("member_name")


@steps.on("sheets", WorkOut)
async def sheets_work_out(ctx: Context, _pressed: WorkOut) -> None:
    _action(ctx).verdict = Verdict()
    await ctx.goto("mandatory")


@steps.on("sheets", EditSheet)
async def sheets_edit(ctx: Context, pressed: EditSheet) -> None:
    _action(ctx).member_id, _action(ctx).sheet = pressed.member, {}
    await ctx.goto("sheet_a")


async def _round_of_current(ctx: Context) -> tuple[Dossier, Round] | None:
    dossier = await current_dossier(ctx)
    if dossier is None or not await _may_score(ctx, dossier):
        return None
    found = await _council_round(ctx, dossier)
    return None if found is None else (dossier, found)


@steps.ask("member_name", free_text=True)
async def ask_member_name(ctx: Context) -> None:
    ctx.say(_("The council member's full name, for example Nguyễn Văn An:"), [back_choice()])


@steps.on("member_name", Back)
async def member_name_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("sheets")


@steps.on_text("member_name")
async def got_member_name(ctx: Context, text: str) -> None:
    name = tidy(text)
    if not (MEMBER_NAME_MIN <= len(name) <= MEMBER_NAME_MAX) or not has_words(name):
        await ctx.reask(
            _("Please type a name of {min} to {max} characters.").format(min=MEMBER_NAME_MIN, max=MEMBER_NAME_MAX)
        )
        return
    _action(ctx).member_name = name
    await ctx.goto("member_role")


@steps.ask("member_role")
async def ask_member_role(ctx: Context) -> None:
    choices = [Choice(label(COUNCIL_ROLES, code), MemberRole(role=code)) for code in COUNCIL_ROLES]
    ctx.say(
        _("{name}: which role in the council?").format(name=_action(ctx).member_name or ""),
        [*choices, back_choice()],
    )


@steps.on("member_role", Back)
async def member_role_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("member_name")


@steps.on("member_role", MemberRole)
async def got_member_role(ctx: Context, pressed: MemberRole) -> None:
    role = pressed.role
    name = _action(ctx).member_name
    if role not in COUNCIL_ROLES or name is None:
        await ctx.reask(_("Please press one of the buttons."))
        return
    current = await _round_of_current(ctx)
    if current is None:
        return
    _dossier, found = current
    _action(ctx).member_name = None
    if await council.member_by_name(ctx.session, found.id, fold(name)) is not None:
        ctx.say(_("{name} is already a member of this council.").format(name=name))
        await ctx.goto("sheets")
        return
    member = await council.add_member(
        ctx.session, round_id=found.id, name=name, name_folded=fold(name), role=role, now=ctx.now
    )
    await record_audit(
        ctx, "council_member.add", "round", found.id, after={"member_id": member.id, "name": name, "role": role}
    )
    ctx.say(_("➕ {name} added to the council of {round}.").format(name=name, round=found.name))
    await ctx.goto("sheets")


async def _sheet_member(ctx: Context) -> tuple[Dossier, CouncilMember] | None:
    current = await _round_of_current(ctx)
    if current is None:
        return None
    dossier, found = current
    member_id = _action(ctx).member_id
    member = await council.member_of(ctx.session, found.id, member_id) if member_id is not None else None
    if member is None:
        await deny(ctx)
        return None
    return dossier, member


async def _ask_part(ctx: Context, part: str) -> None:
    found = await _sheet_member(ctx)
    if found is None:
        return
    dossier, member = found
    ctx.say(
        _("Sheet of {member} for {product}.\nPoints for part {part} (0 to {max}):").format(
            member=member.name, product=dossier.product.name, part=part, max=_part_max(dossier, part)
        ),
        [back_choice()],
    )


async def _got_part(ctx: Context, text: str, part: str, next_step: str | None) -> None:
    found = await _sheet_member(ctx)
    if found is None:
        return
    dossier, member = found
    try:
        value = parse_points(text, _part_max(dossier, part))
    except ValueError as error:
        await ctx.reask(str(error))
        return
    sheet = _action(ctx).sheet
    sheet[part] = value
    if next_step is not None:
        await ctx.goto(next_step)
        return
    try:
        points = (float(sheet["A"]), float(sheet["B"]), float(sheet["C"]))
    except (KeyError, TypeError, ValueError):
        await ctx.goto("sheet_a")
        return
    saved = await council.save_sheet(
        ctx.session,
        dossier_id=dossier.id,
        member_id=member.id,
        points=points,
        source=council.CHAT,
        recorded_by=ctx.user.id,
        now=ctx.now,
    )
    await record_audit(
        ctx, "score_sheet.record", "dossier", dossier.id, after={"member": member.name, "points": list(points)}
    )
    _action(ctx).sheet, _action(ctx).member_id = {}, None
    ctx.say(
        _("💾 Sheet of {member}: {total} points.").format(
            member=member.name, total=points_text(saved.points_a + saved.points_b + saved.points_c)
        )
    )
    await ctx.goto("sheets")


@steps.on("sheet_a", Back)
@steps.on("sheet_b", Back)
@steps.on("sheet_c", Back)
async def sheet_back(ctx: Context, _pressed: Back) -> None:
    _action(ctx).sheet = {}
    await ctx.goto("sheets")


@steps.ask("sheet_a", number=True)
async def ask_sheet_a(ctx: Context) -> None:
    await _ask_part(ctx, "A")


@steps.on_text("sheet_a")
async def got_sheet_a(ctx: Context, text: str) -> None:
    await _got_part(ctx, text, "A", "sheet_b")


@steps.ask("sheet_b", number=True)
async def ask_sheet_b(ctx: Context) -> None:
    await _ask_part(ctx, "B")


@steps.on_text("sheet_b")
async def got_sheet_b(ctx: Context, text: str) -> None:
    await _got_part(ctx, text, "B", "sheet_c")


@steps.ask("sheet_c", number=True)
async def ask_sheet_c(ctx: Context) -> None:
    await _ask_part(ctx, "C")


@steps.on_text("sheet_c")
async def got_sheet_c(ctx: Context, text: str) -> None:
    await _got_part(ctx, text, "C", None)


# Mandatory criteria -------------------------------------------------------------------------------------


@steps.ask("mandatory")
async def ask_mandatory(ctx: Context) -> None:
    ctx.say(
        _("Did the product pass every mandatory criterion?"),
        [Choice(_("✅ Yes, all passed"), AllPassed()), Choice(_("❌ No, one failed"), OneFailed()), back_choice()],
    )


@steps.on("mandatory", Back)
async def mandatory_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("sheets")


@steps.on("mandatory", AllPassed)
@steps.on("mandatory", OneFailed)
async def got_mandatory(ctx: Context, pressed: AllPassed | OneFailed) -> None:
    ok = isinstance(pressed, AllPassed)
    _action(ctx).verdict = Verdict(ok=ok)
    await ctx.goto("score_confirm" if ok else "mandatory_which")


@steps.ask("mandatory_which")
async def ask_mandatory_which(ctx: Context) -> None:
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    criteria = mandatory_criteria(dossier.rule_set)
    choices = [Choice(shorten(c.label, LABEL_MAX), FailedCriterion(code=c.code)) for c in criteria]
    ctx.say(_("Which mandatory criterion failed?"), [*choices, back_choice()])


@steps.on("mandatory_which", Back)
async def mandatory_which_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("mandatory")


@steps.on("mandatory_which", FailedCriterion)
async def got_mandatory_which(ctx: Context, pressed: FailedCriterion) -> None:
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    code = pressed.code
    if code not in {c.code for c in mandatory_criteria(dossier.rule_set)}:
        await ctx.reask(_("Please press one of the buttons."))
        return
    _action(ctx).verdict = Verdict(ok=False, criterion=code)
    await ctx.goto("mandatory_note")


def _mandatory_note_prompt(ctx: Context) -> str:
    found = mandatory_criterion(_action(ctx).verdict.criterion)
    return _("{criterion}: the council's note (what was found; the producer will read it):").format(
        criterion=found.label if found else ""
    )


async def _to_mandatory_which(ctx: Context) -> None:
    await ctx.goto("mandatory_which")


@note_step(steps, "mandatory_note", prompt=_mandatory_note_prompt, back=_to_mandatory_which)
async def got_mandatory_note(ctx: Context, note: str) -> None:
    _action(ctx).verdict.note = note
    await ctx.goto("score_confirm")


def _verdict(ctx: Context) -> tuple[bool, str | None, str | None] | None:
    """(mandatory passed, failed criterion, note) as chosen; None when the answers are incomplete."""
    verdict = _action(ctx).verdict
    if verdict.ok is True:
        return True, None, None
    if verdict.ok is False and mandatory_criterion(verdict.criterion) and verdict.note is not None:
        return False, verdict.criterion, verdict.note
    return None


def _outcome_text(stars: int) -> str:
    if stars < 3:
        return _("Outcome: not certified.")
    if stars == 5:
        return _("Outcome: proposed to the central level for 5 stars (the central level decides).")
    return _("Outcome: the province issues a {stars} certificate.").format(stars=stars_text(stars))


async def _computed(ctx: Context) -> tuple[Dossier, Outcome, tuple[bool, str | None, str | None]] | None:
    current = await _round_of_current(ctx)
    if current is None:
        return None
    dossier, found = current
    verdict = _verdict(ctx)
    _members, sheets = await _sheets(ctx, dossier, found)
    if verdict is None or len(sheets) < COUNCIL_MIN_SHEETS:
        await ctx.goto("sheets")
        return None
    return dossier, outcome(rule_set_by_code(dossier.rule_set), sheets, verdict[0]), verdict


@steps.ask("score_confirm")
async def ask_score_confirm(ctx: Context) -> None:
    computed = await _computed(ctx)
    if computed is None:
        return
    dossier, result, (ok, criterion, note) = computed
    lines = [dossier.product.name, *_outcome_lines(result)]
    if ok:
        lines.append("✓ " + _("Mandatory criteria passed"))
    else:
        found = mandatory_criterion(criterion)
        lines.append("✗ " + _("Mandatory criterion failed: {criterion}").format(criterion=found.label if found else ""))
        lines.append(_("Council's note: {note}").format(note=note))
    lines += [stars_text(result.stars), _outcome_text(result.stars)]
    if _correcting(ctx):
        lines.append(_("Correction: {reason}").format(reason=_action(ctx).correct))
    lines.append(_("Save this result?"))
    ctx.say(
        "\n".join(lines),
        [Choice(_("💾 Save"), Save()), Choice(_("📝 Back to the sheets"), BackToSheets()), back_choice()],
    )


@steps.on("score_confirm", Back)
async def score_confirm_back(ctx: Context, _pressed: Back) -> None:
    _action(ctx).verdict, _action(ctx).correct = Verdict(), None
    await ctx.goto("dossier")


@steps.on("score_confirm", BackToSheets)
async def score_again(ctx: Context, _pressed: BackToSheets) -> None:
    _action(ctx).verdict = Verdict()
    await ctx.goto("sheets")


@steps.on("score_confirm", Save)
async def got_score_confirm(ctx: Context, _pressed: Save) -> None:
    computed = await _computed(ctx)
    if computed is None:
        return
    await _save_result(ctx, *computed)


async def _save_result(
    ctx: Context, dossier: Dossier, result: Outcome, verdict: tuple[bool, str | None, str | None]
) -> None:
    ok, criterion, note = verdict
    reason = _action(ctx).correct
    before = await certificates.result_of(ctx.session, dossier.id)
    before_snapshot = certificates.result_snapshot(before) if before is not None else None
    action = "dossier.rescore" if reason else "dossier.score"
    if not await apply_change(ctx, dossier, action, status=_S.SCORED, note=reason):
        return
    _action(ctx).verdict, _action(ctx).correct = Verdict(), None
    saved = await certificates.save_result(
        ctx.session,
        dossier_id=dossier.id,
        points=result.parts,
        total=result.total,
        mandatory_ok=ok,
        stars=result.stars,
        rule_set=dossier.rule_set,
        recorded_by=ctx.user.id,
        now=ctx.now,
        sheet_count=result.sheet_count,
        spread=result.spread,
        failed_criterion=criterion,
        council_note=note,
        correction_reason=reason,
    )
    await record_audit(
        ctx,
        "council_result.correct" if reason else "council_result.record",
        "dossier",
        dossier.id,
        before=before_snapshot,
        after=certificates.result_snapshot(saved),
        note=reason,
    )
    params: dict[str, object] = {"points": result.total, "stars": result.stars, "mandatory_ok": ok}
    if criterion:
        params.update(criterion=criterion, note=note)
    if result.stars < 3:
        if await apply_change(ctx, dossier, "dossier.not_rated", status=_S.NOT_RATED):
            await tell_producer(ctx, dossier, "province_not_rated", params)
    elif result.stars == 5:
        if await apply_change(ctx, dossier, "dossier.propose_5", status=_S.PROPOSED_5):
            await tell_producer(ctx, dossier, "province_proposed_5", params)
    else:
        await tell_producer(ctx, dossier, "province_scored", params)
    ctx.say(
        _("💾 Saved: {total} points → {stars}.").format(total=points_text(result.total), stars=stars_text(result.stars))
    )
    await ctx.goto("dossier")


# Correction of a saved result ---------------------------------------------------------------------------


async def _to_dossier(ctx: Context) -> None:
    await ctx.goto("dossier")


@note_step(
    steps,
    "correct_reason",
    prompt=lambda ctx: _("Why is the saved result corrected? The reason is kept in the audit log with both results."),
    back=_to_dossier,
    reason=True,
)
async def got_correct_reason(ctx: Context, reason: str) -> None:
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    if _S(dossier.status) not in CORRECTABLE:
        await not_now(ctx)
        return
    _action(ctx).correct = reason
    await ctx.goto("sheets")


# Certificate ---------------------------------------------------------------------------------------------


async def _certificate_stars(ctx: Context, dossier: Dossier) -> int | None:
    """The stars of the certificate that may be issued on this dossier now; None when none may.

    A 5★ proposal gets 5 when the province records the central level's grant (``cert.central``), otherwise
    4: the central level did not grant 5★ and the province's 4★ stands."""
    if dossier.status == _S.PROPOSED_5:
        return 5 if _action(ctx).certificate.central else 4
    if dossier.status != _S.SCORED:
        return None
    result = await certificates.result_of(ctx.session, dossier.id)
    return result.stars if result is not None and result.stars in PROVINCE_STARS else None


@steps.ask("cert_no", number=True)
async def ask_cert_no(ctx: Context) -> None:
    ctx.say(_("The number of the decision, for example 1234/QĐ-UBND:"), [back_choice()])


@steps.on("cert_no", Back)
@steps.on("cert_confirm", Back)
async def certificate_back(ctx: Context, _pressed: Back) -> None:
    _action(ctx).certificate = CertificateDraft()
    await ctx.goto("dossier")


@steps.on_text("cert_no")
async def got_cert_no(ctx: Context, text: str) -> None:
    number = tidy(text)
    if not number or len(number) > DECISION_MAX or not any(ch.isdigit() for ch in number):
        await ctx.reask(_("Please type the decision number with its digits, for example 1234/QĐ-UBND."))
        return
    _action(ctx).certificate.number = number
    await ctx.goto("cert_date")


@steps.ask("cert_date", free_text=True)
async def ask_cert_date(ctx: Context) -> None:
    ctx.say(
        _("The date of the decision (day/month/year, for example {example}):").format(example=format_day(ctx.today)),
        [Choice(_("📅 Today, {day}").format(day=format_day(ctx.today)), Today()), back_choice()],
    )


@steps.on("cert_date", Back)
async def cert_date_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("cert_no")


@steps.on("cert_date", Today)
async def cert_date_today(ctx: Context, _pressed: Today) -> None:
    await _decision_day(ctx, ctx.today)


@steps.on_text("cert_date")
async def got_cert_date(ctx: Context, text: str) -> None:
    try:
        day = parse_day(text, ctx.today, When.NOT_FUTURE)
    except BadDate as error:
        await ctx.reask(error.hint)
        return
    await _decision_day(ctx, day)


async def _decision_day(ctx: Context, day: dt.date) -> None:
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    meeting = await _meeting_of(ctx, dossier)
    if meeting is not None and day < meeting:
        await ctx.reask(
            _("The decision cannot be dated before the council met on {day}. Please type the date again.").format(
                day=format_day(meeting)
            )
        )
        return
    _action(ctx).certificate.date = day.isoformat()
    await ctx.goto("cert_confirm")


async def _meeting_of(ctx: Context, dossier: Dossier) -> dt.date | None:
    found = await find_round(ctx, dossier.round_id)
    return found.meeting_date if found is not None else None


def _cert_values(ctx: Context) -> tuple[str, dt.date] | None:
    cert = _action(ctx).certificate
    if cert.number is None or cert.date is None:
        return None
    try:
        return cert.number, dt.date.fromisoformat(cert.date)
    except ValueError:
        return None


@steps.ask("cert_confirm")
async def ask_cert_confirm(ctx: Context) -> None:
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    values = _cert_values(ctx)
    stars = await _certificate_stars(ctx, dossier)
    if values is None or stars is None:
        await not_now(ctx)
        return
    number, issued = values
    meeting = await _meeting_of(ctx, dossier)
    if meeting is not None and issued < meeting:
        await not_now(ctx)
        return
    ctx.say(
        _("Certificate {stars} for {product}\nDecision {number} of {issued}\nValid until {expires}\nSave it?").format(
            stars=stars_text(stars),
            product=dossier.product.name,
            number=number,
            issued=format_day(issued),
            expires=format_day(certificate_expiry(issued)),
        ),
        [Choice(_("💾 Save"), Save()), back_choice()],
    )


@steps.on("cert_confirm", Save)
async def got_cert_confirm(ctx: Context, _pressed: Save) -> None:
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    values = _cert_values(ctx)
    stars = await _certificate_stars(ctx, dossier)
    if values is None or stars is None:
        await not_now(ctx)
        return
    number, issued = values
    meeting = await _meeting_of(ctx, dossier)
    if meeting is not None and issued < meeting:
        await not_now(ctx)
        return
    declined = dossier.status == _S.PROPOSED_5 and stars == 4
    if not await apply_change(ctx, dossier, "dossier.certify", status=CERTIFIED[stars]):
        return
    _action(ctx).certificate = CertificateDraft()
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
        public_code=await new_public_code(ctx.session),
        authority=certificates.CENTRAL if stars == 5 else certificates.PROVINCE,
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
            "central": stars == 5,
            "central_declined": declined,
        },
    )
    ctx.say(_("📜 Certificate saved. The producer has been told."))
    await ctx.goto("dossier")


# The signed decision -------------------------------------------------------------------------------------


async def _certificate_of(ctx: Context) -> tuple[Dossier, Certificate] | None:
    dossier = await current_dossier(ctx)
    if dossier is None:
        return None
    certificate = await certificates.certificate_of_dossier(ctx.session, dossier.id)
    if dossier.status not in CERTIFIED.values() or certificate is None:
        await not_now(ctx)
        return None
    return dossier, certificate


@steps.ask("decision_upload")
async def ask_decision_upload(ctx: Context) -> None:
    ctx.ask_file(_("Send the scan of the signed decision (PDF, or a photo of each page as JPEG/PNG)."), [back_choice()])


@steps.on("decision_upload", Back)
async def decision_upload_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("dossier")


@steps.on_text("decision_upload")
async def decision_as_text(ctx: Context, _text: str) -> None:
    await ctx.reask(_("Please send the decision as a PDF file (or a JPEG/PNG photo)."))


@steps.on_file("decision_upload")
async def got_decision_upload(ctx: Context, received: ReceivedFile) -> None:
    if received.mime not in DECISION_TYPES:
        await ctx.reask(_("Please send the decision as a PDF file (or a JPEG/PNG photo)."))
        return
    found = await _certificate_of(ctx)
    if found is None:
        return
    dossier, certificate = found
    before = certificates.certificate_snapshot(certificate)
    certificate.decision_file_id = await stored_row(ctx, received)
    await ctx.session.flush()
    await record_audit(
        ctx,
        "certificate.decision_upload",
        "certificate",
        certificate.id,
        before=before,
        after=certificates.certificate_snapshot(certificate),
    )
    await tell_producer(ctx, dossier, "province_decision_uploaded", {"decision_no": certificate.decision_no})
    ctx.say(_("📄 Signed decision saved. The producer can ask for a copy in the chat."))
    await ctx.goto("dossier")


async def send_certificate_extra(ctx: Context, dossier: Dossier, what: str) -> None:
    """📄 the signed decision, or 🔳 the label's QR code, of the dossier's certificate."""
    certificate = await certificates.certificate_of_dossier(ctx.session, dossier.id)
    if certificate is None:
        return
    if what == "qr":
        await send_qr(ctx, certificate)
    else:
        await send_decision(ctx, certificate)


# Revocation ----------------------------------------------------------------------------------------------


async def _valid_certificate(ctx: Context, dossier: Dossier) -> Certificate | None:
    if dossier.status not in CERTIFIED.values():
        return None
    certificate = await certificates.certificate_of_dossier(ctx.session, dossier.id)
    return certificate if certificate is not None and certificate.status == certificates.VALID else None


async def _revoke_back(ctx: Context) -> None:
    _action(ctx).revoke = None
    await ctx.goto("dossier")


@note_step(
    steps,
    "revoke_reason",
    prompt=lambda ctx: _("Why is the certificate revoked? The producer will read this reason."),
    back=_revoke_back,
    reason=True,
)
async def got_revoke_reason(ctx: Context, reason: str) -> None:
    _action(ctx).revoke = reason
    await ctx.goto("revoke_confirm")


@steps.ask("revoke_confirm")
async def ask_revoke_confirm(ctx: Context) -> None:
    dossier = await current_dossier(ctx)
    if dossier is None:
        return
    certificate = await _valid_certificate(ctx, dossier)
    if certificate is None:
        await not_now(ctx)
        return
    ctx.say(
        _("Revoke certificate {number} of {product}?\nReason: {reason}").format(
            number=certificate.decision_no, product=dossier.product.name, reason=_action(ctx).revoke or ""
        ),
        [Choice(_("⛔ Revoke"), Save()), back_choice()],
    )


@steps.on("revoke_confirm", Back)
async def revoke_confirm_back(ctx: Context, _pressed: Back) -> None:
    await _revoke_back(ctx)


@steps.on("revoke_confirm", Save)
async def got_revoke_confirm(ctx: Context, _pressed: Save) -> None:
    dossier = await current_dossier(ctx)
    reason = _action(ctx).revoke
    if dossier is None:
        return
    certificate = await _valid_certificate(ctx, dossier)
    if certificate is None or reason is None:
        await not_now(ctx)
        return
    # No status change on the dossier, but the version still moves: a second officer's revoke is refused.
    if not await apply_change(ctx, dossier, "dossier.certificate_revoked", note=reason):
        return
    before = certificates.certificate_snapshot(certificate)
    await certificates.revoke(ctx.session, certificate, reason, ctx.now)
    _action(ctx).revoke = None
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
