"""The orphan sweep: files no row references go after a day; a referenced file, or one an update in flight
is linking right now, never goes. Runs on SQLite and PostgreSQL with real files on disk."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.orphans import remove_orphans
from bot.scheduler import Reminders
from handlers.dossier import AnotherItem, AttachTo, OpenItem
from storage import dossiers
from storage.filestore import FileStore
from storage.models import DossierItem, DossierItemFile, StoredFile
from tests import files
from tests.chat import Chat, FrozenClock
from tests.conftest import make_producer
from tests.staff_helpers import in_session, make_dossier

DAY = dt.timedelta(days=1)


def _age(path: Path, when: dt.datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


async def _age_rows(app: App, when: dt.datetime) -> None:
    async def work(session: AsyncSession) -> None:
        await session.execute(update(StoredFile).values(created_at=when))

    await in_session(app, work)


async def _count(app: App, model: Any, *where: Any) -> int:
    async with app.engine.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _blobs(store: FileStore) -> list[Path]:
    return [path for path, _sha in store.entries()]


async def test_old_orphan_blobs_go_referenced_and_recent_ones_stay(app: App, clock: FrozenClock) -> None:
    store = app.engine.files
    dossier_id = await make_dossier(app, await make_producer(app, "p1"))
    (linked,) = _blobs(store)
    _sha, orphan = await store.put(files.pdf(1), "pdf")  # e.g. a file answered by a question, never used
    _sha, recent = await store.put(files.png(2), "png")
    for path in (linked, orphan):
        _age(path, clock.now - 3 * DAY)
    _age(recent, clock.now - dt.timedelta(hours=20))
    await _age_rows(app, clock.now - 3 * DAY)

    result = await remove_orphans(app.engine.sessions, store, clock.now)

    assert result.blobs == 1 and result.rows == 0
    assert linked.is_file() and recent.is_file() and not orphan.exists()
    assert await _count(app, DossierItemFile) == 1 and dossier_id


async def test_a_removed_file_goes_only_when_no_item_references_it(app: App, clock: FrozenClock) -> None:
    store = app.engine.files
    owner = await make_producer(app, "p1")
    first = await make_dossier(app, owner, product="Chè", seed=5)
    second = await make_dossier(app, owner, product="Mật ong", seed=5)  # the same bytes in two dossiers
    (blob,) = _blobs(store)
    _age(blob, clock.now - 3 * DAY)
    await _age_rows(app, clock.now - 3 * DAY)

    async def unlink(dossier_id: int) -> None:
        async def work(session: AsyncSession) -> None:
            items = select(DossierItem.id).where(DossierItem.dossier_id == dossier_id)
            await session.execute(delete(DossierItemFile).where(DossierItemFile.item_id.in_(items)))

        await in_session(app, work)

    await unlink(first)
    result = await remove_orphans(app.engine.sessions, store, clock.now)
    assert (result.rows, result.blobs) == (0, 0)
    assert blob.is_file() and await _count(app, StoredFile) == 1

    await unlink(second)
    result = await remove_orphans(app.engine.sessions, store, clock.now)
    assert (result.rows, result.blobs) == (1, 1)
    assert not blob.exists() and await _count(app, StoredFile) == 0


async def test_a_blob_an_update_in_flight_is_linking_is_never_removed(app: App, clock: FrozenClock) -> None:
    """The same bytes came once before and were never placed (an orphan, old); now the producer sends them to
    an item. The sweep runs while that update has written the blob but not yet committed its row."""
    from tests.test_dossier import items_by_code, producer_id, start_dossier_from_idea

    await make_producer(app, "p1")
    chat = Chat(app.engine, user_id="p1")
    dossier_id = await start_dossier_from_idea(app, chat, await producer_id(app))
    items = await items_by_code(app, dossier_id)
    await chat.press(OpenItem(item=items["lab_test"]))
    store = app.engine.files
    data = files.pdf(77)
    _sha, blob = await store.put(data, "pdf")
    _age(blob, clock.now - 3 * DAY)

    written, release = asyncio.Event(), asyncio.Event()
    put = store.put

    async def put_then_wait(content: bytes, extension: str) -> tuple[str, Path]:
        stored = await put(content, extension)
        written.set()
        await release.wait()  # the update is in flight: blob written, row not yet committed
        return stored

    store.put = put_then_wait  # type: ignore[method-assign,assignment]
    sending = asyncio.create_task(chat.send_file(data, "ket-qua.pdf"))
    await asyncio.wait_for(written.wait(), 10)
    sweeping = asyncio.create_task(remove_orphans(app.engine.sessions, store, clock.now))
    # PostgreSQL: the sweep runs to its end meanwhile. SQLite: its first read waits for the one writer.
    await asyncio.wait([sweeping], timeout=2)
    release.set()
    await sending
    result = await sweeping
    store.put = put  # type: ignore[method-assign]

    assert result.blobs == 0 and blob.is_file()
    assert await _count(app, DossierItemFile, DossierItemFile.item_id == items["lab_test"]) == 1
    # A day later nothing changed: the blob is referenced now.
    assert (await remove_orphans(app.engine.sessions, store, clock.now + 3 * DAY)).blobs == 0 and blob.is_file()


async def test_a_put_racing_the_last_look_always_wins(tmp_path: Path) -> None:
    """The two moments a put() can fall in while the sweep looks at an old unreferenced blob: before it is
    moved aside (the put touches it) and after (the put writes it anew). Either way the blob stays."""
    store = FileStore(tmp_path)
    old = dt.datetime.now(dt.UTC) - 3 * DAY
    cutoff = (dt.datetime.now(dt.UTC) - DAY).timestamp()
    data = files.png(3)

    for racing_call in (1, 2):
        _sha, blob = await store.put(data, "png")
        _age(blob, old)
        calls = 0

        async def referenced(_sha256: str, racing_call: int = racing_call) -> bool:
            nonlocal calls
            calls += 1
            if calls == racing_call:
                await store.put(data, "png")  # an update in flight, its row not committed yet
            return False

        await store.remove_if_orphan(blob, _sha, cutoff, referenced)
        assert blob.is_file() and blob.read_bytes() == data
        assert [path.name for path, _sha in store.entries()] == [blob.name]  # nothing left aside
        blob.unlink()

    # Referenced by the time of the last look (the row was committed meanwhile): put back.
    _sha, blob = await store.put(data, "png")
    _age(blob, old)
    answers = iter([False, True])

    async def committed_meanwhile(_sha256: str) -> bool:
        return next(answers)

    assert not await store.remove_if_orphan(blob, _sha, cutoff, committed_meanwhile)
    assert blob.is_file()


async def test_leftovers_of_a_crash_are_cleaned_or_put_back(app: App, clock: FrozenClock) -> None:
    store = app.engine.files
    await make_dossier(app, await make_producer(app, "p1"))
    (blob,) = _blobs(store)
    aside = blob.with_name(f".sweep-{'a' * 32}-{blob.name}")
    blob.rename(aside)  # the sweep crashed between moving a referenced blob aside and putting it back
    part = blob.with_name(".part-x1y2")
    part.write_bytes(b"half a file")
    for path in (aside, part):
        _age(path, clock.now - 3 * DAY)

    await Reminders(app.engine.sessions, app.settings, {}, clock=clock).remove_orphans_once()

    assert blob.is_file() and not aside.exists() and not part.exists()


async def test_a_stray_file_sent_again_is_kept_for_another_day(app: App, clock: FrozenClock) -> None:
    """A row nothing references yet (a stray file waiting for its item) whose bytes were just sent again."""
    store = app.engine.files
    data = files.jpeg(4)
    sha, blob = await store.put(data, "jpg")

    async def work(session: AsyncSession) -> None:
        await dossiers.stored_file(
            session,
            sha256=sha,
            size=len(data),
            mime="image/jpeg",
            path=str(blob.relative_to(store.root)),
        )

    await in_session(app, work)
    await _age_rows(app, clock.now - 3 * DAY)  # the row is old, the blob was touched by today's put
    result = await remove_orphans(app.engine.sessions, store, clock.now)
    assert (result.rows, result.blobs) == (0, 0) and blob.is_file()


async def test_a_stray_file_left_for_days_is_swept_and_the_producer_told(app: App, clock: FrozenClock) -> None:
    from tests.test_dossier import items_by_code, producer_id, start_dossier_from_idea

    await make_producer(app, "p1")
    chat = Chat(app.engine, user_id="p1")
    items = await items_by_code(app, await start_dossier_from_idea(app, chat, await producer_id(app)))
    await chat.send_file(files.jpeg(6), "anh-chup.jpg")  # at the checklist: "which item?", then nothing
    (blob,) = _blobs(app.engine.files)
    _age(blob, clock.now - 3 * DAY)
    await _age_rows(app, clock.now - 3 * DAY)
    result = await remove_orphans(app.engine.sessions, app.engine.files, clock.now)
    assert (result.rows, result.blobs) == (1, 1)

    await chat.press(AnotherItem())  # days later: another item than the one offered
    await chat.press(AttachTo(item=items["lab_test"]))
    assert "không được lưu" in chat.text and "gửi lại" in chat.text
    assert await _count(app, DossierItemFile) == 0


async def test_a_row_linked_while_the_sweep_deletes_stays_and_the_others_go(app: App, clock: FrozenClock) -> None:
    """Three unreferenced old rows; an update links one of them in a transaction still open while the sweep
    deletes. PostgreSQL: the delete waits for the link's row lock, then re-checks (or, should it fail on the
    new reference, is retried row by row). SQLite: the sweep waits for the one writer. Either way the linked
    row and its blob stay, the other two go."""
    store = app.engine.files
    owner = await make_producer(app, "p1")
    dossier_id = await make_dossier(app, owner)
    rows = []
    for seed in (21, 22, 23):
        data = files.pdf(seed)
        sha, path = await store.put(data, "pdf")

        async def work(session: AsyncSession, sha: str = sha, path: Path = path, size: int = len(data)) -> int:
            stored = await dossiers.stored_file(
                session, sha256=sha, size=size, mime="application/pdf", path=str(path.relative_to(store.root))
            )
            return stored.id

        rows.append((await in_session(app, work), path))
    for _path, _sha in store.entries():
        _age(_path, clock.now - 3 * DAY)
    await _age_rows(app, clock.now - 3 * DAY)
    item_id = await in_session(
        app,
        lambda session: session.scalar(
            select(DossierItem.id).where(DossierItem.dossier_id == dossier_id, DossierItem.code == "business_plan")
        ),
    )
    assert isinstance(item_id, int)
    kept_id, kept_path = rows[1]

    async with app.engine.sessions() as session, session.begin():
        await dossiers.link_file(session, item_id, kept_id, original_name="x.pdf", uploaded_by=owner, now=clock.now)
        sweeping = asyncio.create_task(remove_orphans(app.engine.sessions, store, clock.now))
        await asyncio.wait([sweeping], timeout=1)  # the sweep is now waiting on the link's transaction
    result = await sweeping

    assert result.rows == 2 and kept_path.is_file()
    assert not rows[0][1].exists() and not rows[2][1].exists()
    assert await _count(app, StoredFile, StoredFile.id == kept_id) == 1
