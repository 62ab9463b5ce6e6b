"""What the update's load reads about its user (``storage.preloaded``) answers the lookups of that update, and
stops answering them as soon as the update changes one of those rows."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import delete, event, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from storage import privacy, producers, staff, users
from storage.db import create_engine, session_factory
from storage.models import Conversation, Producer, User
from tests.conftest import make_producer

PROVINCE = "10"


async def _loaded(app: App, session: AsyncSession, update_id: str) -> int:
    loaded = await users.mark_and_load(
        session, "console", update_id, "p1", chat_id="p1", display_name=None, locale="vi", now=app.engine.clock()
    )
    assert loaded is not None
    return loaded[0].id


def _count_statements(app: App) -> list[str]:
    seen: list[str] = []

    @event.listens_for(app.db.sync_engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    return seen


async def test_the_loaded_facts_answer_without_a_query(app: App) -> None:
    await make_producer(app, "p1")
    async with app.engine.sessions() as session, session.begin():
        user_id = await _loaded(app, session, "1")
        seen = _count_statements(app)
        producer = await producers.producer_of_user(session, user_id)
        assert producer is not None and producer.name == "HTX Chè Tả Van"
        assert await privacy.pending_request_of(session, user_id) is None
        assert await staff.active_roles(session, user_id) == []
        assert seen == []
        # Another user's lookups are not answered from this user's load.
        assert await producers.producer_of_user(session, user_id + 1000) is None
        assert len(seen) == 1


async def test_a_change_in_the_same_update_is_seen(app: App) -> None:
    await make_producer(app, "p1")
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        user_id = await _loaded(app, session, "1")
        assert await staff.active_roles(session, user_id) == []
        await staff.grant(
            session, user_id=user_id, role="province", province=PROVINCE, commune_code=None, granted_by=None, now=now
        )
        assert [role.role for role in await staff.active_roles(session, user_id)] == ["province"]
        assert await privacy.pending_request_of(session, user_id) is None
        request = await privacy.create_request(session, user_id, source="chat", now=now, deadline=now - now)
        assert await privacy.pending_request_of(session, user_id) is request
        assert await producers.producer_of_user(session, user_id) is not None
        await session.execute(delete(Producer).where(Producer.user_id == user_id))
        assert await producers.producer_of_user(session, user_id) is None


async def test_a_role_granted_again_is_seen(app: App) -> None:
    """A revoked role given back is an old row changed, not a new one."""
    await make_producer(app, "p1")
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        user_id = await _loaded(app, session, "1")
        role = await staff.grant(
            session, user_id=user_id, role="province", province=PROVINCE, commune_code=None, granted_by=None, now=now
        )
        role.revoked_at = now
    async with app.engine.sessions() as session, session.begin():
        user_id = await _loaded(app, session, "2")
        assert await staff.active_roles(session, user_id) == []
        await staff.grant(
            session, user_id=user_id, role="province", province=PROVINCE, commune_code=None, granted_by=None, now=now
        )
        assert [role.role for role in await staff.active_roles(session, user_id)] == ["province"]


async def test_an_update_that_waited_for_the_lock_sees_what_the_other_process_committed(app: App) -> None:
    """Two processes, one user: the second update waits for the conversation's row lock while the first one
    registers the producer. Once it has the lock it must see the producer (and the user) as committed, not as
    its statement's snapshot saw them before the wait (PostgreSQL re-reads only the locked row by itself)."""
    if app.db.dialect.name != "postgresql":
        pytest.skip("the row lock is PostgreSQL's; SQLite has one writer at a time")
    await make_producer(app, "p1")
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        await _loaded(app, session, "0")  # the user's conversation row exists
    other = create_engine(app.settings.database_url)
    try:
        first = session_factory(other)()
        await first.begin()
        user_id = await _loaded_in(app, first, "1")
        await first.execute(update(Producer).where(Producer.user_id == user_id).values(name="HTX Mới"))
        await first.execute(update(User).where(User.id == user_id).values(display_name="Đã đổi"))
        await first.execute(
            update(Conversation).where(Conversation.user_id == user_id).values(version=Conversation.version + 1)
        )

        async def second() -> tuple[str | None, str | None]:
            async with app.engine.sessions() as session, session.begin():
                loaded = await users.mark_and_load(
                    session, "console", "2", "p1", chat_id="p1", display_name=None, locale="vi", now=now
                )
                assert loaded is not None
                producer = await producers.producer_of_user(session, loaded[0].id)
                return loaded[0].display_name, producer.name if producer is not None else None

        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the second update waits for the row lock"
        await first.commit()
        await first.close()
        assert await asyncio.wait_for(waiting, 10) == ("Đã đổi", "HTX Mới")
    finally:
        await other.dispose()


async def _loaded_in(app: App, session: AsyncSession, update_id: str) -> int:
    loaded = await users.mark_and_load(
        session, "console", update_id, "p1", chat_id="p1", display_name=None, locale="vi", now=app.engine.clock()
    )
    assert loaded is not None
    return loaded[0].id


