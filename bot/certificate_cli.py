"""``ocop-bot certificate qr ID -o FILE.png``: the QR code for a certificate's label.

    ocop-bot certificate qr 12 -o nhan-qr.png          (the certificate's id, or its public code)
    ocop-bot certificate qr 12 -o nhan-qr.png --zalo   (opens the Zalo OA's chat instead of Telegram)

The QR holds ``https://t.me/<TELEGRAM_BOT_USERNAME>?start=cert_<code>``: scanning it opens the bot on the
certificate's public check. The code is printed too, for the label's text: typing it works on every channel.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from bot.public_codes import new_public_code, parse
from bot.qr import TELEGRAM, ZALO, NoLink, certificate_link, qr_png
from bot.settings import Settings
from storage import audit, certificates
from storage.models import Certificate

CLI_ACTOR = "cli"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="certificate_command")
    qr = sub.add_parser("qr", help="write the QR code (PNG) that opens the certificate's public check")
    qr.add_argument("certificate", help="the certificate's id or public code")
    qr.add_argument("-o", "--output", required=True, help="the .png file to write")
    qr.add_argument("--zalo", action="store_true", help="link to the Zalo OA instead of the Telegram bot")


def add_parser(commands: Any) -> None:
    configure(commands.add_parser("certificate", help="certificates: the label's QR code"))


def parser() -> argparse.ArgumentParser:
    found = argparse.ArgumentParser(prog="ocop-bot certificate")
    configure(found)
    return found


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(execute(args, settings))


async def execute(
    args: argparse.Namespace, settings: Settings, *, now: dt.datetime | None = None, out: TextIO | None = None
) -> int:
    from storage.db import create_engine, session_factory

    out = out or sys.stdout
    now = now or dt.datetime.now(dt.UTC)
    if args.certificate_command != "qr":
        print("error: say qr", file=out)
        return 2
    db = create_engine(settings.database_url)
    try:
        async with session_factory(db)() as session, session.begin():
            certificate = await _find(session, str(args.certificate))
            if certificate is None:
                print(f"error: no certificate {args.certificate!r}", file=out)
                return 2
            if certificate.public_code is None:
                certificate.public_code = await new_public_code(session)
                await audit.record(
                    session,
                    at=now,
                    actor_user_id=None,
                    actor_label=CLI_ACTOR,
                    action="certificate.public_code",
                    object_type="certificate",
                    object_id=certificate.id,
                    after={"public_code": certificate.public_code},
                )
            code = certificate.public_code
            try:
                link = certificate_link(settings, code, ZALO if args.zalo else TELEGRAM)
            except NoLink as missing:
                print(f"error: set {missing} so that the QR code can open the bot", file=out)
                await session.rollback()
                return 2
    finally:
        await db.dispose()
    path = Path(args.output)
    await asyncio.to_thread(path.write_bytes, qr_png(link))
    print(f"wrote {path}: {link}  (code {code})", file=out)
    return 0


async def _find(session: AsyncSession, which: str) -> Certificate | None:
    if which.isdigit():
        return await session.get(Certificate, int(which))
    parsed = parse(which)
    return await certificates.by_public_code(session, parsed[0]) if parsed else None
