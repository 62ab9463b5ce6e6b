"""The commune officer's review: queue, opening a dossier, the four criteria, supplements, ideas."""

from __future__ import annotations

from bot.app import App
from bot.callbacks import Button
from bot.messages import SendFile, Text
from bot.notices import render
from bot.rules import COMMUNE_CRITERIA, DossierStatus, IdeaStatus
from handlers.review_buttons import (
    AcceptIdea,
    AskSupplement,
    CancelReason,
    ConfirmCriterion,
    DossierFiles,
    FinishReview,
    OpenDossier,
    OpenIdea,
    RejectCriterion,
    ReturnField,
    ReturnIdea,
    ShowQueue,
    UndoCriterion,
)
from storage import dossiers
from tests.chat import Chat, offered
from tests.conftest import make_producer
from tests.staff_helpers import (
    BINH_LU,
    audit_log,
    criteria,
    dossier_row,
    idea_row,
    in_session,
    make_dossier,
    make_idea,
    make_staff,
    outbox,
    snapshot,
)

CRITERIA = list(COMMUNE_CRITERIA)


async def _officer(app: App) -> Chat:
    await make_staff(app, "officer", "commune", BINH_LU, name="Cán bộ xã")
    return Chat(app.engine, user_id="officer")


async def test_menu_shows_the_queue_count_and_no_producer_buttons(app: App) -> None:
    producer = await make_producer(app, "p1")
    await make_dossier(app, producer)
    await make_idea(app, producer)
    officer = await _officer(app)
    await officer.send("menu")
    queue = [c for c in officer.choices if c.payload == ShowQueue().pack()]
    assert len(queue) == 1 and "(2)" in queue[0].label
    assert not any(c.payload in ("m:idea", "m:dossier", "m:status") for c in officer.choices)


async def test_staff_pass_the_onboarding_gate(app: App) -> None:
    officer = await _officer(app)
    await officer.send("xin chao")
    assert any(c.payload == ShowQueue().pack() for c in officer.choices)
    await officer.send("/start")
    assert any(c.payload == ShowQueue().pack() for c in officer.choices)


async def test_open_offers_the_zip_and_confirming_all_four_forwards_to_province(app: App) -> None:
    import asyncio
    import zipfile

    from sqlalchemy import select

    from bot import office_jobs
    from storage.models import OutboxMessage

    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(ShowQueue())
    assert OpenDossier(dossier=dossier_id) in offered(officer, OpenDossier)
    await officer.press(OpenDossier(dossier=dossier_id))
    assert not any(isinstance(r, SendFile) for r in officer.replies)  # opening no longer sends every file
    await officer.tap("ZIP")
    await asyncio.gather(*office_jobs.RUNNING)
    async with app.engine.sessions() as session:
        queued = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == office_jobs.KIND))
    assert queued is not None
    sent = render(queued.kind, queued.params, "vi")
    assert isinstance(sent, SendFile) and sent.name.endswith(".zip") and sent.mime == "application/zip"
    with zipfile.ZipFile(sent.path) as archive:
        names = archive.namelist()
    assert "00-muc-luc.xlsx" in names and len(names) == 2 and names[1].endswith(".png")
    assert "Chè Tả Van" in officer.text and "HTX Chè Tả Van" in officer.text
    row = await dossier_row(app, dossier_id)
    assert row.status == DossierStatus.COMMUNE_REVIEW and row.version == 1
    assert len(offered(officer, ConfirmCriterion)) == 4 and len(offered(officer, RejectCriterion)) == 4

    for index in range(4):
        payload = next(b for b in offered(officer, ConfirmCriterion) if b.criterion == index)
        await officer.press(payload)
    # Four ✅ alone move nothing: the officer may still undo until 🏁 Finish.
    assert (await dossier_row(app, dossier_id)).status == DossierStatus.COMMUNE_REVIEW
    assert await outbox(app, producer) == []
    await officer.press(offered(officer, FinishReview)[0])
    row = await dossier_row(app, dossier_id)
    assert row.status == DossierStatus.AT_PROVINCE
    assert set((await criteria(app, dossier_id)).values()) == {"confirmed"}
    actions = [e.action for e in await audit_log(app)]
    assert actions.count("criterion.confirm") == 4
    assert "dossier.commune_confirmed" in actions and "dossier.at_province" in actions

    async def commune_report_done(session: object) -> bool:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        dossier = await dossiers.dossier_of(session, (await _producer_id(session, producer)), dossier_id)
        assert dossier is not None
        item = next(i for i in dossier.items if i.code == "commune_report")
        return item.handed_in_at is not None or bool(item.files)

    # The commune's report is drafted, not done: it counts once the signed scan is back (test_commune_report).
    assert not await in_session(app, commune_report_done)
    assert any(isinstance(r, SendFile) and r.name.endswith(".docx") for r in officer.replies)
    notices = await outbox(app, producer)
    assert [n.kind for n in notices] == ["commune_confirmed"]
    rendered = render(notices[0].kind, notices[0].params, "vi")
    assert isinstance(rendered, Text) and "Chè Tả Van" in rendered.text and "✅" in rendered.text


