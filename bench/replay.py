"""Dashboard session replay (SPEC §12): 100 users, one request each every 2 s, with Redis.

    .venv/bin/python -m bench.replay --database-url URL [--users 100 --interval 2 --duration 180
                                      --warmup 20 --audit-every 60 --scoped-share 0.2]

What a morning at a lender's risk desk looks like to the server, open loop (each user sends its
next request on its own 2-second tick whatever the server does, so a slow server cannot slow the
load down, unlike a closed-loop benchmark):

- ``--users`` dashboard users; a share of them (``--scoped-share``) are branch managers with a
  branch-scoped viewer token (their own cache keys, their branch's rows), the others the head
  office's risk and audit team (unscoped viewers).
- Each tick a user makes one request, drawn from what the dashboard's screens ask for:
  officer list 30% (the default page; a region filter in 4 of 10), officer detail 30% (an officer
  of the riskiest 50, Zipf-weighted: the riskiest are opened most), branches 15%, filter options
  10%, FIMR drilldown 10% (the first page, or one officer's in half of them), early-indicators
  drilldown 5%. All through GraphQL, as the dashboard front end does (SPEC §1).
- Every ``--audit-every`` seconds an auditor moves one officer's audit status (assign, start,
  resolve, reopen), a mutation that bumps the metrics generation and so invalidates every cached
  answer (SPEC §9): the cache must refill from cold each minute.

Measured after ``--warmup`` seconds: latency percentiles of all requests and per kind (client
side, on the same machine), the cache hit rate from the server's own Prometheus counters, errors,
and the server's and PostgreSQL's CPU. Targets: p95 < 50 ms, hit rate > 90%.

The run works on a file-level copy of the book (``CREATE DATABASE ... TEMPLATE``), so the audit
changes never touch the base; Redis database ``--redis-url`` is flushed first.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import psutil
import redis

from bench.api import (
    BRANCHES,
    FIMR_DRILLDOWN,
    OFFICER_DETAIL,
    OFFICER_LIST,
    _cache_counters,
    check_ready,
    prepare_data,
)
from bench.common import (
    DEFAULT_ADMIN_URL,
    BenchError,
    CpuSnapshot,
    Databases,
    Server,
    command_line,
    cpu_breakdown,
    database_name,
    fetch,
    machine_facts,
    mint_token,
    server_env,
    write_results,
)

TARGET_P95_MS = 50.0
TARGET_HIT_RATE = 0.90
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"

OFFICERS_BY_REGION = (
    OFFICER_LIST.replace("query OfficerList {", "query OfficerListRegion($region: String!) {")
    .replace("officers(first: 50)", "officers(first: 50, filter: {region: $region})")
)
FIMR_BY_OFFICER = (
    FIMR_DRILLDOWN.replace("query FimrDrilldown {", "query FimrDrilldownOfficer($officerId: ID!) {")
    .replace("fimrDrilldown(first: 50)", "fimrDrilldown(first: 50, filter: {officerId: $officerId})")
)
EARLY_INDICATORS = """query EarlyIndicators {
  earlyIndicatorsDrilldown(first: 50) {
    totalCount
    nodes { loanId customerName customerPhone officerName region branch disbursementDate loanAmount currentDpd
            lastPaymentDate nextPaymentDue earlyIndicatorTagged status totalOutstanding }
  }
}"""
FILTER_OPTIONS = """query FilterOptions {
  filterOptions { regions branches channels loanStatuses riskBands auditStatuses calculatedDates }
}"""
RISKIEST = """query Riskiest { officers(first: 50) { nodes { officerId } } }"""
ASSIGN = """mutation Assign($officerId: ID!, $assigneeId: ID!) {
  assignAuditor(officerId: $officerId, assigneeId: $assigneeId) { auditStatus version }
}"""
MOVE = """mutation Move($officerId: ID!, $status: AuditStatus!) {
  updateAuditStatus(officerId: $officerId, status: $status) { auditStatus version }
}"""

# kind -> share of a user's requests
MIX: tuple[tuple[str, float], ...] = (
    ("officer list", 0.30), ("officer detail", 0.30), ("branches", 0.15), ("filter options", 0.10),
    ("fimr drilldown", 0.10), ("early indicators", 0.05),
)


@dataclass
class User:
    token: str
    scoped: bool
    rng: random.Random


@dataclass
class Book:
    regions: list[str]
    branches: list[str]
    riskiest: list[str]
    zipf: list[float]  # cumulative weights over ``riskiest``
    members: list[str]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    late_ticks: int = 0
    audit_changes: int = 0
    audit_errors: list[str] = field(default_factory=list)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max of a sample in ms (nearest rank); empty for no sample."""
    if not values:
        return {}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))], 2)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": round(ordered[-1], 2),
            "mean": round(sum(ordered) / len(ordered), 2)}


