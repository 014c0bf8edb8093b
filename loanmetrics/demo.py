"""``loanmetrics demo`` (SPEC §11): from nothing but Python to GraphiQL over a realistic book.

The demo is ``loanmetrics serve`` with four differences, all applied through ``server.serve`` so the
server itself is the production one: authentication is off (which ``check_serving`` allows only on
a loopback bind), the scheduler is on, and before uvicorn starts an empty database gets a synthetic
book (through the ingestion path, like ``loanmetrics seed``) and a backfill of the daily metrics,
so the dashboards have history to show; and an embedded data directory made by a development build
before the migrations were squashed is deleted and made again (its book is synthetic), where
``serve`` refuses it. Nothing is asked interactively.

A second run finds the loans and the metrics already there and starts in seconds: it only
recalculates the dates since the previous run's business date (and refreshes the loans' as-of
fields when that date moved). A run stopped while seeding leaves a marker in ``app_state``; the
next run completes that same book rather than serving half of one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from loanmetrics.application import Application, create_application
from loanmetrics.clock import BusinessClock
from loanmetrics.db import loan_state
from loanmetrics.db.engine import libpq_url
from loanmetrics.seeding import print_totals, recalculate_with_progress, seed_with_progress
from loanmetrics.server import serve
from loanmetrics.settings import Settings, load_settings
from loanmetrics.synthetic import BookShape

DEMO_DIRECTORY = "demo"
"""The demo's data lives in ``LOANMETRICS_DATA_DIR/demo`` unless LOANMETRICS_DATA_DIR is set."""

DEMO_STATE_KEY = "demo_book"
"""``app_state`` key of the seeded book's shape and whether its seeding finished."""

OFFICERS_QUERY = (
    "{ officers(first: 5, sort: {field: RISK_SCORE, direction: ASC}) { totalCount nodes { officerId "
    "officerName branch metrics { riskScore riskBand fimr { value band } } } } }"
)
"""The example printed for curl: the five riskiest officers (lowest risk score first)."""


def demo_business_date(today: date) -> date:
    """The last day of the previous month. The first screen is month to date of the business date,
    and FIMR counts only loans disbursed in the window whose first installment is already due:
    early in a month that cohort is empty (on the 6th FIMR was null for every officer), while a
    whole month holds the loans of its first three weeks on weekly schedules and its first two on
    fortnightly ones."""
    return today.replace(day=1) - timedelta(days=1)


@dataclass(frozen=True)
class DemoOptions:
    """The command's flags. The book's shape applies only when the database holds no loans yet."""

    host: str = "127.0.0.1"
    port: int = 8000
    officers: int = 50
    loans: int = 10_000
    days: int = 120
    seed: int = 1


@dataclass(frozen=True)
class DemoBook:
    """What the database holds once prepared, for the banner."""

    business_date: date
    officers: int
    loans: int
    metrics_from: date | None
    metrics_through: date | None
    database_url: str


class DemoError(Exception):
    """Preparing the demo data failed (the message says which step)."""


def run_demo(options: DemoOptions) -> int:
    """Prepare the database (seed and backfill when empty) and serve until interrupted."""
    if options.officers < 1 or options.loans < 0 or options.days < 1:
        _say("error: --officers and --days must be at least 1 and --loans not negative")
        return 2
    started = time.perf_counter()
    overrides: dict[str, object] = {
        "auth": "disabled", "host": options.host, "port": options.port, "scheduler_enabled": True,
    }
    configured = load_settings()
    if configured.today is None:  # LOANMETRICS_TODAY (or the TOML file) still wins
        overrides["today"] = demo_business_date(BusinessClock(timezone=configured.timezone).today())
    if "data_dir" not in configured.model_fields_set:
        # the synthetic book must never become the data of a `loanmetrics serve` in the same folder
        overrides["data_dir"] = configured.data_dir / DEMO_DIRECTORY
    if "LOANMETRICS_LOG_JSON" not in os.environ and "LOANMETRICS_CONFIG" not in os.environ:
        overrides["log_json"] = False  # a person reads this terminal, not a log shipper
    prepared: list[DemoBook] = []

    def prepare(settings: Settings, url: str) -> None:
        _say(f"database ready in {time.perf_counter() - started:.1f} s")
        prepared.append(asyncio.run(prepare_book(settings, url, options)))

    def announce(settings: Settings) -> None:
        sys.stdout.write(
            banner(settings, prepared[0], time.perf_counter() - started, date_chosen="today" in overrides) + "\n"
        )
        sys.stdout.flush()

    try:
        return serve(overrides, prepare=prepare, on_listening=announce, disposable=holds_no_lender_data)
    except DemoError as exc:
        _say(f"demo failed: {exc}")
        return 1


