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
import datetime as dt
import difflib
import logging
import re
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
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

Clock = Callable[[], dt.datetime]

CANCEL_WORDS = frozenset({"huy", "/huy", "cancel", "thoat", "dung lai"})
MENU_WORDS = frozenset({"menu", "/menu", "menu chinh", "trang chu", "bat dau lai"})
HELP_WORDS = frozenset({"giup", "giup do", "tro giup", "help", "/help", "huong dan", "?"})
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
        if inbound.file is not None:
            checked = await check(inbound.file, self.settings.max_file_bytes)
        lock = self._lock_for(inbound)
        async with lock:
            try:
                return await retrying(
                    lambda: self._handle_with_retries(inbound, checked),
                    within=self.settings.ocop_db_retry_seconds,
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
                    return await self._handle_once(inbound, checked)
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
        async with self.sessions() as session, session.begin():
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
                state = ConversationState(conversation.flow, conversation.step, dict(conversation.data or {}))
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
                if not ctx.replies:  # never leave the user in silence
                    await self._not_understood(ctx)
                if ctx.flow is not None and ctx.flow.takes(ctx.state.step) is Answer.NUMBER:
                    # The next message is a number: the options shown with it must not carry numbers too.
                    ctx.replies = [by_words(reply) for reply in ctx.replies]
                if _save(conversation, ctx, now):
                    await users.save_conversation(session, conversation)
                return ctx.replies
            finally:
                has_buttons.reset(buttons)
                current_locale.reset(token)

    async def _route(
        self, ctx: Context, conversation: Conversation, checked: CheckedFile | RejectedFile | None
    ) -> None:
        registry = self.registry
        text = ctx.text
        folded = fold(text) if text else ""

        if text and text.startswith("/"):
            name, _space, argument = text[1:].partition(" ")
            name = name.split("@", 1)[0].casefold()  # "/start@OcopBot" in groups
            argument = argument.strip()
            if name == "start" and argument:
                for prefix, deep_link in registry.deep_links.items():
                    if argument.startswith(prefix):
                        await deep_link(ctx, argument)
                        return
            command = registry.commands.get(name)
            if command is not None:
                await command(ctx, argument or None)
                return
        # A word that is also an offered option's label ("⬅️ Huỷ" on a reason question) is that option.
        offered = {fold(label_words(str(choice[0]))) for choice in conversation.last_choices}
        if folded not in offered and await self._global_word(ctx, folded):
            return

        # Before the gates: an answer typed to a question a gate asked (consent, a pending request's receipt)
        # is that question's button, as everywhere else.
        if ctx.payload is None and text:
            answer = ctx.flow.takes(ctx.state.step) if ctx.flow is not None else Answer.CHOICE
            ctx.payload = _match_choice(text, conversation.last_choices, answer)

        if registry.gate is not None and await registry.gate(ctx):
            if ctx.inbound.file is not None:
                ctx.replies.insert(
                    0, Text(_("📎 I did not keep the file you sent. Please send it again after you register."))
                )
            return
        if isinstance(checked, CheckedFile):
            ctx.received = await keep(checked, self.files)

        if ctx.payload is not None:
            prefix = ctx.payload.split(":", 1)[0] + ":"
            handler = registry.global_payloads.get(prefix)
            if handler is not None:
                await handler(ctx)
                return
            offered = {choice[1] for choice in conversation.last_choices}
            if ctx.payload not in offered or ctx.flow is None:
                await self._stale(ctx)
                return

        flow, step = ctx.flow, ctx.state.step
        if flow is not None and step is not None and step in flow.answers:
            await flow.answers[step](ctx)
            return
        if ctx.received is not None and registry.stray_file is not None:
            await registry.stray_file(ctx)
            return
        for intent in registry.intents:
            if any(phrase in folded for phrase in intent.phrases):
                await intent.run(ctx)
                return
        await self._not_understood(ctx, conversation.last_choices)

    async def _global_word(self, ctx: Context, folded: str) -> bool:
        """Cancel, menu and help words, valid in any step; True when one was handled."""
        if folded in CANCEL_WORDS or folded == "/cancel":
            if ctx.state.flow:
                ctx.say(_("Cancelled. What you had saved is kept."))
            ctx.end_flow()
            await ctx.main_menu()
            return True
        if folded in MENU_WORDS:
            ctx.end_flow()
            await ctx.main_menu()
            return True
        if folded in HELP_WORDS and "help" in self.registry.commands:
            await self.registry.commands["help"](ctx, None)
            return True
        return False

    async def _stale(self, ctx: Context) -> None:
        """An old or foreign button. Inside a flow the question being answered is asked again, so nothing
        typed so far is lost; otherwise the main menu follows."""
        ctx.payload = None
        if ctx.flow is not None and ctx.state.step is not None:
            await ctx.reask(_("That button belongs to an older message. Let us carry on from here:"))
            return
        ctx.end_flow()
        if self.registry.stale_button is not None:
            await self.registry.stale_button(ctx)
        else:
            ctx.say(_("That button is from an older message. Here is the menu again."))
            await ctx.main_menu()

    async def _not_understood(self, ctx: Context, last_choices: list[Any] | None = None) -> None:
        """Text nobody expected. When the last message offered buttons they are offered again, so a staff
        officer in the middle of a review or a producer on a checklist keeps their place."""
        offered = _newest(last_choices or [])
        if offered and all(len(choice) > 3 for choice in offered):
            ctx.say(
                _("Sorry, I did not understand. Please press one of these buttons (or type its number):"),
                [Choice(str(choice[3]), str(choice[1])) for choice in offered],
            )
            return
        if self.registry.not_understood is not None:
            await self.registry.not_understood(ctx)
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
    return settings.ocop_default_locale


def _match_choice(typed: str, last_choices: list[Any], answer: Answer) -> str | None:
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
        return str(numbered[index][1]) if 0 <= index < len(numbered) else None
    labels = [(fold(str(choice[0])), str(choice[1])) for choice in last_choices]
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
        if difflib.SequenceMatcher(None, folded, candidate).ratio() >= cutoff
    ]
    return close[0] if len(set(close)) == 1 else None


def _group(choice: list[Any]) -> int:
    """Which message of the last reply offered this choice ([words, payload, message index, label])."""
    return int(choice[2]) if len(choice) > 2 else 0


def _newest(last_choices: list[Any]) -> list[Any]:
    """The choices of the newest message that offered any: what a typed number refers to."""
    if not last_choices:
        return []
    newest = max(_group(choice) for choice in last_choices)
    return [choice for choice in last_choices if _group(choice) == newest]


def _save(conversation: Conversation, ctx: Context, now: dt.datetime) -> bool:
    """The conversation as the update leaves it; False when nothing moved (the menu shown again), which
    spares the update a write."""
    offered = [
        [label_words(choice.label), choice.payload, index, choice.label]
        for index, reply in enumerate(ctx.replies)
        for choice in choices_of(reply)
    ]
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
