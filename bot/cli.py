"""``ocop-bot``: run, chat, migrate, version."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from bot import __version__
from bot.settings import Settings

log = logging.getLogger("ocop")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocop-bot", description="Trợ lý OCOP")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="start the configured channels (the console chat when none is)")
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default="console-user", help="which console user you are")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("version", help="print the version")
    args = parser.parse_args(argv)

    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "version":
        print(f"ocop-bot {__version__}")
        return 0
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return 0
    if args.command == "chat":
        asyncio.run(_chat(settings, args.user))
        return 0
    if args.command in (None, "run"):
        return asyncio.run(_run(settings))
    parser.print_help()
    return 2


async def _migrate(settings: Settings) -> None:
    from storage.db import create_engine, migrate

    db = create_engine(settings.database_url)
    try:
        await migrate(db)
    finally:
        await db.dispose()
    print("database is up to date")


async def _chat(settings: Settings, user: str) -> None:
    from bot.app import build_app
    from bot.channels.console import chat

    # Keep the terminal readable: only warnings from the libraries while chatting.
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = await build_app(settings)
    try:
        print("Trợ lý OCOP — console chat. Gõ /quit để thoát. (Ctrl-D to quit.)\n")
        await chat(app.engine, user_id=user)
    finally:
        await app.close()


async def _run(settings: Settings) -> int:
    if settings.telegram_bot_token is None:
        print(
            "No channel is configured. Set TELEGRAM_BOT_TOKEN (in the environment or a .env file) to run the\n"
            "Telegram bot; see README.md. Opening the console chat instead.\n",
            file=sys.stderr,
        )
        await _chat(settings, "console-user")
        return 0
    from bot.app import build_app
    from bot.channels.telegram import run_polling

    app = await build_app(settings)
    try:
        await run_polling(app, settings)
    finally:
        await app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
