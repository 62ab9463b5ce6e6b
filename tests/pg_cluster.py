"""A private PostgreSQL server in a temporary folder, for tests that stop or restart the database.

The shared server other test runs use is never touched: this one has its own data folder, port and socket
folder, and is removed afterwards. PostgreSQL refuses to run as root, so under root the server runs as the
``postgres`` system user (``runuser``). ``available()`` says why it cannot run here (no binaries), so tests
skip with that reason instead of failing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.fakes.server import free_port


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def available() -> str | None:
    """None when a private server can be started; otherwise the reason it cannot."""
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        return "no PostgreSQL server binaries (initdb, pg_ctl) on this machine"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or _postgres_uid() is None):
        return "running as root without a postgres user and runuser to start PostgreSQL as"
    return None


def _postgres_uid() -> tuple[int, int] | None:
    import pwd

    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


class PrivateCluster:
    def __init__(self) -> None:
        bin_dir = _bin_dir()
        assert bin_dir is not None, available()
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="ocop-pg-"))
        self.data = self.root / "data"
        self.port = free_port("127.0.0.1")
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            ids = _postgres_uid()
            assert ids is not None
            os.chown(self.root, *ids)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        """What ``pg_ctlcluster … restart`` does: a fast shutdown (sessions cut off), then a start."""
        self.stop()
        self.start()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