async def _producer_id(session: object, user_id: int) -> int:
    from sqlalchemy.ext.asyncio import AsyncSession

    from storage import producers

    assert isinstance(session, AsyncSession)
    producer = await producers.producer_of_user(session, user_id)
    assert producer is not None
    return producer.id


async def test_staff_get_files_named_by_item_and_sniffed_type(app: App) -> None:
    """The name the producer's phone gave ("giay-to.exe" on a PNG) never reaches the officer's computer."""
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer, original_name="giay-to.exe")
    officer = await _officer(app)
    import asyncio
    import zipfile

    from sqlalchemy import select

    from bot import office_jobs
    from storage.models import OutboxMessage

    await officer.press(ShowQueue())
    await officer.press(OpenDossier(dossier=dossier_id))
    await officer.press(DossierFiles(dossier=dossier_id))  # the dossier's files, as one ZIP
    await asyncio.gather(*office_jobs.RUNNING)
    async with app.engine.sessions() as session:
        queued = await session.scalar(select(OutboxMessage).where(OutboxMessage.kind == office_jobs.KIND))
    assert queued is not None
    with zipfile.ZipFile(str(queued.params["path"])) as archive:
        names = [name for name in archive.namelist() if name != "00-muc-luc.xlsx"]
    assert names == ["01-registration_form/registration_form-1.png"]


async def _press_criterion(
    officer: Chat, kind: type[ConfirmCriterion | RejectCriterion | UndoCriterion], index: int
) -> None:
    await officer.press(next(b for b in offered(officer, kind) if b.criterion == index))


