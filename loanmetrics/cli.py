"""The ``loanmetrics`` command line (SPEC §11): serve, migrate, ingest, seed, refresh and tokens."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loanmetrics", description="Loan Officer Metrics Server")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the HTTP server (GraphQL, REST, ETL)")
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8000)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes (default 1)")
    serve.add_argument("--no-scheduler", action="store_true", help="API only: run no scheduled jobs")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply pending migrations on start")
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.set_defaults(run=_migrate)

    ingest = commands.add_parser("ingest", help="load ETL payload files (JSON or newline-delimited JSON)")
    ingest.add_argument("files", nargs="+", type=Path)
    ingest.add_argument("--batch-records", type=int, default=10_000, help="records per transaction")
    ingest.set_defaults(run=_ingest)

    seed = commands.add_parser("seed", help="write a synthetic loan book through the ingestion path")
    seed.add_argument("--officers", type=int, default=50)
    seed.add_argument("--loans", type=int, default=10_000)
    seed.add_argument("--days", type=int, default=120)
    seed.add_argument("--seed", type=int, default=1)
    seed.add_argument("--batch-records", type=int, default=10_000)
    seed.set_defaults(run=_seed)

    recalc = commands.add_parser("recalc", help="recalculate daily metrics in the foreground (backfills)")
    recalc.add_argument("--as-of", type=date.fromisoformat, default=None, help="last date (default: business date)")
    recalc.add_argument("--from", dest="start", type=date.fromisoformat, default=None,
                        help="first date of a backfill (default: only --as-of)")
    recalc.set_defaults(run=_recalc)

    refresh = commands.add_parser("refresh-loans", help="recompute every loan's fields for the business date")
    refresh.add_argument("--rebuild", action="store_true", help="also rebuild loan state from the raw tables")
    refresh.set_defaults(run=_refresh_loans)

    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(title="token commands")
    create = token_commands.add_parser("create", help="mint a bearer token signed with LOANMETRICS_JWT_SECRET")
    create.add_argument("--role", required=True, choices=["viewer", "auditor", "admin", "etl"])
    create.add_argument("--branch", action="append", default=[], help="restrict to a branch (repeatable)")
    create.add_argument("--region", action="append", default=[], help="restrict to a region (repeatable)")
    create.add_argument("--ttl", default="30d", help="lifetime such as 30d, 12h, 45m (default 30d)")
    create.add_argument("--sub", default=None, help="subject (default: the role name)")
    create.set_defaults(run=_token_create)
    return parser


# --- commands ------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from db import migrate
    from db.embedded import EmbeddedPostgres
    from loanmetrics.application import check_serving, ensure_database

    overrides: dict[str, Any] = {}
    if args.host is not None:
        overrides["host"] = args.host
    if args.port is not None:
        overrides["port"] = args.port
    if args.workers is not None:
        overrides["workers"] = args.workers
    if args.no_scheduler:
        overrides["scheduler_enabled"] = False
    settings = load_settings(**overrides)
    check_serving(settings, settings.host)
    embedded: EmbeddedPostgres | None = None
    try:
        url = settings.database_url
        if url is None:
            embedded = EmbeddedPostgres(settings.pgdata)
            url = asyncio.run(ensure_database(embedded.start()))
            print(f"embedded PostgreSQL running from {embedded.pgdata}", file=sys.stderr)
        if not args.no_migrate:
            asyncio.run(_run_with_engine(url, migrate.upgrade))
        # Worker processes read their settings from the environment.
        os.environ["DATABASE_URL"] = url
        os.environ["LOANMETRICS_MIGRATE_ON_START"] = "false"
        os.environ["LOANMETRICS_HOST"] = settings.host
        os.environ["LOANMETRICS_SCHEDULER_ENABLED"] = "true" if settings.scheduler_enabled else "false"
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it; exit normally instead so the
        # embedded PostgreSQL below is stopped too.
        signal.signal(signal.SIGTERM, _exit_normally)
        uvicorn.run(
            "graph.app:create_app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _exit_normally(signum: int, frame: object) -> None:
    raise SystemExit(0)


async def _run_with_engine(url: str, action: Callable[[Any], Coroutine[Any, Any, None]]) -> None:
    from db.engine import create_engine

    engine = create_engine(url, pool_size=1)
    try:
        await action(engine)
    finally:
        await engine.dispose()


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

    from db.ingestion.files import read_file
    from db.ingestion.payload import PayloadError
    from db.ingestion.service import ingest
    from db.statistics import analyze_tables

    settings = load_settings()
    for path in args.files:
        if not path.is_file():
            print(f"no such file: {path}", file=sys.stderr)
            return 2
    totals: dict[str, dict[str, int]] = {}
    errors: list[dict[str, Any]] = []

    async def run() -> None:
        async with _started(settings) as application:
            with Progress(
                TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(),
                TextColumn("{task.fields[records]} records"), transient=False,
            ) as progress:
                for path in args.files:
                    task = progress.add_task(path.name, total=path.stat().st_size, records=0)
                    done = 0
                    chunks = read_file(path, batch_records=args.batch_records, max_records=settings.max_batch_records)
                    for chunk in chunks:
                        result = await ingest(application.db, chunk.payload, application.clock.today())
                        _accumulate(totals, result.results)
                        errors.extend(result.errors)
                        done += chunk.payload.record_count
                        progress.update(task, completed=chunk.position, records=done)
                    progress.update(task, completed=path.stat().st_size)
            async with application.db.raw_session() as conn:
                await analyze_tables(conn)
            await application.data_changed()

    try:
        asyncio.run(run())
    except PayloadError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    _print_totals(totals, errors)
    return 1 if errors else 0


def _seed(args: argparse.Namespace) -> int:
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from db.ingestion.payload import payload_from_document
    from db.ingestion.service import ingest
    from db.statistics import analyze_tables
    from db.team_members import upsert_team_members
    from loanmetrics.synthetic import BookShape, generate_batches, team_members

    settings = load_settings()
    totals: dict[str, dict[str, int]] = {}
    errors: list[dict[str, Any]] = []
    started = time.perf_counter()

    async def run() -> None:
        async with _started(settings) as application:
            shape = BookShape(
                officers=args.officers, loans=args.loans, days=args.days, seed=args.seed,
                business_date=application.clock.today(),
            )
            with Progress(
                SpinnerColumn(), TextColumn("seeding"), TextColumn("{task.completed:,.0f} records"),
                TimeElapsedColumn(),
            ) as progress:
                task = progress.add_task("seed", total=None)
                for document in generate_batches(shape, batch_records=args.batch_records):
                    payload = payload_from_document(document, max_records=settings.max_batch_records)
                    result = await ingest(application.db, payload, application.clock.today())
                    _accumulate(totals, result.results)
                    errors.extend(result.errors)
                    progress.advance(task, payload.record_count)
            async with application.db.raw_transaction() as conn:
                await upsert_team_members(conn, team_members(args.seed))
            async with application.db.raw_session() as conn:
                await analyze_tables(conn)
            await application.data_changed()

    asyncio.run(run())
    _print_totals(totals, errors)
    print(f"seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 1 if errors else 0


def _recalc(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scheduler.recalculation import recalculate

    settings = load_settings()
    if args.start is not None and args.start > (args.as_of or args.start):
        print(f"error: --from {args.start} is after --as-of {args.as_of}", file=sys.stderr)
        return 2

    async def run() -> tuple[str, int, int, str | None]:
        async with _started(settings) as application:
            as_of = args.as_of or application.clock.today()
            with Progress(TextColumn("recalculating"), BarColumn(), MofNCompleteColumn(), TextColumn("dates"),
                          TimeElapsedColumn()) as bar:
                task = bar.add_task("recalc", total=None)
                result = await recalculate(
                    application.db, application.engine_options, as_of=as_of, start=args.start,
                    calculation_type="backfill" if args.start else "manual",
                    progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
            if result.status == "Completed":
                await application.data_changed()
            return result.status, result.dates, result.rows_written, result.error

    started = time.perf_counter()
    status, dates, rows, error = asyncio.run(run())
    if status != "Completed":
        print(f"recalculation failed: {error}", file=sys.stderr)
        return 1
    print(f"recalculated {dates} dates ({rows:,} rows) in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _refresh_loans(args: argparse.Namespace) -> int:
    from db import loan_state

    settings = load_settings()

    async def run() -> date:
        async with _started(settings) as application:
            today = application.clock.today()
            async with application.db.raw_transaction() as conn:
                if args.rebuild:
                    await loan_state.rebuild_all(conn, today)
                else:
                    await loan_state.refresh_for_date(conn, today)
            await application.data_changed()
            return today

    started = time.perf_counter()
    today = asyncio.run(run())
    print(f"loan fields refreshed for {today} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _token_create(args: argparse.Namespace) -> int:
    from graph.auth import Role, create_token, parse_ttl

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


# --- output --------------------------------------------------------------------------------------


def _accumulate(totals: dict[str, dict[str, int]], results: dict[str, dict[str, int]]) -> None:
    for entity, counts in results.items():
        target = totals.setdefault(entity, dict.fromkeys(counts, 0))
        for key, value in counts.items():
            target[key] += value


def _print_totals(totals: dict[str, dict[str, int]], errors: list[dict[str, Any]]) -> None:
    for entity, counts in totals.items():
        summary = ", ".join(f"{key} {value:,}" for key, value in counts.items())
        print(f"{entity}: {summary}", file=sys.stderr)
    for error in errors[:20]:
        print(
            f"rejected {error['entity_type']} {error['entity_id']} at {error['field']}: "
            f"{error['error_code']} {error['error_message']}",
            file=sys.stderr,
        )
    if len(errors) > 20:
        print(f"... and {len(errors) - 20} more rejected records", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
