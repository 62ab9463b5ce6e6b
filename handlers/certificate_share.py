"""What the province and the producer can take away from a certificate: a copy of the signed decision and the
QR code for the label (a PNG whose link opens the bot on the certificate's public check)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from bot.flow import Context
from bot.i18n import N_, _
from bot.messages import ReceivedFile, SendFile
from bot.public_codes import new_public_code
from bot.qr import TELEGRAM, ZALO, NoLink, certificate_link, qr_png, start_command
from storage import dossiers
from storage.models import Certificate, StoredFile

QR_CAPTION = N_(
    "QR code for the label. Anyone can check the certificate by scanning it, or by typing the code {code} to this bot."
)
DECISION_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})


async def stored_row(ctx: Context, received: ReceivedFile) -> int:
    """The stored-file row of a file the engine has already put in the file store."""
    path = received.path
    relative = path.relative_to(ctx.files.root) if path.is_relative_to(ctx.files.root) else path
    row = await dossiers.stored_file(
        ctx.session, sha256=received.sha256, size=received.size, mime=received.mime, path=str(relative)
    )
    return row.id


async def ensure_code(session: AsyncSession, certificate: Certificate) -> str:
    """Certificates issued before public codes existed get one the first time a QR is asked for."""
    if certificate.public_code is None:
        certificate.public_code = await new_public_code(session)
        await session.flush()
    return certificate.public_code


async def send_decision(ctx: Context, certificate: Certificate) -> None:
    stored = await ctx.session.get(StoredFile, certificate.decision_file_id) if certificate.decision_file_id else None
    path = ctx.files.located(stored.path) if stored is not None else None
    if stored is None or path is None or not path.is_file():
        ctx.say(_("The signed decision has not been uploaded yet. The province will add it."))
        return
    ctx.send_file(
        SendFile(
            path=path,
            name=f"quyet-dinh-ocop{Path(stored.path).suffix}",
            mime=stored.mime,
            caption=_("Decision {number}").format(number=certificate.decision_no),
        )
    )


async def send_qr(ctx: Context, certificate: Certificate) -> None:
    code = await ensure_code(ctx.session, certificate)
    target = ZALO if ctx.channel.startswith("zalo") and ctx.settings.zalo.oa.id else TELEGRAM
    try:
        link = certificate_link(ctx.settings, code, target)
    except NoLink:
        link = start_command(code)
    data = qr_png(link)
    _sha, path = await ctx.files.put(data, "png")
    ctx.send_file(
        SendFile(
            path=path,
            name=f"ocop-qr-{code}.png",
            mime="image/png",
            caption=_(QR_CAPTION).format(code=code),
        )
    )
