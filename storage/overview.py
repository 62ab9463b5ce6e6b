"""What the status report shows of one producer: their ideas, dossiers and certificates."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from storage import certificates, dossiers, ideas
from storage.models import Certificate, Dossier, ProductIdea


@dataclass(frozen=True)
class Overview:
    ideas: list[ProductIdea]  # newest first
    dossiers: list[Dossier]  # newest first, product, items and files loaded
    certificates: list[Certificate]  # newest first, whatever their status


async def overview(session: AsyncSession, producer_id: int) -> Overview:
    """The three lists in one call into SQLAlchemy's synchronous core: each async session call starts a greenlet
    of its own, which costs more than the query, and the report is what producers ask for most."""

    def read(sync: Session) -> Overview:
        values = {"producer_id": producer_id}
        return Overview(
            ideas=list(sync.scalars(ideas.IDEAS_OF, values)),
            dossiers=list(sync.scalars(dossiers.DOSSIERS_OF, values)),
            certificates=list(sync.scalars(certificates.OF_PRODUCER, values)),
        )

    return await session.run_sync(read)
