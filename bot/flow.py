"""How a conversation is written: a ``Flow`` of named steps, each with an *ask* and an *answer*.

A handler module reads top to bottom like the paper form it replaces::

    flow = Flow("idea", first_step="name")

    @flow.ask("name")
    async def ask_name(ctx: Context) -> None:
        ctx.say(_("What is the product called?"))

    @flow.answer("name")
    async def got_name(ctx: Context) -> None:
        ...
        await ctx.goto("group")

The engine keeps the current flow, step and step data in the ``conversations`` table.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import enum
import functools
import re
import typing
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Button
from bot.files import refusal_text
from bot.i18n import _
from bot.messages import (
    AskFile,
    AskPhone,
    Choice,
    Inbound,
    Outbound,
    ReceivedFile,
    RejectedFile,
    SendFile,
    Text,
    VoiceNote,
)
from bot.settings import Settings
from storage import outbox
from storage.filestore import FileStore
from storage.models import ChannelIdentity, User

Step = Callable[["Context"], Awaitable[None]]
B = TypeVar("B", bound=Button)
D = TypeVar("D", bound="FlowData")
T = TypeVar("T")
ButtonStep = Callable[["Context", Any], Awaitable[None]]
TextStep = Callable[["Context", str], Awaitable[None]]
NumberStep = Callable[["Context", int], Awaitable[None]]
FileStep = Callable[["Context", ReceivedFile], Awaitable[None]]
VoiceStep = Callable[["Context", VoiceNote], Awaitable[None]]
# Runs before every question and answer of a flow (the role, a producer present); False: it has answered.
Guard = Callable[["Context"], Awaitable[bool]]
_WHOLE_NUMBER = re.compile(r"^\s*(\d{1,9})\s*$")


@dataclass
class FlowData:
    """A flow's own data as a dataclass, kept in the conversation row with its version.

    ``load`` reads an older row too: unknown keys are dropped, missing ones take their defaults, and a row of
    another version goes through ``upgrade`` first, so a deploy never strands someone in the middle of a form.
    A field whose type is itself a dataclass (or one or None) is a group of the form, stored as a dict and
    built back the same way.
    """

    VERSION: ClassVar[int] = 1

    def dump(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "_v": self.VERSION}

    @classmethod
    def load(cls, raw: dict[str, Any]) -> Self:
        raw = copy.deepcopy(raw)  # the form is changed in place; the row read from the database must not be
        if raw.pop("_v", 1) != cls.VERSION:  # rows from before the flow had a dataclass are version 1
            raw = cls.upgrade(raw)
        return _from_stored(cls, raw)

    @classmethod
    def upgrade(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """Turn a row written by an older version into this one's keys (default: keep what still fits)."""
        return raw


_Stored = TypeVar("_Stored")


def _from_stored(kind: type[_Stored], raw: dict[str, Any]) -> _Stored:
    """A dataclass from the dict it was dumped to; see ``FlowData``."""
    hints = _field_types(typing.cast(type, kind))
    return kind(**{name: _group(hints[name], value) for name, value in raw.items() if name in hints})


def _group(hint: Any, value: Any) -> Any:
    if isinstance(value, dict):
        for candidate in (hint, *typing.get_args(hint)):
            if isinstance(candidate, type) and dataclasses.is_dataclass(candidate):
                return _from_stored(candidate, value)
    return value


@functools.cache
def _field_types(kind: type) -> dict[str, Any]:
    """The dataclass's fields and their resolved types (read once per class: forms load on every update)."""
    hints = typing.get_type_hints(kind)
    return {f.name: hints[f.name] for f in dataclasses.fields(kind)}


class Answer(enum.Enum):
    """What a step takes when the user types: decides how typed text is matched to the offered options."""

    CHOICE = "choice"  # only the options: a number, a unique part of a label, a near miss
    TEXT = "text"  # data (a name, a date) unless it is an option's number or the option's own words
    NUMBER = "number"  # data that is a number: options by their words only, shown without numbers


Command = Callable[["Context", str | None], Awaitable[None]]


