"""Intake of a file a user sent: size limit, type sniffed from the bytes (never the name), hash, store."""

from __future__ import annotations

import logging

import filetype

from bot.messages import IncomingFile, ReceivedFile, RejectedFile
from bot.rules import ACCEPTED_FILE_TYPES
from storage.filestore import FileStore

log = logging.getLogger(__name__)


def sniff(data: bytes) -> tuple[str, str] | None:
    """(mime, extension) from the first bytes, or None when the type is unknown."""
    kind = filetype.guess(data[:8192])
    if kind is None:
        return None
    return kind.mime, kind.extension


async def receive(file: IncomingFile, store: FileStore, max_bytes: int) -> ReceivedFile | RejectedFile:
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
    sha256, path = await store.put(data, extension)
    return ReceivedFile(
        sha256=sha256, size=len(data), mime=mime, extension=extension, original_name=file.name, path=path
    )
