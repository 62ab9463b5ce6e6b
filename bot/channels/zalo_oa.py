"""Zalo Official Account channel: signed webhook events in, customer-service messages out.

Inbound (``event_name``): ``user_send_text`` → text, or the payload of a button we offered (an
``oa.query.show`` button sends its payload back as the user's text); ``user_send_image`` /
``user_send_file`` → a file, downloaded by the engine at once; ``user_send_audio`` → a voice note, likewise,
as a spoken answer (``bot.voice``); ``user_submit_info`` (the answer to the
``request_user_info`` card) → the shared phone; ``follow`` / ``unfollow`` → the identity becomes active or
inactive; other user events (sticker, location…) → an empty message, answered with the question
again or the menu. Our own sends echoed back (``oa_send_*``, ``user_received_message``…) are ignored.

Webhook check: ``X-ZEvent-Signature`` = hex(SHA-256(app_id + raw body + timestamp + OA secret key)),
sometimes prefixed ``mac=``, with the timestamp taken from the body; compared in constant time. Events
older than ``ZALO_OA_MAX_EVENT_AGE_S`` are refused as replays, and an event seen before is acknowledged
and dropped.

Outbound: ``POST /v3.0/oa/message/cs`` (header ``access_token``), success only when ``error == 0``.
Choices → ``oa.query.show`` buttons (five per message); ``AskPhone`` → the ``request_user_info`` card;
``SendFile`` → uploaded (images ≤ 1 MB, PDF/DOC/DOCX ≤ 5 MB) and sent, otherwise named in a line.

Tokens: the access token lasts about a day and the refresh token is single-use, so the pair lives in the
``oa_tokens`` row and is rotated under its row lock (``SELECT … FOR UPDATE`` on PostgreSQL, the single
writer on SQLite): two processes never spend the same refresh token. A ``-216`` or HTTP 401 refreshes once
and retries.

Window: the user must have written within 7 days for a customer-service message (free within 48 hours).
Outside it a reminder goes as a ZNS template to the user's phone when ``ZALO_ZNS_TEMPLATE_ID`` is set;
otherwise ``deliver`` raises ``OutsideWindow`` and the outbox keeps the row as not deliverable here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channels.handler import Handler
from bot.channels.webhook_guard import JunkRequest, json_body
from bot.clock import Clock, utc_now
from bot.delivery import DeliveryError, OutsideWindow, RetryAfter, Unreachable
from bot.i18n import _, current_locale
from bot.messages import AskPhone, Choice, Inbound, IncomingFile, Outbound, SendFile
from bot.settings import Settings
from bot.text import split_message
from storage import links, users
from storage.db import dialect_of, insert_ignore
from storage.models import OAToken

log = logging.getLogger(__name__)

CHANNEL = "zalo_oa"
TEXT_LIMIT = 2000
BUTTONS_PER_MESSAGE = 5
BUTTON_TITLE_LIMIT = 100
FREE_WINDOW = dt.timedelta(hours=48)
CS_WINDOW = dt.timedelta(days=7)
REFRESH_MARGIN = dt.timedelta(minutes=10)
DEFAULT_RETRY_AFTER = 30.0
IMAGE_UPLOAD_LIMIT = 1024 * 1024
FILE_UPLOAD_LIMIT = 5 * 1024 * 1024
UPLOADABLE_IMAGES = frozenset({"image/jpeg", "image/png"})
UPLOADABLE_FILES = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)
AUTH_ERRORS = frozenset({-216, -124})
OUT_OF_WINDOW_ERRORS = frozenset({-230})
UNREACHABLE_ERRORS = frozenset({-213})
# Zalo's ids are digits; anything else, or longer than we store, is refused rather than stored.
_ID = re.compile(r"[0-9A-Za-z_.-]{1,64}")
MAX_EVENT_NAME = 64

Window = Literal["free", "paid", "closed"]


class OAError(Exception):
    def __init__(self, error: int, message: str, status: int = 200) -> None:
        super().__init__(f"{error}: {message}")
        self.error = error
        self.message = message
        self.status = status


# Webhook check ---------------------------------------------------------------------------------------------
def signature(app_id: str, raw_body: bytes, timestamp: str, secret_key: str) -> str:
    digest = hashlib.sha256(app_id.encode() + raw_body + timestamp.encode() + secret_key.encode())
    return digest.hexdigest()


def signature_matches(header: str | None, app_id: str, raw_body: bytes, timestamp: str, secret_key: str) -> bool:
    if not header or not header.isascii():
        return False
    given = header.strip()
    if given.casefold().startswith("mac="):
        given = given[4:]
    expected = signature(app_id, raw_body, timestamp, secret_key)
    return hmac.compare_digest(expected.encode(), given.strip().casefold().encode())


@dataclass(frozen=True, slots=True)
class OAEvent:
    body: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.body.get("event_name") or "")

    @property
    def user_id(self) -> str:
        for key in ("sender", "follower", "user"):
            value = self.body.get(key)
            if isinstance(value, dict) and value.get("id"):
                return str(value["id"])
        return str(self.body.get("user_id_by_app") or "")

    @property
    def message(self) -> dict[str, Any]:
        message = self.body.get("message")
        return message if isinstance(message, dict) else {}

    @property
    def timestamp(self) -> str:
        return str(self.body.get("timestamp") or "")

    def problem(self) -> str | None:
        """Why this event cannot be taken as it is (names and ids we could not store or trust), or None."""
        if len(self.name) > MAX_EVENT_NAME or not self.name.isprintable():
            return "bad event name"
        if self.user_id and not _ID.fullmatch(self.user_id):
            return "bad user id"
        msg_id = self.message.get("msg_id")
        if msg_id and not _ID.fullmatch(str(msg_id)):
            return "bad message id"
        return None

    @property
    def update_id(self) -> str:
        """Stable across Zalo's retries: event + message id (events without one: user + timestamp)."""
        msg_id = self.message.get("msg_id")
        if msg_id:
            return f"{self.name}:{msg_id}"
        return f"{self.name}:{self.user_id}:{self.timestamp}"