class Flow:
    """A conversation's steps. Each step has an *ask*, and either one ``answer`` that reads whatever came, or
    handlers per kind of input (``on`` a button class, ``on_text``, ``on_number``, ``on_file``); the flow picks
    the handler, and input no handler takes gets the question again with a hint. ``before`` guards run ahead
    of every question and answer of the flow."""

    def __init__(self, name: str, first_step: str, *, data: type[FlowData] | None = None) -> None:
        self.name = name
        self.first_step = first_step
        self.data_type = data
        self.asks: dict[str, Step] = {}
        self.answers: dict[str, Step] = {}
        self.on_buttons: dict[str, dict[type[Button], ButtonStep]] = {}
        self.on_texts: dict[str, TextStep] = {}
        self.on_numbers: dict[str, NumberStep] = {}
        self.on_files: dict[str, FileStep] = {}
        # Descriptive steps where a voice note is an answer too (``bot.voice``); on every other step a voice
        # note is turned away with the question asked again.
        self.on_voices: dict[str, VoiceStep] = {}
        self.guards: list[Guard] = []
        # Steps whose answer is typed (a name, a date): an offered option is still chosen by its number or
        # its words, but typed words must be the option's own (see ``bot.engine``) to count.
        self.free_text_steps: set[str] = set()
        # Steps whose answer is itself a number (workers, points): options there are chosen by words only
        # and shown without numbers, so that "2" can only ever mean 2.
        self.number_steps: set[str] = set()

    def ask(self, step: str, *, free_text: bool = False, number: bool = False) -> Callable[[Step], Step]:
        def register(function: Step) -> Step:
            self.asks[step] = function
            if free_text or number:
                self.free_text_steps.add(step)
            if number:
                self.number_steps.add(step)
            return function

        return register

    def takes_voice(self, step: str | None) -> bool:
        return step in self.on_voices

    def takes(self, step: str | None) -> Answer:
        """What a typed message is on ``step``: a pick among options, typed text, or a number."""
        if step in self.number_steps:
            return Answer.NUMBER
        if step in self.free_text_steps:
            return Answer.TEXT
        return Answer.CHOICE

    def answer(self, step: str) -> Callable[[Step], Step]:
        def register(function: Step) -> Step:
            self.answers[step] = function
            return function

        return register

    # Handlers per kind of input -------------------------------------------------------------------------------
    def on(self, step: str, button: type[B]) -> Callable[[Callable[[Context, B], Awaitable[None]]], Any]:
        """``handler(ctx, pressed)`` for a press of ``button`` (or a subclass) while on ``step``."""

        def register(function: Callable[[Context, B], Awaitable[None]]) -> Any:
            self.on_buttons.setdefault(step, {})[button] = function
            return function

        return register

    def on_text(self, step: str, *, free_text: bool = True) -> Callable[[TextStep], TextStep]:
        """``handler(ctx, text)`` for typed text on ``step`` (which then takes typed data, see ``Answer``).
        ``free_text=False``: the step takes its options first (a part of a label picks it) and the handler
        reads only what matched none, e.g. "ok" on a yes/no question."""

        def register(function: TextStep) -> TextStep:
            self.on_texts[step] = function
            if free_text:
                self.free_text_steps.add(step)
            return function

        return register

    def on_number(self, step: str) -> Callable[[NumberStep], NumberStep]:
        """``handler(ctx, number)`` for a typed whole number on ``step`` (options there go by words only)."""

        def register(function: NumberStep) -> NumberStep:
            self.on_numbers[step] = function
            self.free_text_steps.add(step)
            self.number_steps.add(step)
            return function

        return register

    def on_file(self, step: str) -> Callable[[FileStep], FileStep]:
        """``handler(ctx, file)`` for a file kept on ``step`` (a refused file is answered by the engine)."""

        def register(function: FileStep) -> FileStep:
            self.on_files[step] = function
            return function

        return register

    def on_voice(self, step: str) -> Callable[[VoiceStep], VoiceStep]:
        """``handler(ctx, note)`` for a voice note kept on ``step`` (``bot.voice``): only descriptive questions
        take one; names, numbers, dates and choices stay typed, so a number step refuses to."""

        def register(function: VoiceStep) -> VoiceStep:
            if step in self.number_steps:
                raise ValueError(f"flow {self.name!r}: step {step!r} takes a number, which is typed, not spoken")
            self.on_voices[step] = function
            return function

        return register

    def before(self, guard: Guard) -> Guard:
        self.guards.append(guard)
        return guard

    # Running ------------------------------------------------------------------------------------------------
    def steps(self) -> set[str]:
        answered = {*self.answers, *self.on_buttons, *self.on_texts, *self.on_numbers, *self.on_files, *self.on_voices}
        return answered

    def answers_step(self, step: str | None) -> bool:
        return step is not None and step in self.steps()

    async def admits(self, ctx: Context) -> bool:
        for guard in self.guards:
            if not await guard(ctx):
                return False
        return True

    async def run_answer(self, ctx: Context, step: str) -> None:
        if not await self.admits(ctx):
            return
        if ctx.voice is not None and step in self.on_voices:
            await self.on_voices[step](ctx, ctx.voice)
            return
        whole = self.answers.get(step)
        if whole is not None:
            await whole(ctx)
            return
        pressed = ctx.button
        if pressed is not None:
            for kind in type(pressed).__mro__:
                handler = self.on_buttons.get(step, {}).get(kind)
                if handler is not None:
                    await handler(ctx, pressed)
                    return
            await ctx.reask(_("That button belongs to an older message. Let us carry on from here:"))
            return
        if isinstance(ctx.received, RejectedFile) and step in self.on_files:
            await ctx.reask(refusal_text(ctx.received, ctx.settings.ocop.max_file_mb))
            return
        if isinstance(ctx.received, ReceivedFile) and step in self.on_files:
            await self.on_files[step](ctx, ctx.received)
            return
        text = ctx.text
        if text is not None and step in self.on_numbers:
            number = _WHOLE_NUMBER.match(text)
            if number is not None:
                await self.on_numbers[step](ctx, int(number.group(1)))
                return
            await ctx.reask(_("Please type a number, for example 3."))
            return
        if text is not None and step in self.on_texts:
            await self.on_texts[step](ctx, text)
            return
        await ctx.reask(_("Sorry, I did not understand. Please answer this question:"))


