"""Sending a dossier's files back to staff (the commune reviewer, the province officer) in the chat.

The files come in checklist order, each captioned with its item, at most ``limit`` of them; a line then says
how many were sent. A file missing from the store (moved, cleaned up) is skipped rather than failing the reply.
Each is named ``<item>-<n>.<ext>`` with the extension of the type sniffed from its bytes: the name the
producer's phone gave ("IMG_2024.jpg" on a PDF, "giay.exe") would mislead the officer's computer.
"""

from __future__ import annotations

from pathlib import Path

from bot.flow import Context
from bot.i18n import _
from bot.messages import SendFile
from handlers.dossier import item_label
from storage.models import Dossier


def stored_path(ctx: Context, stored: str) -> Path:
    """Where a ``StoredFile.path`` is on disk: relative to the file store, or absolute from older uploads."""
    path = Path(stored)
    return path if path.is_absolute() else ctx.files.root / path


def staff_file_name(item_code: str, number: int, path: Path) -> str:
    """``lab_test-2.pdf``: the store's path ends with the extension sniffed when the file came in."""
    return f"{item_code}-{number}{path.suffix.lower()}"


def send_dossier_files(ctx: Context, dossier: Dossier, limit: int) -> None:
    """The dossier's files (items, files and stored files loaded), at most ``limit`` of them."""
    sent = 0
    total = sum(len(item.files) for item in dossier.items)
    for item in dossier.items:
        for number, link in enumerate(item.files, start=1):
            if sent >= limit:
                break
            stored = link.stored_file
            path = stored_path(ctx, stored.path)
            if not path.is_file():
                continue
            ctx.send_file(
                SendFile(
                    path=path,
                    name=staff_file_name(item.code, number, path),
                    mime=stored.mime,
                    caption=item_label(item.code),
                )
            )
            sent += 1
    if total > sent:
        ctx.say(_("{sent} of {total} files sent here; the rest are in the dossier.").format(sent=sent, total=total))
