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

import datetime as dt
import enum
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

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
)
from bot.settings import Settings
from storage import outbox
from storage.filestore import FileStore
from storage.models import ChannelIdentity, User

Step = Callable[["Context"], Awaitable[None]]


class Answer(enum.Enum):
    """What a step takes when the user types: decides how typed text is matched to the offered options."""

    CHOICE = "choice"  # only the options: a number, a unique part of a label, a near miss
    TEXT = "text"  # data (a name, a date) unless it is an option's number or the option's own words
    NUMBER = "number"  # data that is a number: options by their words only, shown without numbers


Command = Callable[["Context", str | None], Awaitable[None]]


class Flow:
    def __init__(self, name: str, first_step: str) -> None:
        self.name = name
        self.first_step = first_step
        self.asks: dict[str, Step] = {}
        self.answers: dict[str, Step] = {}
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
    # Payload prefixes that are valid from any message, e.g. the main menu's "m:".
    global_payloads: dict[str, Step] = field(default_factory=dict)
    intents: list[Intent] = field(default_factory=list)
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
        missing = set(flow.asks) ^ set(flow.answers)
        if missing:
            raise ValueError(f"flow {flow.name!r}: steps without both ask and answer: {sorted(missing)}")
        self.flows[flow.name] = flow


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
        self.replies: list[Outbound] = []

    # What the user sent ------------------------------------------------------------------------------
    @property
    def text(self) -> str | None:
        text = (self.inbound.text or "").strip()
        return text or None

    @property
    def channel(self) -> str:
        return self.inbound.channel

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
        await flow.asks[step](self)

    async def start(self, flow_name: str, data: dict[str, Any] | None = None, step: str | None = None) -> None:
        """Leave whatever flow was running and start ``flow_name``."""
        flow = self.registry.flows[flow_name]
        self.state.flow = flow_name
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

    async def finish(self) -> None:
        """End the flow and show the main menu."""
        self.end_flow()
        await self.main_menu()

    async def main_menu(self) -> None:
        if self.registry.main_menu is not None:
            await self.registry.main_menu(self)
