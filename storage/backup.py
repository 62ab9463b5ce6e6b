"""Backups: one folder holding a consistent snapshot of the database, the stored files its rows name, and a
manifest with the row count of every table and the SHA-256 of every part.

```
<dir>/manifest.json          written last: a folder without it is an unfinished backup and is never restored
<dir>/database.sqlite3       SQLite, through the online backup API (the bot keeps running and writing)
<dir>/database.pgdump        PostgreSQL, pg_dump's custom format (restored by pg_restore)
<dir>/files/ab/cd/<sha256>.<ext>   the blobs named by ``stored_files`` rows, laid out as in the file store
```

Consistency: SQLite's backup API copies one committed state of the database. On PostgreSQL one REPEATABLE
READ transaction exports its snapshot; pg_dump runs inside that snapshot, and the row counts and the list of
files are read in it too, so the manifest describes exactly what the dump holds. Files are copied after the
database: they are content-addressed and written (and fsynced) before any row names them, so every row of the
snapshot finds its file, and a file is never rewritten in place.

Restoring goes only into an empty target (no tables in the database or schema, no file in the file store),
after every part's hash has been checked, and ends by comparing the restored row counts with the manifest.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import create_engine, is_sqlite

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
FILES_DIR = "files"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, for the operator."""


@dataclass(frozen=True)
class Blob:
    sha256: str
    path: str  # as in ``stored_files.path``: relative to the file store (absolute for very old uploads)

    @property
    def relative(self) -> Path:
        """Where the blob lives in the backup and in a restored file store."""
        path = Path(self.path)
        if path.is_absolute() or ".." in path.parts:
            return Path(self.sha256[:2], self.sha256[2:4], path.name)
        return path


# Backing up -------------------------------------------------------------------------------------------------
async def backup(database_url: str, files_root: Path, out: Path, *, app_version: str = "") -> dict[str, Any]:
    """Write a backup of the database at ``database_url`` and of the files under ``files_root`` into ``out``
    (which must not exist or be empty); returns the manifest."""
    await asyncio.to_thread(_new_folder, out)
    if is_sqlite(database_url):
        database, tables, blobs = await asyncio.to_thread(_snapshot_sqlite, _sqlite_path(database_url), out)
    else:
        database, tables, blobs = await _snapshot_postgresql(database_url, out)
    files = await asyncio.to_thread(_copy_blobs, blobs, files_root, out / FILES_DIR)
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "app_version": app_version,
        "database": database,
        "tables": tables,
        "files": {
            "count": len(files),
            "bytes": sum(entry["bytes"] for entry in files),
            "entries": files,
        },
    }
    _write_atomically(out / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode())
    return manifest


def _new_folder(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty; choose a new folder for each backup")
    out.mkdir(parents=True, exist_ok=True)


def _empty_store(files_root: Path) -> None:
    if files_root.exists() and any(path.is_file() for path in files_root.rglob("*")):
        raise BackupError(f"the file store {files_root} is not empty; restore into an empty data folder")


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(database)


def _snapshot_sqlite(source: Path, out: Path) -> tuple[dict[str, Any], dict[str, int], list[Blob]]:
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    target = out / SQLITE_FILE
    with closing(sqlite3.connect(source, timeout=30)) as src, closing(sqlite3.connect(target)) as dst:
        # One step (pages=-1): the copy is one read transaction, one committed state, while the bot writes on.
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file, no -wal beside it
        tables = _sqlite_counts(dst)
        blobs = [Blob(sha, path) for sha, path in dst.execute("SELECT sha256, path FROM stored_files")]
    return _part(target, backend="sqlite"), tables, blobs


def _sqlite_counts(connection: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {name: int(connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]) for name in names}


async def _snapshot_postgresql(url: str, out: Path) -> tuple[dict[str, Any], dict[str, int], list[Blob]]:
    schema = _schema_of(url)
    target = out / PG_FILE
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as plain:
            connection = await plain.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            snapshot = (await connection.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            tables = await _pg_counts(connection)
            rows = await connection.execute(text("SELECT sha256, path FROM stored_files"))
            blobs = [Blob(sha, path) for sha, path in rows]
            arguments = ["--format=custom", f"--snapshot={snapshot}", f"--file={target}"]
            if schema is not None:
                arguments.append(f"--schema={schema}")
            await _run_tool("pg_dump", url, arguments)  # while our transaction holds the snapshot open
            await connection.rollback()
    finally:
        await engine.dispose()
    return _part(target, backend="postgresql", schema=schema), tables, blobs


async def _pg_counts(connection: AsyncConnection) -> dict[str, int]:
    names = (
        await connection.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
        )
    ).scalars()
    counts = {}
    for name in list(names):
        counts[name] = int((await connection.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one())
    return counts


def _schema_of(url: str) -> str | None:
    schema = make_url(url).query.get("search_path")
    return str(schema) if schema else None


def _copy_blobs(blobs: list[Blob], files_root: Path, target_root: Path) -> list[dict[str, Any]]:
    entries, missing = [], []
    for blob in sorted(blobs, key=lambda b: b.sha256):
        source = Path(blob.path) if Path(blob.path).is_absolute() else files_root / blob.path
        if not source.is_file():
            missing.append(blob.path)
            continue
        digest, size = _copy_hashed(source, target_root / blob.relative)
        if digest != blob.sha256:
            raise BackupError(f"{source} does not match its SHA-256 any more: the file store is damaged")
        entries.append({"path": blob.relative.as_posix(), "sha256": digest, "bytes": size})
    if missing:
        raise BackupError(
            f"{len(missing)} file(s) named in the database are missing from {files_root}, e.g. {missing[0]}"
        )
    return entries


# Restoring --------------------------------------------------------------------------------------------------
async def restore(source: Path, database_url: str, files_root: Path) -> dict[str, Any]:
    """Restore the backup in ``source`` into an empty database and an empty file store; returns the manifest."""
    manifest = read_manifest(source)
    await asyncio.to_thread(verify, source, manifest)
    backend = manifest["database"]["backend"]
    if backend != ("sqlite" if is_sqlite(database_url) else "postgresql"):
        raise BackupError(f"this backup is of a {backend} database; DATABASE_URL points elsewhere")
    await asyncio.to_thread(_empty_store, files_root)
    if backend == "sqlite":
        await asyncio.to_thread(_restore_sqlite, source / manifest["database"]["file"], _sqlite_path(database_url))
    else:
        await _restore_postgresql(source / manifest["database"]["file"], database_url, manifest["database"])
    await asyncio.to_thread(_restore_blobs, source / FILES_DIR, manifest["files"]["entries"], files_root)
    counts = await table_counts(database_url)
    if counts != manifest["tables"]:
        different = sorted(
            k for k in set(counts) | set(manifest["tables"]) if counts.get(k) != manifest["tables"].get(k)
        )
        raise BackupError(f"restored row counts differ from the manifest in: {', '.join(different)}")
    return manifest


def read_manifest(source: Path) -> dict[str, Any]:
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} holds no {MANIFEST}: not a backup, or an unfinished one")
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r} is not one this version reads ({FORMAT})")
    return manifest


