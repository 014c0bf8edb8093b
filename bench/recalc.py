"""Recalculation benchmark (SPEC §12): one date for every officer and branch, an incremental run
after a 10k-repayment batch, and a backfill, each beside one sequential scan of the base tables
measured in the same run.

    python -m bench.recalc --database-url postgresql://postgres@127.0.0.1:5432/lm_m \\
        [--backfill-days 90] [--repayments 10000] [--repeat 3]

The book must already be seeded (``loanmetrics seed``). The benchmark works on a file-level copy
(CREATE DATABASE ... TEMPLATE) so the seeded book stays untouched, drives the product through
its command line (``loanmetrics recalc`` / ``ingest``), and reads each run's own duration from
metric_calculation_log (the job's time, without process start-up).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench import common

TABLES = ("loans", "loan_schedule", "repayments")


async def scan_floor(url: str, repeat: int) -> dict[str, Any]:
    """One warm sequential scan of loans + schedule + repayments (median of ``repeat``)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        # a real sequential scan of each heap: with a fresh visibility map count(*) would
        # otherwise read the smallest index instead
        for setting in ("max_parallel_workers_per_gather = 0", "enable_indexonlyscan = off",
                        "enable_indexscan = off", "enable_bitmapscan = off"):
            await conn.execute(f"SET {setting}")
        counts = {}
        for table in TABLES:  # warm-up
            counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            for table in TABLES:
                await conn.fetchval(f"SELECT count(*) FROM {table}")
            timings.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return {"seconds": statistics.median(timings), "rows": counts}


async def last_run(url: str) -> dict[str, Any]:
    rows = await common.fetch(url, "SELECT * FROM metric_calculation_log ORDER BY id DESC LIMIT 1")
    row = rows[0]
    if row["status"] != "Completed":
        raise common.BenchError(f"run {row['id']} ended {row['status']}: {row['error_message']}")
    return {"seconds": float(row["duration"]), "dates": row["records_processed"], "rows": row["records_updated"]}


def recalc(env: dict[str, str], *extra: str, timeout: float = 1800) -> None:
    common.run_cli(["recalc", *extra], env, timeout=timeout)


async def repayment_batch(url: str, count: int, day: date, seed: int) -> Path:
    """``count`` new repayments on random active loans, dated ``day`` (one ETL batch file)."""
    rows = await common.fetch(
        url,
        "SELECT l.loan_id, l.officer_id, greatest(l.total_outstanding, 1) AS outstanding FROM loans l "
        "WHERE l.status = 'Active' AND l.disbursement_date <= $1",
        day,
    )
    chooser = random.Random(seed)
    loans = chooser.sample(list(rows), min(count, len(rows)))
    payments = []
    for n, loan in enumerate(loans):
        cents = min(int(loan["outstanding"] * 100), chooser.randint(500, 20_000) * 100)
        principal = cents * 8 // 10
        interest = cents - principal
        payments.append({
            "repayment_id": f"BENCH-{seed}-{n:06d}", "loan_id": loan["loan_id"], "payment_date": day.isoformat(),
            "payment_amount": f"{cents // 100}.{cents % 100:02d}",
            "principal_paid": f"{principal // 100}.{principal % 100:02d}",
            "interest_paid": f"{interest // 100}.{interest % 100:02d}", "fees_paid": "0.00",
            "payment_method": "Cash", "is_reversed": False,
        })
    path = Path(tempfile.mkdtemp(prefix="lm-bench-")) / "repayments.json"
    path.write_bytes(orjson.dumps({"sync_type": "incremental", "data": {"repayments": payments}}))
    return path


async def run(args: argparse.Namespace) -> dict[str, Any]:
    admin = args.admin_url
    source = common.database_name(args.database_url)
    copy = common.unique_name("lmbench_recalc")
    as_of = args.as_of
    started = time.perf_counter()
    await common.create_database(admin, copy, template=source)
    copied = time.perf_counter() - started
    url = common.database_url(args.database_url, copy)
    env = common.server_env(url)
    results: dict[str, Any] = {"copy_seconds": copied}
    try:
        await common.execute(url, "VACUUM ANALYZE")
        results["floor"] = await scan_floor(url, args.repeat)
        # untimed: the copy's files start outside the page cache (the first run at 1M loans
        # read them from disk and took twice as long as the next)
        for _ in range(args.warmup):
            recalc(env, "--as-of", as_of.isoformat())
        one_date = []
        for _ in range(args.repeat):
            recalc(env, "--as-of", as_of.isoformat())
            one_date.append(await last_run(url))
        results["one_date"] = {
            "seconds": statistics.median(r["seconds"] for r in one_date), "runs": one_date,
        }
        batch = await repayment_batch(url, args.repayments, as_of, seed=7)
        ingest_started = time.perf_counter()
        common.run_cli(["ingest", str(batch)], env, timeout=1800)
        results["repayment_batch"] = {"records": args.repayments,
                                      "ingest_seconds_wall": time.perf_counter() - ingest_started}
        recalc(env, "--as-of", as_of.isoformat(), "--incremental")
        results["incremental"] = await last_run(url)
        if args.backfill_days > 0:
            first = as_of - timedelta(days=args.backfill_days - 1)
            recalc(env, "--as-of", as_of.isoformat(), "--from", first.isoformat(), timeout=3600)
            results["backfill"] = {**await last_run(url), "days": args.backfill_days}
        loans = await common.fetch(url, "SELECT count(*) AS n, count(DISTINCT officer_id) AS officers FROM loans")
        results["book"] = {"loans": loans[0]["n"], "officers": loans[0]["officers"]}
    finally:
        if not args.keep:
            await common.drop_database(admin, copy)
    floor = results["floor"]["seconds"]
    for name in ("one_date", "incremental", "backfill"):
        if name in results:
            results[name]["ratio_to_scan"] = results[name]["seconds"] / floor
    results["command"] = common.command_line()
    return results


def markdown(results: dict[str, Any]) -> str:
    floor = results["floor"]["seconds"]
    book = results["book"]
    lines = [
        f"Book: {book['loans']:,} loans, {book['officers']:,} officers; floor (one sequential scan of "
        f"loans + loan_schedule + repayments): {floor:.2f} s",
        "",
        "| run | seconds | × scan |",
        "|---|---|---|",
        f"| one date, every officer and branch | {results['one_date']['seconds']:.2f} | "
        f"{results['one_date']['ratio_to_scan']:.1f} |",
        f"| incremental after a {results['repayment_batch']['records']:,}-repayment batch | "
        f"{results['incremental']['seconds']:.2f} | {results['incremental']['ratio_to_scan']:.1f} |",
    ]
    if "backfill" in results:
        lines.append(f"| backfill of {results['backfill']['days']} days | {results['backfill']['seconds']:.1f} | "
                     f"{results['backfill']['ratio_to_scan']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a seeded book (copied, never modified)")
    parser.add_argument("--admin-url", default=common.DEFAULT_ADMIN_URL)
    parser.add_argument("--as-of", type=date.fromisoformat, default=common.BENCH_TODAY)
    parser.add_argument("--backfill-days", type=int, default=90, help="0: no backfill")
    parser.add_argument("--repayments", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed one-date runs first")
    parser.add_argument("--keep", action="store_true", help="keep the working copy")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    results["machine"] = common.machine_facts(args.database_url)  # runs its own event loop
    path = common.write_results("recalc", results)
    print(markdown(results))
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
