"""Onboarding: the producer's first conversation (consent, phone, producer type, name, commune).

Started by ``/start`` and enforced by the gate for every user who has not finished it. Consent and phone
are stored on the user row as soon as they are given, so a user who wanders off resumes at the first
missing piece; the producer type and name live in the flow data until the commune is chosen and the
producer row is saved. ``/profile`` runs the same steps again from the producer type, showing current values.

```mermaid
stateDiagram-v2
    [*] --> consent: /start, or any message before onboarding is done (gate)
    [*] --> consent: the consent text's version changed (gate, at the next message)
    consent --> consent: ℹ️ more (the rights in detail)
    consent --> consent: ❌ decline (nothing stored; "I agree now" button, any message re-asks)
    consent --> [*]: ✅ agree again after a new version (a producer already registered)
    consent --> phone: ✅ agree (users.consent_at, consent_version, a consent record)
    phone --> phone: not a mobile number (hint)
    phone --> kind: contact shared or number typed (users.phone)
    phone --> claim: the number is on an imported producer without a chat account
    claim --> kind: ❌ not me
    claim --> claim_wait: ✅ it is me → claim request for the commune (handlers.producer_claims)
    claim_wait --> claim_wait: any message (still waiting)
    claim_wait --> kind: 📝 register as a new producer instead (claim withdrawn), or the commune refused
    claim_wait --> [*]: the commune confirmed → the imported producer is theirs → main menu
    kind --> phone: ⬅️ back
    kind --> name: 4 producer types
    name --> kind: ⬅️ back
    name --> name: too short / too long / emoji only (hint)
    name --> commune: 2-200 characters
    commune --> name: ⬅️ back
    commune --> commune: no match (hint with example communes)
    commune --> commune_pick: typed part of the name
    commune_pick --> commune: 🔁 type again
    commune_pick --> commune_pick: typed another name
    commune_pick --> [*]: commune chosen → producer saved → main menu
    commune --> [*]: ✅ keep current commune (/profile)
    [*] --> kind: /profile (onboarded user)
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.callbacks import Button
from bot.communes import Commune, commune_by_code, communes_of, find_communes
from bot.flow import Context, Flow, FlowData, Registry
from bot.i18n import _
from bot.messages import Choice
from bot.roles import scope_of
from bot.rules import CONSENT_VERSION, PERSONAL_DATA_LAW, PRODUCER_KIND_LABELS, ProducerKind
from bot.text import fold, has_words, normalise_phone, shorten, tidy
from storage import audit, claims, privacy, producers
from storage.models import Producer, User

FLOW = "onboarding"
PRIVACY_OPEN = "pdo:home"  # handlers.privacy, still read as a string there

NAME_MIN = 2
NAME_MAX = 200
MAX_COMMUNE_BUTTONS = 8
QUOTE_MAX = 40  # how much of a typed answer is quoted back

# Typed answers people give instead of pressing a button (folded).
_YES_WORDS = frozenset({"dong y", "co", "ok", "oke", "yes", "y", "dy", "toi dong y", "da dong y"})
_NO_WORDS = frozenset({"khong", "khong dong y", "ko", "k", "no", "tu choi"})
_KIND_WORDS: tuple[tuple[ProducerKind, tuple[str, ...]], ...] = (
    # Order matters: "to hop tac" must win over "hop tac", "ho kinh doanh" over "doanh".
    (ProducerKind.COOPERATIVE_GROUP, ("to hop tac", "tht", "cooperative group")),
    (ProducerKind.COOPERATIVE, ("hop tac xa", "htx", "cooperative")),
    (ProducerKind.HOUSEHOLD, ("ho kinh doanh", "hkd", "ho gia dinh", "household")),
    (ProducerKind.ENTERPRISE, ("doanh nghiep", "cong ty", "dn", "enterprise", "company")),
)


class OnboardingButton(Button):
    """The onboarding's buttons: the gate lets them through to the current step."""


class ConsentYes(OnboardingButton, prefix="ob:consent:yes"):
    pass


class ConsentNo(OnboardingButton, prefix="ob:consent:no"):
    pass