def holds_no_lender_data(url: str) -> bool:
    """Whether an embedded database of a development build may be deleted: it holds the demo's
    synthetic book (its marker in ``app_state``) or no loans at all. Anything else may be a
    lender's data in a LOANMETRICS_DATA_DIR shared with ``serve``, and is refused like there."""

    async def check() -> bool:
        conn = await asyncpg.connect(libpq_url(url))
        try:
            if await conn.fetchval("SELECT to_regclass('public.loans') IS NULL"):
                return True
            if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM loans)"):
                return True
            if await conn.fetchval("SELECT to_regclass('public.app_state') IS NULL"):
                return False
            return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM app_state WHERE key = $1)", DEMO_STATE_KEY))
        finally:
            await conn.close()

    return asyncio.run(check())


async def prepare_book(settings: Settings, url: str, options: DemoOptions) -> DemoBook:
    """Seed an empty database (or finish a seed that was interrupted), then make sure daily
    metrics exist up to the business date."""
    application = create_application(settings.model_copy(update={"database_url": url}))
    await application.start(migrate_schema=False)  # ``serve`` migrated already
    try:
        today = application.clock.today()
        state = await _read_state(application)
        seeded = False
        if state is not None and state.get("status") == "seeding":
            # The previous run stopped mid-seed: the book is deterministic, so ingesting the same
            # shape again completes it (batches already stored come back "unchanged").
            shape = BookShape(
                officers=state["officers"], loans=state["loans"], days=state["days"], seed=state["seed"],
                business_date=date.fromisoformat(state["business_date"]),
            )
            _say("the previous demo run stopped while seeding: completing the book")
            await _seed(application, shape)
            async with application.db.raw_transaction() as conn:
                await loan_state.refresh_for_date(conn, today)
            seeded = True
        elif await _count(application, "loans") == 0:
            shape = BookShape(
                officers=options.officers, loans=options.loans, days=options.days, seed=options.seed,
                business_date=today,
            )
            await _seed(application, shape)
            seeded = True
        else:
            _say("the database already holds loans: reusing them (delete the data directory for a new book)")
        await _bring_metrics_up_to_date(application, options, today, refresh_loans=not seeded)
        async with application.db.raw_reader() as conn:
            span = await conn.fetchrow(
                "SELECT min(calculation_date) AS first, max(calculation_date) AS last FROM officer_metrics_daily"
            )
        return DemoBook(
            business_date=today,
            officers=await _count(application, "officers"),
            loans=await _count(application, "loans"),
            metrics_from=span["first"] if span else None,
            metrics_through=span["last"] if span else None,
            database_url=_printable_url(url),
        )
    finally:
        await application.stop()


async def _seed(application: Application, shape: BookShape) -> None:
    """Seed ``shape`` with the ``loanmetrics seed`` routine, bracketed by a marker in ``app_state``
    so that a run interrupted half way is completed next time instead of served as a partial book."""
    _say(
        f"seeding a synthetic book through the ingestion path: {shape.officers:,} officers, "
        f"{shape.loans:,} loans, {shape.days} days of history up to {shape.business_date}"
    )
    marker = {
        "officers": shape.officers, "loans": shape.loans, "days": shape.days, "seed": shape.seed,
        "business_date": shape.business_date.isoformat(),
    }
    await _write_state(application, {**marker, "status": "seeding"})
    started = time.perf_counter()
    result = await seed_with_progress(application, shape)
    if result.errors:
        print_totals(result.totals, result.errors)
        raise DemoError(f"the synthetic book had {len(result.errors):,} rejected records")
    await _write_state(application, {**marker, "status": "seeded"})
    records = sum(sum(counts.values()) for counts in result.totals.values())
    _say(f"seeded {records:,} records in {time.perf_counter() - started:.1f} s")


