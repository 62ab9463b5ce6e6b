"""A certificate anyone can check: the QR from ``ocop-bot certificate qr`` decodes to the deep link, and a
stranger (no onboarding, no consent) sees the right state for a valid, an expired and a revoked certificate."""

from __future__ import annotations

import argparse
import datetime as dt
import io
from pathlib import Path

import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from bot import certificate_cli
from bot.app import App
from bot.callbacks import Button
from bot.menu_buttons import MenuIdea, MenuStatus
from bot.public_codes import generate, parse
from handlers.status import CertificateQr
from storage import certificates, dossiers
from storage.models import CertificateLookup, Producer, User
from tests.chat import Chat
from tests.conftest import make_producer


async def make_certificate(
    app: App,
    producer_user: int,
    product: str,
    *,
    issued: dt.date = dt.date(2025, 6, 1),
    status: str = certificates.VALID,
    code: str | None = None,
) -> tuple[int, str]:
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        producer = await session.scalar(select(Producer).where(Producer.user_id == producer_user))
        assert producer is not None
        made = await dossiers.create_product(
            session,
            producer.id,
            name=product,
            name_folded=product.casefold(),
            group_code="drink",
            is_service=False,
            commune_code=producer.commune_code,
        )
        certificate = await certificates.issue(
            session,
            product_id=made.id,
            dossier_id=None,  # type: ignore[arg-type]
            stars=4,
            decision_no="123/QĐ-UBND",
            issued_on=issued,
            expires_on=issued.replace(year=issued.year + 3),
            issued_by=None,
            now=now,
            public_code=code or generate(),
        )
        if status == certificates.REVOKED:
            await certificates.revoke(session, certificate, "Vi phạm chất lượng", now - dt.timedelta(days=5))
        elif status != certificates.VALID:
            certificate.status = status
        return certificate.id, str(certificate.public_code)


def decode(path: Path) -> str:
    results = zxingcpp.read_barcodes(Image.open(path))
    assert len(results) == 1
    return str(results[0].text)


async def test_the_cli_qr_decodes_to_the_telegram_deep_link(app: App, tmp_path: Path) -> None:
    producer = await make_producer(app, "p1")
    certificate_id, code = await make_certificate(app, producer, "Chè Shan tuyết")
    output = tmp_path / "qr.png"

    async def run(*argv: str) -> tuple[int, str]:
        args: argparse.Namespace = certificate_cli.parser().parse_args(list(argv))
        out = io.StringIO()
        return await certificate_cli.execute(args, app.settings, now=app.engine.clock(), out=out), out.getvalue()

    status, text = await run("qr", str(certificate_id), "-o", str(output))
    assert status == 2 and "TELEGRAM_BOT_USERNAME" in text  # no public address yet: said, nothing written
    assert not output.exists()
    app.settings.telegram.username = "OcopLaiChauBot"
    status, text = await run("qr", str(certificate_id), "-o", str(output))
    assert status == 0, text
    assert decode(output) == f"https://t.me/OcopLaiChauBot?start=cert_{code}"
    assert Image.open(output).format == "PNG"
    status, _text = await run("qr", code.lower(), "-o", str(tmp_path / "again.png"))  # by its public code
    assert status == 0 and decode(tmp_path / "again.png") == decode(output)
    assert (await run("qr", "999", "-o", str(output)))[0] == 2
    app.settings.zalo.oa.id = "1234567890"
    assert (await run("qr", str(certificate_id), "-o", str(tmp_path / "zalo.png"), "--zalo"))[0] == 0
    assert decode(tmp_path / "zalo.png") == "https://zalo.me/1234567890"


