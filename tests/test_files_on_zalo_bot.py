"""Files on the Zalo Bot Platform, end to end through the fake Zalo server and our webhook: a photo sent
before consent is answered and never written; a wrong photo is taken back by typing digits only."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import App
from bot.settings import Settings
from storage.models import DossierItemFile
from tests import files, test_zalo_bot
from tests.conftest import make_producer
from tests.test_dossier import insert_idea, producer_id
from tests.test_zalo_bot import USER, Harness, ZaloPerson, registration_item

# The Zalo harness of tests/test_zalo_bot.py, used here as it is there.
api = test_zalo_bot.api
zalo = test_zalo_bot.zalo


async def test_a_photo_before_consent_is_not_kept(app: App, zalo: Harness, settings: Settings) -> None:
    person = ZaloPerson(app, zalo, USER)
    await person.photo(files.jpeg(11))
    last = zalo.api.texts_to(USER)
    assert any("chưa được lưu" in text for text in last)
    assert any("1. " in text for text in last)  # the consent question, as a numbered list
    assert not settings.ocop.files_dir.exists() or not any(p.is_file() for p in settings.ocop.files_dir.rglob("*"))


async def test_a_wrong_photo_is_taken_back_with_digits(app: App, zalo: Harness) -> None:
    owner = await make_producer(app, USER, channel="zalo_bot")
    await insert_idea(app, await producer_id(app, owner))
    person = ZaloPerson(app, zalo, USER)
    await person.type("menu")
    await person.pick("m:dossier")
    await person.pick(lambda payload: payload.startswith("dos:idea:"))
    await person.pick("dos:case:new")
    item = await registration_item(app, USER)
    await person.pick(f"dos:item:{item}")
    await person.photo(files.jpeg(12))  # the wrong paper
    await person.photo(files.png(13))

    await person.pick("dos:files")
    assert any("• " in text and "KB" in text for text in zalo.api.texts_to(USER)[-2:])
    await person.pick(lambda payload: payload.startswith("dof:f:"))  # the first file
    await person.pick("dof:rm")
    await person.pick("dof:rmok")
    async with app.engine.sessions() as session:
        left = await session.scalar(
            select(func.count()).select_from(DossierItemFile).where(DossierItemFile.item_id == item)
        )
    assert left == 1
    assert any("Đã xoá" in text for text in zalo.api.texts_to(USER)[-3:])