def _pick_officer(book: Book, rng: random.Random) -> str:
    x = rng.random() * book.zipf[-1]
    lo, hi = 0, len(book.zipf) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if book.zipf[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return book.riskiest[lo]


def request_for(kind: str, book: Book, rng: random.Random) -> tuple[str, dict[str, Any] | None]:
    """The GraphQL document and variables of one dashboard request of ``kind``."""
    if kind == "officer list":
        if rng.random() < 0.4:
            return OFFICERS_BY_REGION, {"region": rng.choice(book.regions)}
        return OFFICER_LIST, None
    if kind == "officer detail":
        return OFFICER_DETAIL, {"officerId": _pick_officer(book, rng)}
    if kind == "branches":
        return BRANCHES, None
    if kind == "filter options":
        return FILTER_OPTIONS, None
    if kind == "fimr drilldown":
        if rng.random() < 0.5:
            return FIMR_BY_OFFICER, {"officerId": _pick_officer(book, rng)}
        return FIMR_DRILLDOWN, None
    return EARLY_INDICATORS, None


def _kind(rng: random.Random) -> str:
    x = rng.random()
    for kind, share in MIX:
        if x < share:
            return kind
        x -= share
    return MIX[-1][0]


async def _post(client: httpx.AsyncClient, token: str, document: str, variables: dict[str, Any] | None) -> bool:
    response = await client.post("/graphql", content=orjson.dumps({"query": document, "variables": variables}),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    if response.status_code != 200:
        return False
    body = orjson.loads(response.content)
    return not body.get("errors")


async def user_loop(client: httpx.AsyncClient, user: User, book: Book, interval: float, start: float,
                    measure_from: float, stop: float, tally: Tally) -> None:
    """Open loop: the k-th request goes out at start + offset + k * interval, however long the last took."""
    rng = user.rng
    tick = start + rng.random() * interval
    while tick < stop:
        delay = tick - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif -delay > interval:
            tally.late_ticks += 1
        kind = _kind(rng)
        document, variables = request_for(kind, book, rng)
        began = time.perf_counter()
        try:
            ok = await _post(client, user.token, document, variables)
        except httpx.HTTPError:
            ok = False
        elapsed = time.perf_counter() - began
        if began >= measure_from:
            tally.latencies[kind].append(elapsed * 1000)
            if not ok:
                tally.errors[kind] += 1
        tick += interval


async def auditor_loop(client: httpx.AsyncClient, token: str, book: Book, every: float, start: float,
                       stop: float, tally: Tally) -> None:
    """One audit change per ``every`` seconds, cycling an officer through the audit workflow."""
    steps = ("assign", "IN_PROGRESS", "RESOLVED")
    k = 0
    tick = start + every / 2
    while tick < stop:
        delay = tick - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        officer = book.riskiest[(k // len(steps)) % len(book.riskiest)]
        step = steps[k % len(steps)]
        if step == "assign":
            assignee = book.members[k % len(book.members)]
            ok = await _post(client, token, ASSIGN, {"officerId": officer, "assigneeId": assignee})
        else:
            ok = await _post(client, token, MOVE, {"officerId": officer, "status": step})
        if ok:
            tally.audit_changes += 1
        else:
            tally.audit_errors.append(f"{step} {officer}")
        k += 1
        tick += every


async def _load_book(base_url: str, token: str, url: str) -> Book:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post("/graphql", json={"query": RISKIEST},
                                     headers={"Authorization": f"Bearer {token}"})
        riskiest = [node["officerId"] for node in response.json()["data"]["officers"]["nodes"]]
    regions = [row[0] for row in await fetch(url, "SELECT DISTINCT region FROM officers ORDER BY 1")]
    branches = [row[0] for row in await fetch(url, "SELECT DISTINCT branch FROM officers ORDER BY 1")]
    members = [row[0] for row in await fetch(url, "SELECT member_id FROM team_members WHERE is_active ORDER BY 1")]
    if not riskiest or not members:
        raise BenchError("the book has no officers with daily rows or no active team members (seed adds five)")
    cumulative, total = [], 0.0
    for rank in range(1, len(riskiest) + 1):
        total += 1.0 / rank
        cumulative.append(total)
    return Book(regions=regions, branches=branches, riskiest=riskiest, zipf=cumulative, members=members)


async def replay(args: argparse.Namespace, base_url: str, book: Book, users: list[User], auditor: str,
                 tally: Tally) -> float:
    limits = httpx.Limits(max_connections=len(users) + 1, max_keepalive_connections=len(users) + 1)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        start = time.perf_counter()
        measure_from = start + args.warmup
        stop = measure_from + args.duration
        await asyncio.gather(
            *(user_loop(client, user, book, args.interval, start, measure_from, stop, tally) for user in users),
            auditor_loop(client, auditor, book, args.audit_every, measure_from, stop, tally),
        )
        return measure_from


def run(args: argparse.Namespace) -> dict[str, Any]:
    started_at = datetime.now(UTC)
    report: dict[str, Any] = {
        "benchmark": "replay",
        "scenario": "SPEC §12 dashboard session replay: users, one request each per interval, audit changes, Redis",
        "command": command_line(),
        "started_at": started_at.isoformat(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "parameters": {key: value for key, value in vars(args).items() if key != "admin_url"},
        "mix": dict(MIX),
        "targets": {"p95_ms": TARGET_P95_MS, "hit_rate": TARGET_HIT_RATE},
    }
    with Databases(args.admin_url, keep=args.keep) as databases:
        copy = databases.create("lmbench_replay", template=database_name(args.database_url))
        url, data = prepare_data(argparse.Namespace(database_url=copy, seed_timeout=3600), databases)
        report["data"] = data
        redis.Redis.from_url(args.redis_url).flushdb()
        env = server_env(url, extra={"REDIS_URL": args.redis_url})
        with Server(env, extra_args=("--no-scheduler", "--no-migrate")) as server:
            viewer = mint_token(env, "viewer")
            auditor = mint_token(env, "auditor")
            check_ready(server.base_url, viewer, "(is Redis up?)")
            book = asyncio.run(_load_book(server.base_url, viewer, url))
            rng = random.Random(args.seed)
            scoped_tokens = {branch: mint_token(env, "viewer", extra_args=("--branch", branch))
                             for branch in book.branches}
            users = []
            for k in range(args.users):
                scoped = rng.random() < args.scoped_share
                token = scoped_tokens[rng.choice(book.branches)] if scoped else viewer
                users.append(User(token=token, scoped=scoped, rng=random.Random(f"{args.seed}-{k}")))
            tally = Tally()
            print(f"replay: {args.users} users every {args.interval} s, {args.warmup} s warm-up, "
                  f"{args.duration} s measured, an audit change every {args.audit_every} s ...",
                  file=sys.stderr, flush=True)

            pids = [server.pid, *(child.pid for child in psutil.Process(server.pid).children(recursive=True))]

            async def measured() -> tuple[dict[str, float], dict[str, float], CpuSnapshot, CpuSnapshot]:
                task = asyncio.create_task(replay(args, server.base_url, book, users, auditor, tally))
                await asyncio.sleep(args.warmup)
                before = await asyncio.to_thread(_cache_counters, server.base_url, viewer)
                cpu_before = CpuSnapshot()
                await task
                cpu_after = CpuSnapshot()
                after = await asyncio.to_thread(_cache_counters, server.base_url, viewer)
                return before, after, cpu_before, cpu_after

            before, after, cpu_before, cpu_after = asyncio.run(measured())
        report["machine"] = machine_facts(url)
    hits = sum(v for k, v in after.items() if "hit" in k) - sum(v for k, v in before.items() if "hit" in k)
    misses = sum(v for k, v in after.items() if "miss" in k) - sum(v for k, v in before.items() if "miss" in k)
    everything = [x for values in tally.latencies.values() for x in values]
    requests = len(everything)
    report["result"] = {
        "requests": requests,
        "requests_per_second": round(requests / args.duration, 1),
        "latency_ms": percentiles(everything),
        "by_kind": {kind: {"requests": len(values), "errors": tally.errors.get(kind, 0), **percentiles(values)}
                    for kind, values in sorted(tally.latencies.items())},
        "errors": sum(tally.errors.values()),
        "late_ticks": tally.late_ticks,
        "cache": {"hits": hits, "misses": misses,
                  "hit_rate": round(hits / (hits + misses), 4) if hits + misses else None},
        "audit_changes": tally.audit_changes,
        "audit_errors": tally.audit_errors,
        "cpu": cpu_breakdown(cpu_before, cpu_after, {"server": pids, "benchmark_client": [os.getpid()]}),
    }
    cpu = report["result"]["cpu"]
    report["result"]["cpu_ms_per_request"] = {
        name: round(1000 * cpu[key] / requests, 3) if requests else None
        for name, key in (("server", "server"), ("postgres", "other_postgres"), ("client", "benchmark_client"))
    }
    report["finished_at"] = datetime.now(UTC).isoformat()
    return report


def markdown(report: dict[str, Any]) -> str:
    result = report["result"]
    latency = result["latency_ms"]
    lines = [
        f"Replay: {report['parameters']['users']} users, one request each every {report['parameters']['interval']} s, "
        f"{result['requests']} requests in {report['parameters']['duration']} s "
        f"({result['requests_per_second']} req/s), {result['audit_changes']} audit changes, {result['errors']} errors",
        "",
        "| requests | count | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|",
        f"| all | {result['requests']} | {latency.get('p50', 0):.2f} | {latency.get('p95', 0):.2f} | "
        f"{latency.get('p99', 0):.2f} |",
    ]
    for kind, values in result["by_kind"].items():
        lines.append(f"| {kind} | {values['requests']} | {values.get('p50', 0):.2f} | {values.get('p95', 0):.2f} | "
                     f"{values.get('p99', 0):.2f} |")
    cache = result["cache"]
    rate = cache["hit_rate"]
    lines += [
        "",
        f"Cache: {cache['hits']:.0f} hits, {cache['misses']:.0f} misses, hit rate "
        f"**{rate:.1%}** (target > {TARGET_HIT_RATE:.0%})" if rate is not None else "Cache: no lookups counted",
        f"p95 **{latency.get('p95', 0):.2f} ms** (target < {TARGET_P95_MS:.0f} ms)",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a seeded book (copied, never modified)")
    parser.add_argument("--users", type=int, default=100, help="dashboard users (default %(default)s)")
    parser.add_argument("--interval", type=float, default=2.0,
                        help="seconds between a user's requests (default %(default)s)")
    parser.add_argument("--duration", type=float, default=180.0, help="measured seconds (default %(default)s)")
    parser.add_argument("--warmup", type=float, default=20.0, help="unmeasured seconds first (default %(default)s)")
    parser.add_argument("--audit-every", type=float, default=60.0,
                        help="seconds between audit changes (default %(default)s)")
    parser.add_argument("--scoped-share", type=float, default=0.2,
                        help="share of users with a branch-scoped token (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the users' choices (default %(default)s)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL,
                        help="Redis for the server, flushed first (%(default)s)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL,
                        help="any database of the cluster, for CREATE/DROP DATABASE (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the copy of the book")
    args = parser.parse_args(argv)
    if args.users < 1 or args.interval <= 0 or args.duration <= 0 or args.audit_every <= 0:
        parser.error("--users, --interval, --duration and --audit-every must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    path = write_results("replay", report, when=datetime.fromisoformat(report["started_at"]))
    print(f"\nresults: {path}\n", file=sys.stderr)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
