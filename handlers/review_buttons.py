"""The commune officer's buttons: the review queue and its dossiers and ideas ("cr:", ``handlers.commune_review``)
and claims on imported producers ("pc:", ``handlers.producer_claims``), which share the queue.

Both families are valid from any message; each handler re-checks the role and the commune of the object as
stored. The packed strings are the ones older messages carry ("cr:ok:<dossier>:<version>:<criterion>").
"""

from __future__ import annotations

from bot.callbacks import Button


class ReviewButton(Button):
    """Every "cr:" button."""


class ShowQueue(ReviewButton, prefix="cr:q"):
    pass


class QueuePage(ReviewButton, prefix="cr:qp"):
    page: int


class BackToMenu(ReviewButton, prefix="cr:menu"):
    pass


class CancelReason(ReviewButton, prefix="cr:x"):
    pass


class OpenDossier(ReviewButton, prefix="cr:d"):
    """From the queue: a submitted dossier enters review."""

    dossier: int


class ViewDossier(ReviewButton, prefix="cr:v"):
    dossier: int


class DossierFiles(ReviewButton, prefix="cr:f"):
    dossier: int


# A decision names the version of the dossier the officer saw, and the criterion by its index in CRITERIA.
class ConfirmCriterion(ReviewButton, prefix="cr:ok"):
    dossier: int
    version: int
    criterion: int


class RejectCriterion(ReviewButton, prefix="cr:no"):
    dossier: int
    version: int
    criterion: int


class UndoCriterion(ReviewButton, prefix="cr:un"):
    dossier: int
    version: int
    criterion: int


class FinishReview(ReviewButton, prefix="cr:end"):
    dossier: int
    version: int


class AskSupplement(ReviewButton, prefix="cr:sup"):
    dossier: int
    version: int


class OpenIdea(ReviewButton, prefix="cr:i"):
    idea: int


class AcceptIdea(ReviewButton, prefix="cr:ia"):
    idea: int


class ReturnIdea(ReviewButton, prefix="cr:ir"):
    idea: int


class ReturnField(Button, prefix="rf"):
    """Which answer of a returned idea needs fixing (a step of the idea flow, or "all"); pressed inside the
    reason flow, so not a member of the family valid from any message."""

    field: str


class ClaimButton(Button):
    """Every "pc:" button."""


class OpenClaim(ClaimButton, prefix="pc:c"):
    claim: int


class ConfirmClaim(ClaimButton, prefix="pc:y"):
    claim: int


class RefuseClaim(ClaimButton, prefix="pc:n"):
    claim: int
