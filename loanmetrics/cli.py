"""The ``loanmetrics`` command line (SPEC §11): serve, migrate, ingest, seed, recalc, demo, refresh and tokens.

A thin dispatcher: each command parses its flags and calls the module that does the work. Each
command imports that module when it runs, not at the top: the application stack (SQLAlchemy,
asyncpg, Strawberry, uvicorn) takes about two seconds to import, which ``--help``, ``--version``
and ``token create`` would otherwise pay on every call.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from loanmetrics import __version__
from loanmetrics.settings import ConfigurationError, Settings, load_settings

if TYPE_CHECKING:
    from loanmetrics.application import Application

Command = Callable[[argparse.Namespace], int]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        code: int = args.run(args)
    except ConfigurationError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # an unusable database, at start-up or later: one line, not a driver traceback
        from loanmetrics.db import failures

        failure = str(exc) if isinstance(exc, failures.DatabaseUnavailableError) else None
        failure = failure or failures.describe(exc, _configured_database_url(), from_driver=True)
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return code


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line: what is wrong and where to look."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _whole_number(low: int, high: int | None = None, what: str = "") -> Callable[[str], int]:
    """An argparse type for an integer flag within [low, high], refused naming the flag."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"{low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is not {what or 'allowed'} ({bounds})")
        return value

    parse.__name__ = what or "number"
    return parse


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


PORT = _whole_number(1, 65535, "a port number")
WORKERS = _whole_number(1, 64, "a number of worker processes")
POSITIVE = _whole_number(1, None, "a positive number")
NOT_NEGATIVE = _whole_number(0, None, "a number of zero or more")
ANY_INTEGER = _whole_number(-(2**63), 2**63 - 1, "an integer")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="loanmetrics",
        description="Loan Officer Metrics Server: loan-officer performance and portfolio-risk metrics "
                    "over GraphQL, REST and ETL, on PostgreSQL.",
        epilog="Settings come from the environment (DATABASE_URL, REDIS_URL, LOANMETRICS_*) or a TOML file "
               "named by LOANMETRICS_CONFIG; a flag wins over its variable. 'loanmetrics COMMAND --help' "
               "describes a command.",
    )
    parser.add_argument("--version", action="version", version=f"loanmetrics {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP server (GraphQL, REST, ETL)",
                                description="Run the HTTP server. With no DATABASE_URL it starts an embedded "
                                            "PostgreSQL under LOANMETRICS_DATA_DIR.")
    serve.add_argument("--host", default=None, help="bind address (default: LOANMETRICS_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=PORT, default=None, help="port (default: LOANMETRICS_PORT, else 8000)")
    serve.add_argument("--workers", type=WORKERS, default=None,
                       help="worker processes (default: LOANMETRICS_WORKERS, else 1)")
    serve.add_argument("--no-scheduler", action="store_true",
                       help="API only: run no scheduled jobs (default: jobs run, led by one replica)")
    serve.add_argument("--no-migrate", action="store_true",
                       help="do not apply pending migrations on start (default: apply them)")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply pending database migrations",
                                  description="Apply pending Alembic migrations, then the SQL-function files "
                                              "that changed, to the configured database.")
    migrate.set_defaults(run=_migrate)

    ingest = commands.add_parser(
        "ingest", help="load ETL payload files (JSON or newline-delimited JSON)",
        description="Load ETL payload files: one SPEC §4 payload per .json file, or one per line in a "
                    ".ndjson/.jsonl file. Every file is checked whole before its first batch is written. "
                    "Exit status 1 when a record was rejected, 2 when a file is not a payload.",
    )
    ingest.add_argument("files", nargs="+", type=Path, metavar="FILE", help="payload files, loaded in order")
    ingest.add_argument("--batch-records", type=POSITIVE, default=10_000,
                        help="records per transaction (default: 10000)")
    ingest.set_defaults(run=_ingest)

    seed = commands.add_parser("seed", help="write a synthetic loan book through the ingestion path",
                               description="Write a synthetic loan book into the configured database, "
                                           "through the ingestion path, dated up to the business date.")
    seed.add_argument("--officers", type=POSITIVE, default=50, help="loan officers (default: 50)")
    seed.add_argument("--loans", type=NOT_NEGATIVE, default=10_000, help="loans (default: 10000)")
    seed.add_argument("--days", type=POSITIVE, default=120, help="days of history (default: 120)")
    seed.add_argument("--seed", type=ANY_INTEGER, default=1,
                      help="random seed: the same seed, the same book (default: 1)")
    seed.add_argument("--profile", choices=("standard", "full"), default="standard",
                      help="standard: ~12 installments and ~6 repayments per loan; full: SPEC §12's shape, "
                           "~25 and ~20 with --days 365 (default: standard)")
    seed.add_argument("--batch-records", type=POSITIVE, default=10_000,
                      help="records per transaction (default: 10000)")
    seed.set_defaults(run=_seed)

    recalc = commands.add_parser("recalc", help="recalculate daily metrics in the foreground (backfills)",
                                 description="Recalculate the daily metrics now, with a progress bar.")
    recalc.add_argument("--as-of", type=_iso_date, default=None,
                        help="last date, YYYY-MM-DD (default: the business date)")
    recalc.add_argument("--from", dest="start", type=_iso_date, default=None,
                        help="first date of a backfill, YYYY-MM-DD (default: only --as-of)")
    recalc.add_argument("--incremental", action="store_true",
                        help="what the 15-minute job does: only the changes since the last run "
                             "(default: recalculate the dates whole)")
    recalc.set_defaults(run=_recalc)

    demo = commands.add_parser(
        "demo", help="embedded database, a synthetic book with history, then serve with auth disabled (loopback)",
        description="The local demo: an embedded PostgreSQL, a synthetic book seeded through the ingestion "
                    "path, daily metrics backfilled, then the server with authentication disabled on a loopback "
                    "address. The business date is the last day of the previous month (LOANMETRICS_TODAY "
                    "overrides it). Later runs reuse the data.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="loopback bind address (default: 127.0.0.1)")
    demo.add_argument("--port", type=PORT, default=8000, help="port (default: 8000)")
    demo.add_argument("--officers", type=POSITIVE, default=50, help="officers of a new book (default: 50)")
    demo.add_argument("--loans", type=NOT_NEGATIVE, default=10_000, help="loans of a new book (default: 10000)")
    demo.add_argument("--days", type=POSITIVE, default=120,
                      help="days of history and of backfilled metrics (default: 120)")
    demo.add_argument("--seed", type=ANY_INTEGER, default=1, help="random seed of a new book (default: 1)")
    demo.set_defaults(run=_demo)

    refresh = commands.add_parser("refresh-loans", help="recompute every loan's fields for the business date",
                                  description="Recompute every loan's as-of fields (DPD, tags) for the business "
                                              "date, as the scheduler does after midnight.")
    refresh.add_argument("--rebuild", action="store_true",
                         help="also rebuild loan state from the raw tables (default: reuse the maintained state)")
    refresh.set_defaults(run=_refresh_loans)

    export = commands.add_parser("export-schema", help="print the GraphQL schema (SDL) of this version",
                                 description="Print the GraphQL schema (SDL) of this version on stdout.")
    export.set_defaults(run=_export_schema)

    token = commands.add_parser("token", help="API tokens", description="API tokens.")
    token_commands = token.add_subparsers(title="token commands", metavar="COMMAND")
    create = token_commands.add_parser(
        "create", help="mint a bearer token signed with LOANMETRICS_JWT_SECRET",
        description="Print a bearer token (HS256) signed with LOANMETRICS_JWT_SECRET.",
    )
    create.add_argument("--role", required=True, choices=["viewer", "auditor", "admin", "etl"],
                        help="what the token may do (required)")
    create.add_argument("--branch", action="append", default=[],
                        help="restrict to a branch, repeatable (default: every branch)")
    create.add_argument("--region", action="append", default=[],
                        help="restrict to a region, repeatable (default: every region)")
    create.add_argument("--ttl", default="30d", help="lifetime such as 30d, 12h, 45m (default: 30d)")
    create.add_argument("--sub", default=None, help="subject (default: the role name)")
    create.set_defaults(run=_token_create)
    token.set_defaults(run=lambda args: _usage(token))
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _configured_database_url() -> str | None:
    try:
        return load_settings().database_url
    except ConfigurationError:
        return None


# --- commands ------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.workers is not None:
        overrides["workers"] = args.workers
    if args.no_scheduler:
        overrides["scheduler_enabled"] = False
    from loanmetrics.server import serve

    return serve(overrides, migrate_schema=not args.no_migrate)


@asynccontextmanager
async def _started(settings: Settings) -> AsyncIterator[Application]:
    from loanmetrics.application import create_application

    application = create_application(settings)
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


def _migrate(args: argparse.Namespace) -> int:
    async def run() -> None:
        async with _started(load_settings()):
            pass

    asyncio.run(run())
    print("migrations applied", file=sys.stderr)
    return 0


def _ingest(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    from loanmetrics.db.ingestion.files import read_file
    from loanmetrics.db.ingestion.payload import PayloadError
    from loanmetrics.db.ingestion.service import ingest
    from loanmetrics.db.statistics import analyze_tables
    from loanmetrics.seeding import accumulate, print_totals

    settings = load_settings()
    for path in args.files:
        if not path.is_file():
            print(f"no such file: {path}", file=sys.stderr)
            return 2
    totals: dict[str, dict[str, int]] = {}
    errors: list[dict[str, Any]] = []
    current: list[Path] = []  # the file being read, for the error line

    async def run() -> None:
        async with _started(settings) as application:
            with Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[records]} records"), transient=False,
            ) as progress:
                for path in args.files:
                    current.append(path)
                    task = progress.add_task(path.name, total=path.stat().st_size, records=0)
                    done = 0
                    chunks = read_file(path, batch_records=args.batch_records, max_records=settings.max_batch_records)
                    for chunk in chunks:
                        result = await ingest(application.db, chunk.payload, application.clock.today())
                        accumulate(totals, result.results)
                        errors.extend(result.errors)
                        done += chunk.payload.record_count
                        progress.update(task, completed=chunk.position, records=done)
                    progress.update(task, completed=path.stat().st_size)
            async with application.db.raw_session() as conn:
                await analyze_tables(conn)
            await application.after_commit()

    try:
        asyncio.run(run())
    except PayloadError as exc:
        print(f"error: {current[-1] if current else 'ingest'}: {exc.message}", file=sys.stderr)
        return 2
    print_totals(totals, errors)
    return 1 if errors else 0


