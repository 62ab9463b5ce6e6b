"""The channel-neutral vocabulary: one ``Inbound`` per platform update, a few ``Outbound`` kinds back.

Channel adapters translate to and from these; flows never see a platform type.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.callbacks import Button

# Channels that show choices as a numbered text list, answered by typing (no buttons).
NUMBERED_MENU_CHANNELS = frozenset({"console", "zalo_bot"})


@dataclass(frozen=True, slots=True)
class IncomingFile:
    """A file the user sent. ``download`` fetches the bytes; adapters give the size when they know it."""

    name: str | None
    claimed_mime: str | None
    size: int | None
    download: Callable[[], Awaitable[bytes]]
    # A voice note or audio the platform marked as such: checked as a spoken answer (``bot.voice``).
    voice: bool = False


@dataclass(frozen=True, slots=True)
class Inbound:
    """What one update says, whatever platform it came from."""

    channel: str
    external_user_id: str
    update_id: str
    chat_id: str | None = None
    text: str | None = None
    payload: str | None = None  # a button press: the short id we put on the button
    file: IncomingFile | None = None
    phone: str | None = None  # a contact the user shared (their own number)
    display_name: str | None = None
    language_code: str | None = None
    # Messages the user sent together (a Telegram album's media_group_id): one answer covers them all.
    group: str | None = None


@dataclass(frozen=True, slots=True, init=False)
class Choice:
    """One option offered: its label, and the button it presses (packed here, so channels see a string)."""

    label: str
    payload: str

    def __init__(self, label: str, payload: str | Button) -> None:
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "payload", payload if isinstance(payload, str) else payload.pack())


@dataclass(frozen=True, slots=True)
class Text:
    """A message, optionally with choices (buttons where the platform has them, a numbered list otherwise).

    ``by_words``: the answer expected next is a number, so the choices are listed without numbers and are
    chosen by their words (set by the engine on such steps, see ``bot.flow.Answer``)."""

    text: str
    choices: tuple[Choice, ...] = ()
    columns: int = 1
    by_words: bool = False


@dataclass(frozen=True, slots=True)
class AskPhone:
    """Ask for the user's own phone number (a contact button where the platform has one)."""

    text: str
    button_label: str
    choices: tuple[Choice, ...] = ()
    by_words: bool = False


@dataclass(frozen=True, slots=True)
class AskFile:
    """Ask for a photo or document; on text-only platforms the user is told how to send one."""

    text: str
    choices: tuple[Choice, ...] = ()
    columns: int = 1
    by_words: bool = False


@dataclass(frozen=True, slots=True)
class SendFile:
    path: Path
    name: str
    mime: str
    caption: str = ""


Outbound = Text | AskPhone | AskFile | SendFile


@dataclass(slots=True)
class ReceivedFile:
    """A file already downloaded, checked, hashed and stored on disk (``storage.filestore``)."""

    sha256: str
    size: int
    mime: str
    extension: str
    original_name: str | None
    path: Path


@dataclass(slots=True)
class RejectedFile:
    """A file we could not accept, with the reason as a code the flows explain to the user."""

    reason: str  # "too_large" | "unsupported_type" | "download_failed" | "empty"
    size: int | None = None
    detected: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def choices_of(outbound: Outbound) -> tuple[Choice, ...]:
    return () if isinstance(outbound, SendFile) else outbound.choices


def by_words(outbound: Outbound) -> Outbound:
    """The same message with its choices to be chosen by words, not numbers."""
    if isinstance(outbound, SendFile) or not outbound.choices:
        return outbound
    return replace(outbound, by_words=True)


# The keys of a spoken answer kept in flow data: {"voice": VoiceAnswer.id, "file": StoredFile.id, "seconds": 23}.
VOICE, FILE, SECONDS = "voice", "file", "seconds"


@dataclass(frozen=True, slots=True)
class VoiceNote:
    """A voice note accepted on this update (``bot.voice``): stored, with its ``VoiceAnswer`` row."""

    answer_id: int
    stored_file_id: int
    seconds: int

    def value(self) -> dict[str, int]:
        return {VOICE: self.answer_id, FILE: self.stored_file_id, SECONDS: self.seconds}
