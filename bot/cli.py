"""``ocop-bot``: run, chat, migrate, version."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot import (
    __version__,
    admin_cli,
    backup_cli,
    certificate_cli,
    council_cli,
    logs,
    office_cli,
    privacy_cli,
    round_cli,
    webhook_cli,
)
from bot.i18n import MissingCatalogue
from bot.settings import Settings, load_settings

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
    office_cli.add_parsers(commands)
    backup_cli.add_commands(commands)
    privacy_cli.add_parser(commands)
    council_cli.add_parser(commands)
    certificate_cli.add_parser(commands)
    webhook_cli.add_parser(commands)
    laichau = commands.add_parser(
        "import-laichau", help="the Lai Châu 2023 list: same as 'import products PATH --preset laichau-2023'"
    )
    laichau.add_argument("path", help="laichau-2023-ocop-registrations.csv")
    _add_verbose(parser, commands)
    args = parser.parse_args(argv)

    settings = load_settings()
    logs.configure(log_level(args, settings), settings.log_format)
    try:
        return _dispatch(parser, args, settings)
    except MissingCatalogue as error:
        print(f"ocop-bot: {error}", file=sys.stderr)
        return 1


def _add_verbose(parser: argparse.ArgumentParser, commands: Any) -> None:
    """``-v`` before or after the subcommand (``ocop-bot -v migrate``, ``ocop-bot migrate -v``)."""
    text = "say more: -v shows progress (INFO), -vv everything (DEBUG)"
    parser.add_argument("-v", "--verbose", action="count", default=0, help=text)
    for subparser in commands.choices.values():
        subparser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=text)


def log_level(args: argparse.Namespace, settings: Settings) -> str:
    """A one-shot command prints its answer and only warnings (no Alembic INFO lines) unless asked with
    ``-v`` or an explicit ``LOG_LEVEL``; the long-running bot logs at ``LOG_LEVEL`` (INFO by default)."""
    verbose = int(getattr(args, "verbose", 0) or 0)
    if verbose >= 2:
        return "DEBUG"
    if verbose == 1:
        return "INFO"
    if args.command in (None, "run") or "log_level" in settings.model_fields_set:
        return settings.log_level.upper()
    return "WARNING"


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: Settings) -> int:
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
    if args.command in backup_cli.COMMANDS:
        return backup_cli.run(args, settings)
    if args.command == "privacy":
        return privacy_cli.run(args, settings)
    if args.command == "council":
        return council_cli.run(args, settings)
    if args.command == "certificate":
        return certificate_cli.run(args, settings)
    if args.command == webhook_cli.COMMAND:
        return webhook_cli.run(args, settings)
    if args.command == "import-laichau":
        args = argparse.Namespace(
            command="import", import_what="products", path=Path(args.path), dry_run=False, map=[], preset="laichau-2023"
        )
    if args.command in office_cli.COMMANDS:
        return office_cli.run(args, settings)
    if args.command == "chat":
        asyncio.run(_chat(settings, args.user))
        return 0
    if args.command in (None, "run"):
        try:
            return asyncio.run(_run(settings))
        except Exception:  # logged as one event like every other, not a bare traceback on stderr
            log.exception("ocop-bot run stopped")
            return 1
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
    from bot.ops import configured_channels

    if not configured_channels(settings):
        print(
            "No channel is configured. Set TELEGRAM_BOT_TOKEN (in the environment or a .env file) to run the\n"
            "Telegram bot; see README.md. Opening the console chat instead.\n",
            file=sys.stderr,
        )
        await _chat(settings, "console-user")
        return 0
    # Every configured run serves the web server, even Telegram by polling alone: /healthz, /readyz and
    # /metrics are how an operator (and compose, and a load balancer) sees the bot.
    return await _run_with_zalo(settings)


async def _run_with_zalo(settings: Settings) -> int:
    """The web server (Zalo webhooks, Telegram's when ``TELEGRAM_WEBHOOK_URL`` is set, health and metrics), with
    Telegram polling beside it when only a Telegram token is set, and the reminders delivered through every
    configured channel."""
    from bot.app import build_app
    from bot.channels.configured import open_channels
    from bot.channels.webhook import run_zalo
    from bot.gc_tuning import tune_for_serving
    from bot.scheduler import Reminders

    app = await build_app(settings)
    channels = open_channels(app.engine, settings)
    reminders = Reminders(app.engine.sessions, settings, channels.deliveries(), clock=app.engine.clock)
    tune_for_serving()  # everything is loaded: keep the collector off it (bot.gc_tuning)
    reminders.start()
    try:
        if not channels.polls_telegram:
            await run_zalo(app, settings, channels=channels.zalo, telegram=channels.telegram_webhook)
            return 0
        from bot.channels.telegram import run_polling

        stop = asyncio.Event()
        zalo = asyncio.create_task(run_zalo(app, settings, stop, channels.zalo))
        try:
            await run_polling(app, settings)  # returns on Ctrl-C / SIGTERM
        finally:
            stop.set()
            await zalo
    finally:
        await reminders.stop()
        await channels.close()
        await app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
