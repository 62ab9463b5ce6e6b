"""Installed another way than from this checkout, the bot still speaks Vietnamese.

The wheel is built from a copy of the sources (nothing is written into the checkout), installed without its
dependencies into a fresh virtualenv that borrows this one's site-packages (no network, a few seconds), and
asked for its console greeting from a directory with no ``locales/`` anywhere near.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from bot import i18n
from bot.app import build_app
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "bot", "handlers", "storage", "locales")


def _run(
    *command: str | Path, input: str | None = None, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, input=input, env=env, cwd=cwd, timeout=300
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _clean_environment(tmp_path: Path) -> dict[str, str]:
    ours = ("TELEGRAM_", "ZALO_", "OCOP_", "WEBHOOK_", "DATABASE_URL", "LOG_LEVEL", "PYTHONPATH")
    env = {key: value for key, value in os.environ.items() if not key.startswith(ours)}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'wheel.db'}"
    env["OCOP_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_an_installed_wheel_greets_in_vietnamese(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
        else:
            shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", dist, source)
    (wheel,) = dist.glob("ocop_bot-*.whl")

    fresh = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", fresh)
    python = fresh / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel)
    # The dependencies come from this virtualenv, after the fresh one's own site-packages.
    fresh_site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (fresh_site / "borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    home = tmp_path / "elsewhere"
    home.mkdir()
    env = _clean_environment(tmp_path)
    where = _run(python, "-c", "import bot.i18n as i; print(i.LOCALES_DIR)", env=env, cwd=home).stdout.strip()
    assert where.startswith(str(fresh_site)), f"the bot was imported from {where}, not from the wheel"
    greeting = _run(fresh / "bin" / "ocop-bot", "chat", input="/quit\n", env=env, cwd=home).stdout
    assert "Xin chào" in greeting and "Hello" not in greeting, greeting


async def test_start_up_refuses_to_run_without_the_default_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path / "nowhere")
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(i18n.MissingCatalogue, match="'vi'"):
        await build_app(settings)
