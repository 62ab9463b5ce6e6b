"""What the status report shows of one producer: their ideas, dossiers and certificates."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from storage import certificates, dossiers, ideas, preloaded
from storage.models import Certificate, CouncilResult, Dossier, ProductIdea


@dataclass(frozen=True)
class Decided:
    """What the province decided on one dossier, read with the report instead of asked for per dossier."""

    result: CouncilResult | None  # the council's
    certificate: Certificate | None  # the newest issued on this dossier, whatever its status


@dataclass(frozen=True)
class Overview:
    ideas: list[ProductIdea]  # newest first
    dossiers: list[Dossier]  # newest first, product, items and files loaded
    certificates: list[Certificate]  # newest first, whatever their status
    results: dict[int, CouncilResult]  # dossier id → the council's result

    @classmethod
    def nothing(cls) -> Overview:
        return cls(ideas=[], dossiers=[], certificates=[], results={})

    def decided(self, dossier: Dossier) -> Decided:
        # A certificate issued on a dossier is for that dossier's product, so it is among the producer's.
        certificate = next((c for c in self.certificates if c.dossier_id == dossier.id), None)
        return Decided(self.results.get(dossier.id), certificate)


async def overview(session: AsyncSession, producer_id: int) -> Overview:
    """The three lists in one call into SQLAlchemy's synchronous core: each async session call starts a greenlet
    of its own, which costs more than the query, and the report is what producers ask for most. A list the
    update's load found empty (``storage.preloaded``) is not read again."""
    # Dossiers are for products and certificates for dossiers: no product, neither of them.
    no_products = preloaded.producer_has_none(session, producer_id, preloaded.HAS_PRODUCTS)
    no_ideas = preloaded.producer_has_none(session, producer_id, preloaded.HAS_IDEAS)
    no_certificates = no_products or preloaded.producer_has_none(session, producer_id, preloaded.HAS_CERTIFICATES)
    if no_products and no_ideas:
        return Overview.nothing()

    def read(sync: Session) -> Overview:
        values = {"producer_id": producer_id}
        found = [] if no_products else dossiers.dossiers_with_results(sync, producer_id)
        return Overview(
            ideas=[] if no_ideas else list(sync.scalars(ideas.IDEAS_OF, values)),
            dossiers=[dossier for dossier, _result in found],
            certificates=[] if no_certificates else list(sync.scalars(certificates.OF_PRODUCER, values)),
            results={dossier.id: result for dossier, result in found if result is not None},
        )

    return await session.run_sync(read)