async def test_the_status_reads_dossiers_with_products_and_items_with_files(app: App) -> None:
    from storage.overview import overview
    from tests.staff_helpers import make_dossier

    user_id = await make_producer(app, "p1")
    await make_dossier(app, user_id, product="Chè Tả Van")
    await make_dossier(app, user_id, product="Mật ong bạc hà", seed=2)
    async with app.engine.sessions() as session:
        producer = await producers.producer_of_user(session, user_id)
        assert producer is not None
        seen = _count_statements(app)
        report = await overview(session, producer.id)
        # Ideas, dossiers (their products joined in), items (their files joined in), certificates.
        assert [dossier.product.name for dossier in report.dossiers] == ["Mật ong bạc hà", "Chè Tả Van"]
        assert [sum(len(item.files) for item in dossier.items) for dossier in report.dossiers] == [1, 1]
        for dossier in report.dossiers:  # each its own checklist, in the checklist's order
            assert {item.dossier_id for item in dossier.items} == {dossier.id}
            assert [item.position for item in dossier.items] == sorted(item.position for item in dossier.items)
            assert len(dossier.items) > 5
        assert len(seen) == 4, seen
        assert not any("FROM products WHERE" in " ".join(statement.split()) for statement in seen)


async def test_the_status_reads_council_results_and_certificates_with_the_dossiers(app: App) -> None:
    """The report shows each dossier's council result and certificate: read with the dossiers (an outer join
    and the producer's certificates), not asked for per dossier."""
    from bot.rules import DossierStatus
    from storage import certificates
    from tests.chat import Chat
    from tests.staff_helpers import certify, make_dossier

    user_id = await make_producer(app, "p1")
    scored = await make_dossier(app, user_id, product="Chè Tả Van", status=DossierStatus.SCORED)
    certified = await make_dossier(app, user_id, product="Mật ong bạc hà", seed=2, status=DossierStatus.CERTIFIED_4)
    await make_dossier(app, user_id, product="Miến dong", seed=3)
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        for dossier_id, stars in ((scored, 3), (certified, 4)):
            await certificates.save_result(
                session,
                dossier_id=dossier_id,
                points=(32, 20, 25 if stars == 4 else 5),
                mandatory_ok=True,
                stars=stars,
                rule_set="QD148_1489",
                recorded_by=None,
                now=now,
            )
        await certify(app, session, certified, public_code="PREL2345")
    seen = _count_statements(app)
    chat = Chat(app.engine, "p1")
    await chat.send("kiem tra ho so")
    report = chat.text
    assert "A 32 + B 20 + C 25 = 77" in report and "A 32 + B 20 + C 5 = 57" in report
    assert "12/QĐ-UBND" in report
    flat = [" ".join(statement.split()) for statement in seen]
    assert not any(s.startswith("SELECT council_results") for s in flat), flat
    assert not any("FROM certificates WHERE certificates.dossier_id" in s for s in flat), flat


def _lists_read(seen: list[str]) -> list[str]:
    """The producer's lists read among ``seen``, by the table each statement selects first: products (alone or
    with their dossiers), product ideas, certificates."""
    tables = ("products", "product_ideas", "certificates")
    return [table for statement in seen for table in tables if statement.lstrip().startswith(f"SELECT {table}.")]


async def test_the_status_and_the_dossier_screen_read_only_the_lists_the_load_found_something_in(app: App) -> None:
    """The load says which of the producer's lists have anything (products, ideas, certificates): a producer
    with nothing yet gets the report and the dossier screen without reading a list, one with a dossier but no
    idea or certificate has only the dossiers read."""
    from tests.chat import Chat
    from tests.staff_helpers import make_dossier

    user_id = await make_producer(app, "p1")
    chat = Chat(app.engine, "p1")
    await chat.send("menu")
    seen = _count_statements(app)
    await chat.send("kiem tra ho so")
    assert "Bạn chưa có ý tưởng sản phẩm hay hồ sơ nào" in chat.text
    await chat.tap("Hồ sơ")
    assert "Hồ sơ này cho sản phẩm nào?" in chat.text
    assert _lists_read(seen) == []

    await chat.send("menu")
    await make_dossier(app, user_id, product="Chè Tả Van")
    seen.clear()
    await chat.send("kiem tra ho so")
    assert "Chè Tả Van" in chat.text
    assert _lists_read(seen) == ["products"], seen


async def test_a_list_changed_in_the_same_update_is_read_again(app: App) -> None:
    """An idea added in the update (flushed or still waiting in the session) makes the report read the ideas;
    the facts about other tables stay known."""
    from storage.models import ProductIdea
    from storage.overview import overview

    await make_producer(app, "p1")
    now = app.engine.clock()
    async with app.engine.sessions() as session, session.begin():
        user_id = await _loaded(app, session, "1")
        producer = await producers.producer_of_user(session, user_id)
        assert producer is not None
        assert (await overview(session, producer.id)).ideas == []
        idea = ProductIdea(
            producer_id=producer.id,
            commune_code=producer.commune_code,
            name="Chè Shan tuyết",
            name_folded="che shan tuyet",
            group_code="1.2",
            status="draft",
            created_at=now,
        )
        session.add(idea)  # not flushed yet: the report's query flushes it first
        assert [i.name for i in (await overview(session, producer.id)).ideas] == ["Chè Shan tuyết"]
        seen = _count_statements(app)
        assert await staff.active_roles(session, user_id) == []  # still known: no query
        assert seen == []
        assert [i.name for i in (await overview(session, producer.id)).ideas] == ["Chè Shan tuyết"]
