"""Content-addressed file store: ``<root>/ab/cd/<sha256>.<ext>``. The same bytes are stored once.

A blob is removed only by ``remove_if_orphan`` (the orphan sweep), which must never take away a blob that an
update in flight is about to reference. ``put`` therefore refreshes the modification time of a blob it finds
already there, and the sweep moves a candidate aside before the last look, so that every ``put`` is either
seen by that look (a fresh time) or writes the blob anew.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

_BLOB = re.compile(r"^([0-9a-f]{64})\.[0-9a-z]{1,10}$")
_PART = ".part-"  # a write in progress (or cut short by a crash)
_ASIDE = ".sweep-"  # a blob the sweep moved aside for its last look


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def located(self, stored: str) -> Path:
        """Where a ``StoredFile.path`` is on disk: relative to the store, or absolute from older uploads."""
        path = Path(stored)
        return path if path.is_absolute() else self.root / path

    def path_for(self, sha256: str, extension: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / f"{sha256}.{extension}"

    async def put(self, data: bytes, extension: str) -> tuple[str, Path]:
        """Write ``data`` (if not already there) and return its hash and path."""
        return await asyncio.to_thread(self._put, data, extension)

    def _put(self, data: bytes, extension: str) -> tuple[str, Path]:
        sha256 = hashlib.sha256(data).hexdigest()
        path = self.path_for(sha256, extension)
        try:
            if path.stat().st_size == len(data):
                os.utime(path)  # "in use now": the orphan sweep leaves recently touched blobs alone
                return sha256, path
        except FileNotFoundError:  # not there, or moved aside by the sweep this very moment: write it anew
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename, so a crash never leaves half a file under the final name.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_PART)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha256, path

    # The orphan sweep ------------------------------------------------------------------------------------

    def entries(self) -> Iterator[tuple[Path, str | None]]:
        """Every file under the root with the sha256 its name carries (None for leftovers of a crash)."""
        if not self.root.is_dir():
            return
        for path in self.root.glob("*/*/*"):
            if path.is_file():
                found = _BLOB.match(path.name)
                yield path, found.group(1) if found else None

    async def remove_if_orphan(
        self, path: Path, sha256: str | None, older_than: float, referenced: Callable[[str], Awaitable[bool]]
    ) -> bool:
        """Remove ``path`` if untouched since ``older_than`` (a POSIX time) and no row references its hash.

        Leftovers (a ``.part-`` write or a ``.sweep-`` copy cut short by a crash) only need to be old; a
        leftover copy whose blob is referenced but missing is put back instead.
        """
        if not _older(path, older_than):
            return False
        if sha256 is None:
            return await self._remove_leftover(path, referenced)
        if await referenced(sha256):
            return False
        aside = path.with_name(f"{_ASIDE}{uuid.uuid4().hex}-{path.name}")
        try:
            os.replace(path, aside)
        except FileNotFoundError:  # another sweep took it
            return False
        # From here a put() writes the blob anew; one that came before the move touched its time.
        if _older(aside, older_than) and not await referenced(sha256):
            await asyncio.to_thread(aside.unlink, missing_ok=True)
            return True
        os.replace(aside, path)  # the same bytes as any blob written meanwhile
        return False

    async def _remove_leftover(self, path: Path, referenced: Callable[[str], Awaitable[bool]]) -> bool:
        if path.name.startswith(_ASIDE):
            original = path.name.split("-", 2)[-1]
            found = _BLOB.match(original)
            target = path.with_name(original)
            if found and not target.exists() and await referenced(found.group(1)):
                os.replace(path, target)
                return False
        elif not path.name.startswith(_PART):
            return False  # not ours: never touched
        await asyncio.to_thread(path.unlink, missing_ok=True)
        return True


def _older(path: Path, older_than: float) -> bool:
    try:
        return path.stat().st_mtime < older_than
    except FileNotFoundError:
        return False
