"""Office work from the command line: what an OCOP office hands on and takes in.

    ocop-bot export dossiers [--round R] [--commune C] [--status S] -o FILE.xlsx
    ocop-bot export certificates [--expiring-days N] -o FILE.xlsx
    ocop-bot export producers -o FILE.xlsx
    ocop-bot report year YYYY -o FILE.xlsx
    ocop-bot import products FILE.xlsx|FILE.csv [--dry-run] [--map "Header=field" ...] [--preset laichau-2023]
    ocop-bot dossier zip ID -o FILE.zip [--limit-mb 50]

Progress goes to standard error (one line rewritten in place on a terminal), results to standard output.
Exports that carry phone numbers are audit-logged as reads of personal data, with the actor "cli".
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot import dossier_zip, office_export, product_import, year_report
from bot.communes import find_communes
from bot.i18n import _
from bot.rules import DOSSIER_STATUS_LABELS, DossierStatus
from bot.settings import Settings
from bot.spreadsheet import save
from bot.text import fold
from storage import audit, rounds

CLI_ACTOR = "cli"
COMMANDS = ("export", "report", "import", "dossier")
TELEGRAM_UPLOAD_MB = 50


def add_parsers(commands: Any) -> None:
    """Hook the office commands into ``ocop-bot`` (``commands`` is argparse's subparsers action)."""
    export = commands.add_parser("export", help="write dossiers, certificates or producers to an .xlsx file")
    what = export.add_subparsers(dest="export_what", required=True)
    dossiers = what.add_parser("dossiers", help="one row per dossier")
    dossiers.add_argument("--round", help="a round's id or exact name")
    dossiers.add_argument("--commune", help="a commune, typed as in the chat (e.g. 'binh lu')")
    dossiers.add_argument("--status", help="a state code (e.g. at_province) or its words")
    dossiers.add_argument("-o", "--output", required=True, type=Path)
    certificates = what.add_parser("certificates", help="one row per certificate")
    certificates.add_argument("--expiring-days", type=int, help="only valid ones that expire within N days")
    certificates.add_argument("-o", "--output", required=True, type=Path)
    producers = what.add_parser("producers", help="one row per producer")
    producers.add_argument("-o", "--output", required=True, type=Path)

    report = commands.add_parser("report", help="the programme report of a year, with a chart")
    kind = report.add_subparsers(dest="report_kind", required=True)
    year = kind.add_parser("year", help="per commune: ideas, dossiers, stars, certificates")
    year.add_argument("year", type=int)
    year.add_argument("-o", "--output", required=True, type=Path)

    imports = commands.add_parser("import", help="take in a list an office keeps")
    what_in = imports.add_subparsers(dest="import_what", required=True)
    products = what_in.add_parser("products", help="products, producers and certificates from .xlsx or .csv")
    products.add_argument("path", type=Path)
    products.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    products.add_argument("--map", action="append", default=[], help='an unusual header: "Tên SP=product"')
    products.add_argument("--preset", choices=sorted(product_import.PRESETS), help="the columns of a known list")

    dossier = commands.add_parser("dossier", help="one dossier's files")
    action = dossier.add_subparsers(dest="dossier_action", required=True)
    zipped = action.add_parser("zip", help="every file of a dossier in one ZIP, a folder per item")
    zipped.add_argument("id", type=int)
    zipped.add_argument("-o", "--output", required=True, type=Path)
    zipped.add_argument("--limit-mb", type=int, default=TELEGRAM_UPLOAD_MB, help="split into parts above this")


class Progress:
    """One line on standard error, rewritten in place on a terminal and printed plainly otherwise."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()

    def __call__(self, message: str) -> None:
        if self.live:
            print(f"\r\033[K{message}", end="", file=self.stream, flush=True)
        else:
            print(message, file=self.stream)

    def done(self) -> None:
        if self.live:
            print(file=self.stream)


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(execute(args, settings))


async def execute(
    args: argparse.Namespace,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
    out: TextIO | None = None,
    progress: Progress | None = None,
) -> int:
    """Run one office command; 0 on success, 2 on bad input, 1 when an import had rejected rows."""
    from storage.db import create_engine, migrate, session_factory

    out = out or sys.stdout
    progress = progress or Progress()
    now = now or dt.datetime.now(dt.UTC)
    db = create_engine(settings.database_url)
    try:
        if db.dialect.name == "sqlite":
            await migrate(db)
        async with session_factory(db)() as session:
            async with session.begin():
                code = await _dispatch(session, args, settings, now, out, progress)
                if getattr(args, "dry_run", False) or code == 1:
                    await session.rollback()
            return code
    except (product_import.ImportFileError, OSError) as error:
        print(f"error: {error}", file=out)
        return 2
    finally:
        progress.done()
        await db.dispose()


async def _dispatch(
    session: AsyncSession,
    args: argparse.Namespace,
    settings: Settings,
    now: dt.datetime,
    out: TextIO,
    progress: Progress,
) -> int:
    today = now.astimezone(ZoneInfo(settings.ocop.timezone)).date()
    if args.command == "export":
        return await _export(session, args, settings, now, today, out, progress)
    if args.command == "report":
        progress(f"building the {args.year} report …")
        report = await year_report.build(session, args.year)
        save(year_report.workbook(report), args.output)
        print(f"wrote {args.output}: {len(report.lines)} communes", file=out)
        print(year_report.summary_text(report), file=out)
        return 0
    if args.command == "import":
        return await _import(session, args, settings, now, out, progress)
    if args.command == "dossier":
        progress(f"collecting the files of dossier #{args.id} …")
        found = await dossier_zip.load(session, args.id, settings.ocop.files_dir)
        if found is None:
            print(f"error: no dossier #{args.id}", file=out)
            return 2
        paths = dossier_zip.write(found, args.output, args.limit_mb * 1024 * 1024)
        for path in paths:
            print(f"wrote {path} ({path.stat().st_size} bytes)", file=out)
        print(f"{len(found.entries)} files in {len(paths)} part(s)", file=out)
        for missing in found.missing:
            print(f"missing from the file store: {missing}", file=out)
        return 0
    return 2


async def _export(
    session: AsyncSession,
    args: argparse.Namespace,
    settings: Settings,
    now: dt.datetime,
    today: dt.date,
    out: TextIO,
    progress: Progress,
) -> int:
    progress(f"reading {args.export_what} …")
    filters: dict[str, Any] = {}
    if args.export_what == "dossiers":
        if args.round:
            found = (
                await rounds.round_of(session, settings.ocop.province, int(args.round))
                if str(args.round).isdigit()
                else None
            )
            found = found or await rounds.round_named(session, settings.ocop.province, args.round)
            if found is None:
                print(f"error: no round {args.round!r}", file=out)
                return 2
            filters["round_id"] = found.id
        if args.commune:
            communes = find_communes(settings.ocop.province, args.commune, limit=8)
            if len(communes) != 1:
                names = ", ".join(c.name for c in communes) or "none"
                print(f"error: commune {args.commune!r} matches {names}; type more of its name", file=out)
                return 2
            filters["commune_code"] = communes[0].code
        if args.status:
            status = _status(args.status)
            if status is None:
                print(f"error: unknown state {args.status!r}; one of {', '.join(DossierStatus)}", file=out)
                return 2
            filters["statuses"] = [status]
        workbook, count = await office_export.dossiers_workbook(session, tz=settings.ocop.timezone, **filters)
    elif args.export_what == "certificates":
        workbook, count = await office_export.certificates_workbook(
            session, expiring_days=args.expiring_days, today=today
        )
    else:
        workbook, count = await office_export.producers_workbook(session)
    progress(f"writing {count} rows …")
    save(workbook, args.output)
    await audit.record(
        session,
        at=now,
        actor_user_id=None,
        actor_label=CLI_ACTOR,
        action="personal_data.export",
        object_type=args.export_what,
        object_id=None,
        before=None,
        after={"rows": count, **{k: v for k, v in filters.items() if k != "statuses"}},
        note=str(args.output),
    )
    print(f"wrote {args.output}: {count} {args.export_what}", file=out)
    return 0


def _status(typed: str) -> str | None:
    folded = fold(typed)
    for status in DossierStatus:
        if folded in (status.value, fold(_(DOSSIER_STATUS_LABELS[status]))):
            return status.value
    return None


async def _import(
    session: AsyncSession,
    args: argparse.Namespace,
    settings: Settings,
    now: dt.datetime,
    out: TextIO,
    progress: Progress,
) -> int:
    progress(f"reading {args.path} …")
    mapping = product_import.parse_map(args.map)
    result = await product_import.import_file(
        session, args.path, province=settings.ocop.province, now=now, mapping=mapping, preset=args.preset
    )
    report_path = args.path.with_name(f"{args.path.stem}-ket-qua-nhap.xlsx")
    save(product_import.outcome_workbook(result), report_path)
    width = max((len(row.product) for row in result.rows), default=10)
    for row in result.rows:
        mark = "ok " if row.accepted else "REJ"
        note = row.reason or row.warning
        print(f"{mark} line {row.line:>4}  {row.product[:width]:<{width}}  {note}", file=out)
    accepted = len(result.rows) - len(result.rejected)
    print(
        f"{accepted} rows accepted, {len(result.rejected)} rejected; {result.producers} producers, "
        f"{result.products} products, {result.certificates} certificates, {result.dossiers} draft dossiers new, "
        f"{result.skipped} already there",
        file=out,
    )
    print(f"report: {report_path}", file=out)
    if result.rejected:
        print("nothing was written: fix the rejected rows (or remove them) and import again", file=out)
        return 1
    if args.dry_run:
        print("dry run: nothing was written", file=out)
    return 0