class ConsentMore(OnboardingButton, prefix="ob:consent:more"):
    pass


class ClaimProducer(OnboardingButton, prefix="ob:claim"):
    producer: int


class ClaimNo(OnboardingButton, prefix="ob:claim:no"):
    pass


class ClaimNew(OnboardingButton, prefix="ob:claim:new"):
    pass


class PickKind(OnboardingButton, prefix="ob:kind"):
    kind: str


class KeepName(OnboardingButton, prefix="ob:name:keep"):
    pass


class KeepCommune(OnboardingButton, prefix="ob:commune:keep"):
    pass


class PickCommune(OnboardingButton, prefix="ob:commune"):
    commune: int


class CommuneAgain(OnboardingButton, prefix="ob:commune:again"):
    pass


class Back(OnboardingButton, prefix="ob:back"):
    pass


@dataclass
class Registration(FlowData):
    """What is typed before the producer row is saved with the commune."""

    kind: str | None = None
    name: str | None = None
    commune_query: str = ""  # the last commune search, whose matches were offered
    current: dict[str, Any] = field(default_factory=dict)  # the values /profile replaces (empty on first run)


flow = Flow(FLOW, first_step="consent", data=Registration)


# Where the user stands ------------------------------------------------------------------------------------
async def _producer(ctx: Context) -> Producer | None:
    return await producers.producer_of_user(ctx.session, ctx.user.id)


def has_consent(user: User) -> bool:
    """Consent to the current text: a user who agreed to an older version is asked again."""
    return user.consent_at is not None and user.consent_version == CONSENT_VERSION


async def is_onboarded(ctx: Context) -> bool:
    return has_consent(ctx.user) and await _producer(ctx) is not None


def _first_missing_step(user: User) -> str:
    if not has_consent(user):
        return "consent"
    if not user.phone:
        return "phone"
    return "kind"


def _has_started(user: User) -> bool:
    return user.consent_at is not None or user.consent_declined_at is not None or bool(user.phone)


async def _resume(ctx: Context) -> None:
    """(Re)start onboarding at the first piece we do not have yet."""
    if ctx.user.consent_at is not None and await claims.pending_of(ctx.session, ctx.user.id) is not None:
        await ctx.start(FLOW, step="claim_wait")
        return
    await ctx.start(FLOW, step=_first_missing_step(ctx.user))


# Gate and commands ---------------------------------------------------------------------------------------
async def gate(ctx: Context) -> bool:
    """Keep users who have not finished onboarding inside it; True when this update was handled here."""
    in_onboarding = ctx.state.flow == FLOW
    # A file is never an answer here; handled by the gate, it is not kept (the engine says so).
    if in_onboarding and ctx.inbound.file is None and (ctx.payload is None or isinstance(ctx.button, OnboardingButton)):
        return False  # the engine routes the answer to the current step
    if await is_onboarded(ctx):
        return False  # e.g. a main-menu button pressed while editing the profile: let it through
    if (await scope_of(ctx)).is_staff:
        return False  # staff joined by invite; they need no producer registration
    if not has_consent(ctx.user) and await _producer(ctx) is not None:
        # Registered under an older consent text: this message waits until the new one is answered.
        ctx.say(_("We have changed how we look after your data. Please read it and answer."))
        await ctx.start(FLOW, step="consent")
        return True
    if in_onboarding:
        # A main-menu button from an older message: it would start a flow that needs a producer.
        ctx.say(_("First, let us finish registering you. It takes about a minute."))
        await ctx.reask()
        return True
    if ctx.payload is not None or _has_started(ctx.user):
        ctx.say(_("First, let us finish registering you. It takes about a minute."))
    await _resume(ctx)
    return True


async def on_start(ctx: Context, _argument: str | None) -> None:
    """/start: resume onboarding where it stopped, or welcome an onboarded producer back."""
    if ctx.state.flow == FLOW and ctx.state.step in flow.asks:
        if ctx.state.step != "consent":  # the consent step greets by itself
            ctx.say(_("Welcome back! Let us continue where we stopped."))
        await ctx.reask()
        return
    producer = await _producer(ctx)
    if producer is not None and has_consent(ctx.user):
        ctx.end_flow()
        ctx.say(_("Welcome back, {name}!").format(name=producer.name))
        await ctx.main_menu()
        return
    if (await scope_of(ctx)).is_staff:
        ctx.end_flow()
        ctx.say(_("Welcome back!"))
        await ctx.main_menu()
        return
    await _resume(ctx)


