"""``ocop-bot backup`` and ``ocop-bot restore`` as an operator runs them (separate processes), on SQLite and
PostgreSQL: a backup taken while producers keep sending files restores into a fresh database and data folder
with the manifest's row counts and every file's hash; non-empty targets and damaged backups are refused."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from bot.app import App
from storage import backup
from storage.db import create_engine, migrate
from storage.models import Producer, StoredFile
from tests import files
from tests import reminder_data as data
from tests.chat import Chat
from tests.conftest import PG_URL, make_producer

ROOT = Path(__file__).resolve().parent.parent
PRODUCERS = 12


@dataclass
class Run:
    code: int
    out: str
    err: str


async def ocop_bot(*args: str, database_url: str, data_dir: Path, cwd: Path) -> Run:
    env: Mapping[str, str] = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OCOP_", "DATABASE_URL"))},
        "DATABASE_URL": database_url,
        "OCOP_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(ROOT),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def stored_count(app: App) -> int:
    async with app.engine.sessions() as session:
        return len((await session.scalars(select(StoredFile.id))).all())


class Traffic:
    """Producers with a draft dossier sending photos (a new file each time) and cancelling, until stopped."""

    def __init__(self, app: App, chats: list[Chat]) -> None:
        self.app, self.chats = app, chats
        self.sent = 0
        self._stop = asyncio.Event()
        self._progress = asyncio.Condition()

    async def run(self) -> None:
        seed = 1000
        while not self._stop.is_set():
            for chat in self.chats:
                seed += 1
                await chat.send_file(files.png(seed), f"anh-{seed}.png")
                await chat.send("huy")
                async with self._progress:
                    self.sent += 1
                    self._progress.notify_all()

    async def reached(self, count: int) -> None:
        async with self._progress:
            await self._progress.wait_for(lambda: self.sent >= count)

    def stop(self) -> None:
        self._stop.set()


async def producers(app: App) -> list[Chat]:
    chats = []
    for index in range(PRODUCERS):
        user_id = await make_producer(app, f"bk{index}")
        async with app.engine.sessions() as session, session.begin():
            owner = (await session.scalars(select(Producer).where(Producer.user_id == user_id))).one()
            await data.dossier(session, owner, created=app.engine.clock())
        chats.append(Chat(app.engine, f"bk{index}"))
    return chats


@contextlib.asynccontextmanager
async def fresh_target(app: App, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the app's backend: a new SQLite file, or a new PostgreSQL database."""
    if app.db.dialect.name == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'ocop.db'}"
        return
    assert PG_URL
    name = f"ocop_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        source = make_url(app.settings.database_url)
        yield source.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


