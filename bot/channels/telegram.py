"""Telegram channel: aiogram long polling in, channel-neutral ``Inbound`` to the engine, ``Outbound`` rendered back.

Every aiogram type stays in this module. One update becomes exactly one ``Inbound``:

* text → ``text`` (a label typed or pressed from a reply keyboard we showed → that choice's ``payload``);
* a callback query → ``payload`` (the query is always answered, even for a stale button);
* a contact → ``phone``, but only the sender's own contact; someone else's card is passed on empty so the
  flow asks again;
* a photo (largest size) or document → ``file``, downloaded lazily through ``getFile`` by the engine;
* a voice note or an audio file → ``file`` marked ``voice`` (a spoken answer, ``bot.voice``);
* anything else (sticker, location, video) → an empty ``Inbound``: the engine answers with guidance.

Polling handles at most ``TELEGRAM_UPDATES_IN_FLIGHT`` updates at once (aiogram's ``tasks_concurrency_limit``):
a burst of thousands of users waits at the Bot API, in order, instead of becoming thousands of tasks that
swell the process and make everyone wait for everyone (``python -m bench.burst``).

Replying to an update honours ``retry_after`` on 429 with a bounded number of attempts; any other error is
logged and the update carries on. Handling an update never raises into aiogram. ``send(..., raise_errors=True)``
is the other policy, for the reminder sender (``bot.channels.telegram_delivery``): no retry, the Bot API's
error is raised as it came, for the sender to decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiogram import Bot, Dispatcher, Router
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import (
    AnswerCallbackQuery,
    GetFile,
    SendChatAction,
    SendDocument,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.methods.base import Response
from aiogram.types import (
    CallbackQuery,
    File,
    FSInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
    User,
)
from pydantic import BaseModel, ConfigDict

from bot.channels.handler import Handler
from bot.channels.telegram_session import JsonBodySession
from bot.messages import AskPhone, Choice, Inbound, IncomingFile, Outbound, SendFile
from bot.settings import TELEGRAM_UPDATES_IN_FLIGHT, Settings
from bot.text import split_message

log = logging.getLogger(__name__)

CHANNEL = "telegram"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes, a Bot API limit
SEND_ATTEMPTS = 4
PHOTO_MIMES = frozenset({"image/jpeg", "image/png"})
_LONG_PAYLOADS_KEPT = 10_000

T = TypeVar("T")
Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup | ReplyKeyboardRemove


class _Sent(BaseModel):
    """What we read of a message we sent: only its id. The Bot API echoes the whole message back, keyboard
    included, and parsing that into aiogram's ``Message`` costs more than building the keyboard did."""

    model_config = ConfigDict(extra="ignore")
    message_id: int


class _SendMessage(SendMessage):
    """``sendMessage`` whose answer is read as ``_Sent``."""

    __returning__ = _Sent  # type: ignore[assignment]


# aiogram reads every answer as ``Response[<what the method returns>]``, a generic model that pydantic builds on
# first use and caches only weakly: once the garbage collector has run, the next call builds the class and its
# validator again (about a millisecond). Held here, each is built once per process.
_ANSWER_MODELS = (Response[_Sent], Response[bool], Response[Message], Response[File], Response[list[Update]])
# Keyboards sent again and again (the main menu, a step's options) are built once: an aiogram keyboard is a
# tree of validated models, and building it cost more than sending it.
_KEYBOARDS_KEPT = 512


class HasEngine(Protocol):
    @property
    def engine(self) -> Handler: ...


@dataclass(frozen=True, slots=True)
class _Part:
    """One Bot API message to send: text (or a file) and at most one keyboard."""

    text: str
    markup: Markup | None = None
    file: SendFile | None = None