async def on_profile(ctx: Context, _argument: str | None) -> None:
    """/profile: go through producer type, name and commune again, with the current values offered."""
    producer = await _producer(ctx)
    if producer is None or not has_consent(ctx.user):
        await on_start(ctx, None)
        return
    current = {
        "kind": producer.kind,
        "name": producer.name,
        "commune_code": producer.commune_code,
        "commune_name": producer.commune_name,
    }
    ctx.say(
        _("Your details now:")
        + "\n"
        + _summary(ctx, producer.name, producer.kind, producer.commune_name)
        + "\n\n"
        + _("Answer the questions again.")
    )
    await ctx.start(FLOW, Registration(current=current), step="kind")


# Step 1: consent -----------------------------------------------------------------------------------------
def consent_text(ctx: Context) -> str:
    """What the law asks the person be told before agreeing: who controls the data, what is kept, for what,
    how long, and how to use each right — in as few short lines as that takes."""
    return _(
        "🔒 Your data is looked after by {controller} (the data controller).\n"
        "We keep: your phone number, your name or your organisation's name, your commune, your ideas, "
        "dossiers and the files you send.\n"
        "For: preparing and evaluating your OCOP dossier with the commune and the province.\n"
        "How long: until you ask us to delete it; unfinished drafts are deleted after {months} months.\n"
        "Your rights: see, download, correct or delete your data, or withdraw your consent. "
        "Type “du lieu cua toi” at any time.\n"
        "({law})"
    ).format(
        controller=ctx.settings.data_controller, months=ctx.settings.privacy.retention_months, law=PERSONAL_DATA_LAW
    )


def consent_details(ctx: Context) -> str:
    text = _(
        "ℹ️ Your rights under {law}:\n"
        "• to be told what we keep and why (this message);\n"
        "• to agree, to refuse, or to withdraw your consent later. Silence is not consent;\n"
        "• to see and download your data, and to have it corrected;\n"
        "• to have it deleted or its use restricted, and to object. A deletion request is carried out within "
        "{hours} hours;\n"
        "• to complain to {controller} or to the authority for personal data protection.\n"
        "The province must keep some records as administrative documents: an issued certificate, its decision "
        "and the council's result stay, with only the organisation and the product."
    ).format(law=PERSONAL_DATA_LAW, hours=ctx.settings.privacy.deadline_hours, controller=ctx.settings.data_controller)
    if ctx.settings.privacy.controller_contact:
        text += "\n" + _("Contact: {contact}").format(contact=ctx.settings.privacy.controller_contact)
    return text


def _consent_choices() -> list[Choice]:
    return [
        Choice(_("✅ I agree"), ConsentYes()),
        Choice(_("❌ I do not agree"), ConsentNo()),
        Choice(_("ℹ️ More"), ConsentMore()),
    ]


@flow.ask("consent")
async def ask_consent(ctx: Context) -> None:
    greeting = ""
    if await _producer(ctx) is None:
        greeting = (
            _(
                "👋 Hello! I am the OCOP assistant of {province}.\n"
                "I help you register product ideas and prepare your OCOP dossier, step by step."
            ).format(province=ctx.settings.ocop.province)
            + "\n\n"
        )
    ctx.say(greeting + consent_text(ctx) + "\n\n" + _("Do you agree?"), _consent_choices(), columns=2)


@flow.on("consent", ConsentMore)
async def consent_more(ctx: Context, _pressed: ConsentMore) -> None:
    ctx.say(consent_details(ctx))
    ctx.say(_("Do you agree?"), _consent_choices(), columns=2)


