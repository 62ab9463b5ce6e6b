"""A scripted user for flow tests: sends text, presses buttons by label or payload, sends files."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select, update

from bot.callbacks import Button
from bot.engine import Engine
from bot.messages import AskFile, AskPhone, Choice, Inbound, IncomingFile, Outbound, SendFile, Text
from bot.text import fold
from storage.models import ChannelIdentity, Conversation

_update_ids = itertools.count(1)


class FrozenClock:
    """A clock tests can move: ``clock.now`` is returned until changed."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


class Chat:
    def __init__(self, engine: Engine, user_id: str, channel: str = "console") -> None:
        self.engine = engine
        self.user_id = user_id
        self.channel = channel
        self.replies: list[Outbound] = []

    def _inbound(self, **fields: object) -> Inbound:
        return Inbound(
            self.channel,
            self.user_id,
            str(next(_update_ids)),
            chat_id=self.user_id,
            **fields,  # type: ignore[arg-type]
        )

    async def deliver(self, inbound: Inbound) -> list[Outbound]:
        self.replies = await self.engine.handle(inbound)
        return self.replies

    async def send(self, text: str) -> list[Outbound]:
        return await self.deliver(self._inbound(text=text))

    async def press(self, payload: str | Button) -> list[Outbound]:
        """Press a button: by its class (``chat.press(ShowItem(dossier=1, item="x"))``); a raw string only where
        the test is about strings nobody offered (forged, stale)."""
        packed = payload if isinstance(payload, str) else payload.pack()
        return await self.deliver(self._inbound(payload=packed))

    async def share_phone(self, phone: str) -> list[Outbound]:
        return await self.deliver(self._inbound(phone=phone))

    async def send_file(self, data: bytes, name: str = "file.bin", size: int | None = None) -> list[Outbound]:
        async def download() -> bytes:
            return data

        file = IncomingFile(name=name, claimed_mime=None, size=len(data) if size is None else size, download=download)
        return await self.deliver(self._inbound(file=file))

    async def send_path(self, path: Path) -> list[Outbound]:
        return await self.send_file(await asyncio.to_thread(path.read_bytes), path.name)

    # Reading what came back ------------------------------------------------------------------------
    @property
    def text(self) -> str:
        """All reply texts joined, for assertions."""
        return "\n".join(r.text if not isinstance(r, SendFile) else r.caption for r in self.replies)

    @property
    def choices(self) -> list[Choice]:
        found: list[Choice] = []
        for reply in self.replies:
            if isinstance(reply, Text | AskPhone | AskFile):
                found.extend(reply.choices)
        return found

    def payload_for(self, label_part: str) -> str:
        """The payload of the offered choice whose label contains ``label_part`` (folded)."""
        wanted = fold(label_part)
        matches = [c.payload for c in self.choices if wanted in fold(c.label)]
        if len(matches) != 1:
            labels = [c.label for c in self.choices]
            raise AssertionError(f"{len(matches)} choices match {label_part!r}; offered: {labels}")
        return matches[0]

    async def tap(self, label_part: str) -> list[Outbound]:
        """Press the button whose label contains ``label_part``."""
        return await self.press(self.payload_for(label_part))


async def force_offered(engine: Engine, external_id: str, payload: str) -> None:
    """Pretend ``payload`` had been offered to this user, so that only the handler's own checks (ownership,
    role, scope) stand between a crafted button and the data."""
    async with engine.sessions() as session, session.begin():
        user_id = await session.scalar(
            select(ChannelIdentity.user_id).where(ChannelIdentity.external_id == external_id)
        )
        conversation = await session.get_one(Conversation, user_id)
        await session.execute(
            update(Conversation)
            .where(Conversation.user_id == user_id)
            .values(last_choices=[*conversation.last_choices, ["forged", payload]])
        )


B = TypeVar("B", bound=Button)


def offered(chat: Chat, kind: type[B]) -> list[B]:
    """The buttons of one kind that the last replies offered, in the order shown."""
    return [button for choice in chat.choices if isinstance(button := Button.parse(choice.payload), kind)]