class TelegramChannel:
    """Translates updates for the engine and renders its replies. One instance per bot."""

    def __init__(self, engine: Handler, bot: Bot) -> None:
        self.engine = engine
        self.bot = bot
        # Chats where a reply keyboard (the phone request) is on screen: label → payload of its extra buttons.
        self._reply_keyboards: dict[int, dict[str, str]] = {}
        # Payloads longer than callback_data allows travel as a short hash; lost on restart → a stale button.
        self._long_payloads: OrderedDict[str, str] = OrderedDict()
        self._keyboards: OrderedDict[tuple[int, tuple[tuple[str, str], ...]], InlineKeyboardMarkup] = OrderedDict()
        self._chat_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()
        self._in_flight: set[asyncio.Task[Any]] = set()

    def router(self) -> Router:
        router = Router(name="ocop")
        router.message.register(self.on_message)
        router.callback_query.register(self.on_callback)
        return router

    # Incoming ------------------------------------------------------------------------------------------
    async def on_message(self, message: Message, event_update: Update) -> None:
        await self._guarded(self._message(message, event_update.update_id))

    async def on_callback(self, query: CallbackQuery, event_update: Update) -> None:
        await self._guarded(self._callback(query, event_update.update_id))

    async def _guarded(self, work: Awaitable[None]) -> None:
        """Run one update's work; nothing escapes into aiogram, and shutdown can wait for it."""
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await work
        except Exception:
            log.exception("telegram update failed")
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def drain(self, within: float = 10.0) -> None:
        """Wait (bounded) for updates being handled, so a shutdown does not cut replies in half."""
        pending = [task for task in self._in_flight if task is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=within)

    async def _message(self, message: Message, update_id: int) -> None:
        sender = message.from_user
        if sender is None:  # channel posts and anonymous admins: nobody to talk to
            return
        inbound = self.inbound_for_message(message, sender, update_id)
        if inbound.file is not None:
            # Downloads take a moment; the "typing…" line tells the user we are on it. Best effort only.
            with contextlib.suppress(TelegramAPIError):
                await self.bot(SendChatAction(chat_id=message.chat.id, action="upload_document"))
        await self._exchange(message.chat.id, inbound)

    async def _callback(self, query: CallbackQuery, update_id: int) -> None:
        # Answer first: the button stops spinning whether or not the payload still means anything.
        await self._call(AnswerCallbackQuery(callback_query_id=query.id))
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        data = query.data or ""
        payload = self._long_payloads.get(data, data)
        inbound = Inbound(
            CHANNEL,
            str(query.from_user.id),
            str(update_id),
            chat_id=str(chat_id),
            payload=payload or None,
            display_name=query.from_user.full_name,
            language_code=query.from_user.language_code,
        )
        await self._exchange(chat_id, inbound)

    def inbound_for_message(self, message: Message, sender: User, update_id: int) -> Inbound:
        fields: dict[str, Any] = {}
        if message.text is not None:
            pressed = self._reply_keyboards.get(message.chat.id, {}).get(message.text)
            if pressed is not None:
                fields["payload"] = pressed
            else:
                fields["text"] = message.text
        elif message.contact is not None:
            # Only the sender's own number: a forwarded card of someone else must not become their phone.
            if message.contact.user_id == sender.id:
                fields["phone"] = message.contact.phone_number
        elif message.photo:
            largest = max(message.photo, key=lambda size: size.width * size.height)
            fields["file"] = IncomingFile(
                name=None,
                claimed_mime="image/jpeg",
                size=largest.file_size,
                download=self._downloader(largest.file_id),
            )
            fields["text"] = message.caption or None
            fields["group"] = message.media_group_id
        elif message.voice is not None or message.audio is not None:
            recording = message.voice or message.audio
            assert recording is not None
            fields["file"] = IncomingFile(
                name=getattr(recording, "file_name", None),
                claimed_mime=recording.mime_type,
                size=recording.file_size,
                download=self._downloader(recording.file_id),
                voice=True,
            )
        elif message.document is not None:
            document = message.document
            fields["file"] = IncomingFile(
                name=document.file_name,
                claimed_mime=document.mime_type,
                size=document.file_size,
                download=self._downloader(document.file_id),
            )
            fields["text"] = message.caption or None
            fields["group"] = message.media_group_id
        return Inbound(
            CHANNEL,
            str(sender.id),
            str(update_id),
            chat_id=str(message.chat.id),
            display_name=sender.full_name,
            language_code=sender.language_code,
            **fields,
        )

    def _downloader(self, file_id: str) -> Callable[[], Awaitable[bytes]]:
        async def download() -> bytes:
            found = await self._call(GetFile(file_id=file_id))
            if found is None or not found.file_path:
                raise RuntimeError("getFile gave no file_path")
            buffer = await self.bot.download_file(found.file_path)
            if buffer is None:  # pragma: no cover - only when a destination is given
                raise RuntimeError("download gave no bytes")
            return buffer.read()

        return download

    async def _exchange(self, chat_id: int, inbound: Inbound) -> None:
        # The engine serialises one user's steps; this lock also keeps their replies in order on screen.
        lock = self._chat_locks.get(chat_id)
        if lock is None:
            lock = asyncio.Lock()
            self._chat_locks[chat_id] = lock
        async with lock:
            replies = await self.engine.handle(inbound)
            await self.send(chat_id, replies)

    # Outgoing ------------------------------------------------------------------------------------------
    async def send(self, chat_id: int, replies: Sequence[Outbound], *, raise_errors: bool = False) -> None:
        """Send ``replies`` in order. By default 429s are waited out and other failures logged; with
        ``raise_errors`` the first failure raises aiogram's ``TelegramAPIError`` and nothing is retried (a
        photo refused as a photo still goes as a document)."""
        parts = [part for reply in replies for part in self.render(chat_id, reply)]
        self._remove_stale_reply_keyboard(chat_id, parts)
        for part in parts:
            await self._send_part(chat_id, part, raise_errors=raise_errors)

    def render(self, chat_id: int, outbound: Outbound) -> list[_Part]:
        if isinstance(outbound, SendFile):
            return self._render_file(outbound)
        if isinstance(outbound, AskPhone):
            self._reply_keyboards[chat_id] = {choice.label: choice.payload for choice in outbound.choices}
            return self._split(outbound.text, _phone_keyboard(outbound))
        markup = self._inline_keyboard(outbound.choices, outbound.columns) if outbound.choices else None
        return self._split(outbound.text, markup)

    def _render_file(self, outbound: SendFile) -> list[_Part]:
        if len(outbound.caption) <= CAPTION_LIMIT:
            return [_Part(outbound.caption, file=outbound)]
        # A caption too long for the file goes after it as ordinary text.
        return [_Part("", file=outbound), *self._split(outbound.caption, None)]

    @staticmethod
    def _split(text: str, markup: Markup | None) -> list[_Part]:
        if not text.strip():
            text = "⬇️" if markup is not None else ""
        if not text:
            return []
        pieces = split_message(text, TEXT_LIMIT)
        # The keyboard belongs under the last piece, where the user's eyes end up.
        return [_Part(piece, markup if index == len(pieces) - 1 else None) for index, piece in enumerate(pieces)]

    def _remove_stale_reply_keyboard(self, chat_id: int, parts: list[_Part]) -> None:
        """A reply keyboard stays on screen until removed; the first plain message after it removes it.

        A message carries one keyboard only, so removal rides on a message that has none; when every message
        of this reply has an inline keyboard, removal waits for the next reply (the phone keyboard is
        one-time, so it is already folded away after a press)."""
        if chat_id not in self._reply_keyboards or any(isinstance(p.markup, ReplyKeyboardMarkup) for p in parts):
            return
        for index, part in enumerate(parts):
            if part.markup is None and part.file is None:
                parts[index] = _Part(part.text, ReplyKeyboardRemove(remove_keyboard=True))
                del self._reply_keyboards[chat_id]
                return

    def _inline_keyboard(self, choices: Sequence[Choice], columns: int) -> InlineKeyboardMarkup:
        columns = max(1, columns)
        key = (columns, tuple((c.label, c.payload) for c in choices))
        markup = self._keyboards.get(key)
        if markup is not None:
            self._keyboards.move_to_end(key)
            return markup
        # A keyboard with a hashed payload is not kept: its hash must stay among the recent long payloads.
        keep = all(len(c.payload.encode()) <= CALLBACK_DATA_LIMIT for c in choices)
        buttons = [InlineKeyboardButton(text=c.label, callback_data=self._callback_data(c.payload)) for c in choices]
        rows = [buttons[start : start + columns] for start in range(0, len(buttons), columns)]
        markup = InlineKeyboardMarkup(inline_keyboard=rows)
        if keep:
            self._keyboards[key] = markup
            if len(self._keyboards) > _KEYBOARDS_KEPT:
                self._keyboards.popitem(last=False)
        return markup

    def _callback_data(self, payload: str) -> str:
        if len(payload.encode()) <= CALLBACK_DATA_LIMIT:
            return payload
        log.warning("payload longer than %d bytes; sending a hash: %s", CALLBACK_DATA_LIMIT, payload[:80])
        key = "#" + hashlib.sha256(payload.encode()).hexdigest()[:32]
        self._long_payloads[key] = payload
        self._long_payloads.move_to_end(key)
        while len(self._long_payloads) > _LONG_PAYLOADS_KEPT:
            self._long_payloads.popitem(last=False)
        return key

    async def _send_part(self, chat_id: int, part: _Part, *, raise_errors: bool) -> None:
        if part.file is None:
            await self._call(
                _SendMessage(chat_id=chat_id, text=part.text, reply_markup=part.markup), raise_errors=raise_errors
            )
            return
        file = part.file
        caption = part.text or None
        upload = FSInputFile(file.path, filename=file.name)
        if file.mime in PHOTO_MIMES:
            try:
                await self._call(
                    SendPhoto(chat_id=chat_id, photo=upload, caption=caption),
                    reraise_bad_request=True,
                    raise_errors=raise_errors,
                )
                return
            except TelegramBadRequest as error:  # too large or odd dimensions for a photo: send it as a file
                log.info("sendPhoto refused (%s); sending as a document", error.message)
                upload = FSInputFile(file.path, filename=file.name)
        await self._call(SendDocument(chat_id=chat_id, document=upload, caption=caption), raise_errors=raise_errors)

    async def _call(
        self, method: TelegramMethod[T], *, reraise_bad_request: bool = False, raise_errors: bool = False
    ) -> T | None:
        """Call the Bot API, waiting out 429s and brief network trouble; None when it finally failed.

        ``raise_errors``: one attempt, and any failure raises."""
        if raise_errors:
            return await self.bot(method)
        name = method.__api_method__
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                return await self.bot(method)
            except TelegramRetryAfter as error:
                if attempt == SEND_ATTEMPTS:
                    log.warning("%s still rate limited after %d attempts; giving up", name, attempt)
                    return None
                log.info("%s rate limited; retrying after %s s", name, error.retry_after)
                await asyncio.sleep(error.retry_after)
            except TelegramNetworkError as error:
                if attempt == SEND_ATTEMPTS:
                    log.warning("%s failed after %d attempts: %s", name, attempt, error.message)
                    return None
                await asyncio.sleep(0.5 * attempt)
            except TelegramBadRequest as error:
                if reraise_bad_request:
                    raise
                log.warning("%s refused: %s", name, error.message)
                return None
            except TelegramAPIError as error:  # blocked by the user, chat gone, server error…
                log.warning("%s failed: %s", name, error.message)
                return None
        return None  # pragma: no cover - the loop always returns


