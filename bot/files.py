"""Intake of a file a user sent: size limit, type sniffed from the bytes (never the name), hash, store.

Two halves, because the engine does them at different moments: ``check`` downloads and sniffs before the
user's lock is taken (downloads are slow, Zalo's media URLs expire), ``keep`` writes the checked bytes into
the store only once the update has passed the onboarding gate. A file sent before consent is therefore
never written anywhere.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import filetype

from bot.i18n import _
from bot.messages import IncomingFile, ReceivedFile, RejectedFile
from bot.rules import ACCEPTED_FILE_TYPES, accepted_types_text
from storage.filestore import FileStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """Downloaded and of an accepted type, held in memory until the engine decides to keep it."""

    data: bytes
    mime: str
    extension: str
    original_name: str | None
    seconds: int | None = None  # a recording's length (``bot.voice``)


def sniff(data: bytes) -> tuple[str, str] | None:
    """(mime, extension) from the first bytes, or None when the type is unknown."""
    kind = filetype.guess(data[:8192])
    if kind is None:
        return None
    return kind.mime, kind.extension


async def check(file: IncomingFile, max_bytes: int) -> CheckedFile | RejectedFile:
    if file.size is not None and file.size > max_bytes:
        return RejectedFile("too_large", size=file.size)
    try:
        data = await file.download()
    except Exception:  # any network or platform error: the user is asked to send again
        log.warning("file download failed", exc_info=True)
        return RejectedFile("download_failed")
    if not data:
        return RejectedFile("empty", size=0)
    if len(data) > max_bytes:
        return RejectedFile("too_large", size=len(data))
    sniffed = sniff(data)
    if sniffed is None or sniffed[0] not in ACCEPTED_FILE_TYPES:
        return RejectedFile("unsupported_type", size=len(data), detected=sniffed[1] if sniffed else None)
    mime, extension = sniffed
    return CheckedFile(data=data, mime=mime, extension=extension, original_name=file.name)


async def keep(checked: CheckedFile, store: FileStore) -> ReceivedFile:
    sha256, path = await store.put(checked.data, checked.extension)
    return ReceivedFile(
        sha256=sha256,
        size=len(checked.data),
        mime=checked.mime,
        extension=checked.extension,
        original_name=checked.original_name,
        path=path,
    )


def refusal_text(rejected: RejectedFile, max_file_mb: int | float) -> str:
    """Why a file was not kept, in the user's words, whatever step it was sent to."""
    if rejected.reason == "too_large":
        return _(
            "This file is too big: the limit is {limit} MB. Please send a photo instead, or scan with a lower quality."
        ).format(limit=max_file_mb)
    if rejected.reason == "unsupported_type":
        return _("I cannot use this kind of file. Please send a photo, or one of: {types}.").format(
            types=accepted_types_text()
        )
    if rejected.reason == "empty":
        return _("This file is empty. Please send it again.")
    return _("I could not download this file. Please send it again.")
