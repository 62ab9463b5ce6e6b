"""🔒 My data: a person's rights under the Law on Personal Data Protection (No. 91/2025/QH15).

Opened from the help menu, by ``/privacy``, or by typing "du lieu cua toi" / "xoa du lieu" (exact words, at any
point, even before consent: a right must not depend on agreeing first). See what we hold and which staff
officers opened it; download it as one ZIP; correct it (the profile editor, or a request to the commune for a
submitted record); withdraw consent and have it deleted. The deletion itself is ``bot.erasure``, carried out
by the sweep (``bot.privacy_sweep``) before the legal deadline.

While a deletion request is pending every message gets the receipt again, with a button to cancel it.

```mermaid
stateDiagram-v2
    [*] --> home: /privacy, "du lieu cua toi", "xoa du lieu", 🔒 in help
    home --> home: 👁 see (summary + staff who opened it)
    home --> home: ⬇️ download (ZIP: JSON, XLSX, files; a sentence where the app sends no files)
    home --> correct: ✏️ correct
    correct --> [*]: 👤 profile (onboarding's /profile)
    correct --> correction: 📝 ask the commune
    correction --> [*]: text typed → notice to the commune officers
    correct --> home: ⬅️ back
    home --> delete: 🗑 withdraw consent and delete
    delete --> [*]: ✅ confirm → request with its deadline, consent withdrawn, receipt
    delete --> home: ⬅️ no
    home --> [*]: ⬅️ menu
    [*] --> pending: any message while a request is pending (gate)
    pending --> [*]: ↩️ cancel the request → consent asked again
```
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import func, select

from bot import export, voice
from bot.flow import Context, Flow, Registry
from bot.i18n import _
from bot.messages import Choice, SendFile, VoiceNote
from bot.privacy_sweep import EXPORT_PREFIX
from bot.roles import role_text, scope_of
from bot.rules import CONSENT_VERSION, ZIP_PART_BYTES
from bot.text import fold, has_words, tidy
from handlers import privacy_notices
from handlers.privacy_buttons import CancelRequest, OpenPrivacy, PrivacyButton
from handlers.privacy_notices import when
from storage import audit, privacy, producers, voice_answers
from storage.models import PrivacyRequest, StaffRole, StoredFile

FLOW = "privacy"


# The screen's own buttons; OpenPrivacy and CancelRequest work from any message (``handlers.privacy_buttons``).
class See(PrivacyButton, prefix="pd:see"):
    pass


class Download(PrivacyButton, prefix="pd:download"):
    pass


class Correct(PrivacyButton, prefix="pd:correct"):
    pass


class Delete(PrivacyButton, prefix="pd:delete"):
    pass


class Menu(PrivacyButton, prefix="pd:menu"):
    pass


class ChangeProfile(PrivacyButton, prefix="pd:profile"):
    pass


class AskCommune(PrivacyButton, prefix="pd:ask"):
    pass


class Back(PrivacyButton, prefix="pd:back"):
    pass


class ConfirmDelete(PrivacyButton, prefix="pd:confirm"):
    pass


# Typed words that open this screen wherever the person is (compared with the whole folded message).
PHRASES = frozenset(
    {
        "du lieu cua toi",
        "xoa du lieu",
        "xoa du lieu cua toi",
        "rut dong y",
        "rut lai dong y",
        "quyen rieng tu",
        "my data",
        "delete my data",
        "privacy",
    }
)
CORRECTION_MAX = 1000

flow = Flow(FLOW, first_step="home")


def menu_choice() -> Choice:
    return Choice(_("🔒 My data"), OpenPrivacy())


# Home ------------------------------------------------------------------------------------------------------------
@flow.ask("home")
async def ask_home(ctx: Context) -> None:
    ctx.say(
        _("🔒 Your data. What would you like to do?"),
        [
            Choice(_("👁 See what you keep about me"), See()),
            Choice(_("⬇️ Download my data"), Download()),
            Choice(_("✏️ Correct my data"), Correct()),
            Choice(_("🗑 Withdraw consent and delete"), Delete()),
            Choice(_("⬅️ Menu"), Menu()),
        ],
    )


@flow.on("home", See)
async def see_pressed(ctx: Context, _pressed: See) -> None:
    await _see(ctx)
    await ctx.reask()


@flow.on("home", Download)
async def download_pressed(ctx: Context, _pressed: Download) -> None:
    await _download(ctx)
    await ctx.reask()


@flow.on("home", Correct)
async def correct_pressed(ctx: Context, _pressed: Correct) -> None:
    await ctx.goto("correct")


@flow.on("home", Delete)
async def delete_pressed(ctx: Context, _pressed: Delete) -> None:
    await ctx.goto("delete")


@flow.on("home", Menu)
async def menu_pressed(ctx: Context, _pressed: Menu) -> None:
    await ctx.finish()


# See -------------------------------------------------------------------------------------------------------------
async def _collect(ctx: Context) -> tuple[dict[str, Any], list[export.HeldFile]]:
    return await export.collect(ctx.session, ctx.user.id, ctx.files.root)


async def _see(ctx: Context) -> None:
    data, files = await _collect(ctx)
    ctx.say(summary(ctx, data, len(files)))


def summary(ctx: Context, data: dict[str, Any], file_count: int) -> str:
    profile = data["profile"]
    assert isinstance(profile, dict)
    lines = [_("🔒 What we keep about you:")]
    lines.append(
        _("👤 Name: {name} · 📱 Phone: {phone}").format(
            name=profile.get("display_name") or "—", phone=profile.get("phone") or "—"
        )
    )
    producer = data.get("producer")
    if isinstance(producer, dict):
        lines.append(_("🏠 {name} · {commune}").format(name=producer["name"], commune=producer["commune_name"]))
    apps = data.get("linked_apps")
    if isinstance(apps, list) and apps:
        lines.append(_("🔗 Apps: {apps}").format(apps=", ".join(_channel_name(str(a["channel"])) for a in apps)))
    if profile.get("consent_version"):
        lines.append(
            _("✅ Consent: version {version}, given {day}").format(
                version=profile["consent_version"], day=when(profile.get("consent_at"))
            )
        )
    ideas, dossiers = _list(data, "ideas"), _list(data, "dossiers")
    items = sum(len(d.get("items", [])) for d in dossiers)
    lines.append(
        _("💡 Ideas: {ideas} · 📂 Dossiers: {dossiers} ({items} items) · 📎 Files: {files}").format(
            ideas=len(ideas), dossiers=len(dossiers), items=items, files=file_count
        )
    )
    for idea in ideas:
        lines.append("   💡 " + str(idea["name"]))
    for dossier in dossiers:
        lines.append("   📂 " + str(dossier["product"]))
    certificates = _list(data, "certificates")
    if certificates:
        lines.append(_("🏅 Certificates: {count}").format(count=len(certificates)))
    reads = _list(data, "staff_reads")
    if reads:
        lines.append(_("👁 Opened by staff:"))
        for read in reads[-10:]:
            roles = ", ".join(_role(ctx, r) for r in read.get("roles", [])) or "—"
            lines.append(f"• {when(read['at'])} — {roles} ({read['who']})")
        if len(reads) > 10:
            lines.append(_("…and {count} earlier (all of them are in the download).").format(count=len(reads) - 10))
    else:
        lines.append(_("👁 No staff officer has opened your records."))
    return "\n".join(lines)


def _list(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def _role(ctx: Context, held: object) -> str:
    if not isinstance(held, dict):
        return ""
    commune = held.get("commune")
    return role_text(ctx.settings.ocop.province, str(held.get("role")), commune if isinstance(commune, int) else None)


def _channel_name(channel: str) -> str:
    return {"telegram": "Telegram", "zalo_bot": "Zalo", "zalo_oa": "Zalo OA", "console": _("console")}.get(
        channel, channel
    )


# Download --------------------------------------------------------------------------------------------------------
async def _download(ctx: Context) -> None:
    part_bytes = ZIP_PART_BYTES.get(ctx.channel)
    if part_bytes is None:
        ctx.say(
            _(
                "This app cannot carry a ZIP file. Open me on Telegram (type “lien ket” to link the two apps), "
                "or ask the commune office for a copy of your data."
            )
        )
        return
    data, files = await _collect(ctx)
    stem = f"{EXPORT_PREFIX}{ctx.user.id}-{ctx.now:%Y%m%d%H%M%S}"
    out_dir = ctx.settings.ocop.data_dir / "exports"
    paths = await asyncio.to_thread(export.build_zip, data, files, out_dir, stem, part_bytes)
    for index, path in enumerate(paths, start=1):
        caption = _("🔒 Your data: du-lieu.json (readable), du-lieu.xlsx (a sheet per kind) and your files.")
        if len(paths) > 1:
            caption = _("🔒 Your data, part {index} of {count}.").format(index=index, count=len(paths))
        ctx.send_file(SendFile(path=path, name=path.name, mime="application/zip", caption=caption))


# Correct ---------------------------------------------------------------------------------------------------------
@flow.ask("correct")
async def ask_correct(ctx: Context) -> None:
    ctx.say(
        _(
            "✏️ Your name, type and commune you can change yourself. "
            "For an idea or dossier already sent, the commune corrects it: tell them what is wrong."
        ),
        [
            Choice(_("👤 Change my details"), ChangeProfile()),
            Choice(_("📝 Ask the commune to correct a record"), AskCommune()),
            Choice(_("⬅️ Back"), Back()),
        ],
    )


@flow.on("correct", ChangeProfile)
async def profile_pressed(ctx: Context, _pressed: ChangeProfile) -> None:
    from handlers.onboarding import on_profile

    await on_profile(ctx, None)


@flow.on("correct", AskCommune)
async def ask_commune_pressed(ctx: Context, _pressed: AskCommune) -> None:
    if await producers.producer_of_user(ctx.session, ctx.user.id) is None:
        ctx.say(_("You have not sent anything to the commune yet, so there is nothing for them to correct."))
        await ctx.goto("home")
        return
    await ctx.goto("correction")


@flow.on("correct", Back)
async def correct_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("home")


@flow.ask("correction", free_text=True)
async def ask_correction(ctx: Context) -> None:
    ctx.say(
        _("📝 Type what is wrong and what it should be, for example: “Số lao động là 15, không phải 12”.")
        + "\n"
        + _("🎤 You can also send a voice message."),
        [Choice(_("⬅️ Back"), Back())],
    )


@flow.on("correction", Back)
async def correction_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("correct")


@flow.on_text("correction")
async def got_correction(ctx: Context, typed: str) -> None:
    text = tidy(typed)
    if not has_words(text):
        await ctx.reask(_("Please type the correction in words."))
        return
    await _send_correction(ctx, text[:CORRECTION_MAX], None)


@flow.on_voice("correction")
async def said_correction(ctx: Context, note: VoiceNote) -> None:
    """What is wrong, said rather than typed: the officers get the notice and then the recording itself."""
    await _send_correction(ctx, voice.label(note.seconds), note)


async def _send_correction(ctx: Context, text: str, note: VoiceNote | None) -> None:
    producer = await producers.producer_of_user(ctx.session, ctx.user.id)
    officers = []
    if producer is not None:
        officers = list(
            await ctx.session.scalars(
                select(StaffRole.user_id)
                .where(
                    StaffRole.role == "commune",
                    StaffRole.commune_code == producer.commune_code,
                    StaffRole.revoked_at.is_(None),
                )
                .distinct()
            )
        )
    if producer is None or not officers:
        ctx.say(_("No commune officer uses this app yet. Please bring the correction to the commune office."))
        await ctx.finish()
        return
    params = {"producer": producer.name, "text": text, "phone": ctx.user.phone or ""}
    recording: dict[str, Any] | None = None
    if note is not None:
        await voice_answers.place(ctx.session, {"correction": note.answer_id}, user_id=ctx.user.id)
        stored = await ctx.session.get_one(StoredFile, note.stored_file_id)
        path = ctx.files.located(stored.path)
        recording = {
            "producer": producer.name,
            "path": str(path),
            "name": f"giong-noi-{note.answer_id}{path.suffix}",
            "mime": stored.mime,
            "caption": voice.label(note.seconds),
        }
    for officer in officers:
        await ctx.notify(officer, privacy_notices.CORRECTION, params)
        if recording is not None:
            await ctx.notify(officer, privacy_notices.CORRECTION_VOICE, recording)
    ctx.say(_("✓ Sent to the commune. They will correct it and may call you."))
    await ctx.finish()


# Withdraw consent and delete ---------------------------------------------------------------------------------------
@flow.ask("delete")
async def ask_delete(ctx: Context) -> None:
    ctx.say(
        _(
            "🗑 We stop using your data now and delete it within {hours} hours: phone, names, chats, drafts, "
            "ideas and files, and a dossier in progress is withdrawn from the commune and the province. "
            "An issued certificate, its decision and the council's result stay, with only your organisation and "
            "product, because the province must keep them."
        ).format(hours=ctx.settings.privacy.deadline_hours)
        + "\n\n"
        + _("Delete your data?"),
        [Choice(_("🗑 Yes, delete my data"), ConfirmDelete()), Choice(_("⬅️ No, keep it"), Back())],
    )


@flow.on("delete", Back)
async def delete_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("home")


@flow.on("delete", ConfirmDelete)
async def delete_confirmed(ctx: Context, _pressed: ConfirmDelete) -> None:
    request = await request_deletion(ctx, source="chat")
    ctx.end_flow()
    ctx.say(receipt(ctx, request), [Choice(_("↩️ Cancel my request"), CancelRequest())])


async def request_deletion(ctx: Context, *, source: str) -> PrivacyRequest:
    """Record the request with its deadline, withdraw consent, tell the admins (all in this transaction)."""
    settings = ctx.settings
    request = await privacy.create_request(
        ctx.session,
        ctx.user.id,
        source=source,
        now=ctx.now,
        deadline=dt.timedelta(hours=settings.privacy.deadline_hours),
    )
    if ctx.user.consent_at is not None:
        await privacy.record_consent(
            ctx.session, ctx.user, version=CONSENT_VERSION, decision="withdrawn", channel=ctx.channel, now=ctx.now
        )
    ctx.user.consent_at = None
    ctx.user.consent_version = None
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=None,
        actor_label=source,
        action="privacy.requested",
        object_type="privacy_request",
        object_id=request.id,
    )
    from bot.privacy_sweep import REQUEST_STAFF, admins

    execute = request.requested_at + dt.timedelta(hours=settings.privacy.delete_after_hours)
    params = {"request": request.id, "execute": execute.isoformat(), "due": request.due_at.isoformat()}
    for admin in await admins(ctx.session, settings.ocop.province):
        await ctx.notify(admin, REQUEST_STAFF, params, dedupe_key=f"privacy:new:{request.id}:user:{admin}")
    return request


def receipt(ctx: Context, request: PrivacyRequest) -> str:
    return _(
        "🧾 Receipt no. {number}: on {day} we received your request to delete your data. "
        "It will be done by {due} at the latest, and you will get a message saying what was kept."
    ).format(number=request.id, day=when(request.requested_at.isoformat()), due=when(request.due_at.isoformat()))


# A pending request, and the way in from anywhere ----------------------------------------------------------------
async def open_pressed(ctx: Context, _pressed: OpenPrivacy) -> None:
    await ctx.start(FLOW)


async def on_command(ctx: Context, _argument: str | None) -> None:
    await ctx.start(FLOW)


async def cancel_pressed(ctx: Context, _pressed: CancelRequest) -> None:
    request = await privacy.pending_request_of(ctx.session, ctx.user.id)
    if request is None:
        ctx.say(_("There is no request to cancel."))
        await ctx.main_menu()
        return
    request.status = privacy.CANCELLED
    request.done_at = ctx.now
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=None,
        actor_label="chat",
        action="privacy.cancelled",
        object_type="privacy_request",
        object_id=request.id,
    )
    ctx.say(_("↩️ Your request is cancelled. Nothing was deleted."))
    await ctx.start("onboarding", step="consent")


def _asks_for_privacy(ctx: Context) -> bool:
    return ctx.payload is None and fold(ctx.text or "") in PHRASES


def wrap_gate(registry: Registry) -> None:
    """Run before the onboarding gate: the typed words open this screen anywhere; a pending request answers
    every message with its receipt; buttons of this screen pass to the engine even without consent."""
    previous = registry.gate

    async def gate(ctx: Context) -> bool:
        if _asks_for_privacy(ctx):
            await ctx.start(FLOW)
            return True
        if isinstance(ctx.button, PrivacyButton) or ctx.state.flow in (FLOW, "privacy_admin"):
            return False
        request = await privacy.pending_request_of(ctx.session, ctx.user.id)
        if request is not None and not (await scope_of(ctx)).is_staff:
            ctx.end_flow()
            ctx.say(receipt(ctx, request), [Choice(_("↩️ Cancel my request"), CancelRequest()), menu_choice()])
            return True
        return await previous(ctx) if previous is not None else False

    registry.gate = gate


async def pending_count(ctx: Context) -> int:
    return int(
        await ctx.session.scalar(
            select(func.count()).select_from(PrivacyRequest).where(PrivacyRequest.status.in_(privacy.PENDING))
        )
        or 0
    )


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.commands["privacy"] = on_command
    registry.on_button(OpenPrivacy)(open_pressed)
    registry.on_button(CancelRequest)(cancel_pressed)
    wrap_gate(registry)