async def test_a_stranger_sees_valid_expired_and_revoked_without_onboarding(app: App) -> None:
    producer = await make_producer(app, "p1", name="HTX Chè Tả Van")
    _id, valid = await make_certificate(app, producer, "Chè Shan tuyết")
    _id, expired = await make_certificate(app, producer, "Mật ong bạc hà", issued=dt.date(2022, 12, 1))
    _id, revoked = await make_certificate(app, producer, "Rượu ngô", status=certificates.REVOKED)

    stranger = Chat(app.engine, "stranger-1", channel="telegram")
    await stranger.send(f"/start cert_{valid}")
    for expected in (
        valid,
        "Chè Shan tuyết",
        "HTX Chè Tả Van",
        "Xã Bình Lư",
        "★★★★☆",
        "123/QĐ-UBND",
        "01/06/2025",
        "01/06/2028",
        "✅ còn hiệu lực",
    ):
        assert expected in stranger.text, expected
    assert not stranger.choices  # nothing asked
    for leaked in ("0912345678", "Mật ong", "Rượu ngô", "đồng ý"):
        assert leaked not in stranger.text

    await stranger.send(f"cert_{expired}")
    assert "⌛ hết hạn ngày 01/12/2025" in stranger.text and "Mật ong bạc hà" in stranger.text
    await stranger.send(f"/start cert_{revoked}")
    assert "⛔ đã thu hồi ngày 25/02/2026" in stranger.text
    # Typed on Zalo, lower case, with a space, no prefix: it works on every channel.
    on_zalo = Chat(app.engine, "zalo-stranger", channel="zalo_bot")
    await on_zalo.send(f"{valid[:4].lower()} {valid[4:].lower()}")
    assert "✅ còn hiệu lực" in on_zalo.text

    async with app.engine.sessions() as session:
        strangers = list(await session.scalars(select(User).where(User.consent_at.is_not(None))))
    assert [u.id for u in strangers] == [producer]  # nobody was asked for consent or registered


async def test_unknown_code_and_rate_limit(app: App) -> None:
    app.settings.certificates.checks_per_window = 3
    stranger = Chat(app.engine, "stranger-2")
    await stranger.send("/start cert_AB23CD45")
    assert "Không có giấy chứng nhận" in stranger.text and "AB23CD45" in stranger.text
    await stranger.send("/start cert_nonsense!")
    assert "8 chữ và số" in stranger.text
    await stranger.send("cert_AB23CD46")
    await stranger.send("cert_AB23CD47")
    await stranger.send("cert_AB23CD48")  # the fourth within ten minutes
    assert "Bạn tra cứu quá nhiều" in stranger.text
    app.engine.clock.advance(minutes=11)  # type: ignore[attr-defined]
    await stranger.send("cert_AB23CD49")
    assert "Không có giấy chứng nhận" in stranger.text
    async with app.engine.sessions() as session:
        assert await session.scalar(select(func.count(CertificateLookup.id))) == 1  # older checks pruned


async def test_a_bare_code_is_not_taken_inside_a_form(producer_chat: Chat) -> None:
    await producer_chat.press(MenuIdea())
    await producer_chat.send("AB23CD45")  # the idea's name, typed while the form asks for it
    assert "Không có giấy chứng nhận" not in producer_chat.text


def test_codes_are_mixed_and_parsed_from_what_people_type() -> None:
    for _ in range(200):
        code = generate()
        assert len(code) == 8 and any(c.isdigit() for c in code) and any(c.isalpha() for c in code)
        assert parse(code) == (code, False)
    assert parse("/start cert_ab23cd45") == ("AB23CD45", True)
    assert parse("OCOP AB23-CD45") == ("AB23CD45", True)
    for text in ("12345678", "xin chao", "ABCDEFGH", "AB23CD4O", "hello world 2"):
        assert parse(text) is None, text


async def test_the_producer_gets_the_label_qr_from_the_status_screen(app: App, tmp_path: Path) -> None:
    from bot.messages import SendFile

    producer = await make_producer(app, "p1")
    certificate_id, code = await make_certificate(app, producer, "Chè Shan tuyết")
    _revoked_id, _revoked = await make_certificate(app, producer, "Rượu ngô", status=certificates.REVOKED)
    app.settings.telegram.username = "OcopLaiChauBot"
    chat = Chat(app.engine, "p1")
    await chat.press(MenuStatus())
    offered = [Button.parse(c.payload) for c in chat.choices if CertificateQr.matches(c.payload)]
    assert offered == [CertificateQr(certificate=certificate_id)]  # a revoked certificate gets no label
    await chat.press(CertificateQr(certificate=certificate_id))
    (png,) = [r for r in chat.replies if isinstance(r, SendFile)]
    assert png.mime == "image/png" and code in png.caption
    assert decode(png.path) == f"https://t.me/OcopLaiChauBot?start=cert_{code}"