@flow.on_text("consent", free_text=False)
async def consent_typed(ctx: Context, text: str) -> None:
    """ "ok", "không": words that match no option still answer the question."""
    folded = fold(text)
    if folded in _YES_WORDS:
        await agree(ctx, ConsentYes())
    elif folded in _NO_WORDS:
        await decline(ctx, ConsentNo())
    else:
        await ctx.reask()


@flow.on("consent", ConsentYes)
async def agree(ctx: Context, _pressed: ConsentYes) -> None:
    ctx.user.consent_at = ctx.now
    ctx.user.consent_version = CONSENT_VERSION
    ctx.user.consent_declined_at = None
    await privacy.record_consent(
        ctx.session, ctx.user, version=CONSENT_VERSION, decision="agreed", channel=ctx.channel, now=ctx.now
    )
    ctx.say(_("✓ Thank you."))
    if await _producer(ctx) is not None:  # agreed to a new version of the text: carry on
        await ctx.finish()
        return
    await ctx.goto("phone" if not ctx.user.phone else "kind")


@flow.on("consent", ConsentNo)
async def decline(ctx: Context, _pressed: ConsentNo) -> None:
    ctx.user.consent_declined_at = ctx.now
    if await _producer(ctx) is not None:
        # Registered before: their records exist. Refusing the new text stops their use; deleting them is
        # one button away.
        ctx.user.consent_at = None
        ctx.user.consent_version = None
        await privacy.record_consent(
            ctx.session, ctx.user, version=CONSENT_VERSION, decision="declined", channel=ctx.channel, now=ctx.now
        )
        ctx.say(
            _("I understand. I will not use your details until you agree. To have them deleted, press 🔒 My data."),
            [Choice(_("✅ I agree now"), ConsentYes()), Choice(_("🔒 My data"), PRIVACY_OPEN)],
        )
        return
    # Refusing keeps nothing: not the name the app told us, not a phone typed earlier.
    ctx.user.display_name = None
    ctx.user.phone = None
    ctx.user.consent_at = None
    ctx.user.consent_version = None
    # Stay on this step: whatever the user sends next brings the question back.
    ctx.say(
        _(
            "I understand. Without your agreement I cannot keep your details, "
            "so I cannot prepare an OCOP dossier for you. Nothing has been stored.\n"
            "If you change your mind, press the button below or send me any message."
        ),
        [Choice(_("✅ I agree now"), ConsentYes())],
    )


# Step 2: phone -------------------------------------------------------------------------------------------
@flow.ask("phone", free_text=True)
async def ask_phone(ctx: Context) -> None:
    ctx.ask_phone(
        _(
            "(1/4) 📱 What is your phone number? The commune and province use it to call you about your dossier.\n"
            "Press the button below, or type the number."
        )
    )


@flow.answer("phone")
async def got_phone(ctx: Context) -> None:
    raw = ctx.inbound.phone or ctx.text
    phone = normalise_phone(raw) if raw else None
    if phone is None:
        await ctx.reask(
            _(
                "I could not read a mobile number there. "
                "Please type 10 digits starting with 0, for example 0912 345 678."
            )
        )
        return
    ctx.user.phone = phone
    ctx.say(_("✓ Phone number saved: {phone}").format(phone=phone))
    await ctx.goto("claim" if await _claimable(ctx) else "kind")


# Step 2b: an imported producer with this phone ---------------------------------------------------------------
async def _claimable(ctx: Context) -> list[Producer]:
    """Imported producers (no chat account) with this user's phone, on first registration only. Computed
    afresh on every answer: a button's id counts only if it is in this list."""
    if _current(ctx) or not ctx.user.phone or await _producer(ctx) is not None:
        return []
    return await claims.imported_with_phone(ctx.session, ctx.user.phone)


@flow.ask("claim")
async def ask_claim(ctx: Context) -> None:
    offered = await _claimable(ctx)
    if not offered:
        await ctx.goto("kind")
        return
    if len(offered) == 1:
        found = offered[0]
        ctx.say(
            _("The office list has a producer with this phone number. Are you {producer} ({commune})?").format(
                producer=found.name, commune=found.commune_name
            ),
            [Choice(_("✅ Yes, that is me"), ClaimProducer(producer=found.id)), Choice(_("❌ No, not me"), ClaimNo())],
            columns=2,
        )
        return
    choices = [
        Choice(f"✅ {shorten(p.name, QUOTE_MAX)} ({p.commune_name})", ClaimProducer(producer=p.id)) for p in offered
    ]
    choices.append(Choice(_("❌ None of them"), ClaimNo()))
    ctx.say(_("The office list has these producers with this phone number. Are you one of them?"), choices)


