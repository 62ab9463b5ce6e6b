"""The console chat and the command line, as a person at a terminal meets them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bot.app import App
from bot.channels.console import chat, inbound_from_line, render
from bot.messages import AskFile, AskPhone, Choice, Text

ROOT = Path(__file__).resolve().parent.parent


def test_choices_are_numbered() -> None:
    shown = render(Text("Chọn nhóm", (Choice("Thực phẩm", "a"), Choice("Đồ uống", "b"))))
    assert shown.splitlines() == ["Chọn nhóm", "  1. Thực phẩm", "  2. Đồ uống"]


def test_phone_and_file_requests_say_what_to_type() -> None:
    assert "0912" in render(AskPhone("Số điện thoại?", "📱"))
    assert "/" in render(AskFile("Gửi ảnh"))


def test_a_path_to_an_existing_file_is_sent_as_a_file(tmp_path: Path) -> None:
    photo = tmp_path / "anh.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0")
    inbound = inbound_from_line(str(photo), "me")
    assert inbound.file is not None and inbound.file.name == "anh.jpg" and inbound.text is None
    typed = inbound_from_line("hàng/rau", "me")  # a slash in ordinary text is still text
    assert typed.file is None and typed.text == "hàng/rau"


async def test_console_chat_runs_until_end_of_input(app: App) -> None:
    lines = iter(["menu", "/quit"])
    written: list[str] = []

    async def read_line() -> str:
        return next(lines, "") + "\n"

    await chat(app.engine, user_id="terminal", write=written.append, read_line=read_line)
    screen = "\n".join(written)
    assert "  1. " in screen and "Traceback" not in screen


def test_command_line_version_and_run_without_token(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "OCOP_DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_BOT_TOKEN": "",
    }
    env.pop("TELEGRAM_BOT_TOKEN")
    version = subprocess.run(
        [sys.executable, "-m", "bot", "version"], capture_output=True, text=True, env=env, cwd=tmp_path, check=True
    )
    assert version.stdout.startswith("ocop-bot ")
    run = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        input="menu\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=True,
    )
    assert "TELEGRAM_BOT_TOKEN" in run.stderr  # says how to configure a channel
    assert "  1. " in run.stdout  # and opened the console chat with numbered choices
    assert (tmp_path / "cli.db").exists()  # migrated at start


async def _queue_idea_accepted(app: App, user_id: int, idea: str) -> None:
    from storage import outbox

    async with app.engine.sessions() as session, session.begin():
        await outbox.enqueue(
            session,
            user_id=user_id,
            kind="idea_accepted",
            params={"idea": idea, "reason": ""},
            dedupe_key=f"idea_accepted:{idea}",
            not_before=app.engine.clock(),
            urgent=True,
        )


async def test_the_console_shows_its_own_users_notices(app: App) -> None:
    """A notice for the person at the terminal appears after their next answer and while the chat waits for
    input; another user's notice stays in the outbox for their own channel."""
    from sqlalchemy import select

    from storage.models import OutboxMessage
    from tests.conftest import make_producer

    me = await make_producer(app, "terminal")
    other = await make_producer(app, "someone-else")
    await _queue_idea_accepted(app, me, "Chè Shan Tuyết")
    await _queue_idea_accepted(app, other, "Mật ong bạc hà")
    written: list[str] = []
    lines = iter(["menu"])

    async def read_line() -> str:
        line = next(lines, None)
        if line is not None:
            return line + "\n"
        # While the person is thinking, the commune accepts another idea: it shows up without any typing.
        await _queue_idea_accepted(app, me, "Gạo Séng Cù")
        for _ in range(100):
            if "Gạo Séng Cù" in "\n".join(written):
                break
            await asyncio.sleep(0.05)
        return "/quit\n"

    await chat(app.engine, user_id="terminal", write=written.append, read_line=read_line, notice_poll_seconds=0.05)
    screen = "\n".join(written)
    assert "Xã đã chấp nhận ý tưởng sản phẩm Chè Shan Tuyết" in screen
    assert "Gạo Séng Cù" in screen
    assert "Mật ong bạc hà" not in screen
    async with app.engine.sessions() as session:
        statuses = dict((await session.execute(select(OutboxMessage.user_id, OutboxMessage.status))).all())
    assert statuses[other] == "pending"


def test_command_line_is_quiet_unless_asked(tmp_path: Path) -> None:
    """One-shot commands print their answer, not Alembic's INFO lines; -v (before or after the command) or an
    explicit LOG_LEVEL brings them back."""
    env = {key: value for key, value in os.environ.items() if key != "LOG_LEVEL"}
    env.update(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/cli.db", OCOP_DATA_DIR=str(tmp_path / "data"))

    def migrate(*extra: str, **more_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *extra],
            capture_output=True,
            text=True,
            env={**env, **more_env},
            cwd=tmp_path,
            timeout=60,
            check=True,
        )

    quiet = migrate("migrate")
    assert quiet.stdout.strip() == "database is up to date"
    assert quiet.stderr == ""
    assert "level=info logger=alembic" in migrate("-v", "migrate").stderr
    assert "level=info logger=alembic" in migrate("migrate", "-v").stderr
    assert "level=info logger=alembic" in migrate("migrate", LOG_LEVEL="INFO").stderr
