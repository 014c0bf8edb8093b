"""Where an ingestion batch spends its time: the bench.ingest batches, in-process, each statement timed.

    .venv/bin/python -m bench.ingest_profile --database-url postgresql://postgres@127.0.0.1:5432/lm_m13
        [--batches 10 --batch-records 10000 --explain --keep]

A profiler, not a benchmark: unlike ``bench.ingest`` it calls the ingestion service in-process
(no HTTP, no server subprocess), so that every statement of a batch can be timed on its
connection (asyncpg's query logger: send to result, which for a statement started by
``service.alongside`` includes the Python work done beside it) and, with ``--explain``, explained
by ``auto_explain`` (ANALYZE, BUFFERS, nested statements) into the same report. It runs in a
``TEMPLATE`` copy of the base book, dropped at the end unless ``--keep``. Run it under
``py-spy record -- .venv/bin/python -m bench.ingest_profile ...`` for the Python share.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import BENCH_TODAY, DEFAULT_ADMIN_URL, Databases, database_name, execute, fetch
from bench.ingest import build_batches
from bench.ingest import parse_args as ingest_args
from loanmetrics.db import migrate
from loanmetrics.db.engine import Database, raw_connection
from loanmetrics.db.ingestion import service
from loanmetrics.db.ingestion.payload import parse_body
from loanmetrics.db.ingestion.service import ingest

_PYTHON: dict[str, float] = defaultdict(float)


def _timed(name: str, function: Any) -> Any:
    """``function``, adding its wall time to ``_PYTHON[name]`` (it is CPU-bound Python)."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            _PYTHON[name] += time.perf_counter() - started

    return timed


# The Python work of a batch: checking and encoding records (it runs beside the writes).
service.check_records = _timed("check", service.check_records)  # type: ignore[attr-defined]
service._Stage.prepare = _timed("prepare", service._Stage.prepare)  # type: ignore[method-assign]


def _label(query: str) -> str:
    """A short name for a statement: its first CTE names or its first words."""
    flat = " ".join(query.split())
    names = re.findall(r"(?:WITH|,)\s+(\w+) AS \(", flat)
    head = flat[:60]
    return f"{head} [{' '.join(names[:6])}]" if names else head


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a local process (a PostgreSQL backend), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@asynccontextmanager
async def _profiled(database: Database, timings: list[tuple[str, float]], plans: list[str], explain: bool
                    ) -> AsyncIterator[asyncpg.Connection]:
    async with database.engine.connect() as sa_conn:
        conn = await raw_connection(sa_conn)
        if explain:
            await conn.execute("LOAD 'auto_explain'")
            for name, value in (("log_min_duration", "0"), ("log_analyze", "on"), ("log_buffers", "on"),
                                ("log_nested_statements", "on"), ("log_level", "notice"), ("log_timing", "on")):
                await conn.execute(f"SET auto_explain.{name} = '{value}'")
            await conn.execute("SET client_min_messages = notice")

        def logged(record: Any) -> None:
            timings.append((record.query, record.elapsed))

        def noticed(_conn: Any, message: Any) -> None:
            plans.append(str(message.message))

        conn.add_query_logger(logged)
        conn.add_log_listener(noticed)
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        before = _cpu_seconds(backend)
        try:
            async with conn.transaction():
                yield conn
        finally:
            _PYTHON["postgres_cpu"] += _cpu_seconds(backend) - before
            conn.remove_query_logger(logged)
            conn.remove_log_listener(noticed)
            if explain:
                await conn.execute("RESET ALL")


@dataclass
class _Recorder:
    """What the batch under way sent to PostgreSQL: each statement's time and, with
    ``explain``, auto_explain's plans."""

    explain: bool
    timings: list[tuple[str, float]] = field(default_factory=list)
    plans: list[str] = field(default_factory=list)

    def transaction(self, database: Database) -> Any:
        @asynccontextmanager
        async def transaction(isolation: str = "read_committed") -> AsyncIterator[asyncpg.Connection]:
            async with _profiled(database, self.timings, self.plans, self.explain) as conn:
                yield conn

        return transaction