@flow.on("claim", ClaimNo)
async def not_me(ctx: Context, _pressed: ClaimNo) -> None:
    await ctx.goto("kind")


@flow.on_text("claim", free_text=False)
async def claim_typed(ctx: Context, text: str) -> None:
    folded = fold(text)
    if folded in _NO_WORDS:
        await ctx.goto("kind")
        return
    offered = await _claimable(ctx)
    if folded in _YES_WORDS | {"dung", "phai"} and len(offered) == 1:
        await claim(ctx, ClaimProducer(producer=offered[0].id))
        return
    await ctx.reask(_("Please press one of the buttons."))


@flow.on("claim", ClaimProducer)
async def claim(ctx: Context, pressed: ClaimProducer) -> None:
    # Only a producer offered now counts, whatever the button says.
    chosen = next((p for p in await _claimable(ctx) if p.id == pressed.producer), None)
    if chosen is None or not ctx.user.phone:
        await ctx.reask(_("Please press one of the buttons."))
        return
    claim_id = await claims.request(ctx.session, chosen.id, ctx.user.id, ctx.user.phone, ctx.now)
    await audit.record(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=(ctx.user.display_name or f"user {ctx.user.id}")[:100],
        action="producer.claim_request",
        object_type="producer",
        object_id=chosen.id,
        before=None,
        after={"claim": claim_id, "status": claims.PENDING},
    )
    await ctx.goto("claim_wait")


@flow.ask("claim_wait")
async def ask_claim_wait(ctx: Context) -> None:
    producer = await _producer(ctx)
    if producer is not None:  # the commune confirmed meanwhile
        ctx.say(_("Welcome back, {name}!").format(name=producer.name))
        await ctx.finish()
        return
    if await claims.pending_of(ctx.session, ctx.user.id) is None:  # refused (or withdrawn)
        await ctx.goto("kind")
        return
    ctx.say(
        _(
            "⏳ Thank you. The commune will check that it is you (they may call you), then confirm. "
            "I will tell you here. Until then your records stay with the commune."
        ),
        [Choice(_("📝 Register as a new producer instead"), ClaimNew())],
    )


@flow.on("claim_wait", ClaimNew)
async def register_new_instead(ctx: Context, _pressed: ClaimNew) -> None:
    await claims.withdraw(ctx.session, ctx.user.id, ctx.now)
    await ctx.goto("kind")


@flow.on_text("claim_wait", free_text=False)
async def still_waiting(ctx: Context, _text: str) -> None:
    await ctx.reask()


# Step 3: producer type -----------------------------------------------------------------------------------
@flow.ask("kind")
async def ask_kind(ctx: Context) -> None:
    current = _current(ctx).get("kind")
    choices = [
        Choice(("✓ " if kind.value == current else "") + _(label), PickKind(kind=kind.value))
        for kind, label in PRODUCER_KIND_LABELS.items()
    ]
    choices.append(Choice(_("⬅️ Back"), Back()))
    ctx.say(_("(2/4) What kind of producer are you?"), choices)


@flow.on("kind", Back)
async def kind_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("phone")


@flow.on("kind", PickKind)
async def kind_pressed(ctx: Context, pressed: PickKind) -> None:
    try:
        kind = ProducerKind(pressed.kind)
    except ValueError:
        await ctx.reask(_("Please press one of the buttons."))
        return
    await _got_kind(ctx, kind)


@flow.on_text("kind", free_text=False)
async def kind_typed(ctx: Context, text: str) -> None:
    """ "htx", "ho kinh doanh": the usual words for a kind, when they match no label."""
    folded = f" {fold(text)} "
    kind = next((kind for kind, words in _KIND_WORDS if any(f" {word} " in folded for word in words)), None)
    if kind is None:
        await ctx.reask(_("Please press one of the buttons."))
        return
    await _got_kind(ctx, kind)


