"""What the ``province`` conversation remembers between two messages, as one dataclass kept in the conversation
row (``bot.flow.FlowData``).

Where the officer is (the list, its page, the round, the dossier and the version its screen showed) sits at the
top; what one task has collected so far sits in a group of its own (a new round, a batch, an action on the
open dossier), so a screen that ends a task starts afresh by assigning a new group. The home screen starts the
whole form afresh.

Version 1 was the flat dict the steps wrote before this dataclass; ``ProvinceForm.upgrade`` reads it, so a
conversation in flight at a deploy goes on where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.flow import FlowData

UNASSIGNED = "none"  # ``ProvinceForm.listing``: the dossiers not in a round yet
ASSIGN, ACCEPT = "assign", "accept"  # what the round picker does with the round chosen


@dataclass
class RoundDraft:
    """A new round being typed (``handlers.province_rounds``): written to the database only at its last step."""

    name: str | None = None
    deadline: str | None = None  # ISO date


@dataclass
class Batch:
    """Several dossiers being accepted into a round at once (``handlers.province_batch``)."""

    picked: dict[str, int] = field(default_factory=dict)  # dossier id → the version shown when it was ticked
    round_id: int | None = None
    page: int = 0


@dataclass
class Verdict:
    """The council's answer on the mandatory criteria: all passed, or which one failed and its note."""

    ok: bool | None = None
    criterion: str | None = None
    note: str | None = None


@dataclass
class CertificateDraft:
    """The certificate being issued: the central level's 5★ grant, the decision's number and date."""

    central: bool = False
    number: str | None = None
    date: str | None = None  # ISO date


@dataclass
class LateRound:
    """A dossier that reached the commune after the round's deadline, waiting for the officer's exception."""

    round_id: int | None = None
    then: str = ASSIGN


@dataclass
class DossierAction:
    """What one action on the open dossier has collected (``handlers.province_dossiers``,
    ``handlers.province_council``); dropped when someone else changed the dossier meanwhile."""

    then: str | None = None  # the round picker: ASSIGN or ACCEPT the dossier into the round chosen
    late: LateRound | None = None
    late_ok: int | None = None  # the round the officer has just let the late dossier into
    verdict: Verdict = field(default_factory=Verdict)
    correct: str | None = None  # the reason a saved result is being corrected
    member_id: int | None = None  # the council member whose sheet is being typed
    member_name: str | None = None  # a council member being added
    sheet: dict[str, float] = field(default_factory=dict)  # part (A, B, C) → points
    certificate: CertificateDraft = field(default_factory=CertificateDraft)
    revoke: str | None = None  # the reason the certificate is being revoked


@dataclass
class ProvinceForm(FlowData):
    VERSION: ClassVar[int] = 2

    listing: int | str | None = None  # the dossier list shown: a round's id, or UNASSIGNED
    page: int = 0
    round_id: int | None = None  # the round whose screen is open
    new_round: RoundDraft | None = None
    batch: Batch = field(default_factory=Batch)
    dossier_id: int | None = None  # the dossier whose screen is open
    version: int | None = None  # ... and the version that screen showed: every action must still find it
    action: DossierAction = field(default_factory=DossierAction)

    @classmethod
    def upgrade(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """Version 1: the flat dict of the steps, with the batch, the certificate and the verdict under keys of
        their own ("batch", "batch_round", "cert" with "no", "score"...)."""
        found = raw.get("cert")
        cert: dict[str, Any] = found if isinstance(found, dict) else {}
        return {
            "listing": raw.get("list"),
            "page": raw.get("page") or 0,
            "round_id": raw.get("round_id"),
            "new_round": raw.get("new_round"),
            "batch": {
                "picked": raw.get("batch") or {},
                "round_id": raw.get("batch_round"),
                "page": raw.get("batch_page") or 0,
            },
            "dossier_id": raw.get("dossier_id"),
            "version": raw.get("version"),
            "action": {
                "then": raw.get("then"),
                "late": raw.get("late"),
                "late_ok": raw.get("late_ok"),
                "verdict": raw.get("score") or {},
                "correct": raw.get("correct"),
                "member_id": raw.get("member_id"),
                "member_name": raw.get("member_name"),
                "sheet": raw.get("sheet") or {},
                "certificate": {
                    "central": bool(cert.get("central")),
                    "number": cert.get("no"),
                    "date": cert.get("date"),
                },
                "revoke": raw.get("revoke"),
            },
        }
