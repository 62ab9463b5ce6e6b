"""The Zalo Bot Platform: a producer who only types (digits and words) through the webhook gives consent under
the 2025 law, asks for deletion by typing "xoa du lieu", gets a receipt, and after the deadline is told in Zalo
what was kept; then nothing personal is left."""

from __future__ import annotations

from sqlalchemy import select

from bot.app import App
from handlers import onboarding
from handlers import privacy as privacy_flow
from storage.models import ChannelIdentity, User
from tests.chat import FrozenClock
from tests.staff_helpers import make_dossier
from tests.test_privacy import DECISION, certify, sweep_privacy
from tests.test_privacy_channels import _blob_paths, _deliver, _user_id
from tests.test_zalo_bot import Harness, ZaloPerson, api, zalo  # noqa: F401  (fixtures)


async def test_zalo_bot_consent_delete_and_the_notice_of_what_was_kept(
    app: App,
    zalo: Harness,  # noqa: F811  (the fixture imported above)
    clock: FrozenClock,
) -> None:
    person = ZaloPerson(app, zalo, "zalo-user-1")
    await person.type("xin chao")
    texts = zalo.api.texts_to("zalo-user-1")
    assert any("91/2025/QH15" in text for text in texts)
    await person.pick(onboarding.ConsentYes().pack())
    await person.type("0912 345 678")
    await person.pick("ob:kind:htx")
    await person.type("HTX Chè Tả Van")
    await person.type("binh lu")
    await person.pick(lambda payload: payload.startswith("ob:commune:") and payload[-1].isdigit())
    user_id = await _user_id(app, "zalo-user-1")
    certified = await make_dossier(app, user_id, product="Chè Tả Van", seed=31)
    await certify(app, certified)
    blobs_before = await _blob_paths(app)

    await person.type("du lieu cua toi")
    await person.pick(privacy_flow.Download().pack())  # Zalo Bot sends no files: a sentence says where to get it
    assert "không gửi được tệp ZIP" in zalo.api.texts_to("zalo-user-1")[-2]
    # The privacy screen offers "🗑 Xoá dữ liệu…": its typed words are that option, straight to the confirmation.
    await person.type("xoa du lieu")
    await person.pick(privacy_flow.ConfirmDelete().pack())
    assert "Biên nhận số 1" in zalo.api.texts_to("zalo-user-1")[-1]

    clock.advance(hours=73)
    await sweep_privacy(app)
    await _deliver(app, clock, "zalo_bot", zalo.channel)
    told = zalo.api.texts_to("zalo-user-1")[-1]
    assert "Đã xóa dữ liệu" in told and DECISION in told and "Chè Tả Van" in told
    await sweep_privacy(app)
    blobs_after = await _blob_paths(app)
    assert blobs_after == blobs_before  # the certificate's only file is kept
    async with app.engine.sessions() as session:
        user = await session.get(User, user_id)
        assert user is not None and user.phone is None and user.erased_at is not None
        assert await session.scalar(select(ChannelIdentity)) is None
