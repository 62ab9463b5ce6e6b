"""What the dossier conversation remembers between two messages, and the buttons of its checklist that other
conversations (an item's files, reusing documents) lead back to.

The keys are those of the rows written before this was a dataclass, so a conversation in flight at a deploy
goes on where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from bot.flow import FlowData

FLOW_NAME = "dossier"
FILES_FLOW = "dossier_files"


class WaitingFile(NamedTuple):
    """A file sent before its item was chosen: kept (content-addressed), linked once the item is known."""

    stored_id: int
    original_name: str | None
    mime: str


@dataclass
class DossierForm(FlowData):
    dossier_id: int | None = None
    item_id: int | None = None
    page: str = "required"  # the checklist's page: "required" (what is missing) or "more" (every item)
    # Items whose expiry date was asked in this conversation (asked once), and where the question returns to.
    expiry_asked: list[int] = field(default_factory=list)
    expiry_then: str | None = None
    # While choosing: the product chosen, or the name typed for a new one.
    product_id: int | None = None
    name: str | None = None
    # Files waiting for an item, in the order sent, as [stored file id, original name, mime].
    stray: list[list[Any]] = field(default_factory=list)
    # The last file's [Telegram album id or None, ISO time]: the next one within a burst joins its question.
    burst: list[Any] | None = None
    # "menu": the files came from the menu, so leaving them out returns there rather than to the checklist.
    then: str | None = None

    def waiting(self) -> list[WaitingFile]:
        """The waiting files; an entry that is not ours (a hand-edited row) reads as a file that is gone."""
        found = []
        for entry in self.stray:
            stored = entry[0] if entry and isinstance(entry[0], int) else -1
            name = entry[1] if len(entry) > 1 and isinstance(entry[1], str) else None
            mime = str(entry[2]) if len(entry) > 2 else ""
            found.append(WaitingFile(stored, name, mime))
        return found

    def keep_waiting(self, file: WaitingFile) -> None:
        if all(entry[0] != file.stored_id for entry in self.stray):
            self.stray.append([file.stored_id, file.original_name, file.mime])

    def item_view(self) -> DossierForm:
        """What the item and the checklist need, without the choosing and the waiting files (for ``dossier_files``
        and back)."""
        return DossierForm(
            dossier_id=self.dossier_id, item_id=self.item_id, page=self.page, expiry_asked=list(self.expiry_asked)
        )