async def test_backup_under_traffic_restores_to_the_same_counts_and_hashes(app: App, tmp_path: Path) -> None:
    chats = await producers(app)
    traffic = Traffic(app, chats)
    worker = asyncio.create_task(traffic.run())
    try:
        await traffic.reached(PRODUCERS)  # files are arriving before the backup starts …
        before = await stored_count(app)
        folder = tmp_path / "backup"
        source = app.settings.database_url
        made = await ocop_bot(
            "backup", "-o", str(folder), database_url=source, data_dir=tmp_path / "data", cwd=folder.parent
        )
        await traffic.reached(traffic.sent + PRODUCERS)  # … and go on arriving after it
    finally:
        traffic.stop()
        await worker
    assert made.code == 0, made.err
    assert "backup written to" in made.out
    after = await stored_count(app)

    manifest = json.loads((folder / "manifest.json").read_text())
    snapshot = manifest["tables"]
    assert before <= snapshot["stored_files"] < after  # a snapshot taken mid-traffic
    assert manifest["files"]["count"] == snapshot["stored_files"]
    assert {entry["path"]: entry["sha256"] for entry in manifest["files"]["entries"]} == tree_hashes(folder / "files")
    dump = (folder / manifest["database"]["file"]).read_bytes()
    assert manifest["database"]["sha256"] == hashlib.sha256(dump).hexdigest()

    async with fresh_target(app, tmp_path) as target:
        restored_data = tmp_path / "restored-data"
        done = await ocop_bot("restore", str(folder), database_url=target, data_dir=restored_data, cwd=tmp_path)
        assert done.code == 0, done.err
        assert await backup.table_counts(target) == snapshot
        restored_files = tree_hashes(restored_data / "files")
        assert restored_files == {entry["path"]: entry["sha256"] for entry in manifest["files"]["entries"]}
        # Every restored row finds its file, and every file is the one its row names.
        engine = create_engine(target)
        try:
            async with engine.connect() as connection:
                rows = (await connection.execute(select(StoredFile.sha256, StoredFile.path))).all()
        finally:
            await engine.dispose()
        assert sorted(restored_files.items()) == sorted((path, sha) for sha, path in rows)

        # A second restore onto the restored target is refused, and nothing changes.
        again = await ocop_bot("restore", str(folder), database_url=target, data_dir=tmp_path / "other", cwd=tmp_path)
        assert again.code == 1 and "already has" in again.err
        assert await backup.table_counts(target) == snapshot

    # The data folder must be empty too.
    async with fresh_target(app, tmp_path / "second") as target:
        refused = await ocop_bot("restore", str(folder), database_url=target, data_dir=restored_data, cwd=tmp_path)
        assert refused.code == 1 and "not empty" in refused.err

    # A backup never overwrites an older one.
    twice = await ocop_bot(
        "backup", "-o", str(folder), database_url=app.settings.database_url, data_dir=tmp_path / "data", cwd=tmp_path
    )
    assert twice.code == 1 and "not empty" in twice.err


async def test_a_damaged_backup_is_refused_before_anything_is_written(app: App, tmp_path: Path) -> None:
    chats = await producers(app)
    for seed, chat in enumerate(chats[:3]):
        await chat.send_file(files.jpeg(seed), "giay-phep.jpg")
    folder = tmp_path / "backup"
    manifest = await backup.backup(app.settings.database_url, app.settings.ocop.files_dir, folder)
    assert manifest["files"]["count"] == 3
    damaged = folder / "files" / manifest["files"]["entries"][1]["path"]
    damaged.write_bytes(damaged.read_bytes() + b"x")

    async with fresh_target(app, tmp_path) as target:
        with pytest.raises(backup.BackupError, match="does not match"):
            await backup.restore(folder, target, tmp_path / "restored" / "files")
        assert not (tmp_path / "restored" / "files").exists()
        if app.db.dialect.name == "sqlite":
            assert not (tmp_path / "restored" / "ocop.db").exists()
        else:
            assert await backup.table_counts(target) == {}

    (folder / "manifest.json").unlink()
    with pytest.raises(backup.BackupError, match="unfinished"):
        await backup.restore(folder, "sqlite+aiosqlite:///unused.db", tmp_path / "x")


async def test_a_missing_file_fails_the_backup_loudly(app: App, tmp_path: Path) -> None:
    chats = await producers(app)
    await chats[0].send_file(files.png(7), "anh.png")
    async with app.engine.sessions() as session:
        stored = (await session.scalars(select(StoredFile))).one()
    (app.settings.ocop.files_dir / stored.path).unlink()
    with pytest.raises(backup.BackupError, match="missing"):
        await backup.backup(app.settings.database_url, app.settings.ocop.files_dir, tmp_path / "backup")


async def test_restore_into_a_migrated_but_empty_sqlite_database_is_refused(tmp_path: Path) -> None:
    """``ocop-bot migrate`` run on the new server first: the tables exist, so the target is not empty."""
    source = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"
    engine = create_engine(source)
    await migrate(engine)
    await engine.dispose()
    await backup.backup(source, tmp_path / "files", tmp_path / "backup")
    target = f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    engine = create_engine(target)
    await migrate(engine)
    await engine.dispose()
    with pytest.raises(backup.BackupError, match="already has tables"):
        await backup.restore(tmp_path / "backup", target, tmp_path / "restored")