@dataclass
class Intent:
    """Free text that starts something when no flow is waiting for an answer (matched on folded text)."""

    phrases: tuple[str, ...]
    run: Step


@dataclass
class Registry:
    """What the handlers contribute to the engine; built in the composition root (``bot.app``)."""

    flows: dict[str, Flow] = field(default_factory=dict)
    commands: dict[str, Command] = field(default_factory=dict)
    # "/start <argument>" (Telegram deep links, e.g. a staff invite) by argument prefix, before "start" itself.
    deep_links: dict[str, Command] = field(default_factory=dict)
    intents: list[Intent] = field(default_factory=list)
    # Typed buttons valid from any message, by class (a family base class takes all of its subclasses).
    buttons: dict[type[Button], ButtonStep] = field(default_factory=dict)
    main_menu: Step | None = None
    not_understood: Step | None = None
    stale_button: Step | None = None
    # The help words ("giúp", "?"): valid in any step, like the menu words.
    help: Step | None = None
    # Runs before anything else for users who have not finished onboarding; returns True when it handled.
    gate: Callable[[Context], Awaitable[bool]] | None = None
    # A file that arrives when no step asked for one.
    stray_file: Step | None = None

    def add_flow(self, flow: Flow) -> None:
        if flow.name in self.flows:
            raise ValueError(f"flow {flow.name!r} registered twice")
        missing = set(flow.asks) ^ flow.steps()
        if missing:
            raise ValueError(f"flow {flow.name!r}: steps without both ask and answer: {sorted(missing)}")
        self.flows[flow.name] = flow

    def on_button(self, button: type[B]) -> Callable[[Callable[[Context, B], Awaitable[None]]], Any]:
        """``handler(ctx, pressed)`` for ``button`` pressed from any message (a main-menu entry, a notice)."""

        def register(function: Callable[[Context, B], Awaitable[None]]) -> Any:
            if button in self.buttons:
                raise ValueError(f"button {button.__name__} handled twice")
            self.buttons[button] = function
            return function

        return register

    def handles(self, payload: str) -> bool:
        """Whether a button valid from any message is handled here (the wiring test asks it of every menu)."""
        return self.global_button(Button.parse(payload)) is not None

    def global_button(self, pressed: Button | None) -> ButtonStep | None:
        if pressed is None:
            return None
        for kind in type(pressed).__mro__:
            handler = self.buttons.get(kind)
            if handler is not None:
                return handler
        return None


@dataclass
class ConversationState:
    flow: str | None
    step: str | None
    data: dict[str, Any]