def _phone_keyboard(outbound: AskPhone) -> ReplyKeyboardMarkup:
    rows = [[KeyboardButton(text=outbound.button_label, request_contact=True)]]
    rows.extend([KeyboardButton(text=choice.label)] for choice in outbound.choices)
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, one_time_keyboard=True)


# Wiring -------------------------------------------------------------------------------------------------
def build_bot(settings: Settings) -> Bot:
    if settings.telegram.token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    token = settings.telegram.token.get_secret_value()
    if settings.telegram.api_base:
        return Bot(token=token, session=JsonBodySession(api=TelegramAPIServer.from_base(settings.telegram.api_base)))
    return Bot(token=token, session=JsonBodySession())


def build_dispatcher(engine: Handler, settings: Settings) -> tuple[Dispatcher, Bot, TelegramChannel]:
    """The dispatcher, the bot and our channel, ready for ``dp.start_polling(bot, …)``."""
    bot = build_bot(settings)
    channel = TelegramChannel(engine, bot)
    # Conversation state lives in our database (the engine); aiogram's FSM would be an unused second copy.
    dispatcher = Dispatcher(disable_fsm=True)
    dispatcher.include_router(channel.router())
    return dispatcher, bot, channel


@contextlib.asynccontextmanager
async def polling(
    dispatcher: Dispatcher,
    bot: Bot,
    *,
    polling_timeout: int = 10,
    drain: Callable[[], Awaitable[None]] | None = None,
    in_flight: int = TELEGRAM_UPDATES_IN_FLIGHT,
) -> AsyncIterator[None]:
    """Poll in a background task while the block runs (at most ``in_flight`` updates handled at once); then
    stop, let in-flight updates finish, close."""
    task = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=polling_timeout,
            tasks_concurrency_limit=in_flight,
        )
    )
    try:
        yield
    finally:
        if dispatcher._running_lock.locked():  # stop_polling refuses when polling never started
            with contextlib.suppress(RuntimeError):
                await dispatcher.stop_polling()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if drain is not None:
            await drain()
        await bot.session.close()


async def run_polling(app: HasEngine, settings: Settings) -> None:
    """Run the bot until Ctrl-C or SIGTERM, then finish the updates in hand and close the session."""
    dispatcher, bot, channel = build_dispatcher(app.engine, settings)
    try:
        # A webhook left over from another deployment would make getUpdates fail with 409.
        await bot.delete_webhook(drop_pending_updates=False)
        await dispatcher.start_polling(
            bot,
            handle_signals=True,
            close_bot_session=False,
            tasks_concurrency_limit=settings.telegram.updates_in_flight,
        )
        await channel.drain()
    finally:
        await bot.session.close()
