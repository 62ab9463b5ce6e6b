"""The engine: one update in, replies out, state and domain changes saved in one transaction.

Order of business for one update:

1. download and check an attached file (outside the transaction: downloads are slow, locks are precious);
   it is written to the file store only once the update has passed the onboarding gate, so nothing a user
   sends before consenting is kept (they are told so, above the gate's question);
2. take the per-user lock (one process) and, inside the transaction, the conversation row lock
   (``FOR UPDATE``, several processes), so that two quick messages never race one step;
3. skip updates already processed (same channel + update id);
4. route: commands and global words (/menu, menu, giúp, /cancel; an offered option's own words win over them)
   → a number or an option's words turned into that option's payload (on every step; how much of the
   words counts depends on what the step takes, see ``_match_choice``) → the gates (a pending deletion
   request, onboarding) → global buttons (the main menu) →
   the current step's answer → free-text intents → "not understood";
5. save the conversation and commit; on any error roll back and answer with an apology, never a trace.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import difflib
import logging
import re
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics, voice
from bot.clock import Clock as Clock  # re-exported: callers import the clock from the engine
from bot.clock import utc_now as utc_now
from bot.files import CheckedFile, check, keep
from bot.flow import Answer, Context, ConversationState, Registry
from bot.i18n import SUPPORTED_LOCALES, _, current_locale, has_buttons
from bot.messages import (
    NUMBERED_MENU_CHANNELS,
    Choice,
    Inbound,
    Outbound,
    RejectedFile,
    Text,
    by_words,
    choices_of,
)
from bot.resilience import retrying
from bot.settings import Settings
from bot.text import fold, label_words, nfc
from storage import users
from storage.db import is_disconnect
from storage.filestore import FileStore
from storage.models import Conversation

log = logging.getLogger(__name__)


CANCEL_WORDS = frozenset({"huy", "/huy", "cancel", "/cancel", "thoat", "dung lai"})
MENU_WORDS = frozenset({"menu", "/menu", "menu chinh", "trang chu", "bat dau lai"})
HELP_WORDS = frozenset({"giup", "giup do", "tro giup", "help", "/help", "huong dan", "?"})
GLOBAL_WORDS = CANCEL_WORDS | MENU_WORDS | HELP_WORDS
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


class Engine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: Registry,
        settings: Settings,
        files: FileStore,
        clock: Clock = utc_now,
    ) -> None:
        self.sessions = sessions
        self.registry = registry
        self.settings = settings
        self.files = files
        self.clock = clock
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()
        # SQLite has one writer. Letting transactions queue here instead of in SQLite's busy handler (which
        # sleeps in growing steps of milliseconds) keeps the writer busy and the wait fair.
        self._sqlite_writer: asyncio.Lock | None = None
        bind = sessions.kw.get("bind")
        if bind is not None and bind.dialect.name == "sqlite":
            self._sqlite_writer = asyncio.Lock()

    def _lock_for(self, inbound: Inbound) -> asyncio.Lock:
        key = (inbound.channel, inbound.external_user_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        with metrics.timed_update(inbound.channel):
            replies = await self._handle_update(inbound)
        outcome = "failed" if isinstance(replies, _Apology) else "answered" if replies else "duplicate"
        metrics.update_outcome(inbound.channel, outcome)
        return replies

    async def _handle_update(self, inbound: Inbound) -> list[Outbound]:
        inbound = _normalised(inbound)
        checked = None
        if inbound.file is not None and inbound.file.voice:
            checked = await voice.check(inbound.file, self.settings)
        elif inbound.file is not None:
            checked = await check(inbound.file, self.settings.ocop.max_file_bytes)
        lock = self._lock_for(inbound)
        async with lock:
            try:
                return await retrying(
                    lambda: self._handle_with_retries(inbound, checked),
                    within=self.settings.ocop.db_retry_seconds,
                    what=f"update {inbound.update_id}",
                )
            except Exception as error:
                if not is_disconnect(error):
                    raise  # pragma: no cover - _handle_with_retries answers every other error itself
                log.warning("update %s not handled: the database stayed unreachable", inbound.update_id)
                return _unavailable()

    async def _handle_with_retries(
        self, inbound: Inbound, checked: CheckedFile | RejectedFile | None
    ) -> list[Outbound]:
        """One update, tried again when another process got in the way; a lost database connection goes up
        to ``handle``, which waits for the database to come back."""
        for attempt in range(3):
            try:
                if self._sqlite_writer is None:
                    return await self._handle_once(inbound, checked)
                async with self._sqlite_writer:
                    replies = await self._handle_once(inbound, checked)
                # One turn of the event loop between two updates, with SQLite's write lock free: otherwise work
                # outside the engine (a sweep, a backup, an office export) that polls for the lock wakes up only
                # while an update holds it, and back-to-back updates starve it.
                await asyncio.sleep(0)
                return replies
            except (IntegrityError, DBAPIError) as error:
                if is_disconnect(error):
                    raise
                # Another process created the same user or took the row first: the retry sees its work.
                if attempt == 2 or not _retryable(error):
                    log.exception("update %s failed in the database", inbound.update_id)
                    return _apology()
                await asyncio.sleep(0.05 * (attempt + 1))
            except Exception as error:
                if is_disconnect(error):
                    raise
                log.exception("update %s failed", inbound.update_id)
                return _apology()
        return _apology()  # pragma: no cover - the loop always returns

    async def _handle_once(self, inbound: Inbound, checked: CheckedFile | RejectedFile | None) -> list[Outbound]:
        now = self.clock()
        session = self.sessions()
        finished = False
        try:
            loaded = await users.mark_and_load(
                session,
                inbound.channel,
                inbound.update_id,
                inbound.external_user_id,
                chat_id=inbound.chat_id,
                display_name=inbound.display_name,
                locale=_locale_for(inbound, self.settings),
                now=now,
            )
            if loaded is None:  # handled before: a redelivery
                return []
            user, identity, conversation = loaded
            token = current_locale.set(user.locale)
            buttons = has_buttons.set(inbound.channel not in NUMBERED_MENU_CHANNELS)
            try:
                # A deep copy: a step that changes a list in its data in place must still count as a change when saved.
                state = ConversationState(conversation.flow, conversation.step, copy.deepcopy(conversation.data or {}))
                ctx = Context(
                    inbound=inbound,
                    session=session,
                    user=user,
                    identity=identity,
                    state=state,
                    registry=self.registry,
                    settings=self.settings,
                    files=self.files,
                    now=now,
                    received=checked if isinstance(checked, RejectedFile) else None,
                )
                await self._route(ctx, conversation, checked)
                if not ctx.replies and not ctx.quiet:  # never leave the user in silence
                    await _not_understood(ctx, self.registry, [])
                if ctx.flow is not None and ctx.flow.takes(ctx.state.step) is Answer.NUMBER:
                    # The next message is a number: the options shown with it must not carry numbers too.
                    ctx.replies = [by_words(reply) for reply in ctx.replies]
                # The conversation (when it moved) and the commit, then the session closes: one trip.
                await users.finish(session, conversation if _save(conversation, ctx, now) else None)
                finished = True
                return ctx.replies
            finally:
                has_buttons.reset(buttons)
                current_locale.reset(token)
        finally:
            # A redelivery, an error, or a cancelled finish: nothing of this update is kept, and the connection
            # goes back to the pool (closing a session that finish already closed does nothing).
            if not finished:
                await session.close()

    async def _route(
        self, ctx: Context, conversation: Conversation, checked: CheckedFile | RejectedFile | None
    ) -> None:
        turn = Turn(ctx, self.registry, self.files, Offered.read(conversation.last_choices), checked)
        for route in ROUTES:
            if await route(turn):
                return


# Routing: one update goes down this list until a route takes it -------------------------------------------------


@dataclass
class Offered:
    """One option the last reply offered, as kept in the conversation row between two updates."""

    words: str  # the label without emoji, what typed words are matched against
    payload: str
    message: int  # which of the reply's messages with options offered it: a typed number means the newest one's
    label: str

    @classmethod
    def read(cls, rows: list[Any] | None) -> list[Offered]:
        offered = []
        for row in rows or []:
            words, payload = str(row[0]), str(row[1])
            message = int(row[2]) if len(row) > 2 else 0
            offered.append(cls(words, payload, message, str(row[3]) if len(row) > 3 else words))
        return offered

    def row(self) -> list[Any]:
        return [self.words, self.payload, self.message, self.label]


@dataclass
class Turn:
    """What the routes share about the update being routed."""

    ctx: Context
    registry: Registry
    files: FileStore
    offered: list[Offered]
    checked: CheckedFile | RejectedFile | None

    @property
    def folded(self) -> str:
        return fold(self.ctx.text) if self.ctx.text else ""


Route = Callable[[Turn], Awaitable[bool]]


async def command(turn: Turn) -> bool:
    """``/start``, ``/start <deep link>`` and the other slash commands."""
    text = turn.ctx.text
    if not text or not text.startswith("/"):
        return False
    name, _space, argument = text[1:].partition(" ")
    name = name.split("@", 1)[0].casefold()  # "/start@OcopBot" in groups
    argument = argument.strip()
    if name == "start" and argument:
        for prefix, deep_link in turn.registry.deep_links.items():
            if argument.startswith(prefix):
                await deep_link(turn.ctx, argument)
                return True
    handler = turn.registry.commands.get(name)
    if handler is None:
        return False
    await handler(turn.ctx, argument or None)
    return True


async def global_word(turn: Turn) -> bool:
    """Cancel, menu and help words, valid in any step, unless an offered option has those very words ("⬅️ Huỷ"
    on a reason question is that option)."""
    ctx, folded = turn.ctx, turn.folded
    if folded not in GLOBAL_WORDS or any(fold(option.words) == folded for option in turn.offered):
        return False
    if folded in CANCEL_WORDS:
        if ctx.state.flow:
            ctx.say(_("Cancelled. What you had saved is kept."))
        ctx.end_flow()
        await ctx.main_menu()
        return True
    if folded in MENU_WORDS:
        ctx.end_flow()
        await ctx.main_menu()
        return True
    if folded in HELP_WORDS and turn.registry.help is not None:
        await turn.registry.help(ctx)
        return True
    return False


async def typed_choice(turn: Turn) -> bool:
    """A number or an option's words become that option's button, before the gates, so that a gate's question
    (consent, a pending request) is answered by number too. Never takes the update by itself."""
    ctx = turn.ctx
    if ctx.payload is None and ctx.text:
        answer = ctx.flow.takes(ctx.state.step) if ctx.flow is not None else Answer.CHOICE
        ctx.payload = _match_choice(ctx.text, turn.offered, answer)
    return False


async def gate(turn: Turn) -> bool:
    """Privacy, then onboarding or an account link, before anything else; nothing sent before is kept."""
    ctx = turn.ctx
    if turn.registry.gate is None or not await turn.registry.gate(ctx):
        return False
    if ctx.inbound.file is not None:
        ctx.replies.insert(0, Text(_("📎 I did not keep the file you sent. Please send it again after you register.")))
    return True


async def keep_file(turn: Turn) -> bool:
    """Past the gate, a checked file is written to the store; a voice note goes to the step that asked (or is
    refused where the answer must be typed, which takes the update)."""
    ctx = turn.ctx
    if ctx.inbound.file is not None and ctx.inbound.file.voice:
        return await voice.intake(ctx, turn.checked, turn.files)
    if isinstance(turn.checked, CheckedFile):
        ctx.received = await keep(turn.checked, turn.files)
    return False


async def global_button(turn: Turn) -> bool:
    """A button valid from any message (the main menu, a notice's button), by its class or its family."""
    ctx = turn.ctx
    handler = turn.registry.global_button(ctx.button)
    if handler is None:
        return False
    await handler(ctx, ctx.button)
    return True


async def stale_button(turn: Turn) -> bool:
    """A button the last reply did not offer (an older message, or made up): nothing happens with it."""
    ctx = turn.ctx
    if ctx.payload is None:
        return False
    if ctx.flow is not None and ctx.payload in {option.payload for option in turn.offered}:
        return False
    ctx.payload = None
    if ctx.flow is not None and ctx.state.step is not None:
        await ctx.reask(_("That button belongs to an older message. Let us carry on from here:"))
        return True
    ctx.end_flow()
    if turn.registry.stale_button is not None:
        await turn.registry.stale_button(ctx)
    else:
        ctx.say(_("That button is from an older message. Here is the menu again."))
        await ctx.main_menu()
    return True


async def step_answer(turn: Turn) -> bool:
    """The answer to the question the current step asked."""
    ctx = turn.ctx
    flow, step = ctx.flow, ctx.state.step
    if flow is None or step is None or not flow.answers_step(step):
        return False
    await flow.run_answer(ctx, step)
    return True


async def stray_file(turn: Turn) -> bool:
    """A file that no question asked for."""
    if turn.ctx.received is None or turn.registry.stray_file is None:
        return False
    await turn.registry.stray_file(turn.ctx)
    return True


async def intent(turn: Turn) -> bool:
    """Free text that starts something ("hồ sơ của tôi"), when no step waits for an answer."""
    folded = turn.folded
    for candidate in turn.registry.intents:
        if any(phrase in folded for phrase in candidate.phrases):
            await candidate.run(turn.ctx)
            return True
    return False


async def not_understood(turn: Turn) -> bool:
    """Text nobody expected. When the last message offered buttons they are offered again, so a staff officer in
    the middle of a review or a producer on a checklist keeps their place."""
    await _not_understood(turn.ctx, turn.registry, turn.offered)
    return True


ROUTES: tuple[Route, ...] = (
    command,
    global_word,
    typed_choice,
    gate,
    keep_file,
    global_button,
    stale_button,
    step_answer,
    stray_file,
    intent,
    not_understood,
)


async def _not_understood(ctx: Context, registry: Registry, offered: list[Offered]) -> None:
    newest = _newest(offered)
    if newest:
        ctx.say(
            _("Sorry, I did not understand. Please press one of these buttons (or type its number):"),
            [Choice(option.label, option.payload) for option in newest],
        )
        return
    if registry.not_understood is not None:
        await registry.not_understood(ctx)
    else:
        ctx.say(_("Sorry, I did not understand. Please choose from the menu."))
        await ctx.main_menu()


def _normalised(inbound: Inbound) -> Inbound:
    if inbound.text is None:
        return inbound
    from dataclasses import replace

    return replace(inbound, text=nfc(inbound.text))


def _locale_for(inbound: Inbound, settings: Settings) -> str:
    """Vietnamese unless the phone says English; users in Vietnam with English phones still read Vietnamese
    poorly less often than the reverse, so only an explicit "en" switches."""
    code = (inbound.language_code or "").split("-")[0].casefold()
    if code == "en" and "en" in SUPPORTED_LOCALES:
        return "en"
    return settings.ocop.default_locale


def _match_choice(typed: str, last_choices: list[Offered], answer: Answer) -> str | None:
    """The offered option that a typed message selects, on every kind of step (``bot.flow.Answer``).

    - A bare number ("2", "2.") within the newest message's options selects that option, except where the
      answer is itself a number: there the options are shown without numbers and chosen by words only.
    - An option's words select it, folded, emoji and punctuation ignored ("giu nguyen").
    - Where the step takes only options, a unique part of a label ("ho so" for "📂 Hồ sơ của tôi") or a near
      miss ("dong yy") is forgiven too: many producers type slowly, without diacritics, on small keyboards.
    - Where the step takes typed data (a name, a date, a number), a part counts only as the start of the
      label ("giu nguyen" for "✅ Giữ nguyên: HTX Chè Tả Van", "hom nay" for "📅 Hôm nay, 28/11/2026"), and a
      near miss only against as many of the label's first words. A name that merely contains an option's
      words ("HTX Giữ Nguyên Bản Sắc") or a part of the value quoted in a label ("HTX Chè") stays data.
    """
    if not last_choices:
        return None
    number = _NUMBER.match(typed)
    if number and answer is not Answer.NUMBER:
        # Channels number the choices of each message from 1: a number means the newest question's choices.
        numbered = _newest(last_choices)
        index = int(number.group(1)) - 1
        return numbered[index].payload if 0 <= index < len(numbered) else None
    labels = [(fold(choice.words), choice.payload) for choice in last_choices]
    # A label pressed on a reply keyboard, or copied, comes with its emoji; the stored labels have none.
    folded = fold(label_words(typed))
    if not folded:
        return None
    exact = [payload for label, payload in labels if label == folded]
    if exact:
        return exact[0]
    if len(folded) < 3:
        return None
    if answer is Answer.CHOICE:
        containing = [payload for label, payload in labels if folded in label]
        candidates = [label for label, _payload in labels]
        cutoff = 0.8
    else:
        containing = [payload for label, payload in labels if label.startswith(folded + " ")]
        words = len(folded.split())
        candidates = [" ".join(label.split()[:words]) for label, _payload in labels]
        cutoff = 0.85
    if len(set(containing)) == 1:
        return containing[0]
    if len(folded) < 4:
        return None
    close = [
        payload
        for candidate, (_label, payload) in zip(candidates, labels, strict=True)
        if _close(folded, candidate, cutoff)
    ]
    return close[0] if len(set(close)) == 1 else None


def _close(typed: str, candidate: str, cutoff: float) -> bool:
    """``ratio() >= cutoff``, after the two cheap upper bounds (as ``difflib.get_close_matches`` does): most
    typed sentences ("kiem tra ho so" against the menu) are far from every label, and ``ratio`` is the slow one."""
    matcher = difflib.SequenceMatcher(None, typed, candidate)
    return matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff and matcher.ratio() >= cutoff


def _newest(offered: list[Offered]) -> list[Offered]:
    """The choices of the newest message that offered any: what a typed number refers to."""
    if not offered:
        return []
    newest = max(option.message for option in offered)
    return [option for option in offered if option.message == newest]


def _save(conversation: Conversation, ctx: Context, now: dt.datetime) -> bool:
    """The conversation as the update leaves it; False when nothing moved (the menu shown again), which
    spares the update a write."""
    ctx.keep_form()
    # Each option is kept with the rank of its message among those that offered any, not the message's position
    # in the reply: the newest is still the highest, and a report above the menu leaves the row as the menu
    # alone left it (nothing to write).
    offering = [choices for choices in map(choices_of, ctx.replies) if choices]
    offered = [
        Offered(label_words(choice.label), choice.payload, rank, choice.label).row()
        for rank, choices in enumerate(offering)
        for choice in choices
    ]
    if ctx.quiet and not ctx.replies:
        offered = conversation.last_choices  # the question asked before is still the one to answer
    state = (ctx.state.flow, ctx.state.step, ctx.state.data, offered)
    if state == (conversation.flow, conversation.step, conversation.data, conversation.last_choices):
        return False
    conversation.flow, conversation.step, conversation.data, conversation.last_choices = state
    conversation.version += 1
    conversation.updated_at = now
    return True


def _retryable(error: Exception) -> bool:
    if isinstance(error, IntegrityError):
        return True
    message = str(error).casefold()
    return any(word in message for word in ("deadlock", "could not serialize", "database is locked"))


class _Apology(list[Outbound]):
    """The replies of an update that failed, told apart so the metrics count it as failed."""


def _unavailable() -> list[Outbound]:
    """The database is away for longer than an update can wait (a restart that takes long, maintenance)."""
    return _Apology([Text(_("⏳ The system is briefly unavailable. Please try again in a few minutes."))])


def _apology() -> list[Outbound]:
    return _Apology([Text(_("Sorry, something went wrong on our side. Nothing you sent is lost; please try again."))])