def verify(source: Path, manifest: Mapping[str, Any]) -> None:
    """Every part is there with the SHA-256 the manifest names (nothing is written before this passes)."""
    database = manifest["database"]
    if _sha256(source / database["file"]) != database["sha256"]:
        raise BackupError(f"{database['file']} does not match the manifest's SHA-256")
    for entry in manifest["files"]["entries"]:
        path = source / FILES_DIR / entry["path"]
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            raise BackupError(f"files/{entry['path']} is missing or does not match the manifest's SHA-256")


def _restore_sqlite(dump: Path, target: Path) -> None:
    if target.exists() and target.stat().st_size > 0:
        with closing(sqlite3.connect(target)) as existing:
            if _sqlite_counts(existing):
                raise BackupError(f"the database {target} already has tables; restore into an empty one")
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
        leftover.unlink(missing_ok=True)
    partial = target.with_name(target.name + ".restoring")
    shutil.copyfile(dump, partial)
    os.replace(partial, target)


async def _restore_postgresql(dump: Path, url: str, database: Mapping[str, Any]) -> None:
    schema = _schema_of(url)
    if schema != database.get("schema"):
        raise BackupError(
            f"the backup is of schema {database.get('schema') or 'public'}; the target's is {schema or 'public'}"
        )
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.begin() as connection:
            name = schema or "public"
            tables = (
                await connection.execute(
                    text("SELECT count(*) FROM pg_tables WHERE schemaname = :schema"), {"schema": name}
                )
            ).scalar_one()
            if tables:
                raise BackupError(f"schema {name} already has {tables} table(s); restore into an empty database")
            if schema is not None:  # an empty schema made by hand: pg_restore creates it again
                await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}"'))
    finally:
        await engine.dispose()
    options = ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
    await _run_tool("pg_restore", url, [*options, f"--dbname={make_url(url).database}", str(dump)])


def _restore_blobs(source: Path, entries: list[dict[str, Any]], files_root: Path) -> None:
    for entry in entries:
        digest, _size = _copy_hashed(source / entry["path"], files_root / entry["path"])
        if digest != entry["sha256"]:
            raise BackupError(f"files/{entry['path']} changed while it was restored")


async def table_counts(database_url: str) -> dict[str, int]:
    """The row count of every table of the database (for the manifest's comparison and for tests)."""
    if is_sqlite(database_url):
        path = _sqlite_path(database_url)

        def count() -> dict[str, int]:
            with closing(sqlite3.connect(path)) as connection:
                return _sqlite_counts(connection)

        return await asyncio.to_thread(count)
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await _pg_counts(connection)
    finally:
        await engine.dispose()


# Helpers ----------------------------------------------------------------------------------------------------
def _part(path: Path, **fields: Any) -> dict[str, Any]:
    return {**fields, "file": path.name, "sha256": _sha256(path), "bytes": path.stat().st_size}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy_hashed(source: Path, target: Path) -> tuple[str, int]:
    """Copy through a temporary name, hashing on the way; returns the SHA-256 and size of what was read."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with source.open("rb") as reader, os.fdopen(fd, "wb") as writer:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".part")
    with partial.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


async def _run_tool(tool: str, url: str, arguments: list[str]) -> None:
    """Run pg_dump or pg_restore against the database of ``url``; the password goes by environment, never
    on the command line (where ``ps`` would show it)."""
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} is not installed (Debian/Ubuntu: apt-get install postgresql-client)")
    process = await asyncio.create_subprocess_exec(
        tool,
        *arguments,
        env={**os.environ, **_libpq_env(make_url(url))},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{tool} failed: {err.decode(errors='replace').strip()}")


def _libpq_env(url: URL) -> dict[str, str]:
    found = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password,
        "PGDATABASE": url.database,
    }
    return {key: str(value) for key, value in found.items() if value}