async def _got_kind(ctx: Context, kind: ProducerKind) -> None:
    ctx.form(Registration).kind = kind.value
    await ctx.goto("name")


# Step 4: name --------------------------------------------------------------------------------------------
@flow.ask("name", free_text=True)
async def ask_name(ctx: Context) -> None:
    choices = []
    current_name = _current(ctx).get("name")
    if current_name:
        choices.append(Choice(_("✅ Keep: {value}").format(value=shorten(str(current_name), QUOTE_MAX)), KeepName()))
    choices.append(Choice(_("⬅️ Back"), Back()))
    ctx.say(
        _(
            "(3/4) What is the name of your household business, cooperative or company?\n"
            "For example: Hộ kinh doanh Lò Văn Minh, HTX Chè Tả Van."
        ),
        choices,
    )


@flow.on("name", Back)
async def name_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("kind")


@flow.on("name", KeepName)
async def keep_name(ctx: Context, _pressed: KeepName) -> None:
    current = _current(ctx).get("name")
    if not current:  # not a /profile run: nothing to keep
        await ctx.reask(_("Please type the name in letters, for example HTX Chè Tả Van."))
        return
    ctx.form(Registration).name = str(current)
    await ctx.goto("commune")


@flow.on_text("name")
async def got_name(ctx: Context, text: str) -> None:
    name = tidy(text)
    problem = _name_problem(name)
    if problem is not None:
        await ctx.reask(problem)
        return
    ctx.form(Registration).name = name
    await ctx.goto("commune")


def _name_problem(name: str) -> str | None:
    """A hint when the typed name cannot be a producer's name, else None."""
    if not has_words(name):  # empty, a sticker, only emoji or punctuation
        return _("Please type the name in letters, for example HTX Chè Tả Van.")
    if len(name) < NAME_MIN:
        return _("That name is too short. Please type the full name, for example HTX Chè Tả Van.")
    if len(name) > NAME_MAX:
        return _("That name is too long (at most {limit} characters). Please shorten it.").format(limit=NAME_MAX)
    return None


# Step 5: commune -----------------------------------------------------------------------------------------
@flow.ask("commune", free_text=True)
async def ask_commune(ctx: Context) -> None:
    choices = []
    current_commune = _current(ctx).get("commune_name")
    if current_commune:
        choices.append(Choice(_("✅ Keep: {value}").format(value=current_commune), KeepCommune()))
    choices.append(Choice(_("⬅️ Back"), Back()))
    example = _examples(ctx, 1)[0]
    ctx.say(
        _("(4/4) 📍 Which commune are you in? Type its name, with or without accents, for example “{example}”.").format(
            example=fold(_short_name(example))
        ),
        choices,
    )


@flow.on("commune", Back)
async def commune_back(ctx: Context, _pressed: Back) -> None:
    await ctx.goto("name")


@flow.on("commune", KeepCommune)
async def keep_commune(ctx: Context, _pressed: KeepCommune) -> None:
    code = _current(ctx).get("commune_code")
    commune = commune_by_code(ctx.settings.ocop.province, int(code)) if code is not None else None
    if commune is None:
        await _search_commune(ctx, "")
        return
    await _save(ctx, commune)


@flow.on_text("commune")
async def got_commune(ctx: Context, text: str) -> None:
    await _search_commune(ctx, text)


async def _search_commune(ctx: Context, query: str) -> None:
    matches = find_communes(ctx.settings.ocop.province, query, limit=MAX_COMMUNE_BUTTONS) if query else []
    if not matches:
        examples = ", ".join(_short_name(c) for c in _examples(ctx, 5))
        hint = (
            _("I could not find the commune “{text}” in {province}. Communes there include: {examples}.").format(
                text=shorten(query, QUOTE_MAX), province=ctx.settings.ocop.province, examples=examples
            )
            if query
            else _("Please type the name of your commune.")
        )
        ctx.state.step = "commune"
        await ctx.reask(hint)
        return
    ctx.form(Registration).commune_query = query
    await ctx.goto("commune_pick")


