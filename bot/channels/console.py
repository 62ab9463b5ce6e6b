"""Console chat: try every flow without any token. Choices are numbered; a file is sent by typing its path.

Notices and reminders for the person at the terminal (an idea accepted, a rejection's reason, a certificate)
go through the outbox as on every channel; the chat runs a sender for its own user only, after each answer and
every few seconds while waiting for input, so a trial shows the whole story. Other users' rows are left for
their own channel (or their own console). Nobody sleeps at a terminal in use: quiet hours do not apply.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import mimetypes
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

from bot.channels.menus import menu_lines, numbered_messages
from bot.engine import Engine
from bot.i18n import _
from bot.messages import AskFile, AskPhone, Inbound, IncomingFile, Outbound, SendFile
from bot.sender import Sender
from storage import users

CHANNEL = "console"
NOTICE_POLL_SECONDS = 2.0


def render(outbound: Outbound, *, numbered: bool = True) -> str:
    """Plain text for a terminal: the message, then its choices (numbered from 1 when ``numbered``)."""
    if isinstance(outbound, SendFile):
        return f"📎 {outbound.name} ({outbound.path}) {outbound.caption}".rstrip()
    lines = [outbound.text]
    if isinstance(outbound, AskPhone):
        lines.append(_("(Type your phone number, for example 0912 345 678.)"))
    if isinstance(outbound, AskFile):
        lines.append(_("(To send a file here, type its path, for example /home/me/photo.jpg.)"))
    lines.extend(menu_lines(outbound, indent="  ", numbered=numbered))
    return "\n".join(lines)


def _file_from_path(raw: str) -> IncomingFile | None:
    path = Path(raw.strip().strip("'\"")).expanduser()
    if not raw.strip() or not path.is_file():
        return None

    async def download() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    return IncomingFile(
        name=path.name,
        claimed_mime=mimetypes.guess_type(path.name)[0],
        size=path.stat().st_size,
        download=download,
    )


def inbound_from_line(line: str, user_id: str) -> Inbound:
    update_id = f"{time.time_ns()}"
    file = _file_from_path(line) if ("/" in line or "\\" in line) else None
    if file is not None:
        return Inbound(CHANNEL, user_id, update_id, chat_id=user_id, file=file)
    return Inbound(CHANNEL, user_id, update_id, chat_id=user_id, text=line)


class ConsoleDelivery:
    """The terminal as a ``bot.delivery.Delivery``: what the sender delivers is printed like a reply."""

    channel = CHANNEL

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    async def deliver(self, chat_id: str, outbounds: Sequence[Outbound]) -> None:
        for outbound in outbounds:
            self.write(render(outbound))
            self.write("")


class Postman:
    """Delivers the outbox rows of the console's own user to this terminal."""

    def __init__(self, engine: Engine, external_id: str, write: Callable[[str], None]) -> None:
        self.engine = engine
        self.external_id = external_id
        self.delivery = ConsoleDelivery(write)
        self.sender: Sender | None = None

    async def deliver(self) -> int:
        """Send what is due now; how many messages were printed."""
        if self.sender is None:
            async with self.engine.sessions() as session:
                user_id = await users.user_id_of(session, CHANNEL, self.external_id)
            if user_id is None:
                return 0  # not even /start yet: nothing can be waiting
            awake = self.engine.settings.replaced(ocop_quiet_start=dt.time(0), ocop_quiet_end=dt.time(0))
            self.sender = Sender(
                self.engine.sessions,
                awake,
                {CHANNEL: self.delivery},
                clock=self.engine.clock,
                concurrency=1,
                only_users={user_id},
            )
        before = self.sender.stats.messages
        await self.sender.run_once()
        return self.sender.stats.messages - before


async def chat(
    engine: Engine,
    *,
    user_id: str = "console-user",
    stdin: TextIO = sys.stdin,
    write: Callable[[str], None] = print,
    first_line: str | None = "/start",
    read_line: Callable[[], Awaitable[str]] | None = None,
    notice_poll_seconds: float = NOTICE_POLL_SECONDS,
) -> None:
    """Run an interactive chat until end of input (Ctrl-D) or "/quit"."""

    async def default_read() -> str:
        return await asyncio.to_thread(stdin.readline)

    read = read_line or default_read
    postman = Postman(engine, user_id, write)

    async def read_meanwhile_delivering() -> str:
        reading = asyncio.ensure_future(read())
        while True:
            done, _pending = await asyncio.wait({reading}, timeout=notice_poll_seconds)
            if done:
                return reading.result()
            if await postman.deliver():
                write("> ")

    if first_line:
        await _exchange(engine, first_line, user_id, write)
        await postman.deliver()
    while True:
        write("> ")
        line = await read_meanwhile_delivering()
        if not line:
            return
        line = line.rstrip("\n")
        if line.strip() in {"/quit", "/exit"}:
            return
        await _exchange(engine, line, user_id, write)
        await postman.deliver()


async def _exchange(engine: Engine, line: str, user_id: str, write: Callable[[str], None]) -> None:
    replies = await engine.handle(inbound_from_line(line, user_id))
    for outbound, numbered in zip(replies, numbered_messages(replies), strict=True):
        write(render(outbound, numbered=numbered))
        write("")
