"""Answers spoken instead of typed (``storage.models.VoiceAnswer``): made when the note arrives, placed on the
idea or dossier it answers when that is submitted, read back for the commune officer's review."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import VoiceAnswer


async def add(session: AsyncSession, *, user_id: int, stored_file_id: int, seconds: int) -> VoiceAnswer:
    answer = VoiceAnswer(user_id=user_id, stored_file_id=stored_file_id, seconds=seconds)
    session.add(answer)
    await session.flush()
    return answer


async def place(
    session: AsyncSession,
    answers: dict[str, int],
    *,
    user_id: int,
    idea_id: int | None = None,
    dossier_id: int | None = None,
) -> None:
    """Put the answers (field → answer id) on what they answer; only the user's own answers move."""
    for field, answer_id in answers.items():
        await session.execute(
            update(VoiceAnswer)
            .where(VoiceAnswer.id == answer_id, VoiceAnswer.user_id == user_id)
            .values(field=field, idea_id=idea_id, dossier_id=dossier_id)
        )


async def of_idea(session: AsyncSession, idea_id: int) -> list[VoiceAnswer]:
    rows = await session.scalars(
        select(VoiceAnswer)
        .where(VoiceAnswer.idea_id == idea_id)
        .options(selectinload(VoiceAnswer.stored_file))
        .order_by(VoiceAnswer.id)
    )
    return list(rows)


async def of_dossier(session: AsyncSession, dossier_id: int) -> list[VoiceAnswer]:
    rows = await session.scalars(
        select(VoiceAnswer)
        .where(VoiceAnswer.dossier_id == dossier_id)
        .options(selectinload(VoiceAnswer.stored_file))
        .order_by(VoiceAnswer.id)
    )
    return list(rows)


async def files_of_user(session: AsyncSession, user_id: int) -> list[int]:
    """The stored files of a user's voice answers (for erasing their data)."""
    return list(await session.scalars(select(VoiceAnswer.stored_file_id).where(VoiceAnswer.user_id == user_id)))
