"""Console chat: try every flow without any token. Choices are numbered; a file is sent by typing its path."""

from __future__ import annotations

import asyncio
import mimetypes
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.channels.menus import menu_lines, numbered_messages
from bot.engine import Engine
from bot.i18n import _
from bot.messages import AskFile, AskPhone, Inbound, IncomingFile, Outbound, SendFile

CHANNEL = "console"


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


async def chat(
    engine: Engine,
    *,
    user_id: str = "console-user",
    stdin: TextIO = sys.stdin,
    write: Callable[[str], None] = print,
    first_line: str | None = "/start",
    read_line: Callable[[], Awaitable[str]] | None = None,
) -> None:
    """Run an interactive chat until end of input (Ctrl-D) or "/quit"."""

    async def default_read() -> str:
        return await asyncio.to_thread(stdin.readline)

    read = read_line or default_read
    if first_line:
        await _exchange(engine, first_line, user_id, write)
    while True:
        write("> ")
        line = await read()
        if not line:
            return
        line = line.rstrip("\n")
        if line.strip() in {"/quit", "/exit"}:
            return
        await _exchange(engine, line, user_id, write)


async def _exchange(engine: Engine, line: str, user_id: str, write: Callable[[str], None]) -> None:
    replies = await engine.handle(inbound_from_line(line, user_id))
    for outbound, numbered in zip(replies, numbered_messages(replies), strict=True):
        write(render(outbound, numbered=numbered))
        write("")