def _seed(args: argparse.Namespace) -> int:
    from loanmetrics.seeding import print_totals, seed_with_progress
    from loanmetrics.synthetic import BookShape

    settings = load_settings()
    started = time.perf_counter()

    async def run() -> tuple[dict[str, dict[str, int]], list[dict[str, Any]]]:
        async with _started(settings) as application:
            shape = BookShape(
                officers=args.officers, loans=args.loans, days=args.days, seed=args.seed,
                business_date=application.clock.today(), profile=args.profile,
            )
            result = await seed_with_progress(application, shape, batch_records=args.batch_records)
            return result.totals, result.errors

    totals, errors = asyncio.run(run())
    print_totals(totals, errors)
    print(f"seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 1 if errors else 0


def _recalc(args: argparse.Namespace) -> int:
    from loanmetrics.clock import BusinessClock
    from loanmetrics.scheduler.recalculation import RunResult
    from loanmetrics.seeding import recalculate_with_progress

    settings = load_settings()
    if args.start is not None and args.start > (args.as_of or args.start):
        print(f"error: --from {args.start} is after --as-of {args.as_of}", file=sys.stderr)
        return 2

    business_date = BusinessClock(timezone=settings.timezone, fixed=settings.today).today()
    if args.as_of is not None and args.as_of > business_date:
        print(f"error: --as-of {args.as_of} is after the business date {business_date} "
              "(LOANMETRICS_TODAY, else today)", file=sys.stderr)
        return 2
    if args.as_of is None and args.start is not None and args.start > business_date:
        print(f"error: --from {args.start} is after the business date {business_date} "
              "(LOANMETRICS_TODAY, else today)", file=sys.stderr)
        return 2

    async def run() -> RunResult:
        async with _started(settings) as application:
            return await recalculate_with_progress(
                application, as_of=args.as_of or application.clock.today(), start=args.start,
                calculation_type="backfill" if args.start else "scheduled" if args.incremental else "manual",
                incremental=args.incremental,
            )

    started = time.perf_counter()
    # The job logs a failure with its traceback for the server's log; here the run's own line says it.
    job_log = logging.getLogger("loanmetrics.scheduler.recalculation")
    job_log.disabled = True
    try:
        result = asyncio.run(run())
    finally:
        job_log.disabled = False
    status, dates, rows = result.status, result.dates, result.rows_written
    if status != "Completed":
        reason = " ".join((result.error or "unknown error").split())
        print(f"error: recalculation run {result.run_id} failed (recorded as Failed): {reason}", file=sys.stderr)
        return 1
    print(f"recalculated {dates} dates ({rows:,} rows) in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from loanmetrics.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(
        host=args.host, port=args.port, officers=args.officers, loans=args.loans, days=args.days, seed=args.seed,
    ))


def _refresh_loans(args: argparse.Namespace) -> int:
    from loanmetrics.db import generation, loan_state

    settings = load_settings()

    async def run() -> date:
        async with _started(settings) as application:
            today = application.clock.today()
            async with application.db.raw_transaction() as conn:
                if args.rebuild:
                    await loan_state.rebuild_all(conn, today)
                else:
                    await loan_state.refresh_for_date(conn, today)
                await generation.bump(conn, generation.Source.LOAN_REFRESH)
            await application.after_commit()
            return today

    started = time.perf_counter()
    today = asyncio.run(run())
    print(f"loan fields refreshed for {today} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _export_schema(args: argparse.Namespace) -> int:
    from loanmetrics.graph.schema import build_schema
    from loanmetrics.settings import Settings

    print(str(build_schema(Settings())).rstrip())
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from loanmetrics.graph.auth import create_token, parse_ttl
    from loanmetrics.principal import Role

    settings = load_settings()
    try:
        ttl = parse_ttl(args.ttl)
        token = create_token(
            settings, role=Role(args.role), subject=args.sub or args.role, ttl=ttl,
            branches=tuple(args.branch), regions=tuple(args.region),
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
