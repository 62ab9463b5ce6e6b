"""``ocop-bot``: run, chat, migrate, version."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot import __version__, admin_cli, round_cli, webhook_cli
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.app import App
    from bot.channels.telegram_webhook import TelegramWebhook

log = logging.getLogger("ocop")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocop-bot", description="Trợ lý OCOP")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="start the configured channels (the console chat when none is)")
    chat = commands.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default="console-user", help="which console user you are")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("version", help="print the version")
    admin_cli.add_commands(commands)
    round_cli.add_parser(commands)
    webhook_cli.add_parser(commands)
    laichau = commands.add_parser("import-laichau", help="import the Lai Châu 2023 OCOP list as placeholder data")
    laichau.add_argument("path", help="laichau-2023-ocop-registrations.csv")
    args = parser.parse_args(argv)

    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "version":
        print(f"ocop-bot {__version__}")
        return 0
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        return 0
    if args.command in admin_cli.COMMANDS:
        return admin_cli.run(args, settings)
    if args.command == "round":
        return round_cli.run(args, settings)
    if args.command == webhook_cli.COMMAND:
        return webhook_cli.run(args, settings)
    if args.command == "import-laichau":
        from bot.importer import run_import

        return asyncio.run(run_import(settings, args.path))
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
    zalo = settings.zalo_bot_token is not None or settings.zalo_oa_configured
    if zalo or settings.telegram_webhook_url:
        return await _run_with_zalo(settings)
    if settings.telegram_bot_token is None:
        print(
            "No channel is configured. Set TELEGRAM_BOT_TOKEN (in the environment or a .env file) to run the\n"
            "Telegram bot; see README.md. Opening the console chat instead.\n",
            file=sys.stderr,
        )
        await _chat(settings, "console-user")
        return 0
    from bot.app import build_app
    from bot.channels.telegram import build_bot, run_polling
    from bot.channels.telegram_delivery import TelegramDelivery
    from bot.scheduler import Reminders

    app = await build_app(settings)
    delivery_bot = build_bot(settings)
    reminders = Reminders(
        app.engine.sessions, settings, {"telegram": TelegramDelivery(delivery_bot)}, clock=app.engine.clock
    )
    reminders.start()
    try:
        await run_polling(app, settings)
    finally:
        await reminders.stop()
        await delivery_bot.session.close()
        await app.close()
    return 0


async def _run_with_zalo(settings: Settings) -> int:
    """The webhook server (Zalo, and Telegram when ``TELEGRAM_WEBHOOK_URL`` is set), with Telegram polling
    beside it when only a Telegram token is set, and the reminders delivered through every configured channel."""
    from bot.app import build_app
    from bot.channels.webhook import open_zalo, run_zalo
    from bot.scheduler import Reminders

    app = await build_app(settings)
    channels = open_zalo(app.engine, settings)
    deliveries = channels.deliveries()
    delivery_bot = None
    if settings.telegram_bot_token is not None:
        from bot.channels.telegram import build_bot
        from bot.channels.telegram_delivery import TelegramDelivery

        delivery_bot = build_bot(settings)
        deliveries["telegram"] = TelegramDelivery(delivery_bot)
    reminders = Reminders(app.engine.sessions, settings, deliveries, clock=app.engine.clock)
    reminders.start()
    try:
        if settings.telegram_bot_token is None or settings.telegram_webhook_url:
            await run_zalo(app, settings, channels=channels, telegram=_telegram_webhook(app, settings))
            return 0
        from bot.channels.telegram import run_polling

        stop = asyncio.Event()
        zalo = asyncio.create_task(run_zalo(app, settings, stop, channels))
        try:
            await run_polling(app, settings)  # returns on Ctrl-C / SIGTERM
        finally:
            stop.set()
            await zalo
    finally:
        await reminders.stop()
        if delivery_bot is not None:
            await delivery_bot.session.close()
        await channels.close()
        await app.close()
    return 0


def _telegram_webhook(app: App, settings: Settings) -> TelegramWebhook | None:
    if settings.telegram_bot_token is None or not settings.telegram_webhook_url:
        return None
    from bot.channels.telegram_webhook import TelegramWebhook

    return TelegramWebhook(app.engine, settings)


if __name__ == "__main__":
    raise SystemExit(main())
