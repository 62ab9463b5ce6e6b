"""Answers spoken instead of typed: many producers speak more easily than they type.

A step opts in with a handler, like a file: ``@flow.on_voice(step)`` → ``handler(ctx, note)``, which keeps
``note.value()`` in the flow data where a typed answer would go. Everything else is here, once:

* ``check``: the recording is downloaded and checked before the user's lock, like any file: its type from its
  bytes (OGG, AAC/ADTS, MP4/M4A, MP3, never the name or the platform's word), its size, and its length read
  from the container (mutagen: OGG granule position, MP3 frames or Xing header, MP4 ``mvhd``, ADTS frames);
* ``intake``: in the update's transaction, a voice note on a step that takes none is answered with a short
  sentence and the same question (nothing typed so far is lost); a refused one with why; an accepted one is
  stored (``bot.files.keep``) with a ``VoiceAnswer`` row, so the orphan sweep leaves it while the producer
  is still answering;
* ``shown``: what summaries print instead of the text ("🎤 Answered by voice (0:23)");
* ``notes``: the files a reviewer receives with the idea or dossier (``SendFile``).

Names, numbers, dates and choices are data and stay typed: their steps have no ``on_voice`` handler.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mutagen import MutagenError
from mutagen.aac import AAC
from mutagen.mp3 import MP3
from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from bot.files import CheckedFile, keep
from bot.i18n import _
from bot.messages import SECONDS, VOICE, IncomingFile, RejectedFile, SendFile, VoiceNote
from bot.rules import ACCEPTED_VOICE_TYPES
from bot.settings import Settings
from storage import dossiers, voice_answers
from storage.filestore import FileStore
from storage.models import VoiceAnswer

if TYPE_CHECKING:
    from bot.flow import Context

log = logging.getLogger(__name__)


# Type and length, from the bytes ---------------------------------------------------------------------------
def sniff_audio(data: bytes) -> tuple[str, str] | None:
    """(mime, extension) of a recording from its first bytes, or None when it is not one we take."""
    head = data[:16]
    if head.startswith(b"OggS"):
        return "audio/ogg", "ogg"
    if head[4:8] == b"ftyp":
        return "audio/mp4", "m4a"
    if head.startswith(b"ID3"):
        return "audio/mpeg", "mp3"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0b11
        if layer == 0 and head[1] & 0xF6 == 0xF0:  # ADTS: MPEG-2/4 AAC, layer bits always 00
            return "audio/aac", "aac"
        if layer != 0:
            return "audio/mpeg", "mp3"
    return None


def duration(data: bytes, mime: str) -> float | None:
    """Seconds of audio as the container says, or None when the container cannot be read."""
    readers: dict[str, tuple[Any, ...]] = {
        "audio/ogg": (OggOpus, OggVorbis),
        "audio/mpeg": (MP3,),
        "audio/mp4": (MP4,),
        "audio/aac": (AAC,),
    }
    for reader in readers.get(mime, ()):
        try:
            length = float(reader(io.BytesIO(data)).info.length)
        except (MutagenError, ValueError, ZeroDivisionError, IndexError, KeyError):
            continue
        if length > 0:
            return length
    return None


async def check(file: IncomingFile, settings: Settings) -> CheckedFile | RejectedFile:
    """Download and check a recording (before the user's lock: downloads are slow, Zalo's URLs expire)."""
    limit = settings.ocop.max_voice_bytes
    if file.size is not None and file.size > limit:
        return RejectedFile("too_large", size=file.size)
    try:
        data = await file.download()
    except Exception:  # any network or platform error: the user is asked to send again
        log.warning("voice download failed", exc_info=True)
        return RejectedFile("download_failed")
    if not data:
        return RejectedFile("empty", size=0)
    if len(data) > limit:
        return RejectedFile("too_large", size=len(data))
    sniffed = sniff_audio(data)
    if sniffed is None or sniffed[0] not in ACCEPTED_VOICE_TYPES:
        return RejectedFile("unsupported_type", size=len(data))
    mime, extension = sniffed
    seconds = await asyncio.to_thread(duration, data, mime)
    if seconds is None:
        # A container we cannot read is not a recording we can vouch for, whatever the platform claims.
        return RejectedFile("unsupported_type", size=len(data), detected=extension)
    if seconds > settings.ocop.max_voice_seconds:
        return RejectedFile("too_long", size=len(data), extra={"seconds": str(round(seconds))})
    return CheckedFile(
        data=data, mime=mime, extension=extension, original_name=file.name, seconds=max(1, round(seconds))
    )


# In the update ---------------------------------------------------------------------------------------------
async def intake(ctx: Context, checked: CheckedFile | RejectedFile | None, files: FileStore) -> bool:
    """A voice note arrived (after the gates): True when it was answered here, False when the step's answer
    should run (``Flow.run_answer`` hands ``ctx.voice`` to the step's ``on_voice`` handler)."""
    ctx.received = None
    flow, step = ctx.flow, ctx.state.step
    if flow is None or step is None or not flow.takes_voice(step):
        await ctx.reask(_("🎤 I cannot take a voice message for this. Please type or choose your answer."))
        return True
    if not isinstance(checked, CheckedFile) or checked.seconds is None:
        refused = checked if isinstance(checked, RejectedFile) else RejectedFile("unsupported_type")
        await ctx.reask(refusal(refused, ctx.settings))
        return True
    received = await keep(checked, files)
    try:
        relative: Path | str = received.path.relative_to(files.root)
    except ValueError:
        relative = received.path
    row = await dossiers.stored_file(
        ctx.session, sha256=received.sha256, size=received.size, mime=received.mime, path=str(relative)
    )
    answer = await voice_answers.add(ctx.session, user_id=ctx.user.id, stored_file_id=row.id, seconds=checked.seconds)
    ctx.voice = VoiceNote(answer.id, row.id, answer.seconds)
    return False


def refusal(rejected: RejectedFile, settings: Settings) -> str:
    """Why a recording was not taken, and what to do instead."""
    if rejected.reason == "too_large":
        return _("🎤 This recording is too big (at most {size} MB). Please record a shorter one, or type.").format(
            size=settings.ocop.max_voice_mb
        )
    if rejected.reason == "too_long":
        seconds = int(rejected.extra.get("seconds", "0"))
        return _("🎤 This recording is {length} long; at most {limit} please. Record a shorter one, or type.").format(
            length=clock(seconds), limit=clock(settings.ocop.max_voice_seconds)
        )
    if rejected.reason == "download_failed":
        return _("🎤 I could not receive the recording. Please send it again.")
    return _("🎤 I cannot play this recording. Please record a voice message in the chat, or type.")


# Showing and sending ---------------------------------------------------------------------------------------
def clock(seconds: int) -> str:
    """0:23, 2:05."""
    return f"{seconds // 60}:{seconds % 60:02d}"


def is_voice(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get(VOICE), int) and isinstance(value.get(SECONDS), int)


def label(seconds: int) -> str:
    return _("🎤 Answered by voice ({length})").format(length=clock(seconds))


def shown(value: Any) -> str:
    """An answer as summaries print it: the text, or the voice line for a spoken one ("" when none)."""
    if is_voice(value):
        return label(int(value[SECONDS]))
    return str(value or "")


def answer_ids(values: dict[str, Any]) -> dict[str, int]:
    """Field → ``VoiceAnswer`` id, for the spoken ones among a flow's answers."""
    return {field: int(value[VOICE]) for field, value in values.items() if is_voice(value)}


def notes(answers: Iterable[VoiceAnswer], files: FileStore, titles: dict[str, str]) -> list[SendFile]:
    """The recordings as files for a reviewer, each captioned with the question it answers."""
    sent: list[SendFile] = []
    for answer in answers:
        path = files.located(answer.stored_file.path)
        if not path.is_file():
            log.warning("voice answer %s: file %s is missing", answer.id, answer.stored_file.path)
            continue
        title = titles.get(answer.field or "", answer.field or "")
        sent.append(
            SendFile(
                path=path,
                name=f"giong-noi-{answer.id}{path.suffix}",
                mime=answer.stored_file.mime,
                caption=f"{title}: {label(answer.seconds)}" if title else label(answer.seconds),
            )
        )
    return sent