async def _read_state(application: Application) -> dict[str, Any] | None:
    async with application.db.raw_session() as conn:
        text: str | None = await conn.fetchval("SELECT value::text FROM app_state WHERE key = $1", DEMO_STATE_KEY)
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None


async def _write_state(application: Application, value: dict[str, Any]) -> None:
    async with application.db.raw_transaction() as conn:
        await conn.execute(
            """
            INSERT INTO app_state (key, value) VALUES ($1, $2::jsonb)
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
            """,
            DEMO_STATE_KEY, json.dumps(value),
        )


async def _bring_metrics_up_to_date(
    application: Application, options: DemoOptions, today: date, *, refresh_loans: bool
) -> None:
    """Backfill the whole window on a new book; on a reused one only the dates since the last run
    (a later business date also moves every loan's as-of fields, as the daily job would)."""
    async with application.db.raw_reader() as conn:
        last: date | None = await conn.fetchval("SELECT max(calculation_date) FROM officer_metrics_daily")
    if last is not None and last >= today:
        if last > today:
            _say(f"note: the stored metrics run to {last}, after the business date {today}")
        return
    first = today - timedelta(days=options.days - 1)
    start = first if last is None else max(first, last + timedelta(days=1))
    if refresh_loans and last is not None:
        async with application.db.raw_transaction() as conn:
            await loan_state.refresh_for_date(conn, today)
    _say(f"backfilling daily metrics from {start} to {today}")
    started = time.perf_counter()
    result = await recalculate_with_progress(application, as_of=today, start=start, calculation_type="backfill")
    if result.status != "Completed":
        raise DemoError(f"the metrics backfill failed: {result.error}")
    _say(f"backfilled {result.dates} dates ({result.rows_written:,} rows) in {time.perf_counter() - started:.1f} s")


async def _count(application: Application, table: str) -> int:
    async with application.db.raw_reader() as conn:
        value: int = await conn.fetchval(f"SELECT count(*) FROM {table}")  # fixed table names only
    return value


def banner(settings: Settings, book: DemoBook, elapsed: float, *, date_chosen: bool = False) -> str:
    """What to open and what to type, printed once the port accepts connections. ``date_chosen``:
    the demo picked the business date (no LOANMETRICS_TODAY)."""
    origin = (
        "the last day of last month (LOANMETRICS_TODAY=YYYY-MM-DD picks another)" if date_chosen
        else "from LOANMETRICS_TODAY"
    )
    window_start = book.business_date.replace(day=1)
    base = f"http://{_url_host(settings.host)}:{settings.port}"
    body = json.dumps({"query": OFFICERS_QUERY})
    history = (
        f"daily metrics {book.metrics_from} to {book.metrics_through}" if book.metrics_through else "no daily metrics"
    )
    where = "the DATABASE_URL database" if settings.database_url else str(settings.pgdata.resolve())
    lines = [
        "",
        f"Loan Officer Metrics demo ready in {elapsed:.1f} s",
        f"  book:      {book.officers:,} officers, {book.loans:,} loans, {history}",
        f"  date:      business date {book.business_date}, {origin};",
        f"             the default window is month to date: {window_start} to {book.business_date}",
        f"  home:      {base}/",
        f"  GraphiQL:  {base}/graphql    (authentication disabled: this server listens on loopback only)",
        f"  REST:      {base}/api/v1/docs",
        f"  health:    {base}/healthz  {base}/readyz  {base}/metrics",
        f"  database:  {book.database_url}",
        "",
        "GraphiQL opens on a query of the riskiest officers. The same from a terminal:",
        f"  curl -s {base}/graphql -H 'Content-Type: application/json' -d '{body}'",
        "",
        f"Ctrl-C stops the server. The data stays in {where} and the next `loanmetrics demo` reuses it.",
        "",
    ]
    return "\n".join(lines)


def _printable_url(url: str) -> str:
    """The URL with any password masked; the embedded server has none, and its URL must stay
    usable as printed (``psql URL``, the demo test)."""
    parsed = make_url(url)
    return parsed.render_as_string(hide_password=bool(parsed.password))


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _say(message: str) -> None:
    """Progress notes go to stderr; stdout carries only the banner."""
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