@dataclass(frozen=True, slots=True)
class Verdict:
    status: int
    event: OAEvent | None = None
    reason: str = ""


# Tokens ----------------------------------------------------------------------------------------------------
def _aware(value: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back; everything we store is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


class TokenStore:
    """The OA access token, refreshed before expiry; the single-use refresh token rotates under a row lock."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        http: aiohttp.ClientSession,
        clock: Clock = utc_now,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.http = http
        self.clock = clock
        self.oa_id = settings.zalo.oa.id or ""
        self._lock = asyncio.Lock()  # one refresher per process; the row lock covers the others

    async def access_token(self) -> str:
        async with self.sessions() as session:
            row = await session.get(OAToken, self.oa_id)
            if row is not None and _aware(row.expires_at) - REFRESH_MARGIN > self.clock():
                return row.access_token
        return await self.refresh()

    async def refresh(self, stale: str | None = None) -> str:
        """A fresh access token. With ``stale`` (a token the API refused), refresh unless another process has
        already replaced it; without, refresh unless the stored one is still good."""
        async with self._lock, self.sessions() as session, session.begin():
            now = self.clock()
            # Two processes seeding at once: the second INSERT waits for the first and then does nothing.
            await self._seed(session, now)
            row = await session.scalar(
                select(OAToken)
                .where(OAToken.oa_id == self.oa_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            if row is None:
                raise OAError(-216, "no OA token in the database and ZALO_OA_REFRESH_TOKEN is not set")
            if stale is None and _aware(row.expires_at) - REFRESH_MARGIN > now:
                return row.access_token
            if stale is not None and row.access_token != stale:
                return row.access_token  # another process refreshed after our call was refused
            # The HTTP call happens under the lock on purpose: the refresh token is spent by it.
            access, refresh, expires_in = await self._call_refresh(row.refresh_token)
            row.access_token = access
            row.refresh_token = refresh
            row.expires_at = now + dt.timedelta(seconds=expires_in)
            row.updated_at = now
            log.info("zalo oa access token refreshed; valid for %d s", expires_in)
            return access

    async def _seed(self, session: AsyncSession, now: dt.datetime) -> None:
        """The pasted token pair, stored once; after that the database holds the rotated pair."""
        refresh = self.settings.zalo.oa.refresh_token
        if refresh is None:
            return
        access = self.settings.zalo.oa.access_token
        # Expiry unknown for a pasted token: treat it as expired, so the pair is rotated and stored at once.
        values = {
            "oa_id": self.oa_id,
            "access_token": access.get_secret_value() if access else "",
            "refresh_token": refresh.get_secret_value(),
            "expires_at": now,
            "updated_at": now,
        }
        await session.execute(insert_ignore(OAToken.__table__, values, dialect_of(session)))  # type: ignore[arg-type]

    async def _call_refresh(self, refresh_token: str) -> tuple[str, str, int]:
        secret = self.settings.zalo.oa.app_secret
        url = f"{self.settings.zalo.oa.oauth_base.rstrip('/')}/v4/oa/access_token"
        form = {
            "app_id": self.settings.zalo.oa.app_id or "",
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        headers = {"secret_key": secret.get_secret_value() if secret else ""}
        try:
            async with self.http.post(
                url, data=form, headers=headers, timeout=aiohttp.ClientTimeout(total=20)
            ) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise OAError(-1, f"token refresh failed: {type(error).__name__}") from None
        if not isinstance(body, dict) or not body.get("access_token") or not body.get("refresh_token"):
            code = body.get("error") if isinstance(body, dict) else None
            # -14020: the refresh token was already used (someone refreshed without storing it).
            raise OAError(int(code or -1), "token refresh refused")
        return str(body["access_token"]), str(body["refresh_token"]), int(body.get("expires_in") or 3600)


# API client ------------------------------------------------------------------------------------------------
class ZaloOAClient:
    def __init__(self, settings: Settings, tokens: TokenStore, http: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.tokens = tokens
        self.http = http

    async def _request(
        self, url: str, *, json_body: Any = None, form: aiohttp.FormData | None = None
    ) -> dict[str, Any]:
        token = await self.tokens.access_token()
        for attempt in (1, 2):
            try:
                async with self.http.post(
                    url,
                    json=json_body if form is None else None,
                    data=form,
                    headers={"access_token": token},
                    timeout=aiohttp.ClientTimeout(total=30),
                ) as response:
                    status = response.status
                    body = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                raise OAError(-1, f"network: {type(error).__name__}") from None
            if not isinstance(body, dict):
                raise OAError(-1, "not a JSON object", status)
            error_code = int(body.get("error") or 0)
            if (status == 401 or error_code in AUTH_ERRORS) and attempt == 1:
                token = await self.tokens.refresh(stale=token)
                continue
            if status == 429:
                raise OAError(429, "rate limited", status)
            if error_code != 0 or status != 200:
                raise OAError(error_code or -status, str(body.get("message") or ""), status)
            return body
        raise OAError(-216, "access token refused after a refresh")  # pragma: no cover - loop returns

    async def send_message(self, user_id: str, message: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.settings.zalo.oa.api_base.rstrip('/')}/v3.0/oa/message/cs"
        return await self._request(url, json_body={"recipient": {"user_id": user_id}, "message": message})

    async def upload(self, kind: Literal["image", "file"], name: str, data: bytes, mime: str) -> str:
        """Upload for sending; the attachment id (image) or token (file)."""
        form = aiohttp.FormData()
        form.add_field("file", data, filename=name, content_type=mime)
        url = f"{self.settings.zalo.oa.api_base.rstrip('/')}/v2.0/oa/upload/{kind}"
        body = await self._request(url, form=form)
        found = body.get("data") or {}
        value = found.get("attachment_id") if kind == "image" else found.get("token")
        if not value:
            raise OAError(-1, "upload gave no id")
        return str(value)

    async def send_zns(self, phone: str, template_id: str, data: dict[str, str]) -> dict[str, Any]:
        url = f"{self.settings.zalo.oa.zns_api_base.rstrip('/')}/message/template"
        body = {"phone": phone, "template_id": template_id, "template_data": data, "tracking_id": uuid.uuid4().hex}
        return await self._request(url, json_body=body)

    async def download(self, url: str, limit: int) -> bytes:
        async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=60)) as response:
            response.raise_for_status()
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data.extend(chunk)
                if len(data) > limit:
                    raise ValueError("download too large")
            return bytes(data)


def window_of(last_seen_at: dt.datetime | None, now: dt.datetime) -> Window:
    """Where a message to this user stands: free reply, paid customer-service message, or refused."""
    if last_seen_at is None:
        return "closed"
    age = now - _aware(last_seen_at)
    if age <= FREE_WINDOW:
        return "free"
    return "paid" if age <= CS_WINDOW else "closed"


def zns_phone(phone: str | None) -> str | None:
    """0912345678 → 84912345678, the form ZNS wants."""
    if not phone:
        return None
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("0"):
        digits = "84" + digits[1:]
    return digits if digits.startswith("84") and len(digits) >= 11 else None


# The channel -----------------------------------------------------------------------------------------------
class ZaloOAChannel:
    """Events in, customer-service messages out; also a ``Delivery`` for the sender (window-aware)."""

    channel = CHANNEL

    def __init__(
        self,
        engine: Handler,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        client: ZaloOAClient,
        clock: Clock = utc_now,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.settings = settings
        self.client = client
        self.clock = clock
        # Payloads on the buttons last sent to each user; a restart falls back to the conversation row.
        self._offered: dict[str, set[str]] = {}

    # Intake ------------------------------------------------------------------------------------------------
    async def accept(self, raw: bytes, signature_header: str | None) -> Verdict:
        """Check one webhook request; an event to process, or the status to answer with. An event counts as
        seen only once it was processed (the engine's ledger, or ``process`` for follow/unfollow), so a retry
        of an event whose processing failed is processed, and a replay after a restart is not."""
        secret = self.settings.zalo.oa.secret_key
        app_id = self.settings.zalo.oa.app_id
        if secret is None or not app_id:
            return Verdict(403, reason="OA not configured")
        try:
            body = json_body(raw)
        except JunkRequest:
            return Verdict(400, reason="not JSON")
        if not isinstance(body, dict):
            return Verdict(400, reason="not an object")
        event = OAEvent(body)
        if not signature_matches(signature_header, app_id, raw, event.timestamp, secret.get_secret_value()):
            return Verdict(401, reason="bad signature")
        try:
            sent_at = dt.datetime.fromtimestamp(int(event.timestamp) / 1000, dt.UTC)
        except (ValueError, OverflowError, OSError):
            return Verdict(400, reason="bad timestamp")
        age = self.clock() - sent_at
        if abs(age.total_seconds()) > self.settings.zalo.oa.max_event_age_s:
            return Verdict(403, reason=f"stale timestamp ({int(age.total_seconds())} s)")
        problem = event.problem()
        if problem is not None:
            return Verdict(400, reason=problem)
        if not event.user_id:
            return Verdict(200, reason="no user")
        async with self.sessions() as session:
            if await users.was_processed(session, CHANNEL, event.update_id):
                return Verdict(200, reason="seen before")  # Zalo's retry of an event we have: acknowledge it
        return Verdict(200, event)

    @staticmethod
    def key(event: OAEvent) -> tuple[str, str]:
        return (CHANNEL, event.user_id)

    async def process(self, event: OAEvent) -> None:
        try:
            if event.name in ("follow", "unfollow"):
                async with self.sessions() as session, session.begin():
                    # Into the ledger with the change itself: a replayed "follow" never undoes a later unfollow.
                    if await users.mark_processed(session, CHANNEL, event.update_id, self.clock()):
                        await links.set_active(session, CHANNEL, event.user_id, event.name == "follow")
                return
            inbound = await self.inbound_for(event)
            if inbound is None:
                return
            replies = await self.engine.handle(inbound)  # the engine marks the event in its transaction
            if replies:  # none: a redelivery that was handled already
                await self.send(event.user_id, replies)
        except Exception:
            log.exception("zalo oa event %s failed", event.update_id)

    async def inbound_for(self, event: OAEvent) -> Inbound | None:
        name = event.name
        if not name.startswith("user_") or name in ("user_received_message", "user_seen_message"):
            return None  # our own sends echoed back, delivery receipts, OA-side events
        fields: dict[str, Any] = {}
        message = event.message
        if name == "user_send_text":
            text = str(message.get("text") or "")
            if text in await self._offered_payloads(event.user_id):
                fields["payload"] = text
            else:
                fields["text"] = text
        elif name == "user_send_audio":
            url = _first_attachment(message).get("url")
            if isinstance(url, str) and url:
                fields["file"] = IncomingFile(
                    name=None, claimed_mime=None, size=None, download=self._fetch(url), voice=True
                )
        elif name in ("user_send_image", "user_send_file"):
            attachment = _first_attachment(message)
            url = attachment.get("url")
            if isinstance(url, str) and url:
                size = attachment.get("size")
                fields["file"] = IncomingFile(
                    name=str(attachment["name"]) if attachment.get("name") else None,
                    claimed_mime="image/jpeg" if name == "user_send_image" else None,
                    size=int(size) if isinstance(size, int | str) and str(size).isdigit() else None,
                    download=self._fetch(url),
                )
            caption = message.get("text")
            if isinstance(caption, str) and caption.strip():
                fields["text"] = caption
        elif name == "user_submit_info":
            info = event.body.get("info")
            phone = info.get("phone") if isinstance(info, dict) else None
            fields["phone"] = str(phone) if phone else None
        return Inbound(CHANNEL, event.user_id, event.update_id, chat_id=event.user_id, **fields)

    async def _offered_payloads(self, user_id: str) -> set[str]:
        if user_id in self._offered:
            return self._offered[user_id]
        async with self.sessions() as session:
            return await links.offered_payloads(session, CHANNEL, user_id)

    def _fetch(self, url: str) -> Callable[[], Awaitable[bytes]]:
        async def download() -> bytes:
            return await self.client.download(url, self.settings.ocop.max_file_bytes)

        return download

    # Rendering ---------------------------------------------------------------------------------------------
    async def messages_for(self, outbounds: Sequence[Outbound], locale: str | None = None) -> list[dict[str, Any]]:
        token = current_locale.set(locale or self.settings.ocop.default_locale)
        try:
            found: list[dict[str, Any]] = []
            for outbound in outbounds:
                found.extend(await self._render(outbound))
            return found
        finally:
            current_locale.reset(token)

    async def _render(self, outbound: Outbound) -> list[dict[str, Any]]:
        if isinstance(outbound, SendFile):
            return await self._render_file(outbound)
        messages = _text_with_buttons(outbound.text, outbound.choices)
        if isinstance(outbound, AskPhone):
            messages.append(
                {
                    "attachment": {
                        "type": "template",
                        "payload": {
                            "template_type": "request_user_info",
                            "elements": [
                                {
                                    "title": outbound.button_label[:BUTTON_TITLE_LIMIT],
                                    "subtitle": _("Press here to share your phone number."),
                                    "image_url": self.settings.zalo.oa.phone_image_url,
                                }
                            ],
                        },
                    }
                }
            )
        return messages

    async def _render_file(self, outbound: SendFile) -> list[dict[str, Any]]:
        caption = _text_with_buttons(outbound.caption, ()) if outbound.caption.strip() else []
        try:
            data = await asyncio.to_thread(outbound.path.read_bytes)
            if outbound.mime in UPLOADABLE_IMAGES and len(data) <= IMAGE_UPLOAD_LIMIT:
                attachment_id = await self.client.upload("image", outbound.name, data, outbound.mime)
                media = {"media_type": "image", "attachment_id": attachment_id}
                payload = {"template_type": "media", "elements": [media]}
                return [*caption, {"attachment": {"type": "template", "payload": payload}}]
            if outbound.mime in UPLOADABLE_FILES and len(data) <= FILE_UPLOAD_LIMIT:
                file_token = await self.client.upload("file", outbound.name, data, outbound.mime)
                return [*caption, {"attachment": {"type": "file", "payload": {"token": file_token}}}]
        except (OSError, OAError) as error:
            # Not the file's name: it may be a person's.
            log.warning("zalo oa could not upload a %s file: %s", outbound.mime, error)
        line = _("📎 {name}: too large to send here. Ask your commune officer for a copy.").format(name=outbound.name)
        return [*caption, {"text": line}]

    def _remember(self, user_id: str, messages: Sequence[dict[str, Any]]) -> None:
        payloads = {
            str(button["payload"])
            for message in messages
            for button in message.get("attachment", {}).get("payload", {}).get("buttons", [])
        }
        self._offered[user_id] = payloads

    # Sending -----------------------------------------------------------------------------------------------
    async def send(self, user_id: str, replies: Sequence[Outbound]) -> None:
        """Replies to an event (inside the window by definition); failures are logged, not raised."""
        messages = await self.messages_for(replies)
        self._remember(user_id, messages)
        for message in messages:
            try:
                await self.client.send_message(user_id, message)
            except OAError as error:
                log.warning("zalo oa send failed: %s %s", error.error, error.message)
                return

    async def deliver(self, chat_id: str, outbounds: Sequence[Outbound]) -> None:
        """``bot.delivery.Delivery``: customer-service messages inside the 7-day window, a ZNS template by
        phone outside it when configured, else ``OutsideWindow`` so the outbox marks the row."""
        async with self.sessions() as session:
            found = await links.identity_by_chat(session, CHANNEL, chat_id)
        if found is None:
            raise Unreachable("zalo oa: no such user")
        identity, user = found
        if not identity.active:
            raise Unreachable("zalo oa: the user unfollowed the OA")
        now = self.clock()
        window = window_of(identity.last_seen_at, now)
        if window == "closed":
            await self._outside_window(user.phone, outbounds, identity.last_seen_at)
            return
        messages = await self.messages_for(outbounds, user.locale)
        for message in messages:
            try:
                await self.client.send_message(chat_id, message)
            except OAError as error:
                if error.error in OUT_OF_WINDOW_ERRORS:
                    await self._outside_window(user.phone, outbounds, identity.last_seen_at)
                    return
                raise _delivery_error(error) from None
        self._remember(chat_id, messages)

    async def _outside_window(
        self, phone: str | None, outbounds: Sequence[Outbound], last_seen_at: dt.datetime | None
    ) -> None:
        template = self.settings.zalo.oa.zns_template_id
        to = zns_phone(phone)
        if template and to:
            text = "\n".join(o.text if not isinstance(o, SendFile) else o.caption for o in outbounds).strip()
            try:
                await self.client.send_zns(to, template, {"message": text[:400]})
            except OAError as error:
                raise _delivery_error(error) from None
            return
        since = _aware(last_seen_at).strftime("%Y-%m-%d") if last_seen_at else "never"
        reason = "no ZNS template configured" if not template else "no phone number for ZNS"
        raise OutsideWindow(
            f"zalo oa: not deliverable on this channel: the user last wrote on {since}, more than 7 days ago, "
            f"so the OA may not send customer-service messages; {reason}"
        )


def _delivery_error(error: OAError) -> DeliveryError:
    if error.status == 429 or 12000 <= abs(error.error) <= 12010:
        return RetryAfter(DEFAULT_RETRY_AFTER)
    if error.error in UNREACHABLE_ERRORS:
        return Unreachable(f"zalo oa: {error.error} {error.message}")
    return DeliveryError(f"zalo oa: {error.error} {error.message}")


def _first_attachment(message: dict[str, Any]) -> dict[str, Any]:
    attachments = message.get("attachments")
    if isinstance(attachments, list) and attachments and isinstance(attachments[0], dict):
        payload = attachments[0].get("payload")
        if isinstance(payload, dict):
            return payload
    return {}


def _text_with_buttons(text: str, choices: Sequence[Choice]) -> list[dict[str, Any]]:
    """Text split at 2,000 characters; the buttons under the last piece, five per message."""
    pieces = split_message(text, TEXT_LIMIT) if text.strip() else []
    messages: list[dict[str, Any]] = [{"text": piece} for piece in pieces]
    groups = [choices[start : start + BUTTONS_PER_MESSAGE] for start in range(0, len(choices), BUTTONS_PER_MESSAGE)]
    for index, group in enumerate(groups):
        buttons = [
            {"title": choice.label[:BUTTON_TITLE_LIMIT], "type": "oa.query.show", "payload": choice.payload}
            for choice in group
        ]
        attachment = {"type": "template", "payload": {"buttons": buttons}}
        if index == 0 and messages:
            messages[-1]["attachment"] = attachment
        else:
            messages.append({"text": "⬇️", "attachment": attachment})
    return messages


def build_channel(
    engine: Handler,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    http: aiohttp.ClientSession,
    clock: Clock = utc_now,
) -> ZaloOAChannel:
    tokens = TokenStore(sessions, settings, http, clock)
    return ZaloOAChannel(engine, sessions, settings, ZaloOAClient(settings, tokens, http), clock)
