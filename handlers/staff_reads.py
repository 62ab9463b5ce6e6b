"""An audit line each time a staff officer opens a producer's idea or dossier: the producer may ask who looked."""

from __future__ import annotations

from bot.flow import Context
from bot.roles import actor_label
from storage import audit, staff


async def log_read(ctx: Context, object_type: str, object_id: int) -> None:
    roles = await staff.active_roles(ctx.session, ctx.user.id)
    # Role codes, not words: the producer reads them later in their own language.
    held = [{"role": r.role, "commune": r.commune_code} for r in roles]
    await audit.record_read(
        ctx.session,
        at=ctx.now,
        actor_user_id=ctx.user.id,
        actor_label=actor_label(ctx),
        object_type=object_type,
        object_id=object_id,
        roles=held,
    )
