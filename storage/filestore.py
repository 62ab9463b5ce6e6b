"""Content-addressed file store: ``<root>/ab/cd/<sha256>.<ext>``. The same bytes are stored once."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path


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
        if path.exists() and path.stat().st_size == len(data):
            return sha256, path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename, so a crash never leaves half a file under the final name.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
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
