"""Zalo Bot Platform channel: webhook (or development polling) in, ``Inbound`` to the engine, plain text out.

The platform has no buttons, no file sending and no contact sharing, so replies are rendered as text:

* choices become a numbered list ("1. …"); the engine maps a typed number or an option's words back to it;
* ``AskPhone`` asks the user to type the number (the flow validates it);
* ``AskFile`` asks for a photo: the platform only carries pictures, so paper documents are photographed;
* ``SendFile`` becomes a line naming the file (the platform cannot send files);
* long texts are split at 2,000 characters.

Inbound events: ``message.text.received`` → text; ``message.image.received`` → the photo URL is downloaded
by the engine at once (Zalo's CDN links expire) and checked and stored like any other file;
``message.voice.received`` → the AAC at ``voice_url``, likewise at once, as a spoken answer (``bot.voice``);
``message.sticker.received`` and ``message.unsupported.received`` (content withheld by Zalo for protected
users) → a short line of our own, then the engine's answer to an empty message (the question again, or the
menu). Updates are identified by ``event_name:message_id`` so that a redelivered webhook is handled once.

The bot token is part of every URL: URLs are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.channels.handler import Handler
from bot.channels.menus import menu_lines, numbered_messages
from bot.delivery import DeliveryError, RetryAfter, Unreachable
from bot.i18n import _, current_locale
from bot.messages import AskFile, AskPhone, Inbound, IncomingFile, Outbound, SendFile, Text
from bot.settings import Settings
from bot.text import display_name, split_message

log = logging.getLogger(__name__)

CHANNEL = "zalo_bot"
TEXT_LIMIT = 2000
# No rate limit is published; a 429 ("Quota exceeded") comes without a delay, so we wait a conservative one.
DEFAULT_RETRY_AFTER = 30.0
SEND_ATTEMPTS = 3
POLL_TIMEOUT = 30
MAX_DOWNLOAD_BYTES = 25 * 1024 * 1024

# Zalo's ids are 20-odd hex digits; anything else, or longer than we store, is refused rather than stored.
_ID = re.compile(r"[0-9A-Za-z_.-]{1,64}")
MAX_EVENT_NAME = 64

TEXT_EVENT = "message.text.received"
IMAGE_EVENT = "message.image.received"
VOICE_EVENT = "message.voice.received"
STICKER_EVENT = "message.sticker.received"
UNSUPPORTED_EVENT = "message.unsupported.received"


class ZaloBotError(Exception):
    def __init__(self, status: int, error_code: int | None, description: str) -> None:
        super().__init__(f"{status} {error_code}: {description}")
        self.status = status
        self.error_code = error_code
        self.description = description


# The API client -------------------------------------------------------------------------------------------
class ZaloBotClient:
    """A thin client: ``POST <base>/bot<token>/<method>`` with JSON, ``{ok, result}`` back."""

    def __init__(self, token: str, base: str, session: aiohttp.ClientSession | None = None) -> None:
        self._token = token
        self._base = base.rstrip("/")
        self._session = session
        self._own_session = session is None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, params: Mapping[str, Any] | None = None, *, wait: float = 20) -> Any:
        url = f"{self._base}/bot{self._token}/{method}"
        try:
            async with self.session.post(
                url, json=dict(params or {}), timeout=aiohttp.ClientTimeout(total=wait)
            ) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (aiohttp.ClientError, TimeoutError) as error:
            # str(error) of aiohttp may carry the URL, and with it the token: only the type is logged.
            raise ZaloBotError(0, None, f"network: {type(error).__name__}") from None
        if not isinstance(body, dict):
            raise ZaloBotError(status, None, "not a JSON object")
        if status != 200 or not body.get("ok"):
            code = body.get("error_code")
            raise ZaloBotError(
                status if status != 200 else int(code or 400),
                int(code) if isinstance(code, int | str) and str(code).lstrip("-").isdigit() else None,
                str(body.get("description") or ""),
            )
        return body.get("result")

    async def download(self, url: str) -> bytes:
        """Fetch a media URL (Zalo's CDN) with a size cap."""
        async with self.session.get(url, timeout=aiohttp.ClientTimeout(total=60)) as response:
            response.raise_for_status()
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data.extend(chunk)
                if len(data) > MAX_DOWNLOAD_BYTES:
                    raise ValueError("download too large")
            return bytes(data)


# Updates ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ZaloUpdate:
    event_name: str
    message: dict[str, Any]

    @property
    def sender(self) -> dict[str, Any]:
        sender = self.message.get("from")
        return sender if isinstance(sender, dict) else {}

    @property
    def sender_id(self) -> str:
        return str(self.sender.get("id") or "")

    @property
    def chat_id(self) -> str:
        chat = self.message.get("chat")
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        return str(chat_id or self.sender_id)

    @property
    def message_id(self) -> str:
        return str(self.message.get("message_id") or "")

    @property
    def update_id(self) -> str:
        """Stable across redeliveries: Zalo has no update id, so event + sender + message id stand in for one
        (a message id is only known to be unique per sender)."""
        return f"{self.event_name}:{self.sender_id}:{self.message_id}"

    def problem(self) -> str | None:
        """Why this update cannot be taken as it is (ids we could not store or trust), or None."""
        if len(self.event_name) > MAX_EVENT_NAME or not self.event_name.isprintable():
            return "bad event name"
        for what, value in (("sender id", self.sender_id), ("chat id", self.chat_id), ("message id", self.message_id)):
            if not _ID.fullmatch(value):
                return f"bad {what}"
        return None

    @property
    def photo_url(self) -> str | None:
        # The docs call it ``photo``; real webhooks send ``photo_url``.
        for key in ("photo_url", "photo"):
            value = self.message.get(key)
            if isinstance(value, str) and value:
                return value
        return None


def parse_update(body: Any) -> ZaloUpdate | None:
    """An update from a webhook body or a ``getUpdates`` result, with or without the ``{ok, result}`` wrapper."""
    if isinstance(body, dict) and "result" in body and "event_name" not in body:
        body = body["result"]
    if isinstance(body, list):  # tolerate an array, should one ever come
        body = body[0] if body else None
    if not isinstance(body, dict):
        return None
    event_name = body.get("event_name")
    message = body.get("message")
    if not isinstance(event_name, str) or not isinstance(message, dict):
        return None
    update = ZaloUpdate(event_name, message)
    if not update.sender_id or not update.message_id:
        return None
    return update


def secret_matches(expected: str | None, given: str | None) -> bool:
    """The webhook secret header, compared in constant time; no configured secret accepts nothing."""
    if not expected or given is None or not given.isascii():
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


# The channel -----------------------------------------------------------------------------------------------
class ZaloBotChannel:
    """Translates Zalo Bot updates for the engine and renders its replies; also a ``Delivery`` for the sender."""

    channel = CHANNEL

    def __init__(self, engine: Handler, client: ZaloBotClient, settings: Settings) -> None:
        self.engine = engine
        self.client = client
        self.settings = settings

    # Intake ------------------------------------------------------------------------------------------------
    def check_secret(self, header: str | None) -> bool:
        secret = self.settings.zalo.webhook_secret
        return secret_matches(secret.get_secret_value() if secret else None, header)

    @staticmethod
    def key(update: ZaloUpdate) -> tuple[str, str]:
        """Updates with the same key are processed one after another, in arrival order."""
        return (CHANNEL, update.sender_id)

    def inbound_for(self, update: ZaloUpdate) -> tuple[Inbound, str | None] | None:
        """The ``Inbound`` for an update and a line of our own to put first (stickers, withheld content)."""
        sender = update.sender
        if sender.get("is_bot"):  # our own sends echoed back
            return None
        fields: dict[str, Any] = {}
        note: str | None = None
        event = update.event_name
        if event == TEXT_EVENT:
            text = update.message.get("text")
            fields["text"] = text if isinstance(text, str) else None
        elif event == IMAGE_EVENT and update.photo_url:
            url = update.photo_url
            fields["file"] = IncomingFile(name=None, claimed_mime="image/jpeg", size=None, download=self._fetch(url))
            caption = update.message.get("caption")
            fields["text"] = caption if isinstance(caption, str) and caption.strip() else None
        elif event == VOICE_EVENT and isinstance(update.message.get("voice_url"), str):
            # Raw AAC on a CDN URL that may expire: fetched at once, before the user's lock (``bot.voice``).
            url = str(update.message["voice_url"])
            fields["file"] = IncomingFile(
                name=None, claimed_mime="audio/aac", size=None, download=self._fetch(url), voice=True
            )
        elif event == STICKER_EVENT:
            note = self._in_default_locale(lambda: _("Thank you for the sticker! 😊"))
        elif event == UNSUPPORTED_EVENT:
            note = self._in_default_locale(
                lambda: _(
                    "Zalo did not show me the content of your message. "
                    "Please type your answer, or type the number of a choice."
                )
            )
        else:  # anything new: the engine asks again or shows the menu
            note = self._in_default_locale(lambda: _("I cannot read this kind of message. Please type instead."))
        inbound = Inbound(
            CHANNEL,
            update.sender_id,
            update.update_id,
            chat_id=update.chat_id,
            display_name=display_name(sender.get("display_name")),
            **fields,
        )
        return inbound, note

    def _fetch(self, url: str) -> Callable[[], Awaitable[bytes]]:
        async def download() -> bytes:
            return await self.client.download(url)

        return download

    async def process(self, update: ZaloUpdate) -> None:
        """Handle one update end to end; nothing raises out of here."""
        try:
            found = self.inbound_for(update)
            if found is None:
                return
            inbound, note = found
            # "typing…" while the engine works (downloads included); best effort only.
            with contextlib.suppress(ZaloBotError):
                await self.client.call("sendChatAction", {"chat_id": update.chat_id, "action": "typing"})
            replies = await self.engine.handle(inbound)
            if not replies:  # a redelivered update: already answered
                return
            if note:
                replies = [Text(note), *replies]
            await self.send(update.chat_id, replies)
        except Exception:
            log.exception("zalo bot update %s failed", update.update_id)

    # Rendering ---------------------------------------------------------------------------------------------
    def _in_default_locale(self, make: Callable[[], str]) -> str:
        token = current_locale.set(self.settings.ocop.default_locale)
        try:
            return make()
        finally:
            current_locale.reset(token)

    def render(self, outbounds: Sequence[Outbound]) -> list[str]:
        """The texts to send, each at most 2,000 characters."""
        texts: list[str] = []
        for outbound, numbered in zip(outbounds, numbered_messages(outbounds), strict=True):
            text = self.render_one(outbound, numbered=numbered)
            if text.strip():
                texts.extend(split_message(text, TEXT_LIMIT))
        return texts

    def render_one(self, outbound: Outbound, *, numbered: bool = True) -> str:
        token = current_locale.set(self.settings.ocop.default_locale)
        try:
            if isinstance(outbound, SendFile):
                line = _("📎 {name}: this app cannot send files. Ask your commune officer for a copy.").format(
                    name=outbound.name
                )
                return f"{outbound.caption}\n{line}" if outbound.caption else line
            lines = [outbound.text]
            if isinstance(outbound, AskPhone):
                lines.append(_("Please type your phone number, for example 0912 345 678."))
            elif isinstance(outbound, AskFile):
                lines.append(
                    _(
                        "Send a photo here (📷). This app takes photos only: "
                        "for a paper or a document, take a clear photo of each page."
                    )
                )
            if outbound.choices:
                lines.append("")
                lines.extend(menu_lines(outbound, numbered=numbered))
            return "\n".join(lines)
        finally:
            current_locale.reset(token)

    # Sending -----------------------------------------------------------------------------------------------
    async def send(self, chat_id: str, replies: Sequence[Outbound]) -> None:
        """Replies to an update: a 429 is waited out a few times; other failures are logged, not raised."""
        for text in self.render(replies):
            for attempt in range(1, SEND_ATTEMPTS + 1):
                try:
                    await self.client.call("sendMessage", {"chat_id": chat_id, "text": text})
                    break
                except ZaloBotError as error:
                    if error.status == 429 and attempt < SEND_ATTEMPTS:
                        await asyncio.sleep(self._reply_backoff(attempt))
                        continue
                    log.warning("zalo bot sendMessage failed: %s %s", error.status, error.description)
                    return

    @staticmethod
    def _reply_backoff(attempt: int) -> float:
        # A user is waiting for this reply: short waits, unlike the outbox's conservative one.
        return float(attempt)

    async def deliver(self, chat_id: str, outbounds: Sequence[Outbound]) -> None:
        """``bot.delivery.Delivery``: messages outside an update (notices, reminders)."""
        for text in self.render(outbounds):
            try:
                await self.client.call("sendMessage", {"chat_id": chat_id, "text": text})
            except ZaloBotError as error:
                if error.status == 429:
                    raise RetryAfter(DEFAULT_RETRY_AFTER) from None
                if error.status == 403:
                    raise Unreachable(f"zalo bot: {error.description or 'forbidden'}") from None
                raise DeliveryError(f"zalo bot: {error.status} {error.description}") from None

    # Development polling -----------------------------------------------------------------------------------
    async def poll(self, stop: asyncio.Event, submit: Callable[[ZaloUpdate], object]) -> None:
        """``getUpdates`` in a loop (one update per call, no offset, 408 when nothing came)."""
        with contextlib.suppress(ZaloBotError):
            await self.client.call("deleteWebhook")
        failures = 0
        while not stop.is_set():
            try:
                result = await self.client.call("getUpdates", {"timeout": str(POLL_TIMEOUT)}, wait=POLL_TIMEOUT + 10)
                failures = 0
            except ZaloBotError as error:
                if error.status == 408:
                    continue
                failures += 1
                log.warning("zalo bot getUpdates failed: %s %s", error.status, error.description)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(30.0, 0.5 * 2**failures))
                continue
            update = parse_update(result)
            if update is not None and update.problem() is not None:
                log.warning("zalo bot getUpdates: update skipped (%s)", update.problem())
            elif update is not None:
                submit(update)
