"""``ocop-bot webhook info|set|delete``: Telegram's webhook for operators.

    ocop-bot webhook info                   what Telegram has registered, updates waiting, the last error
    ocop-bot webhook set [--drop-pending]   register TELEGRAM_WEBHOOK_URL (``run`` does this at start too)
    ocop-bot webhook delete [--drop-pending]  back to polling (unset TELEGRAM_WEBHOOK_URL as well)

``--drop-pending`` discards the updates Telegram is holding: only for a bot that fell far behind on purpose.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, TextIO

from bot.settings import Settings

COMMAND = "webhook"


def add_parser(commands: Any) -> None:
    """Hook ``webhook`` into the ``ocop-bot`` subcommands (``commands`` is argparse's subparsers action)."""
    parser = commands.add_parser(COMMAND, help="Telegram's webhook: info, set, delete")
    sub = parser.add_subparsers(dest="webhook_command")
    sub.add_parser("info", help="what Telegram has registered, pending updates, the last delivery error")
    for name, text in (("set", "register TELEGRAM_WEBHOOK_URL"), ("delete", "remove the webhook (polling)")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--drop-pending", action="store_true", help="discard the updates Telegram holds")


def run(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    if settings.telegram.token is None:
        print("TELEGRAM_BOT_TOKEN is not set.", file=sys.stderr)
        return 2
    return asyncio.run(execute(args, settings, out))


async def execute(args: argparse.Namespace, settings: Settings, out: TextIO = sys.stdout) -> int:
    from bot.channels import telegram_webhook

    command = args.webhook_command
    if command == "set":
        if not settings.telegram.webhook_url:
            print("TELEGRAM_WEBHOOK_URL is not set.", file=sys.stderr)
            return 2
        url = await telegram_webhook.set_webhook(settings, drop_pending=args.drop_pending)
        print(f"webhook set: {url}", file=out)
        return 0
    if command == "delete":
        await telegram_webhook.delete_webhook(settings, drop_pending=args.drop_pending)
        print("webhook deleted: the bot can poll again", file=out)
        return 0
    if command in (None, "info"):
        state = await telegram_webhook.webhook_info(settings)
        print(f"url: {state.url or '(none: polling)'}", file=out)
        print(f"pending updates: {state.pending_updates}", file=out)
        print(f"max connections: {state.max_connections if state.max_connections is not None else '-'}", file=out)
        allowed = ", ".join(state.allowed_updates) if state.allowed_updates else "(all but a few)"
        print(f"allowed updates: {allowed}", file=out)
        if state.last_error:
            when = state.last_error_at.isoformat() if state.last_error_at else "?"
            print(f"last error: {state.last_error} at {when}", file=out)
        return 0
    return 2
