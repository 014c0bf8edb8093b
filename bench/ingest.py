"""Ingestion benchmark (SPEC §12 row "ingest via /etl/sync"): batches of 10k records, loan state included.

    .venv/bin/python -m bench.ingest [--loans 100000 --officers 200 --batches 10 --batch-records 10000
                                      --database-url URL --keep]

1. Base book: a fresh database seeded with ``loanmetrics seed`` (or ``--database-url``, an already
   seeded database, so repeated runs skip the ~3 minutes of seeding). The benchmark runs in a
   file-level copy of the base (``CREATE DATABASE ... TEMPLATE``), so the base stays pristine and
   reusable; ``--in-place`` runs in the base itself instead.
2. Batches, built in memory before anything is timed: a second synthetic book (seed 2) whose loan,
   customer and repayment ids are rewritten so they do not collide with the base book, its loans
   owned by the base book's officers. Customers go first as an untimed setup batch (it also warms
   the server up); the timed batches are ``--batches`` batches in dependency order, in the book's
   proportion (about 2:1): new loans with their whole schedules, then full batches of their
   repayments (including reversals re-sent under the same id in a later batch).
3. ``loanmetrics serve`` as a subprocess; each batch POSTed sequentially to ``/api/v1/etl/sync``
   over one keep-alive connection, timed; the server's RSS sampled every 50 ms.
4. The floor, in the same run: COPY of exactly the same rows and ETL columns into empty copies of
   the indexed tables (``CREATE TABLE bench_copy.X (LIKE public.X INCLUDING ALL)``: keys, indexes,
   defaults and CHECK constraints, but no foreign keys), batch by batch, one transaction each.
5. Results: printed, written to ``bench/results/ingest-<timestamp>.json``, and a markdown snippet.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import orjson
import psutil

from bench.common import (
    BENCH_TODAY,
    DEFAULT_ADMIN_URL,
    MIB,
    BenchError,
    CpuSnapshot,
    Databases,
    PeakRSS,
    Server,
    command_line,
    cpu_breakdown,
    database_name,
    execute,
    fetch,
    machine_facts,
    mint_token,
    run_cli,
    server_env,
    stopwatch,
    summarize,
    write_results,
)
from loanmetrics.synthetic import BookShape, generate_batches

# SPEC §12: ETL time ≤ 3× the COPY time of the same rows, for loans+schedules batches and for
# repayment batches alike (each kind summed over its batches): a ratio to the floor of the same
# run, which a machine of varying speed cannot move (docs/ARCHITECTURE.md, "Benchmark targets").
TARGET_COPY_RATIO = 3.0
SECOND_BOOK_SEED = 2
CALIBRATION_LOANS = 2_000

ENTITIES = ("officers", "customers", "loans", "loan_schedules", "repayments")

# entity -> (table, primary key, ETL columns: the SPEC §3 fields the ETL accepts, computed fields excluded)
TABLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "officers": ("officers", ("officer_id",), (
        "officer_id", "officer_name", "officer_phone", "officer_email", "region", "branch", "employment_status",
        "hire_date", "termination_date", "primary_channel", "had_float_gap",
    )),
    "customers": ("customers", ("customer_id",), (
        "customer_id", "customer_name", "customer_phone", "customer_email", "date_of_birth", "gender", "state",
        "lga", "address", "kyc_status", "kyc_verified_date",
    )),
    "loans": ("loans", ("loan_id",), (
        "loan_id", "customer_id", "customer_name", "customer_phone", "officer_id", "officer_name",
        "officer_phone", "region", "branch", "state", "loan_amount", "disbursement_date", "maturity_date",
        "loan_term_days", "interest_rate", "fee_amount", "channel", "channel_partner", "status", "closed_date",
    )),
    "loan_schedules": ("loan_schedule", ("loan_id", "installment_number"), (
        "loan_id", "installment_number", "due_date", "principal_due", "interest_due", "fee_due", "total_due",
    )),
    "repayments": ("repayments", ("repayment_id",), (
        "repayment_id", "loan_id", "payment_date", "payment_amount", "principal_paid", "interest_paid",
        "fees_paid", "penalty_paid", "payment_method", "payment_reference", "payment_channel", "dpd_at_payment",
        "is_backdated", "is_reversed", "reversal_date", "reversal_reason", "waiver_amount", "waiver_type",
        "waiver_approved_by",
    )),
}
COPY_SCHEMA = "bench_copy"

Record = dict[str, Any]


@dataclass
class Batch:
    """One ETL request: the document (for the COPY floor) and its encoded body (for HTTP)."""

    number: int
    kind: str
    document: dict[str, Any]
    body: bytes = b""
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.counts = {name: len(items) for name, items in self.document["data"].items() if items}
        self.body = orjson.dumps(self.document)

    @property
    def records(self) -> int:
        return sum(self.counts.values())


@dataclass
class BatchResult:
    number: int
    kind: str
    records: int
    counts: dict[str, int]
    body_mib: float
    latency_s: float
    loans_affected: int
    server_loan_state_ms: int
    results: dict[str, dict[str, int]]
    copy_s: float = 0.0
    copy_rows: int = 0
    cpu_server_s: float = 0.0  # CPU seconds of the server process during this batch
    cpu_backends_s: float = 0.0  # and of its PostgreSQL backends


# --- 1. the base book ------------------------------------------------------------------------


def seed_base(url: str, args: argparse.Namespace) -> float:
    """``loanmetrics seed`` into ``url``; returns the wall time in seconds."""
    env = server_env(url, log_level="WARNING")
    command = [
        "seed", "--officers", str(args.officers), "--loans", str(args.loans), "--days", str(args.days),
        "--seed", str(args.seed), "--batch-records", str(args.batch_records),
    ]
    print(f"seeding {database_name(url)}: loanmetrics {' '.join(command)} ...", file=sys.stderr, flush=True)
    with stopwatch() as elapsed:
        done = run_cli(command, env, timeout=args.seed_timeout)
    for line in (done.stderr or "").splitlines():
        if line.startswith(("officers:", "customers:", "loans:", "loan_schedules:", "repayments:", "seeded in")):
            print("  " + line, file=sys.stderr)
    return elapsed[0]


async def _base_facts(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        facts: dict[str, Any] = {}
        for table in ("officers", "customers", "loans", "loan_schedule", "repayments"):
            facts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        facts["benchmark_loans_present"] = await conn.fetchval(
            "SELECT count(*) FROM loans WHERE loan_id LIKE 'LB%'"
        )
        facts["database_size_mib"] = round(
            await conn.fetchval("SELECT pg_database_size(current_database())") / MIB
        )
        return facts
    finally:
        await conn.close()


# --- 2. the batches --------------------------------------------------------------------------


def _rename(value: str, old: str, new: str) -> str:
    if not value.startswith(old):
        raise BenchError(f"unexpected id {value!r}: expected the prefix {old!r}")
    return new + value[len(old):]


def _rewriter(officers: dict[str, Record]) -> Callable[[dict[str, Any]], None]:
    """Rewrite a second-book document in place so it does not collide with the base book."""

    def loan_owner(record: Record) -> None:
        officer = officers.get(record["officer_id"])
        if officer is None:
            raise BenchError(f"officer {record['officer_id']} is not in the base book (use the same --officers)")
        record.update(officer)

    def rewrite(document: dict[str, Any]) -> None:
        data = document["data"]
        for customer in data.get("customers") or ():
            customer["customer_id"] = _rename(customer["customer_id"], "CUS", "CUB")
        for loan in data.get("loans") or ():
            loan["loan_id"] = _rename(loan["loan_id"], "LN", "LB")
            loan["customer_id"] = _rename(loan["customer_id"], "CUS", "CUB")
            loan_owner(loan)
        for row in data.get("loan_schedules") or ():
            row["loan_id"] = _rename(row["loan_id"], "LN", "LB")
        for repayment in data.get("repayments") or ():
            repayment["loan_id"] = _rename(repayment["loan_id"], "LN", "LB")
            repayment["repayment_id"] = _rename(repayment["repayment_id"], "RP", "RB")
            if repayment.get("payment_reference"):
                repayment["payment_reference"] = repayment["payment_reference"].replace("-RP", "-RB")

    return rewrite


def _records_per_loan(officers: int) -> tuple[float, float]:
    """(loan and schedule records, repayments) per loan of the second book, from a sample."""
    shape = BookShape(officers=officers, loans=CALIBRATION_LOANS, seed=SECOND_BOOK_SEED, business_date=BENCH_TODAY)
    loans = repayments = 0
    for document in generate_batches(shape, batch_records=100_000):
        data = document["data"]
        loans += len(data["loans"]) + len(data["loan_schedules"])
        repayments += len(data["repayments"])
    return loans / CALIBRATION_LOANS, repayments / CALIBRATION_LOANS


def _envelope(template: dict[str, Any], **data: list[Record]) -> dict[str, Any]:
    return {**template, "data": {name: data.get(name, []) for name in ENTITIES}}


def _second_book(
    args: argparse.Namespace, loans: int
) -> tuple[list[Record], list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """(customers, loan batches, repayment batches, envelope without data) of a second book."""
    shape = BookShape(officers=args.officers, loans=loans, seed=SECOND_BOOK_SEED, business_date=BENCH_TODAY)
    customers: list[Record] = []
    loan_docs: list[dict[str, Any]] = []
    repayment_docs: list[dict[str, Any]] = []
    template: dict[str, Any] = {}
    for document in generate_batches(shape, batch_records=args.batch_records):
        data = document["data"]
        template = {key: value for key, value in document.items() if key != "data"}
        if data["officers"] or data["customers"]:
            customers += data["customers"]  # officers are not re-sent: the base book's officers own the loans
        elif data["loans"]:
            loan_docs.append(document)
        else:
            repayment_docs.append(document)
    return customers, loan_docs, repayment_docs, template


def build_batches(
    args: argparse.Namespace, officers: dict[str, Record]
) -> tuple[list[Batch], list[Batch], dict[str, Any]]:
    """(untimed setup batches, timed batches, facts about the second book).

    The timed batches are a day's sync in dependency order: the first loan batches of the second
    book (new loans, each with its whole schedule), then the first repayment batches, in the
    proportion of the book (about two loan records for one repayment). Only full repayment batches
    whose loans were all sent are taken, so every batch is accepted and about ``--batch-records`` long.
    """
    per_loan, per_repayment = _records_per_loan(args.officers)
    n_loan_batches = min(args.batches, max(1, math.ceil(args.batches * per_loan / (per_loan + per_repayment))))
    loans = math.ceil((n_loan_batches + 1) * args.batch_records / per_loan * 1.1)
    while True:
        customers, loan_docs, repayment_docs, template = _second_book(args, loans)
        if len(loan_docs) > n_loan_batches:
            chosen = loan_docs[:n_loan_batches]
            sent = {loan["loan_id"] for document in chosen for loan in document["data"]["loans"]}
            wanted = args.batches - n_loan_batches
            repayments: list[dict[str, Any]] = []
            for document in repayment_docs:
                if len(repayments) == wanted:
                    break
                rows = document["data"]["repayments"]
                if len(rows) < args.batch_records or any(row["loan_id"] not in sent for row in rows):
                    break
                repayments.append(document)
            if len(repayments) == wanted:
                break
            # too few repayments for the loans sent: one loan batch more, one repayment batch less
            n_loan_batches += 1
            continue
        loans = math.ceil(loans * 1.25) + 1
    used = {loan["customer_id"] for document in chosen for loan in document["data"]["loans"]}
    customers = [customer for customer in customers if customer["customer_id"] in used]
    rewrite = _rewriter(officers)
    timed = []
    for i, document in enumerate([*chosen, *repayments]):
        rewrite(document)
        kind = "repayments" if document["data"]["repayments"] else "loans+schedules"
        timed.append(Batch(number=i + 1, kind=kind, document=document))
    setup_docs = [
        _envelope(template, customers=customers[i : i + args.batch_records])
        for i in range(0, len(customers), args.batch_records)
    ]
    for document in setup_docs:
        rewrite(document)
    setup = [Batch(number=-(i + 1), kind="customers (setup)", document=d) for i, d in enumerate(setup_docs)]
    facts = {
        "seed": SECOND_BOOK_SEED,
        "loans_generated": loans,
        "loans_sent": len(sent),
        "loan_batches": n_loan_batches,
        "repayment_batches": len(repayments),
        "loan_records_per_loan": per_loan,
        "repayments_per_loan": per_repayment,
    }
    return setup, timed, facts


# --- 3. /etl/sync ----------------------------------------------------------------------------


def _check_response(batch: Batch, response: httpx.Response) -> dict[str, Any]:
    """The parsed body of an accepted batch; BenchError for anything but a clean 200 of fresh records."""
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or body.get("status") != "success" or body.get("errors"):
        errors = body.get("errors") or [body.get("error") or response.text[:2000]]
        shown = "\n".join(f"  {error}" for error in errors[:10])
        more = f"\n  ... {len(errors) - 10} more" if len(errors) > 10 else ""
        raise BenchError(
            f"batch {batch.number} ({batch.kind}, {batch.records:,} records) was not accepted: "
            f"HTTP {response.status_code}, status {body.get('status')!r}, {len(errors)} error(s):\n{shown}{more}"
        )
    for entity, sent in batch.counts.items():
        counts = body["results"][entity]
        if counts["failed"]:
            raise BenchError(f"batch {batch.number}: {counts['failed']} {entity} failed")
        if counts["unchanged"]:
            raise BenchError(
                f"batch {batch.number}: {counts['unchanged']} {entity} were already stored unchanged: the database "
                "already holds the benchmark's records (use a fresh copy of the base book)"
            )
        accepted = counts["inserted"] + counts["updated"]
        if entity not in ("officers", "customers") and accepted != sent:
            raise BenchError(f"batch {batch.number}: sent {sent} {entity}, the server accepted {accepted}")
    return body


def run_etl(url: str, setup: list[Batch], timed: list[Batch], *, request_timeout: float) -> dict[str, Any]:
    """Serve, send the setup batches, then time the benchmark batches; peak RSS over the timed part."""
    env = server_env(url, log_level="WARNING")
    results: list[BatchResult] = []
    with Server(env) as server:
        token = mint_token(env, "etl")
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with (
            httpx.Client(base_url=server.base_url, headers=headers, timeout=request_timeout, limits=limits) as client,
            PeakRSS(server.pid) as rss,
        ):
            for batch in setup:
                _check_response(batch, client.post("/api/v1/etl/sync", content=batch.body))
            asyncio.run(execute(url, "CHECKPOINT"))
            rss_before = rss.reset_peak()
            cpu_before = CpuSnapshot()
            snapshots = [cpu_before]  # between batches, outside their timed interval
            started = time.perf_counter()
            for batch in timed:
                t0 = time.perf_counter()
                response = client.post("/api/v1/etl/sync", content=batch.body)
                latency = time.perf_counter() - t0
                snapshots.append(CpuSnapshot())
                body = _check_response(batch, response)
                computed = body.get("computed_fields_updated") or {}
                results.append(BatchResult(
                    number=batch.number, kind=batch.kind, records=batch.records, counts=batch.counts,
                    body_mib=round(len(batch.body) / MIB, 2), latency_s=latency,
                    loans_affected=int(computed.get("loans_affected", 0)),
                    server_loan_state_ms=int(computed.get("computation_time_ms", 0)),
                    results=body["results"],
                ))
                print(
                    f"  batch {batch.number:>2} {batch.kind:<16} {batch.records:>6,} records "
                    f"{latency * 1000:>8.0f} ms  ({batch.records / latency:>8,.0f} records/s, "
                    f"loan state {computed.get('computation_time_ms', '?')} ms)",
                    file=sys.stderr, flush=True,
                )
            wall = time.perf_counter() - started
            cpu_after = snapshots[-1]
            server_pids = [server.pid, *(child.pid for child in psutil.Process(server.pid).children(recursive=True))]
            backends = [row["pid"] for row in asyncio.run(fetch(
                url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ))]
        peak = rss.peak_bytes
    groups = {"server": server_pids, "postgres_backends": backends, "benchmark_client": [os.getpid()]}
    cpu = cpu_breakdown(cpu_before, cpu_after, groups)
    for result, before, after in zip(results, snapshots[:-1], snapshots[1:], strict=True):
        spent = cpu_breakdown(before, after, groups)
        result.cpu_server_s, result.cpu_backends_s = spent["server"], spent["postgres_backends"]
    return {
        "batches": results,
        "wall_s": wall,
        "rss_before_mib": rss_before / MIB,
        "rss_peak_mib": peak / MIB,
        "rss_samples": rss.samples,
        "cpu_s": cpu,
    }


# --- 4. the COPY floor -----------------------------------------------------------------------


def _converter(data_type: str) -> Callable[[Any], Any]:
    def text(value: Any) -> Any:
        return None if value is None else str(value)

    def numeric(value: Any) -> Any:
        return None if value is None else Decimal(str(value))

    def day(value: Any) -> Any:
        return None if value is None else date.fromisoformat(value)

    def integer(value: Any) -> Any:
        return None if value is None else int(value)

    def boolean(value: Any) -> Any:
        return None if value is None else bool(value)

    converters = {"text": text, "character varying": text, "numeric": numeric, "date": day,
                  "integer": integer, "bigint": integer, "smallint": integer, "boolean": boolean}
    if data_type not in converters:
        raise BenchError(f"no COPY conversion for the column type {data_type!r}")
    return converters[data_type]


def _rows(
    records: Iterable[Record], columns: tuple[str, ...], convert: list[Callable[[Any], Any]]
) -> list[tuple[Any, ...]]:
    return [tuple(fn(record.get(name)) for name, fn in zip(columns, convert, strict=True)) for record in records]


async def _copy_floor(
    url: str, setup: list[Batch], timed: list[Batch], results: list[BatchResult], *, repeats: int
) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {COPY_SCHEMA} CASCADE")
        await conn.execute(f"CREATE SCHEMA {COPY_SCHEMA}")
        for table, _, _ in TABLES.values():
            await conn.execute(f"CREATE TABLE {COPY_SCHEMA}.{table} (LIKE public.{table} INCLUDING ALL)")
        types = {
            (row["table_name"], row["column_name"]): row["data_type"]
            for row in await conn.fetch(
                "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = $1",
                COPY_SCHEMA,
            )
        }
        indexes = {
            row["tablename"]: row["n"]
            for row in await conn.fetch(
                "SELECT tablename, count(*) AS n FROM pg_indexes WHERE schemaname = $1 GROUP BY tablename",
                COPY_SCHEMA,
            )
        }

        # Convert every batch before timing; a key already copied (a reversal re-sent as the same
        # repayment_id) would violate the primary key, so later copies are skipped and counted.
        seen: dict[str, set[Any]] = {entity: set() for entity in TABLES}
        skipped = 0
        prepared: list[list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]] = []
        convert_started = time.perf_counter()
        for batch in [*setup, *timed]:
            work = []
            for entity, (table, key, columns) in TABLES.items():
                records = batch.document["data"].get(entity) or []
                if not records:
                    continue
                missing = set(records[0]) - set(columns)
                if missing:
                    raise BenchError(f"{entity} records carry fields the COPY floor does not copy: {sorted(missing)}")
                fresh = []
                for record in records:
                    k = tuple(record[name] for name in key)
                    if k in seen[entity]:
                        skipped += 1
                        continue
                    seen[entity].add(k)
                    fresh.append(record)
                convert = [_converter(types[(table, name)]) for name in columns]
                work.append((table, columns, _rows(fresh, columns, convert)))
            prepared.append(work)
        convert_s = time.perf_counter() - convert_started

        async def copy(work: list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]) -> tuple[float, int]:
            t0 = time.perf_counter()
            async with conn.transaction():
                for table, columns, rows in work:
                    await conn.copy_records_to_table(
                        table, records=rows, columns=list(columns), schema_name=COPY_SCHEMA
                    )
            return time.perf_counter() - t0, sum(len(rows) for _, _, rows in work)

        # Repeat on emptied tables and keep the run of median total time: COPY is quick and noisy.
        runs: list[list[tuple[float, int]]] = []
        tables = ", ".join(f"{COPY_SCHEMA}.{table}" for table, _, _ in TABLES.values())
        for _ in range(repeats):
            await conn.execute(f"TRUNCATE {tables}")
            for work in prepared[: len(setup)]:
                await copy(work)
            await conn.execute("CHECKPOINT")
            runs.append([await copy(work) for work in prepared[len(setup) :]])
        runs.sort(key=lambda run: sum(seconds for seconds, _ in run))
        for result, (seconds, rows) in zip(results, runs[len(runs) // 2], strict=True):
            result.copy_s, result.copy_rows = seconds, rows
        return {
            "duplicates_skipped": skipped,
            "convert_s": convert_s,
            "indexes": indexes,
            "repeats": repeats,
            "totals_s": [sum(seconds for seconds, _ in run) for run in runs],
        }
    finally:
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {COPY_SCHEMA} CASCADE")
        finally:
            await conn.close()


# --- 5. report -------------------------------------------------------------------------------


def _fmt_int(value: float) -> str:
    return f"{value:,.0f}"


def markdown(report: dict[str, Any]) -> str:
    etl, floor, base, facts = report["etl"], report["copy_floor"], report["base_book"], report["machine"]
    lat = etl["latency_ms"]
    cpu = etl["cpu_s"]
    seed = report["seed"]
    seed_text = f"seeded in {seed['seconds']:.0f} s" if seed["seconds"] is not None else "reused (seed not timed)"
    kinds: dict[str, int] = {}
    for b in report["batches"]:
        kinds[b["kind"]] = kinds.get(b["kind"], 0) + 1
    mix = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    relative = "yes" if report["ratio_etl_to_copy"] <= TARGET_COPY_RATIO else "no"
    lines = [
        f"### Ingest via /etl/sync — {report['started_at'][:16]}Z",
        "",
        f"`{report['command']}`",
        "",
        f"Machine: {facts['cpu_logical']} cores ({facts['cpu_model']}), {facts['memory_total_mib']:,} MiB, "
        f"PostgreSQL {facts['postgresql']['server_version']}, load average at start "
        f"{' / '.join(str(x) for x in report['load_average_start'])}, at end "
        f"{' / '.join(str(x) for x in facts['load_average'])}; code {facts['git_commit']}"
        f"{' + uncommitted changes' if facts['git_dirty_files'] else ''}.",
        "",
        f"Base book: {base['officers']:,} officers, {base['loans']:,} loans, {base['loan_schedule']:,} schedule rows, "
        f"{base['repayments']:,} repayments ({seed_text}). Batches: {len(report['batches'])} of "
        f"{report['records_per_batch']['min']:,.0f}–{report['records_per_batch']['max']:,.0f} records ({mix}), "
        f"{etl['records']:,} records in all: {report['second_book']['loans_sent']:,} new loans with their schedules, "
        "then repayments.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| /etl/sync throughput (loan state included) | **{_fmt_int(etl['records_per_s'])} records/s** "
        f"({etl['seconds']:.2f} s) | |",
        f"| COPY floor (same rows, indexed tables, no FKs) | {_fmt_int(floor['records_per_s'])} records/s "
        f"({floor['seconds']:.2f} s) | |",
        *(
            f"| ETL time / COPY time, {kind} batches | **{figures['ratio_etl_to_copy']:.1f}×** "
            f"({figures['etl_s'] * 1000:,.0f} ms / {figures['copy_s'] * 1000:,.0f} ms, {figures['batches']} batches; "
            f"CPU: server {figures['cpu_server_s']:.2f} s, PostgreSQL backends {figures['cpu_backends_s']:.2f} s) "
            f"| ≤ {TARGET_COPY_RATIO:.0f}×: {'yes' if figures['ratio_etl_to_copy'] <= TARGET_COPY_RATIO else 'no'} |"
            for kind, figures in report["by_kind"].items()
        ),
        f"| ETL time / COPY time, all batches | {report['ratio_etl_to_copy']:.1f}× | "
        f"≤ {TARGET_COPY_RATIO:.0f}×: {relative} |",
        f"| batch latency min / median / max | {lat['min']:.0f} / {lat['median']:.0f} / {lat['max']:.0f} ms | |",
        f"| peak server RSS | {etl['rss_peak_mib']:.0f} MiB (before the batches: {etl['rss_before_mib']:.0f} MiB) | |",
        f"| seed of the base book | {seed_text} | |",
        f"| CPU during the batches | server {cpu['server']:.1f} s, its PostgreSQL backends "
        f"{cpu['postgres_backends']:.1f} s, other PostgreSQL {cpu['other_postgres']:.1f} s, benchmark client "
        f"{cpu['benchmark_client']:.1f} s, kernel threads {cpu['kernel_threads']:.1f} s, "
        f"other processes {cpu['other_processes']:.1f} s "
        f"(machine busy {cpu['machine_busy']:.1f}, steal {cpu['machine_steal']:.1f}, iowait "
        f"{cpu['machine_iowait']:.1f} of "
        f"{cpu['machine_capacity']:.1f} core-s; busiest others: "
        f"{', '.join(f'{name} {sec:.1f} s' for name, sec in cpu['other_top'][:3]) or 'none'}) | |",
        "",
        "| batch | kind | records | body MiB | /etl/sync ms | records/s | loan state ms (server) | COPY ms "
        "| CPU ms: server / backends |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for b in report["batches"]:
        lines.append(
            f"| {b['number']} | {b['kind']} | {b['records']:,} | {b['body_mib']:.1f} | {b['latency_s'] * 1000:,.0f} | "
            f"{b['records'] / b['latency_s']:,.0f} | {b['server_loan_state_ms']:,} | {b['copy_s'] * 1000:,.0f} "
            f"| {b.get('cpu_server_s', 0) * 1000:,.0f} / {b.get('cpu_backends_s', 0) * 1000:,.0f} |"
        )
    if floor["duplicates_skipped"]:
        lines += ["", f"COPY skipped {floor['duplicates_skipped']} re-sent rows (reversals re-sent under the same "
                      "key, which the ETL updates); the ratio compares time per record."]
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=100_000, help="loans of the base book (seeded)")
    parser.add_argument("--officers", type=int, default=200, help="officers of both books")
    parser.add_argument("--days", type=int, default=120, help="history of the base book in days")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the base book")
    parser.add_argument("--batches", type=int, default=10, help="timed batches")
    parser.add_argument("--batch-records", type=int, default=10_000, help="records per batch")
    parser.add_argument("--database-url", default=None,
                        help="an already seeded base book to reuse (copied with CREATE DATABASE ... TEMPLATE, "
                             "so it must have no open connections; see --in-place)")
    parser.add_argument("--in-place", action="store_true",
                        help="run in the base database itself instead of a copy (it keeps the benchmark's records)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL,
                        help="any database of the cluster, for CREATE/DROP DATABASE (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the databases this run created")
    parser.add_argument("--no-vacuum", action="store_true", help="skip VACUUM (ANALYZE) of the run database")
    parser.add_argument("--copy-repeats", type=int, default=3,
                        help="COPY floor repetitions; the run of median total time is reported")
    parser.add_argument("--seed-timeout", type=float, default=3600, help="seconds allowed for seeding")
    parser.add_argument("--request-timeout", type=float, default=600, help="seconds allowed per batch")
    args = parser.parse_args(argv)
    if min(args.batches, args.batch_records, args.loans, args.officers, args.copy_repeats) < 1:
        parser.error("--batches, --batch-records, --loans, --officers and --copy-repeats must be positive")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    started_at = datetime.now(UTC)
    load_start = [round(x, 2) for x in os.getloadavg()]
    report: dict[str, Any] = {
        "benchmark": "ingest",
        "scenario": "SPEC §12: ingest via /etl/sync, batches of 10k records, loan state included",
        "command": command_line(),
        "started_at": started_at.isoformat(),
        "load_average_start": load_start,
        "parameters": {key: value for key, value in vars(args).items() if key != "admin_url"},
        "targets": {"ratio_to_copy_per_kind": TARGET_COPY_RATIO},
    }
    with Databases(args.admin_url, keep=args.keep) as databases:
        # 1. base book
        if args.database_url:
            base_url, seed_s = args.database_url, None
        else:
            base_url = databases.create("lmbench_base")
            seed_s = seed_base(base_url, args)
        report["seed"] = {"seconds": seed_s, "reused": args.database_url is not None,
                          "command": None if seed_s is None else
                          f"loanmetrics seed --officers {args.officers} --loans {args.loans} --days {args.days} "
                          f"--seed {args.seed}"}
        if args.in_place:
            run_url, clone_s = base_url, None
        else:
            with stopwatch() as elapsed:
                try:
                    run_url = databases.create("lmbench_ingest", template=database_name(base_url))
                except asyncpg.PostgresError as exc:
                    raise BenchError(f"could not copy the base book {database_name(base_url)}: {exc} "
                                     "(close its connections, or pass --in-place)") from exc
            clone_s = elapsed[0]
        base = asyncio.run(_base_facts(run_url))
        if not base["loans"]:
            raise BenchError(f"{database_name(run_url)} holds no loans: seed it first")
        if base["benchmark_loans_present"]:
            raise BenchError(f"{database_name(run_url)} already holds {base['benchmark_loans_present']} benchmark "
                             "loans (LB...): use a pristine base book")
        report["base_book"] = base
        report["databases"] = {"base": database_name(base_url), "run": database_name(run_url),
                               "clone_s": clone_s, "kept": args.keep}
        vacuum_s = None
        if not args.no_vacuum:
            print("VACUUM (ANALYZE) of the run database ...", file=sys.stderr, flush=True)
            with stopwatch() as elapsed:
                asyncio.run(execute(run_url, "VACUUM (ANALYZE)"))
            vacuum_s = elapsed[0]
        report["databases"]["vacuum_s"] = vacuum_s

        # 2. batches, in memory
        officers = {
            row["officer_id"]: dict(row)
            for row in asyncio.run(fetch(run_url, "SELECT officer_id, officer_name, officer_phone, region, branch "
                                                  "FROM officers"))
        }
        with stopwatch() as elapsed:
            setup, timed, second = build_batches(args, officers)
        report["build_batches_s"] = elapsed[0]
        report["second_book"] = second
        report["setup"] = [{"kind": b.kind, "records": b.records} for b in setup]
        print(f"built {len(timed)} batches ({sum(b.records for b in timed):,} records, "
              f"{second['loans_sent']:,} new loans) in {elapsed[0]:.1f} s; "
              f"setup: {sum(b.records for b in setup):,} customers", file=sys.stderr, flush=True)

        # 3. /etl/sync
        print("POST /api/v1/etl/sync ...", file=sys.stderr, flush=True)
        etl = run_etl(run_url, setup, timed, request_timeout=args.request_timeout)
        results: list[BatchResult] = etl["batches"]

        # 4. COPY floor
        print("COPY floor ...", file=sys.stderr, flush=True)
        floor = asyncio.run(_copy_floor(run_url, setup, timed, results, repeats=args.copy_repeats))
        report["machine"] = machine_facts(run_url)

    # 5. figures
    records = sum(r.records for r in results)
    etl_s = sum(r.latency_s for r in results)
    copy_rows = sum(r.copy_rows for r in results)
    copy_s = sum(r.copy_s for r in results)
    etl_rate = records / etl_s
    copy_rate = copy_rows / copy_s
    report["batches"] = [vars(r) for r in results]
    report["records_per_batch"] = summarize([r.records for r in results])
    report["etl"] = {
        "records": records,
        "seconds": etl_s,
        "wall_s": etl["wall_s"],
        "records_per_s": etl_rate,
        "latency_ms": summarize([r.latency_s * 1000 for r in results]),
        "server_loan_state_ms_total": sum(r.server_loan_state_ms for r in results),
        "rss_before_mib": etl["rss_before_mib"],
        "rss_peak_mib": etl["rss_peak_mib"],
        "rss_samples": etl["rss_samples"],
        "cpu_s": etl["cpu_s"],
    }
    report["copy_floor"] = {
        "records": copy_rows,
        "seconds": copy_s,
        "records_per_s": copy_rate,
        "latency_ms": summarize([r.copy_s * 1000 for r in results]),
        "duplicates_skipped": floor["duplicates_skipped"],
        "repeats": floor["repeats"],
        "repeat_totals_s": floor["totals_s"],
        "convert_s": floor["convert_s"],
        "indexes_per_table": floor["indexes"],
        "note": "empty copies of the tables (LIKE ... INCLUDING ALL: keys, indexes, defaults, CHECK constraints; "
                "no foreign keys), ETL columns only, one transaction per batch",
    }
    # time per record, so the few re-sent rows COPY cannot take do not flatter the floor
    report["ratio_etl_to_copy"] = copy_rate / etl_rate
    report["by_kind"] = by_kind(results)
    report["finished_at"] = datetime.now(UTC).isoformat()
    return report


def by_kind(results: list[BatchResult]) -> dict[str, dict[str, Any]]:
    """Per batch kind (loans+schedules, repayments), summed over its batches: ETL and COPY time and
    their ratio per record, the figure SPEC §12's target applies to."""
    kinds: dict[str, dict[str, Any]] = {}
    for kind in dict.fromkeys(r.kind for r in results):
        chosen = [r for r in results if r.kind == kind]
        records, copy_rows = sum(r.records for r in chosen), sum(r.copy_rows for r in chosen)
        etl_s, copy_s = sum(r.latency_s for r in chosen), sum(r.copy_s for r in chosen)
        kinds[kind] = {
            "batches": len(chosen),
            "records": records,
            "etl_s": etl_s,
            "copy_rows": copy_rows,
            "copy_s": copy_s,
            "records_per_s": records / etl_s,
            "copy_records_per_s": copy_rows / copy_s,
            "server_loan_state_ms": sum(r.server_loan_state_ms for r in chosen),
            "cpu_server_s": sum(r.cpu_server_s for r in chosen),
            "cpu_backends_s": sum(r.cpu_backends_s for r in chosen),
            "ratio_etl_to_copy": (copy_rows / copy_s) / (records / etl_s),
        }
    return kinds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    path = write_results("ingest", report, when=datetime.fromisoformat(report["started_at"]))
    cpu = report["etl"]["cpu_s"]
    if cpu["other_processes"] > 0.1 * cpu["machine_capacity"]:
        print(f"\nWARNING: other processes used {cpu['other_processes']:.1f} of {cpu['machine_capacity']:.1f} "
              f"core-seconds during the batches (busiest: {cpu['other_top']}): the machine was not quiet",
              file=sys.stderr)
    etl, floor = report["etl"], report["copy_floor"]
    print(
        f"\n/etl/sync: {etl['records']:,} records in {etl['seconds']:.2f} s = {etl['records_per_s']:,.0f} records/s "
        f"; COPY: {floor['records_per_s']:,.0f} records/s; ratio {report['ratio_etl_to_copy']:.1f}x ("
        + ", ".join(f"{kind} {figures['ratio_etl_to_copy']:.1f}x" for kind, figures in report["by_kind"].items())
        + f"; target <= {TARGET_COPY_RATIO:.0f}x for each kind); "
        f"peak RSS {etl['rss_peak_mib']:.0f} MiB\nresults: {path}\n",
        file=sys.stderr,
    )
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