@flow.ask("commune_pick")
async def ask_commune_pick(ctx: Context) -> None:
    matches = _offered_communes(ctx)
    question = _("Is this your commune?") if len(matches) == 1 else _("Which one is your commune?")
    choices = [Choice("📍 " + c.name, PickCommune(commune=c.code)) for c in matches]
    choices.append(Choice(_("🔁 Type again"), CommuneAgain()))
    ctx.say(question, choices)


@flow.on("commune_pick", CommuneAgain)
async def type_again(ctx: Context, _pressed: CommuneAgain) -> None:
    await ctx.goto("commune")


@flow.on("commune_pick", PickCommune)
async def commune_pressed(ctx: Context, pressed: PickCommune) -> None:
    # Only a commune of this province, whatever the button says.
    commune = commune_by_code(ctx.settings.ocop.province, pressed.commune)
    if commune is None:
        await ctx.reask(_("Please press one of the buttons."))
        return
    await _save(ctx, commune)


@flow.on_text("commune_pick", free_text=False)
async def commune_typed(ctx: Context, text: str) -> None:
    # Typed instead of pressed: the full name of one offered commune picks it; anything else is a new search.
    offered = {c.code for c in _offered_communes(ctx)}
    found = find_communes(ctx.settings.ocop.province, text, limit=MAX_COMMUNE_BUTTONS)
    if len(found) == 1 and found[0].code in offered:
        await _save(ctx, found[0])
        return
    await _search_commune(ctx, text)


def _offered_communes(ctx: Context) -> list[Commune]:
    query = ctx.form(Registration).commune_query
    return find_communes(ctx.settings.ocop.province, query, limit=MAX_COMMUNE_BUTTONS) if query else []


# Step 6: save --------------------------------------------------------------------------------------------
async def _save(ctx: Context, commune: Commune) -> None:
    form = ctx.form(Registration)
    kind, name = form.kind, form.name
    if not has_consent(ctx.user) or not ctx.user.phone or not kind or not name:
        # Only reachable through an odd path (data lost); start again at what is missing.
        await ctx.start(FLOW, step=_first_missing_step(ctx.user))
        return
    await producers.save_producer(
        ctx.session,
        ctx.user.id,
        kind=str(kind),
        name=str(name),
        name_folded=fold(str(name)),
        commune_code=commune.code,
        commune_name=commune.name,
    )
    ctx.say(
        _("✓ Saved. Thank you!")
        + "\n"
        + _summary(ctx, str(name), str(kind), commune.name)
        + "\n"
        + _("To change these details later, send /profile.")
    )
    await ctx.finish()


# Helpers -------------------------------------------------------------------------------------------------
def _summary(ctx: Context, name: str, kind: str, commune_name: str) -> str:
    try:
        kind_label = _(PRODUCER_KIND_LABELS[ProducerKind(kind)])
    except ValueError:
        kind_label = kind
    return f"👤 {name}\n🏷 {kind_label}\n📍 {commune_name}, {ctx.settings.ocop.province}\n📱 {ctx.user.phone or ''}"


def _current(ctx: Context) -> dict[str, Any]:
    """The values being replaced when an onboarded producer runs /profile (empty on first onboarding)."""
    return ctx.form(Registration).current


def _examples(ctx: Context, count: int) -> list[Commune]:
    """A few communes spread over the alphabet, so the examples look like the real list."""
    communes = communes_of(ctx.settings.ocop.province)
    step = max(1, len(communes) // count)
    return list(communes[1::step][:count]) or list(communes[:count])


def _short_name(commune: Commune) -> str:
    """ "Xã Bình Lư" → "Bình Lư": what people call it."""
    for prefix in ("Xã ", "Phường ", "Thị trấn ", "Đặc khu "):
        if commune.name.startswith(prefix):
            return commune.name[len(prefix) :]
    return commune.name


def register(registry: Registry) -> None:
    registry.add_flow(flow)
    registry.commands["start"] = on_start
    registry.commands["profile"] = on_profile
    registry.gate = gate