class Context:
    """Everything one step needs: who, what they sent, the database session, and where replies go."""

    def __init__(
        self,
        *,
        inbound: Inbound,
        session: AsyncSession,
        user: User,
        identity: ChannelIdentity,
        state: ConversationState,
        registry: Registry,
        settings: Settings,
        files: FileStore,
        now: dt.datetime,
        received: ReceivedFile | RejectedFile | None,
    ) -> None:
        self.inbound = inbound
        self.session = session
        self.user = user
        self.identity = identity
        self.state = state
        self.registry = registry
        self.settings = settings
        self.files = files
        self.now = now
        self.received = received
        self.payload: str | None = inbound.payload
        self._parsed: tuple[str | None, Button | None] | None = None
        self.replies: list[Outbound] = []
        self._loaded: dict[str, Any] = {}
        self._form: FlowData | None = None
        # A voice note accepted on this update (``bot.voice.intake``), for the step's ``on_voice`` handler.
        self.voice: VoiceNote | None = None
        # Set by a step that deliberately answers nothing (the next photo of an album whose question is
        # already out): the engine then neither says "not understood" nor forgets the buttons shown before.
        self.quiet = False

    # What the user sent ------------------------------------------------------------------------------
    @property
    def text(self) -> str | None:
        text = (self.inbound.text or "").strip()
        return text or None

    @property
    def channel(self) -> str:
        return self.inbound.channel

    @property
    def button(self) -> Button | None:
        """The pressed (or typed, see ``bot.engine``) option as its typed button; None for anything else."""
        # Parsed once per payload: the gates, the routes and the flow each ask for it.
        if self._parsed is None or self._parsed[0] != self.payload:
            self._parsed = (self.payload, Button.parse(self.payload))
        return self._parsed[1]

    async def loaded(self, key: str, load: Callable[[], Awaitable[T]]) -> T:
        """Something one update needs in several places (the producer, the staff scope), loaded once."""
        if key not in self._loaded:
            self._loaded[key] = await load()
        return typing.cast(T, self._loaded[key])

    def forget(self, key: str) -> None:
        """Drop a loaded value that this update has just changed."""
        self._loaded.pop(key, None)

    def form(self, kind: type[D]) -> D:
        """The current flow's data as its dataclass, read once per update and written back on save."""
        if not isinstance(self._form, kind):
            self._form = kind.load(self.state.data)
        return self._form

    def reset_form(self, form: FlowData) -> None:
        """Replace the current flow's data with ``form`` (a screen that starts the flow afresh)."""
        self._form = form
        self.state.data = form.dump()

    def keep_form(self) -> None:
        """Write the form back into the conversation's data (the engine calls it before saving)."""
        if self._form is not None and self.state.flow is not None:
            self.state.data = self._form.dump()

    @property
    def data(self) -> dict[str, Any]:
        return self.state.data

    @property
    def today(self) -> dt.date:
        from zoneinfo import ZoneInfo

        return self.now.astimezone(ZoneInfo(self.settings.ocop.timezone)).date()

    # Replies -----------------------------------------------------------------------------------------
    def say(self, text: str, choices: Iterable[Choice] = (), columns: int = 1) -> None:
        self.replies.append(Text(text, tuple(choices), columns))

    def ask_phone(self, text: str, choices: Iterable[Choice] = ()) -> None:
        self.replies.append(AskPhone(text, _("📱 Share my phone number"), tuple(choices)))

    def ask_file(self, text: str, choices: Iterable[Choice] = (), columns: int = 1) -> None:
        self.replies.append(AskFile(text, tuple(choices), columns))

    def send_file(self, file: SendFile) -> None:
        self.replies.append(file)

    async def notify(
        self,
        user_id: int,
        kind: str,
        params: dict[str, Any],
        *,
        dedupe_key: str | None = None,
        urgent: bool = True,
        identity_id: int | None = None,
    ) -> None:
        """Tell another user something (a decision on their dossier): queued in this update's transaction,
        so the notice exists exactly when the change does; the sender delivers it (``bot.notices``).
        ``identity_id``: to that one account of the user rather than the app they used last."""
        if identity_id is not None:
            params = {**params, outbox.TO_IDENTITY: identity_id}
        await outbox.enqueue(
            self.session,
            user_id=user_id,
            kind=kind,
            params=params,
            dedupe_key=dedupe_key or f"{kind}:{uuid.uuid4().hex}",
            not_before=self.now,
            urgent=urgent,
        )

    # Moving around -----------------------------------------------------------------------------------
    @property
    def flow(self) -> Flow | None:
        return self.registry.flows.get(self.state.flow) if self.state.flow else None

    async def goto(self, step: str) -> None:
        """Move to ``step`` of the current flow and ask its question."""
        flow = self.flow
        if flow is None or step not in flow.asks:
            raise KeyError(f"no step {step!r} in flow {self.state.flow!r}")
        self.state.step = step
        if not await flow.admits(self):
            return
        await flow.asks[step](self)

    async def start(
        self, flow_name: str, data: dict[str, Any] | FlowData | None = None, step: str | None = None
    ) -> None:
        """Leave whatever flow was running and start ``flow_name``."""
        flow = self.registry.flows[flow_name]
        self.state.flow = flow_name
        if isinstance(data, FlowData):
            self._form = data
            self.state.data = data.dump()
        else:
            self._form = None
            self.state.data = dict(data or {})
        await self.goto(step or flow.first_step)

    async def reask(self, hint: str | None = None) -> None:
        """Repeat the current step's question, after a short hint about what went wrong."""
        if hint:
            self.say(hint)
        if self.flow is not None and self.state.step is not None:
            await self.flow.asks[self.state.step](self)
        else:
            await self.main_menu()

    def end_flow(self) -> None:
        self.state.flow = None
        self.state.step = None
        self.state.data = {}
        self._form = None

    async def finish(self) -> None:
        """End the flow and show the main menu."""
        self.end_flow()
        await self.main_menu()

    async def main_menu(self) -> None:
        if self.registry.main_menu is not None:
            await self.registry.main_menu(self)
