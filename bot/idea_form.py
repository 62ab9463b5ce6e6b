"""The product idea's form: its questions and their labels, the market and support options, and what the idea
conversation (``handlers.idea``) keeps between two messages.

Shared by the idea conversation, the commune's review (which names the answer to fix when it returns an
idea, ``handlers.commune_review``) and the returned idea opened again pre-filled (``handlers.idea_return``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.flow import FlowData
from bot.i18n import N_

FLOW_NAME = "idea"

# The questions in the order they are asked; "origin_place" is a sub-question of "origin".
ORDER = ("name", "group", "description", "materials", "origin", "workers", "local_workers", "market", "support")

FIELD_LABELS: dict[str, str] = {
    "name": N_("Product name"),
    "group": N_("Product group"),
    "description": N_("Description"),
    "materials": N_("Raw materials"),
    "origin": N_("Materials from"),
    "workers": N_("Workers"),
    "local_workers": N_("Local workers"),
    "market": N_("Where it sells"),
    "support": N_("Support wanted"),
}

MARKET_LABELS: dict[str, str] = {
    "local": N_("Local market"),
    "province": N_("In the province"),
    "other": N_("Other provinces"),
    "online": N_("Sell online"),
    "export": N_("Export"),
}

SUPPORT_LABELS: dict[str, str] = {
    "packaging": N_("Packaging and labels"),
    "testing": N_("Product testing"),
    "trademark": N_("Trademark"),
    "training": N_("Training"),
    "promotion": N_("Promotion"),
    "loans": N_("Loans"),
}
NOTHING = "none"  # the support "ticked" as the only one when none is wanted

# Spoken answers are kept as {"voice": id, "file": id, "seconds": n} (``bot.voice``).
Spoken = dict[str, int]


@dataclass
class IdeaDraft(FlowData):
    """The answers so far. Nothing is stored before Submit; the keys are those of the rows written before this
    was a dataclass, so a conversation in the middle of the form still loads."""

    started: bool = False
    name: str | None = None
    group: str | None = None
    description: str | Spoken | None = None
    materials: str | Spoken | None = None
    origin: str | None = None
    workers: int | None = None
    local_workers: int | None = None
    market_sel: list[str] = field(default_factory=list)
    market_text: str | Spoken | None = None
    support_sel: list[str] = field(default_factory=list)
    support_text: str | Spoken | None = None
    # Answering one question from the summary's ✏️ Edit: back to the summary after it.
    editing: bool = False
    same_name_on: str | None = None
    # Fixing an idea the commune returned (``handlers.idea_return``): the question the commune flagged. Every
    # other answered question then shows its answer and ✅ Keep.
    returned_step: str | None = None
