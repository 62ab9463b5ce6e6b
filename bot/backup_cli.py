"""``ocop-bot backup -o DIR`` and ``ocop-bot restore DIR``: the database and its files in one folder.

    ocop-bot backup -o /srv/backups/ocop-2026-11-28     (the bot may keep running)
    ocop-bot restore /srv/backups/ocop-2026-11-28       (into an empty database and an empty data folder)

``DATABASE_URL`` and ``OCOP_DATA_DIR`` name the source (backup) or the target (restore). What a backup holds
and why it is consistent: ``storage.backup``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot import __version__
from bot.settings import Settings
from storage import backup

COMMANDS = ("backup", "restore")


def add_commands(commands: Any) -> None:
    """Add the subcommands to ``ocop-bot``'s subparsers."""
    make = commands.add_parser("backup", help="write a consistent backup (database, files, manifest) into a folder")
    make.add_argument("-o", "--output", required=True, type=Path, help="a new or empty folder")
    restore = commands.add_parser("restore", help="restore a backup into an empty database and data folder")
    restore.add_argument("folder", type=Path, help="a folder written by `ocop-bot backup`")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.command == "backup":
            manifest = asyncio.run(
                backup.backup(settings.database_url, settings.ocop.files_dir, args.output, app_version=__version__)
            )
            print(f"backup written to {args.output}: {_summary(manifest)}")
        else:
            manifest = asyncio.run(backup.restore(args.folder, settings.database_url, settings.ocop.files_dir))
            print(f"restored {args.folder} (taken {manifest['created_at']}): {_summary(manifest)}")
    except backup.BackupError as error:
        print(f"ocop-bot {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


def _summary(manifest: dict[str, Any]) -> str:
    rows = sum(manifest["tables"].values())
    files = manifest["files"]
    return f"{rows} rows in {len(manifest['tables'])} tables, {files['count']} files ({files['bytes']:,} bytes)"