async def _run(url: str, args: argparse.Namespace, timed: list[Any], setup: list[Any]) -> list[dict[str, Any]]:
    database = Database.connect(url, pool_size=2)
    reports = []
    try:
        for batch in setup:
            payload = parse_body(batch.body, max_records=100_000)
            await ingest(database, payload, BENCH_TODAY)
        for batch in timed:
            recorder = _Recorder(args.explain)
            database.raw_transaction = recorder.transaction(database)  # type: ignore[method-assign]
            _PYTHON.clear()
            started, python_started = time.perf_counter(), time.process_time()
            payload = parse_body(batch.body, max_records=100_000)
            parsed = time.perf_counter()
            result = await ingest(database, payload, BENCH_TODAY)
            finished = time.perf_counter()
            _PYTHON["python_cpu"] = time.process_time() - python_started
            if result.errors:
                raise SystemExit(f"batch {batch.number}: {len(result.errors)} errors: {result.errors[:3]}")
            reports.append({
                "number": batch.number, "kind": batch.kind, "records": batch.records,
                "parse_ms": (parsed - started) * 1000, "ingest_ms": (finished - parsed) * 1000,
                "loan_state_ms": result.computation_time_ms, "timings": recorder.timings, "plans": recorder.plans,
                "python_ms": {name: seconds * 1000 for name, seconds in _PYTHON.items()},
            })
    finally:
        await database.dispose()
    return reports


def _print(reports: list[dict[str, Any]], plans: bool) -> None:
    by_kind: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for report in reports:
        print(f"\n=== batch {report['number']} {report['kind']} {report['records']:,} records: parse "
              f"{report['parse_ms']:.0f} ms, ingest {report['ingest_ms']:.0f} ms "
              f"(loan state {report['loan_state_ms']} ms); Python: "
              + ", ".join(f"{name} {ms:.0f} ms" for name, ms in report["python_ms"].items()))
        for query, elapsed in report["timings"]:
            label = _label(query)
            by_kind[report["kind"]][label].append(elapsed * 1000)
            print(f"  {elapsed * 1000:8.1f} ms  {label}")
        if plans:
            for plan in report["plans"]:
                print(plan)
    for kind, labels in by_kind.items():
        print(f"\n=== {kind}: total per statement over its batches (ms), largest first")
        for label, values in sorted(labels.items(), key=lambda item: -sum(item[1])):
            print(f"  {sum(values):8.1f}  x{len(values):<3} {label}")


async def _migrate(url: str) -> None:
    database = Database.connect(url, pool_size=1)
    try:
        await migrate.upgrade(database.engine)
    finally:
        await database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a seeded base book (copied with TEMPLATE)")
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-records", type=int, default=10_000)
    parser.add_argument("--officers", type=int, default=200)
    parser.add_argument("--explain", action="store_true", help="auto_explain every statement (ANALYZE, BUFFERS)")
    parser.add_argument("--only", type=int, nargs="*", default=None, help="print only these batch numbers")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL)
    args = parser.parse_args(argv)
    bench_args = ingest_args(["--batches", str(args.batches), "--batch-records", str(args.batch_records),
                              "--officers", str(args.officers)])
    with Databases(args.admin_url, keep=args.keep) as databases:
        url = databases.create("lmprof", template=database_name(args.database_url))
        asyncio.run(_migrate(url))  # as the server does on start
        asyncio.run(execute(url, "VACUUM (ANALYZE)"))
        officers = {row["officer_id"]: dict(row) for row in asyncio.run(fetch(
            url, "SELECT officer_id, officer_name, officer_phone, region, branch FROM officers"))}
        setup, timed, _ = build_batches(bench_args, officers)
        asyncio.run(execute(url, "CHECKPOINT"))
        reports = asyncio.run(_run(url, args, timed, setup))
    if args.only:
        reports = [report for report in reports if report["number"] in args.only]
    _print(reports, args.explain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