async def test_a_rejection_is_recorded_and_the_review_goes_on(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(OpenDossier(dossier=dossier_id))
    await _press_criterion(officer, RejectCriterion, 1)
    # Empty-ish and too short reasons are refused; nothing changes.
    for bad in ("   ", "ok", "👍👍👍👍👍"):
        await officer.send(bad)
        assert (await criteria(app, dossier_id))[CRITERIA[1]] == "pending"
    reason = "Lao động chủ yếu thuê từ tỉnh khác"
    await officer.send(reason)
    row = await dossier_row(app, dossier_id)
    assert row.status == DossierStatus.COMMUNE_REVIEW and row.review_note is None
    assert (await criteria(app, dossier_id))[CRITERIA[1]] == "rejected"
    assert reason in officer.text  # shown beside the criterion
    assert await outbox(app, producer) == []  # nothing reaches the producer before 🏁 Finish
    assert "criterion.reject" in [e.action for e in await audit_log(app)]
    # The other criteria are still offered, the rejected one can be undone; no Finish while some are open.
    assert len(offered(officer, ConfirmCriterion)) == 3 and len(offered(officer, UndoCriterion)) == 1
    assert offered(officer, FinishReview) == []


async def test_finish_sends_it_back_once_with_every_reason(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(OpenDossier(dossier=dossier_id))
    await _press_criterion(officer, ConfirmCriterion, 0)
    await _press_criterion(officer, RejectCriterion, 1)
    await officer.send("Lao động chủ yếu thuê từ tỉnh khác")
    await _press_criterion(officer, RejectCriterion, 2)
    await officer.send("Ý tưởng mua lại của công ty khác")
    await _press_criterion(officer, ConfirmCriterion, 3)
    assert (await dossier_row(app, dossier_id)).status == DossierStatus.COMMUNE_REVIEW
    await officer.press(offered(officer, FinishReview)[0])
    row = await dossier_row(app, dossier_id)
    assert row.status == DossierStatus.NEEDS_SUPPLEMENT
    assert row.review_note is not None and "tỉnh khác" in row.review_note and "công ty khác" in row.review_note
    notices = await outbox(app, producer)
    assert [n.kind for n in notices] == ["commune_returned"]
    rendered = render(notices[0].kind, notices[0].params, "vi")
    assert isinstance(rendered, Text)
    assert "Lao động chủ yếu thuê từ tỉnh khác" in rendered.text and "Ý tưởng mua lại của công ty khác" in rendered.text
    assert "dossier.commune_return" in [e.action for e in await audit_log(app)]
    # A second press on the old Finish button changes nothing and sends nothing more.
    before = await snapshot(app)
    await officer.press(FinishReview(dossier=dossier_id, version=row.version - 1))
    assert await snapshot(app) == before


async def test_a_decision_can_be_undone_until_finish(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(OpenDossier(dossier=dossier_id))
    await _press_criterion(officer, ConfirmCriterion, 0)
    await _press_criterion(officer, RejectCriterion, 1)
    await officer.send("Lao động chủ yếu thuê từ tỉnh khác")
    await _press_criterion(officer, UndoCriterion, 0)
    await _press_criterion(officer, UndoCriterion, 1)
    assert set((await criteria(app, dossier_id)).values()) == {"pending"}
    assert len(offered(officer, ConfirmCriterion)) == 4 and offered(officer, UndoCriterion) == []
    actions = [e.action for e in await audit_log(app)]
    assert actions.count("criterion.undo") == 2
    # Decided again, all four ✅: Finish forwards; the earlier ❌ left no trace for the producer.
    for index in range(4):
        await _press_criterion(officer, ConfirmCriterion, index)
    await officer.press(offered(officer, FinishReview)[0])
    assert (await dossier_row(app, dossier_id)).status == DossierStatus.AT_PROVINCE
    assert [n.kind for n in await outbox(app, producer)] == ["commune_confirmed"]


async def test_finish_with_an_open_criterion_is_refused(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(OpenDossier(dossier=dossier_id))
    await _press_criterion(officer, ConfirmCriterion, 0)
    version = (await dossier_row(app, dossier_id)).version
    before = await snapshot(app)
    await officer.press(FinishReview(dossier=dossier_id, version=version))
    assert await snapshot(app) == before
    assert "3" in officer.text and len(offered(officer, ConfirmCriterion)) == 3


async def test_the_review_works_by_typed_numbers_and_words(app: App) -> None:
    """Zalo Bot shows choices as a numbered list: typing the numbers and "xong" runs the whole review."""
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(OpenDossier(dossier=dossier_id))
    for _criterion in range(4):
        await officer.send("1")  # the first choice is always "✅ n." of the first open criterion
    assert set((await criteria(app, dossier_id)).values()) == {"confirmed"}
    undo = 1 + [Button.parse(c.payload) for c in officer.choices].index(offered(officer, UndoCriterion)[2])
    await officer.send(str(undo))
    assert (await criteria(app, dossier_id))[CRITERIA[2]] == "pending"
    await officer.send("1")
    await officer.send("xong")
    assert (await dossier_row(app, dossier_id)).status == DossierStatus.AT_PROVINCE


async def test_resubmitted_dossier_is_reviewed_afresh(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(OpenDossier(dossier=dossier_id))
    await officer.press(next(b for b in offered(officer, ConfirmCriterion) if b.criterion == 0))
    await officer.press(next(b for b in offered(officer, RejectCriterion) if b.criterion == 1))
    await officer.send("Không đủ giấy tờ lao động")
    for index in (2, 3):
        await _press_criterion(officer, ConfirmCriterion, index)
    await officer.press(offered(officer, FinishReview)[0])
    assert (await dossier_row(app, dossier_id)).status == DossierStatus.NEEDS_SUPPLEMENT

    async def resubmit(session: object) -> None:
        from sqlalchemy.ext.asyncio import AsyncSession

        assert isinstance(session, AsyncSession)
        dossier = await dossiers.dossier_of(session, await _producer_id(session, producer), dossier_id)
        assert dossier is not None
        await dossiers.submit(session, dossier, DossierStatus.SUBMITTED_COMMUNE.value, dossier.updated_at)

    await in_session(app, resubmit)
    await officer.press(OpenDossier(dossier=dossier_id))
    assert set((await criteria(app, dossier_id)).values()) == {"pending"}
    assert len(offered(officer, ConfirmCriterion)) == 4


async def test_supplement_with_a_note(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(OpenDossier(dossier=dossier_id))
    await officer.press(offered(officer, AskSupplement)[0])
    await officer.send("Bổ sung ảnh vùng nguyên liệu")
    row = await dossier_row(app, dossier_id)
    assert row.status == DossierStatus.NEEDS_SUPPLEMENT and row.review_note == "Bổ sung ảnh vùng nguyên liệu"
    notices = await outbox(app, producer)
    assert [n.kind for n in notices] == ["commune_returned"]
    rendered = render(notices[0].kind, notices[0].params, "vi")
    assert isinstance(rendered, Text) and "Bổ sung ảnh vùng nguyên liệu" in rendered.text


async def test_a_supplement_carries_the_reasons_already_recorded(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(OpenDossier(dossier=dossier_id))
    await _press_criterion(officer, RejectCriterion, 3)
    await officer.send("Bao bì không thể hiện bản sắc địa phương")
    await officer.press(offered(officer, AskSupplement)[0])
    await officer.send("Bổ sung ảnh vùng nguyên liệu")
    notices = await outbox(app, producer)
    assert [n.kind for n in notices] == ["commune_returned"]
    rendered = render(notices[0].kind, notices[0].params, "vi")
    assert isinstance(rendered, Text)
    assert "Bổ sung ảnh vùng nguyên liệu" in rendered.text and "bản sắc địa phương" in rendered.text


async def test_cancel_while_typing_writes_nothing(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(OpenDossier(dossier=dossier_id))
    before = await snapshot(app)
    await officer.press(offered(officer, AskSupplement)[0])
    await officer.press(CancelReason())
    assert await snapshot(app) == before


async def test_idea_accept_and_return(app: App) -> None:
    producer = await make_producer(app, "p1")
    accepted = await make_idea(app, producer, "Mật ong bạc hà")
    returned = await make_idea(app, producer, "Rượu ngô")
    officer = await _officer(app)
    await officer.press(ShowQueue())
    assert {OpenIdea(idea=accepted), OpenIdea(idea=returned)} <= set(offered(officer, OpenIdea))
    await officer.press(OpenIdea(idea=accepted))
    assert "Mật ong bạc hà" in officer.text
    await officer.press(AcceptIdea(idea=accepted))
    await officer.press(AcceptIdea(idea=accepted))  # double click: harmless
    row = await idea_row(app, accepted)
    assert row.status == IdeaStatus.ACCEPTED and row.reviewed_at is not None and row.reviewed_by is not None

    await officer.press(ReturnIdea(idea=returned))
    assert ReturnField(field="materials").pack() in {c.payload for c in officer.choices}  # which answer needs fixing
    await officer.press(ReturnField(field="materials"))
    await officer.send("")  # nothing typed
    await officer.send("abc")
    assert (await idea_row(app, returned)).status == IdeaStatus.SUBMITTED_COMMUNE
    await officer.send("Nguyên liệu ngô nhập từ nơi khác")
    row = await idea_row(app, returned)
    assert row.status == IdeaStatus.RETURNED and row.review_note == "Nguyên liệu ngô nhập từ nơi khác"
    notices = await outbox(app, producer)
    assert [n.kind for n in notices] == ["idea_accepted", "idea_returned"]
    rendered = render("idea_returned", notices[1].params, "vi")
    assert isinstance(rendered, Text) and "Nguyên liệu ngô nhập từ nơi khác" in rendered.text
    assert row.return_field == "materials" and [c.payload for c in rendered.choices] == [f"ir:{returned}"]
    assert [e.action for e in await audit_log(app)] == ["idea.accepted", "idea.returned"]


async def test_double_click_on_confirm_is_harmless(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    officer = await _officer(app)
    await officer.press(OpenDossier(dossier=dossier_id))
    payload = next(b for b in offered(officer, ConfirmCriterion) if b.criterion == 2)
    await officer.press(payload)
    version = (await dossier_row(app, dossier_id)).version
    await officer.press(payload)
    assert (await dossier_row(app, dossier_id)).version == version
    assert [e.action for e in await audit_log(app)].count("criterion.confirm") == 1
    assert len(offered(officer, ConfirmCriterion)) == 3  # the dossier shown again, one criterion done


async def test_concurrent_modification_is_refused(app: App) -> None:
    producer = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, producer)
    first = await _officer(app)
    await make_staff(app, "officer2", "commune", BINH_LU)
    second = Chat(app.engine, user_id="officer2")
    await first.press(OpenDossier(dossier=dossier_id))
    await second.press(OpenDossier(dossier=dossier_id))
    stale_confirm = next(b for b in offered(second, ConfirmCriterion) if b.criterion == 3)
    stale_reject = next(b for b in offered(second, RejectCriterion) if b.criterion == 0)
    # The second officer starts typing a reason on what they saw...
    await second.press(stale_reject)
    # ...while the first confirms a criterion: the version moves on.
    await first.press(next(b for b in offered(first, ConfirmCriterion) if b.criterion == 1))
    before = await snapshot(app)
    await second.send("Không phải nguyên liệu địa phương")
    assert await snapshot(app) == before
    await second.press(stale_confirm)
    assert await snapshot(app) == before
    # The first officer finishes after all four decisions; the second's Finish on an old version writes nothing.
    for index in (0, 2, 3):
        await _press_criterion(first, ConfirmCriterion, index)
    stale_finish = FinishReview(dossier=dossier_id, version=(await dossier_row(app, dossier_id)).version - 1)
    before = await snapshot(app)
    await second.press(stale_finish)
    assert await snapshot(app) == before
    assert (await dossier_row(app, dossier_id)).status == DossierStatus.COMMUNE_REVIEW
