"""Certificate QR codes for labels: a PNG (``qrcode`` on Pillow) of the link that opens the bot on the
certificate's public check.

Telegram opens ``/start cert_<code>`` from ``https://t.me/<bot>?start=cert_<code>``. A Zalo Official Account
link (``https://zalo.me/<oa id>``) opens the OA's chat but carries no start parameter in any Zalo document we
could read, so the code is printed under the QR and typed there; typing it works on every channel.
"""

from __future__ import annotations

import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M

from bot.public_codes import DEEP_LINK_PREFIX, telegram_link
from bot.settings import Settings

TELEGRAM, ZALO = "telegram", "zalo"


class NoLink(ValueError):
    """The bot's public address is not configured (no Telegram username, no OA id)."""


def certificate_link(settings: Settings, code: str, target: str = TELEGRAM) -> str:
    if target == ZALO:
        if not settings.zalo.oa.id:
            raise NoLink("ZALO_OA_ID")
        return f"https://zalo.me/{settings.zalo.oa.id}"
    if not settings.telegram.username:
        raise NoLink("TELEGRAM_BOT_USERNAME")
    return telegram_link(settings.telegram.username, code)


def qr_matrix(data: str) -> qrcode.QRCode:
    # Level M survives a scratched or slightly bent label; the 4-module border is the standard quiet zone.
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(data)
    code.make(fit=True)
    return code


def qr_png(data: str) -> bytes:
    image = qr_matrix(data).make_image()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def start_command(code: str) -> str:
    """What the deep link sends, and what anyone can type instead."""
    return f"/start {DEEP_LINK_PREFIX}{code}"
