"""API benchmark (SPEC §12 rows "officer list", cached and uncached): GraphQL against its floor and PostGraphile.

    .venv/bin/python -m bench.api [--database-url URL] [--loans 100000 --officers 200] [--duration 10]
                                  [--concurrency 1,10,50] [--no-postgraphile] [--profile-seconds 10]

1. Data: ``--database-url`` (an already seeded book, only read: its daily rows for the business
   date are calculated with ``loanmetrics recalc`` first if missing), else a fresh database seeded
   with ``loanmetrics seed`` and backfilled for 30 days (``loanmetrics recalc --from D-30 --as-of D``),
   dropped afterwards unless ``--keep``. The business date is 2026-09-18 (LOANMETRICS_TODAY).
2. Servers, each a subprocess with one worker: ``loanmetrics serve --no-scheduler`` with the response
   cache off (LOANMETRICS_CACHE_ENABLED=false, no REDIS_URL) for the uncached scenarios; the same
   with REDIS_URL for the cached one; the floor (``bench/floor.py``: one asyncpg fetch of the same
   rows, orjson, under uvicorn); PostGraphile 4 from npm (installed into a directory outside the
   repository, never a project dependency) for the officer list.
3. Scenarios, each at every ``--concurrency`` level for ``--duration`` seconds after a warm-up:
   (a) officer list, ``officers(first: 50)`` with the REST officer row's fields; (b) officer detail
   (metrics, audit, 20 loans; rotating over 50 officers); (c) ``branches``; (d) a FIMR drilldown page
   of 50 loans; (e) the officer list served from the Redis cache; the officer list through REST
   (``GET /api/v1/metrics/officers?per_page=50``) when that route exists; the officer list on
   PostGraphile. Every target's first response is checked (HTTP 200, no GraphQL errors, and the same
   rows in the same order as the floor's).
4. Load: ``wrk`` (C, epoll; one thread by default) with a generated Lua script that rotates
   pre-formatted requests and writes its summary (requests, errors, latency percentiles) as JSON.
   CPU seconds of the target process, of PostgreSQL and of wrk are recorded for every run.
5. Optionally a py-spy profile of the uncached server during the officer list (``--profile-seconds``).
6. Results: a markdown summary on stdout and ``bench/results/api-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg
import httpx
import orjson
import psutil

from bench.common import (
    BENCH_TODAY,
    DEFAULT_ADMIN_URL,
    REPO_ROOT,
    VENV_BIN,
    BenchError,
    CpuSnapshot,
    Databases,
    Server,
    command_line,
    cpu_breakdown,
    database_name,
    free_port,
    machine_facts,
    mint_token,
    run_cli,
    server_env,
    stopwatch,
    tail,
    write_results,
)
from loanmetrics.graph.rest import officers as rest_officers

# SPEC §12 targets for the officer list (one server process)
TARGET_CACHED_RPS = 5_000
TARGET_CACHED_P95_MS = 5.0
TARGET_UNCACHED_P95_MS = 25.0
TARGET_CLIENTS = 10
POSTGRAPHILE_REFERENCE_RPS = 558  # ENGINEERING.md, same page, same kind of machine

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
WRK_TIMEOUT_S = 30  # a request slower than this counts as a wrk timeout error
DEFAULT_POSTGRAPHILE_DIR = Path(tempfile.gettempdir()) / "pg-bench"

# --- the GraphQL documents -----------------------------------------------------------------------

METRIC_FIELDS = """riskScore riskBand dqi fimr { value } allTimeFimr { value } d06Slippage { value } roll { value }
      frr { value } ayr { value } porr { value } channelPurity { value }
      portfolio { totalPortfolio overdue15dAmount activeLoans totalYield }"""

OFFICER_LIST = f"""query OfficerList {{
  officers(first: 50) {{
    totalCount
    nodes {{
      officerId officerName region branch rank
      metrics {{ {METRIC_FIELDS} }}
      primaryChannel
      audit {{ assigneeName auditStatus lastAuditDate }}
    }}
  }}
}}"""

OFFICER_DETAIL = f"""query OfficerDetail($officerId: ID!) {{
  officer(officerId: $officerId) {{
    officerId officerName officerPhone region branch employmentStatus primaryChannel
    metrics {{ dqiBand {METRIC_FIELDS} }}
    audit {{ assigneeName auditStatus lastAuditDate auditNotes version }}
    loans(first: 20) {{
      totalCount
      nodes {{ loanId customerName currentDpd totalOutstanding status disbursementDate loanAmount }}
    }}
  }}
}}"""

BRANCHES = f"""query Branches {{
  branches {{ branch region totalOfficers {METRIC_FIELDS} }}
}}"""

FIMR_DRILLDOWN = """query FimrDrilldown {
  fimrDrilldown(first: 50) {
    totalCount
    nodes {
      loanId customerName customerPhone officer { officerId } officerName region branch disbursementDate loanAmount
      firstPaymentDueDate firstPaymentReceivedDate daysLate fimrTagged currentDpd status totalOutstanding
    }
  }
}"""

POSTGRAPHILE_OFFICER_LIST = """query OfficerList($day: Date!) {
  allOfficerMetricsDailies(condition: {calculationDate: $day}, orderBy: [RISK_SCORE_DESC, OFFICER_ID_ASC], first: 50) {
    totalCount
    nodes {
      riskScore riskBand dqi fimr allTimeFimr d06Slippage roll frr ayr porr channelPurity
      totalPortfolio overdue15DAmount activeLoans totalYield
      officerByOfficerId {
        officerId officerName region branch primaryChannel
        auditTrackingByOfficerId { assigneeName auditStatus lastAuditDate }
      }
    }
  }
}"""

# officer_metrics_daily has no foreign key to officers: a PostGraphile smart tag declares the
# relation (a "virtual foreign key"), read from postgraphile.tags.json5 in its working directory.
POSTGRAPHILE_TAGS = """{
  version: 1,
  config: {
    class: {
      officer_metrics_daily: { tags: { foreignKey: "(officer_id) references officers (officer_id)" } },
    },
  },
}
"""

REST_OFFICERS_PATH = "/api/v1/metrics/officers?per_page=50"


# --- requests and the load generator -------------------------------------------------------------


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


def rest_wrapped_request(token: str) -> HttpRequest:
    """The GraphQL request the REST shim makes for ``REST_OFFICERS_PATH`` (its own document and the
    variables it derives from the route's defaults): the route the shim wraps."""
    defaults = {"region": None, "branch": None, "officer_id": None, "risk_band": None, "date": None,
                "start_date": None, "end_date": None, "sort": "risk_score", "order": "desc", "per_page": 50, "page": 1}
    return graphql_request(rest_officers.LIST_DOCUMENT, token, rest_officers.list_variables(defaults))


def graphql_request(document: str, token: str, variables: Mapping[str, Any] | None = None) -> HttpRequest:
    payload: dict[str, Any] = {"query": document}
    if variables:
        payload["variables"] = dict(variables)
    return HttpRequest(
        "POST", "/graphql", {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        orjson.dumps(payload),
    )


def _lua_string(text: str) -> str:
    """A Lua long-bracket literal holding ``text`` verbatim."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


WRK_SCRIPT = """-- generated by bench/api.py
local specs = {
%(specs)s
}
local prepared = {}
local counter = 0

init = function(args)
  for i, spec in ipairs(specs) do
    prepared[i] = wrk.format(spec[1], spec[2], spec[3], spec[4])
  end
end

request = function()
  counter = counter %% #prepared + 1
  return prepared[counter]
end

done = function(summary, latency, requests)
  local e = summary.errors
  local out = io.open(%(out)s, "w")
  out:write(string.format(
    '{"requests":%%d,"duration_us":%%d,"bytes":%%d,' ..
    '"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},' ..
    '"latency_us":{"min":%%d,"max":%%d,"mean":%%.1f,"stdev":%%.1f,' ..
    '"p50":%%d,"p75":%%d,"p90":%%d,"p95":%%d,"p99":%%d,"p999":%%d}}',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.max, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9)))
  out:close()
end
"""


def wrk_script(requests: Sequence[HttpRequest], out_path: Path) -> str:
    specs = []
    for req in requests:
        headers = ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in req.headers.items())
        body = _lua_string(req.body.decode()) if req.body is not None else "nil"
        specs.append(f"  {{ {_lua_string(req.method)}, {_lua_string(req.path)}, {{ {headers} }}, {body} }},")
    return WRK_SCRIPT % {"specs": "\n".join(specs), "out": _lua_string(str(out_path))}


def wrk_version() -> str | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip() if (done.stdout or done.stderr) else "wrk"


def run_wrk(
    base_url: str, requests: Sequence[HttpRequest], *, concurrency: int, duration: float, threads: int
) -> dict[str, Any]:
    """One closed-loop run of wrk: ``concurrency`` keep-alive connections for ``duration`` seconds."""
    with tempfile.TemporaryDirectory(prefix="lmbench-wrk-") as tmp:
        script, out = Path(tmp) / "script.lua", Path(tmp) / "summary.json"
        script.write_text(wrk_script(requests, out))
        command = ["wrk", "-t", str(max(1, min(threads, concurrency))), "-c", str(concurrency),
                   "-d", f"{duration:g}s", "--timeout", f"{WRK_TIMEOUT_S}s", "-s", str(script), base_url]
        usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"wrk did not finish within {duration + 60:.0f} s") from exc
        usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0 or not out.exists():
            raise BenchError(f"wrk exited with {done.returncode}:\n{tail(done.stderr or done.stdout)}")
        summary: dict[str, Any] = orjson.loads(out.read_bytes())
    summary["wrk_cpu_s"] = round((usage_after.ru_utime + usage_after.ru_stime)
                                 - (usage_before.ru_utime + usage_before.ru_stime), 3)
    summary["threads"] = max(1, min(threads, concurrency))
    return summary


# --- processes: the floor and PostGraphile -------------------------------------------------------


class Service:
    """A server subprocess in its own session (logging to a temporary file), up inside the block."""

    def __init__(self, name: str, command: Sequence[str], *, env: Mapping[str, str], cwd: Path, port: int,
                 ready: Callable[[httpx.Client, str], bool], start_timeout: float = 120.0) -> None:
        self.name = name
        self.command = list(command)
        self.env = dict(env)
        self.cwd = cwd
        self.port = port
        self.ready = ready
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self.failed = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError(f"{self.name} is not running")
        return self.process.pid

    def start(self) -> None:
        fd, log_name = tempfile.mkstemp(prefix=f"lmbench-{self.name}-", suffix=".log")
        self.log_path = Path(log_name)
        with os.fdopen(fd, "wb") as log:
            self.process = subprocess.Popen(self.command, env=self.env, cwd=self.cwd, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + self.start_timeout
        with httpx.Client(timeout=5.0) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    self.failed = True
                    raise BenchError(f"{self.name} exited with {code} while starting:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if self.ready(client, self.base_url):
                        return
                if time.monotonic() > deadline:
                    self.failed = True
                    self.stop()
                    raise BenchError(f"{self.name} was not ready within {self.start_timeout:.0f} s")
                time.sleep(0.2)

    def stop(self, timeout: float = 20.0) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.process = None
        if self.log_path is not None:
            if self.failed:
                print(f"{self.name} log kept at {self.log_path}", file=sys.stderr)
            else:
                self.log_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return tail(self.log_path.read_text(errors="replace"), lines)

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self.failed = True
        self.stop()


def floor_service(url: str) -> Service:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOANMETRICS_", "DATABASE_"))}
    env.update(BENCH_FLOOR_DATABASE_URL=url, BENCH_FLOOR_TODAY=BENCH_TODAY.isoformat(), BENCH_FLOOR_POOL_SIZE="10")
    command = [str(VENV_BIN / "uvicorn"), "bench.floor:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log"]
    return Service("floor", command, env=env, cwd=REPO_ROOT, port=port,
                   ready=lambda client, base: client.get(base + "/healthz").status_code == 200)


def postgraphile_cli(directory: Path) -> Path:
    return directory / "node_modules" / "postgraphile" / "cli.js"


def ensure_postgraphile(directory: Path) -> tuple[Path | None, str]:
    """PostGraphile 4's CLI in ``directory`` (npm-installed there when missing): (path, note)."""
    cli = postgraphile_cli(directory)
    if not cli.exists():
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            return None, "node/npm not found"
        directory.mkdir(parents=True, exist_ok=True)
        if not (directory / "package.json").exists():
            (directory / "package.json").write_text('{"name": "lmbench-postgraphile", "private": true}\n')
        print(f"npm install postgraphile@4 into {directory} ...", file=sys.stderr, flush=True)
        try:
            done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "postgraphile@4"], cwd=directory,
                                  capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            return None, "npm install postgraphile@4 timed out"
        if done.returncode != 0 or not cli.exists():
            return None, f"npm install postgraphile@4 failed: {tail(done.stderr or done.stdout, 5)}"
    (directory / "postgraphile.tags.json5").write_text(POSTGRAPHILE_TAGS)
    version = "unknown"
    with contextlib.suppress(OSError, ValueError):
        package = orjson.loads((directory / "node_modules" / "postgraphile" / "package.json").read_bytes())
        version = str(package.get("version"))
    return cli, version


def postgraphile_service(cli: Path, directory: Path, url: str) -> Service:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("LOANMETRICS_", "DATABASE_"))}
    env["NODE_ENV"] = "production"
    node = shutil.which("node") or "node"
    command = [node, str(cli), "-c", url, "--schema", "public", "--host", "127.0.0.1", "--port", str(port),
               "--disable-graphiql", "--no-ignore-rbac", "--simple-collections", "omit", "--disable-query-log"]

    def ready(client: httpx.Client, base: str) -> bool:
        return client.post(base + "/graphql", json={"query": "{ __typename }"}).status_code == 200

    return Service("postgraphile", command, env=env, cwd=directory, port=port, ready=ready)


# --- scenarios, validation, runs -----------------------------------------------------------------


def _dig(payload: Any, *path: str) -> Any:
    for key in path:
        payload = payload[key]
    return payload


Extract = Callable[[Any], list[Any]]


@dataclass
class Target:
    """One way of serving a scenario: a server, its requests and how to read the rows' identity."""

    name: str  # "ours", "floor", "rest", "cached", "cached floor", "postgraphile"
    base_url: str
    requests: list[HttpRequest]
    identity: Extract
    pid: int
    counters: Callable[[], dict[str, float]] | None = None  # the server's cache counters, when it has a cache


@dataclass
class Measured:
    scenario: str
    target: str
    concurrency: int
    rps: float
    latency_ms: dict[str, float]
    requests: int
    seconds: float
    errors: dict[str, int]
    bytes_per_response: float
    cpu: dict[str, Any]
    cpu_ms_per_request: dict[str, float]
    cache: dict[str, float] | None = None


def _send(client: httpx.Client, base_url: str, req: HttpRequest) -> httpx.Response:
    return client.request(req.method, base_url + req.path, headers=dict(req.headers), content=req.body)


def validate(target: Target, *, sample: int = 5) -> dict[str, Any]:
    """Send the first ``sample`` requests once: HTTP 200, no GraphQL errors; returns rows' identity."""
    identities: list[list[Any]] = []
    sizes: list[int] = []
    with httpx.Client(timeout=60.0) as client:
        for req in target.requests[:sample]:
            response = _send(client, target.base_url, req)
            if response.status_code != 200:
                raise BenchError(f"{target.name} {req.method} {req.path} answered {response.status_code}: "
                                 f"{response.text[:500]}")
            payload = response.json()
            if isinstance(payload, dict) and payload.get("errors"):
                raise BenchError(f"{target.name} {req.path} returned errors: {str(payload['errors'])[:500]}")
            identities.append(target.identity(payload))
            sizes.append(len(response.content))
    if not identities[0]:
        raise BenchError(f"{target.name}: the first response holds no rows")
    return {"identities": identities, "bytes": sizes}


def measure(scenario: str, target: Target, concurrency: int, duration: float, threads: int, *,
            quiet_first: bool = True) -> Measured:
    pids = [target.pid]
    with contextlib.suppress(psutil.Error):
        pids += [child.pid for child in psutil.Process(target.pid).children(recursive=True)]
    waited = settle() if quiet_first else 0.0
    counters_before = target.counters() if target.counters is not None else None
    before = CpuSnapshot()
    summary = run_wrk(target.base_url, target.requests, concurrency=concurrency, duration=duration, threads=threads)
    after = CpuSnapshot()
    cpu = cpu_breakdown(before, after, {"target": pids, "benchmark_client": [os.getpid()]})
    cpu["wrk"] = summary["wrk_cpu_s"]
    cpu["postgres"] = round(cpu["other_postgres"], 3)
    cpu["settled_before_s"] = round(waited, 1)
    requests = int(summary["requests"])
    seconds = summary["duration_us"] / 1e6
    lat = {key: value / 1000 for key, value in summary["latency_us"].items()}
    per_request = {
        name: (1000 * cpu[name] / requests if requests else float("nan"))
        for name in ("target", "postgres", "wrk")
    }
    errors = {key: int(value) for key, value in summary["errors"].items()}
    result = Measured(
        scenario=scenario, target=target.name, concurrency=concurrency, rps=requests / seconds if seconds else 0.0,
        latency_ms=lat, requests=requests, seconds=seconds, errors=errors,
        bytes_per_response=summary["bytes"] / requests if requests else 0.0, cpu=cpu,
        cpu_ms_per_request=per_request,
    )
    if target.counters is not None and counters_before is not None:
        counters_after = target.counters()
        result.cache = {name.removeprefix("loanmetrics_cache_").removesuffix("_total"):
                        value - counters_before.get(name, 0.0) for name, value in counters_after.items()}
    bad = sum(errors.values())
    print(f"  {scenario:<15} {target.name:<13} c={concurrency:<3} {result.rps:>9,.0f} req/s  "
          f"p50 {lat['p50']:7.2f}  p95 {lat['p95']:7.2f}  p99 {lat['p99']:7.2f} ms  "
          f"CPU/req: target {per_request['target']:.2f} ms, PG {per_request['postgres']:.2f} ms"
          f"{f'  ERRORS {errors}' if bad else ''}{f'  cache {result.cache}' if result.cache else ''}",
          file=sys.stderr, flush=True)
    return result


SETTLE_TIMEOUT_S = 120.0  # --settle-timeout


def settle(*, idle_percent: float = 20.0, timeout: float | None = None) -> float:
    """Wait until the machine is quiet (a server may still work through requests wrk abandoned at the
    end of a run): whole-machine CPU under ``idle_percent`` over half a second, for at most
    ``--settle-timeout`` seconds (on a machine others keep busy it is never quiet: every run then
    waits the whole timeout). Returns seconds waited."""
    timeout = SETTLE_TIMEOUT_S if timeout is None else timeout
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if psutil.cpu_percent(interval=0.5) < idle_percent:
            break
    return time.monotonic() - started


def warm_up(target: Target, seconds: float, threads: int) -> None:
    if seconds > 0:
        run_wrk(target.base_url, target.requests, concurrency=10, duration=seconds, threads=threads)
        settle()


# --- identity of rows, for the parity checks -----------------------------------------------------


def ours_officer_ids(payload: Any) -> list[Any]:
    return [(n["officerId"], n["metrics"]["riskScore"]) for n in _dig(payload, "data", "officers", "nodes")]


def floor_officer_ids(payload: Any) -> list[Any]:
    return [(n["officer_id"], n["risk_score"]) for n in _dig(payload, "data", "officers", "nodes")]


def postgraphile_officer_ids(payload: Any) -> list[Any]:
    return [(n["officerByOfficerId"]["officerId"], n["riskScore"])
            for n in _dig(payload, "data", "allOfficerMetricsDailies", "nodes")]


def rest_officer_ids(payload: Any) -> list[Any]:
    rows = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(rows, dict):  # {"data": {"officers": [...]}} or similar
        rows = next((value for value in rows.values() if isinstance(value, list)), None)
    if not isinstance(rows, list):
        raise BenchError(f"unexpected REST officer envelope: {str(payload)[:300]}")
    return [(row.get("officer_id"), row.get("risk_score")) for row in rows]


def ours_detail_ids(payload: Any) -> list[Any]:
    officer = _dig(payload, "data", "officer")
    return [officer["officerId"], officer["metrics"]["riskScore"],
            *(n["loanId"] for n in officer["loans"]["nodes"])]


def floor_detail_ids(payload: Any) -> list[Any]:
    officer = _dig(payload, "data", "officer")
    return [officer["officer_id"], officer["risk_score"], *(n["loan_id"] for n in officer["loans"])]


def ours_branch_ids(payload: Any) -> list[Any]:
    return [(b["branch"], b["riskScore"]) for b in _dig(payload, "data", "branches")]


def floor_branch_ids(payload: Any) -> list[Any]:
    return [(b["branch"], b["risk_score"]) for b in _dig(payload, "data", "branches")]


def ours_fimr_ids(payload: Any) -> list[Any]:
    page = _dig(payload, "data", "fimrDrilldown")
    return [page["totalCount"], *(n["loanId"] for n in page["nodes"])]


def floor_fimr_ids(payload: Any) -> list[Any]:
    page = _dig(payload, "data", "fimrDrilldown")
    return [page["totalCount"], *(n["loan_id"] for n in page["nodes"])]


# --- data ----------------------------------------------------------------------------------------


async def _book_facts(url: str, day: date) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        facts: dict[str, Any] = {}
        for table in ("officers", "loans", "audit_tracking"):
            facts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")
        facts["fimr_tagged_loans"] = await conn.fetchval("SELECT count(*) FROM loans WHERE fimr_tagged")
        facts["latest_calculated_date"] = await conn.fetchval("SELECT max(calculation_date) FROM officer_metrics_daily")
        facts["calculated_dates"] = await conn.fetchval(
            "SELECT count(DISTINCT calculation_date) FROM officer_metrics_daily")
        facts["officer_rows_on_business_date"] = await conn.fetchval(
            "SELECT count(*) FROM officer_metrics_daily WHERE calculation_date = $1", day)
        facts["branch_rows_on_business_date"] = await conn.fetchval(
            "SELECT count(*) FROM branch_metrics_daily WHERE calculation_date = $1", day)
        facts["database_size_mib"] = round(await conn.fetchval("SELECT pg_database_size(current_database())")
                                           / (1024 * 1024))
        return facts
    finally:
        await conn.close()


async def _officer_sample(url: str, count: int) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        ids = [row["officer_id"] for row in await conn.fetch("SELECT officer_id FROM officers ORDER BY officer_id")]
    finally:
        await conn.close()
    step = max(1, len(ids) // count)
    return ids[::step][:count]


def prepare_data(args: argparse.Namespace, databases: Databases) -> tuple[str, dict[str, Any]]:
    """The database to read and what was done to it (seeded, recalculated, reused as is)."""
    info: dict[str, Any] = {"reused": args.database_url is not None, "seed_s": None, "recalc_s": None}
    if args.database_url:
        url = args.database_url
    else:
        url = databases.create("lmbench_api")
        env = server_env(url)
        command = ["seed", "--officers", str(args.officers), "--loans", str(args.loans), "--days", str(args.days),
                   "--seed", str(args.seed)]
        print(f"seeding {database_name(url)}: loanmetrics {' '.join(command)} (a few minutes) ...",
              file=sys.stderr, flush=True)
        with stopwatch() as elapsed:
            run_cli(command, env, timeout=args.seed_timeout)
        info["seed_s"] = round(elapsed[0], 1)
        info["seed_command"] = "loanmetrics " + " ".join(command)
        start = BENCH_TODAY - timedelta(days=30)
        recalc = ["recalc", "--from", start.isoformat(), "--as-of", BENCH_TODAY.isoformat()]
        print(f"loanmetrics {' '.join(recalc)} ...", file=sys.stderr, flush=True)
        with stopwatch() as elapsed:
            run_cli(recalc, env, timeout=args.seed_timeout)
        info["recalc_s"] = round(elapsed[0], 1)
        info["recalc_command"] = "loanmetrics " + " ".join(recalc)
    facts = asyncio.run(_book_facts(url, BENCH_TODAY))
    if not facts["loans"]:
        raise BenchError(f"{database_name(url)} holds no loans: seed it first (loanmetrics seed)")
    if not facts["officer_rows_on_business_date"] or not facts["branch_rows_on_business_date"]:
        recalc = ["recalc", "--as-of", BENCH_TODAY.isoformat()]
        print(f"{database_name(url)} has no daily rows for {BENCH_TODAY}: loanmetrics {' '.join(recalc)} ...",
              file=sys.stderr, flush=True)
        with stopwatch() as elapsed:
            run_cli(recalc, server_env(url), timeout=args.seed_timeout)
        info["recalc_s"] = round(elapsed[0], 1)
        info["recalc_command"] = "loanmetrics " + " ".join(recalc)
        facts = asyncio.run(_book_facts(url, BENCH_TODAY))
    info["book"] = facts
    return url, info


# --- the profile ---------------------------------------------------------------------------------

# (category, substrings of a frame's file, matched with a leading "/"): a sample's self time goes to
# the innermost frame that matches one (stdlib helpers such as enum or dataclasses count for their caller)
PROFILE_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("graphql-core validation", ("/graphql/validation/",)),
    ("graphql-core parse", ("/graphql/language/",)),
    ("graphql-core execution", ("/graphql/execution/", "/graphql/pyutils/", "/graphql/type/",
                                "/graphql/utilities/")),
    ("compiled completion (graph/fast_execution.py)", ("/graph/fast_execution.py",)),
    ("strawberry", ("/strawberry/",)),
    ("metric snapshots (resolvers/metric_rows.py)", ("/resolvers/metric_rows.py",)),
    ("dataloaders (resolvers/loaders.py, aiodataloader)", ("/resolvers/loaders.py", "/aiodataloader")),
    ("other resolvers (resolvers/)", ("/resolvers/",)),
    ("GraphQL types (graph/types/)", ("/graph/types/",)),
    ("asyncpg", ("/asyncpg/",)),
    ("SQLAlchemy pool and adapter", ("/sqlalchemy/",)),
    ("uvicorn + h11 (HTTP)", ("/uvicorn/", "/h11/")),
    ("starlette", ("/starlette/",)),
    ("JWT + auth", ("/jwt/", "/graph/auth.py", "/cryptography/")),
    ("response cache + Redis client", ("/graph/cache", "/graph/generation.py", "/graph/lru.py", "/redis/")),
    ("telemetry (prometheus)", ("/prometheus_client/", "/graph/telemetry.py")),
    ("other app code (graph/, loanmetrics/, db/)", ("/graph/", "/loanmetrics/", "/db/")),
    ("asyncio event loop + sockets", ("/asyncio/", "/selectors.py", "/socket.py")),
)

# inclusive markers: the share of samples with a frame whose "function (file" contains the text
PROFILE_MARKERS: tuple[tuple[str, str], ...] = (
    ("Strawberry Schema.execute (parse + validate + execute)", "Schema.execute (strawberry/"),
    ("graphql-core parse", "graphql/language/parser.py"),
    ("graphql-core validation", "graphql/validation/validate.py"),
    ("graphql-core execution", "graphql/execution/"),
    ("compiled completion (graph/fast_execution.py)", "graph/fast_execution.py"),
    ("resolvers/ (SQL building, row → objects)", "resolvers/"),
    ("snapshot_from_row", "snapshot_from_row (resolvers/metric_rows.py"),
    ("graph/types/ field methods", "graph/types/"),
    ("asyncpg", "asyncpg/"),
    ("SQLAlchemy", "sqlalchemy/"),
    ("h11 (HTTP parsing/writing)", "h11/"),
    ("auth (graph/auth.py)", "graph/auth.py"),
    ("response cache (graph/cache.py)", "graph/cache.py"),
    ("Redis client", "redis/"),
    ("telemetry (graph/telemetry.py)", "graph/telemetry.py"),
    ("asyncio socket I/O", "selector_events.py"),
)


def _frame_file(frame: str) -> str:
    start = frame.rfind("(")
    return frame[start + 1:] if start >= 0 else frame


def summarize_profile(raw: str) -> dict[str, Any]:
    """Categories (self time), inclusive markers and top functions from py-spy's raw (collapsed) output."""
    total = 0
    categories: Counter[str] = Counter()
    markers: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if "(" in frame and not frame.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        category = "other"
        for frame in reversed(frames):
            file = "/" + _frame_file(frame)
            found = next((name for name, needles in PROFILE_CATEGORIES if any(n in file for n in needles)), None)
            if found is not None:
                category = found
                break
        categories[category] += count
        for name, needle in PROFILE_MARKERS:
            if any(needle in frame for frame in frames):
                markers[name] += count
        leaf = frames[-1].split(":")[0] + ")" if ":" in frames[-1] else frames[-1]
        self_time[leaf] += count
        for function in {frame.split(":")[0] + ")" if ":" in frame else frame for frame in frames}:
            inclusive[function] += count

    def share(counter: Counter[str], n: int | None = None) -> list[list[Any]]:
        return [[name, round(100 * value / total, 1)] for name, value in counter.most_common(n)] if total else []

    return {
        "samples": total,
        "self_by_category_pct": share(categories),
        "inclusive_markers_pct": share(markers),
        "top_self_pct": share(self_time, 25),
        "top_inclusive_pct": share(inclusive, 40),
    }


def profile_server(target: Target, seconds: float, threads: int) -> dict[str, Any]:
    """py-spy record of the target's process (on-CPU samples) while wrk runs its requests at 10 clients."""
    py_spy = VENV_BIN / "py-spy"
    if not py_spy.exists():
        py_spy = Path(shutil.which("py-spy") or "")
    if not py_spy.is_file():
        return {"skipped": "py-spy not installed (pip install -e '.[dev]')"}
    with tempfile.TemporaryDirectory(prefix="lmbench-pyspy-") as tmp:
        out = Path(tmp) / "profile.txt"
        settle()
        # wrk runs for ``seconds`` inside the recording, which starts first and ends last (the
        # samples of the idle edges are off-CPU, so py-spy leaves them out by default)
        recorder = subprocess.Popen(
            [str(py_spy), "record", "--pid", str(target.pid), "--format", "raw", "--rate", "200",
             "--duration", f"{seconds + 2:g}", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        time.sleep(1.0)
        measured = measure(f"profile ({target.name})", target, TARGET_CLIENTS, seconds, threads, quiet_first=False)
        try:
            _, stderr = recorder.communicate(timeout=seconds + 60)
        except subprocess.TimeoutExpired:
            recorder.kill()
            _, stderr = recorder.communicate()
        if recorder.returncode != 0 or not out.exists():
            return {"skipped": f"py-spy failed ({recorder.returncode}): {tail(stderr.decode(errors='replace'), 5)}"}
        summary = summarize_profile(out.read_text(errors="replace"))
    summary["rate_hz"] = 200
    summary["seconds"] = seconds
    summary["rps_while_profiled"] = round(measured.rps, 1)
    summary["cpu_ms_per_request"] = measured.cpu_ms_per_request
    summary["note"] = ("py-spy pauses the process to sample (about 10-20% slower while recorded); shares "
                       "are of on-CPU samples of the server process, so share × server CPU ms/request "
                       "estimates each component's cost per request")
    settle()
    return summary


# --- the run -------------------------------------------------------------------------------------


def _cache_counters(base_url: str, token: str) -> dict[str, float]:
    counters: dict[str, float] = {}
    with contextlib.suppress(httpx.HTTPError):
        text = httpx.get(base_url + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
        for line in text.splitlines():
            if line.startswith("loanmetrics_cache_") and "_total" in line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    counters[name] = float(value)
    return counters


def check_ready(base_url: str, token: str, hint: str) -> None:
    ready = httpx.get(base_url + "/readyz", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if ready.status_code != 200:
        raise BenchError(f"{base_url}/readyz answered {ready.status_code}: {ready.text[:300]} {hint}")


@dataclass
class Runner:
    args: argparse.Namespace
    results: list[Measured] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    identities: dict[str, list[list[Any]]] = field(default_factory=dict)

    def parity(self, scenario: str, first: Target, others: Sequence[Target], *, like: str | None = None) -> None:
        """Validate every target of a scenario and compare their rows with the first target's; with
        ``like``, also compare the first target's rows with those recorded for that earlier scenario."""
        seen = validate(first)
        self.identities[scenario] = seen["identities"]
        check: dict[str, Any] = {first.name: {"bytes": seen["bytes"]}}
        pairs = [(other.name, validate(other)) for other in others]
        if like is not None:
            check[first.name]["same_rows_as_" + like] = self._compare(scenario, like, self.identities[like], seen)
        for name, theirs in pairs:
            check[name] = {"bytes": theirs["bytes"],
                           "same_rows_as_" + first.name: self._compare(scenario, first.name, seen["identities"],
                                                                        theirs, name)}
        self.checks[scenario] = check

    @staticmethod
    def _compare(scenario: str, reference_name: str, reference: list[list[Any]], theirs: dict[str, Any],
                 name: str = "") -> bool:
        same = bool(theirs["identities"] == reference[: len(theirs["identities"])])
        if not same:
            print(f"WARNING: {scenario}: {name or 'rows'} differ from {reference_name}'s:\n"
                  f"  {reference_name}: {str(reference[0])[:300]}\n"
                  f"  {name or scenario}: {str(theirs['identities'][0])[:300]}", file=sys.stderr)
        return same

    def scenario(self, name: str, targets: Sequence[Target]) -> None:
        """Warm every target up, then run each concurrency level on each target in turn."""
        args = self.args
        for target in targets:
            warm_up(target, args.warmup, args.wrk_threads)
        for concurrency in args.concurrency:
            for target in targets:
                self.results.append(measure(name, target, concurrency, args.duration, args.wrk_threads))


def run_cached(runner: Runner, url: str, serve_args: Sequence[str], cached_floor: Target,
               report: dict[str, Any]) -> None:
    """The officer list from the Redis cache (every request after the first is a hit), then its profile."""
    args = runner.args
    redis_env = server_env(url, extra={"REDIS_URL": args.redis_url})
    print(f"cached server ({args.redis_url}) ...", file=sys.stderr, flush=True)
    with Server(redis_env, extra_args=serve_args) as cached_server:
        cached_token = mint_token(redis_env, "viewer")
        check_ready(cached_server.base_url, cached_token, "(is Redis up?)")
        cached = Target("cached", cached_server.base_url, [graphql_request(OFFICER_LIST, cached_token)],
                        ours_officer_ids, cached_server.pid,
                        counters=lambda: _cache_counters(cached_server.base_url, cached_token))
        runner.parity("officer list (cached)", cached, [cached_floor], like="officer list")
        runner.scenario("officer list (cached)", [cached, cached_floor])
        if args.profile_seconds > 0:
            print("py-spy profile of the cached officer list at 10 clients ...", file=sys.stderr, flush=True)
            report["profile_cached"] = profile_server(cached, args.profile_seconds, args.wrk_threads)


def run(args: argparse.Namespace) -> dict[str, Any]:
    started_at = datetime.now(UTC)
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (Debian: apt-get install -y wrk)")
    report: dict[str, Any] = {
        "benchmark": "api",
        "scenario": "SPEC §12: officer list cached and uncached, detail, branches, drilldown; floors; PostGraphile",
        "command": command_line(),
        "started_at": started_at.isoformat(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "parameters": {key: (str(value) if isinstance(value, Path) else sorted(value) if isinstance(value, set)
                             else value)
                       for key, value in vars(args).items() if key != "admin_url"},
        "load_generator": {"tool": "wrk", "version": wrk_version(), "threads": args.wrk_threads,
                           "mode": "closed loop, keep-alive connections, Lua script rotating pre-formatted "
                                   "requests; latency percentiles from wrk's done() summary",
                           "timeout_s": WRK_TIMEOUT_S},
        "targets": {"cached_rps": TARGET_CACHED_RPS, "cached_p95_ms_at_10": TARGET_CACHED_P95_MS,
                    "uncached_p95_ms_at_10": TARGET_UNCACHED_P95_MS,
                    "uncached_rps": "PostGraphile's on the same page (ENGINEERING.md: about "
                                    f"{POSTGRAPHILE_REFERENCE_RPS} req/s)"},
    }
    global SETTLE_TIMEOUT_S
    SETTLE_TIMEOUT_S = args.settle_timeout
    runner = Runner(args)
    with Databases(args.admin_url, keep=args.keep) as databases:
        url, data = prepare_data(args, databases)
        report["data"] = data
        day = data["book"]["latest_calculated_date"]
        officer_sample = asyncio.run(_officer_sample(url, 50))
        serve_args = ("--no-scheduler", "--no-migrate") if args.database_url else ("--no-scheduler",)

        # 1. uncached: our server and the floor, scenario by scenario
        env = server_env(url, extra={"LOANMETRICS_CACHE_ENABLED": "false"})
        print("uncached server + floor ...", file=sys.stderr, flush=True)
        with Server(env, extra_args=serve_args) as server, floor_service(url) as floor:
            token = mint_token(env, "viewer")
            check_ready(server.base_url, token, "(an older schema? run loanmetrics migrate on the database)")
            ours = {
                "officer list": Target("ours", server.base_url, [graphql_request(OFFICER_LIST, token)],
                                       ours_officer_ids, server.pid),
                "officer detail": Target("ours", server.base_url,
                                         [graphql_request(OFFICER_DETAIL, token, {"officerId": officer})
                                          for officer in officer_sample], ours_detail_ids, server.pid),
                "branches": Target("ours", server.base_url, [graphql_request(BRANCHES, token)], ours_branch_ids,
                                   server.pid),
                "fimr drilldown": Target("ours", server.base_url, [graphql_request(FIMR_DRILLDOWN, token)],
                                         ours_fimr_ids, server.pid),
            }
            floors = {
                "officer list": Target("floor", floor.base_url, [HttpRequest("GET", "/officers")],
                                       floor_officer_ids, floor.pid),
                "officer detail": Target("floor", floor.base_url,
                                         [HttpRequest("GET", f"/officers/{officer}") for officer in officer_sample],
                                         floor_detail_ids, floor.pid),
                "branches": Target("floor", floor.base_url, [HttpRequest("GET", "/branches")], floor_branch_ids,
                                   floor.pid),
                "fimr drilldown": Target("floor", floor.base_url, [HttpRequest("GET", "/fimr-drilldown")],
                                         floor_fimr_ids, floor.pid),
            }
            for name in ours:
                runner.parity(name, ours[name], [floors[name]])
            if "uncached" in args.only:
                for name in ours:
                    runner.scenario(name, [ours[name], floors[name]])

            # REST, when the route exists
            probe = httpx.get(server.base_url + REST_OFFICERS_PATH, headers={"Authorization": f"Bearer {token}"},
                              timeout=30)
            if "rest" not in args.only:
                pass
            elif probe.status_code == 200:
                rest = Target("rest", server.base_url,
                              [HttpRequest("GET", REST_OFFICERS_PATH, {"Authorization": f"Bearer {token}"})],
                              rest_officer_ids, server.pid)
                # the GraphQL request the shim makes for that page, on the same server, run right
                # after each REST run: what the shim itself costs (SPEC §12: REST >= 0.9x its GraphQL route)
                wrapped = Target("wrapped", server.base_url, [rest_wrapped_request(token)], ours_officer_ids,
                                 server.pid)
                runner.parity("officer list (REST)", rest, [wrapped], like="officer list")
                runner.scenario("officer list (REST)", [rest, wrapped])
            else:
                runner.skipped["officer list (REST)"] = f"GET {REST_OFFICERS_PATH} answered {probe.status_code}"
                print(f"REST officer route not available ({probe.status_code}): skipped", file=sys.stderr)

            if args.profile_seconds > 0 and "uncached" in args.only:
                print("py-spy profile of the officer list at 10 clients ...", file=sys.stderr, flush=True)
                report["profile"] = profile_server(ours["officer list"], args.profile_seconds, args.wrk_threads)
            cached_floor = Target("cached floor", floor.base_url, [HttpRequest("GET", "/officers/cached")],
                                  floor_officer_ids, floor.pid)

            # 2. cached (Redis): our server; the cache-hit floor is the floor's pre-encoded page
            if "cached" in args.only:
                run_cached(runner, url, serve_args, cached_floor, report)

        # 3. PostGraphile
        if args.no_postgraphile or "postgraphile" not in args.only:
            runner.skipped["postgraphile"] = "--no-postgraphile" if args.no_postgraphile else "--only"
        else:
            cli, note = ensure_postgraphile(args.postgraphile_dir)
            if cli is None:
                runner.skipped["postgraphile"] = note
                print(f"PostGraphile skipped: {note}", file=sys.stderr)
            else:
                report["postgraphile"] = {"version": note, "directory": str(args.postgraphile_dir),
                                          "document": POSTGRAPHILE_OFFICER_LIST, "date": day,
                                          "tags": POSTGRAPHILE_TAGS}
                print(f"PostGraphile {note} ...", file=sys.stderr, flush=True)
                with postgraphile_service(cli, args.postgraphile_dir, url) as pgl:
                    postgraphile = Target(
                        "postgraphile", pgl.base_url,
                        [HttpRequest("POST", "/graphql", {"Content-Type": "application/json"},
                                     orjson.dumps({"query": POSTGRAPHILE_OFFICER_LIST,
                                                   "variables": {"day": day.isoformat()}}))],
                        postgraphile_officer_ids, pgl.pid,
                    )
                    runner.parity("officer list (PostGraphile)", postgraphile, [], like="officer list")
                    runner.scenario("officer list (PostGraphile)", [postgraphile])
        report["machine"] = machine_facts(url)
        report["machine"]["packages"] = {
            name: _version(name) for name in ("strawberry-graphql", "graphql-core", "starlette", "uvicorn", "h11",
                                              "uvloop", "httptools", "asyncpg", "sqlalchemy", "orjson", "redis")
        }
        report["machine"]["node"] = _node_version()

    report["runs"] = [vars(result) for result in runner.results]
    report["checks"] = runner.checks
    report["skipped"] = runner.skipped
    report["summary"] = summarize(runner.results)
    report["finished_at"] = datetime.now(UTC).isoformat()
    return report


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _node_version() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False)
    return done.stdout.strip() or None


# --- figures and the report ----------------------------------------------------------------------


def _find(results: Sequence[Measured], scenario: str, target: str, concurrency: int) -> Measured | None:
    return next((r for r in results if r.scenario == scenario and r.target == target
                 and r.concurrency == concurrency), None)


FLOOR_OF = {
    "officer list": ("officer list", "floor"),
    "officer detail": ("officer detail", "floor"),
    "branches": ("branches", "floor"),
    "fimr drilldown": ("fimr drilldown", "floor"),
    "officer list (REST)": ("officer list", "floor"),
    "officer list (cached)": ("officer list (cached)", "cached floor"),
    "officer list (PostGraphile)": ("officer list", "floor"),
}
MAIN_TARGET = {"officer list (REST)": "rest", "officer list (cached)": "cached",
               "officer list (PostGraphile)": "postgraphile"}


def summarize(results: Sequence[Measured]) -> dict[str, Any]:
    """Per scenario: each level against its floor, saturation throughput, and ratios to PostGraphile."""
    out: dict[str, Any] = {}
    scenarios = list(dict.fromkeys(r.scenario for r in results if not r.scenario.startswith("profile")))
    for scenario in scenarios:
        target = MAIN_TARGET.get(scenario, "ours")
        floor_scenario, floor_target = FLOOR_OF[scenario]
        levels = []
        for r in (r for r in results if r.scenario == scenario and r.target == target):
            floor = _find(results, floor_scenario, floor_target, r.concurrency)
            entry: dict[str, Any] = {
                "concurrency": r.concurrency, "rps": round(r.rps, 1),
                "p50_ms": round(r.latency_ms["p50"], 2), "p95_ms": round(r.latency_ms["p95"], 2),
                "p99_ms": round(r.latency_ms["p99"], 2), "errors": sum(r.errors.values()),
                "cpu_ms_per_request": {k: round(v, 3) for k, v in r.cpu_ms_per_request.items()},
            }
            if r.cache is not None:
                entry["cache"] = r.cache
            wrapped = _find(results, scenario, "wrapped", r.concurrency)
            if wrapped is not None and wrapped.rps:
                entry["wrapped_graphql"] = {
                    "rps": round(wrapped.rps, 1), "p95_ms": round(wrapped.latency_ms["p95"], 2),
                    "cpu_ms_per_request": {k: round(v, 3) for k, v in wrapped.cpu_ms_per_request.items()}}
                entry["rest_over_wrapped_graphql_rps"] = round(r.rps / wrapped.rps, 2)
            if floor is not None:
                entry["floor"] = {"rps": round(floor.rps, 1), "p50_ms": round(floor.latency_ms["p50"], 2),
                                  "p95_ms": round(floor.latency_ms["p95"], 2),
                                  "p99_ms": round(floor.latency_ms["p99"], 2),
                                  "cpu_ms_per_request": {k: round(v, 3) for k, v in floor.cpu_ms_per_request.items()}}
                entry["floor_rps_over_ours"] = round(floor.rps / r.rps, 2) if r.rps else None
                entry["p50_over_floor"] = round(r.latency_ms["p50"] / floor.latency_ms["p50"], 2)
                entry["p95_over_floor"] = round(r.latency_ms["p95"] / floor.latency_ms["p95"], 2)
            levels.append(entry)
        saturation = max((level["rps"] for level in levels), default=0.0)
        floor_saturation = max((r.rps for r in results if r.scenario == floor_scenario and r.target == floor_target),
                               default=0.0)
        out[scenario] = {
            "target": target, "levels": levels, "saturation_rps": saturation,
            "floor_saturation_rps": round(floor_saturation, 1),
            "floor_over_ours_saturation": round(floor_saturation / saturation, 2) if saturation else None,
        }
    postgraphile = out.get("officer list (PostGraphile)")
    if postgraphile:
        for scenario in ("officer list", "officer list (REST)", "officer list (cached)"):
            if scenario in out and postgraphile["saturation_rps"]:
                out[scenario]["ours_over_postgraphile_saturation"] = round(
                    out[scenario]["saturation_rps"] / postgraphile["saturation_rps"], 2)
        for scenario in ("officer list", "officer list (REST)"):
            if scenario not in out:
                continue
            for level in out[scenario]["levels"]:
                theirs = _find(results, "officer list (PostGraphile)", "postgraphile", level["concurrency"])
                if theirs is not None:
                    level["postgraphile"] = {"rps": round(theirs.rps, 1), "p95_ms": round(theirs.latency_ms["p95"], 2)}
                    level["ours_over_postgraphile_rps"] = round(level["rps"] / theirs.rps, 2) if theirs.rps else None
    return out


def _fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    facts, book, summary = report["machine"], report["data"]["book"], report["summary"]
    lines = [
        f"### API benchmark — {report['started_at'][:16]}Z",
        "",
        f"`{report['command']}`",
        "",
        f"Machine: {facts['cpu_logical']} cores ({facts['cpu_model']}), {facts['memory_total_mib']:,} MiB, "
        f"PostgreSQL {facts['postgresql']['server_version']}, Python {facts['python']}, "
        f"strawberry {facts['packages']['strawberry-graphql']}, graphql-core {facts['packages']['graphql-core']}, "
        f"uvicorn {facts['packages']['uvicorn']} (uvloop: {facts['packages']['uvloop'] or 'no'}, "
        f"httptools: {facts['packages']['httptools'] or 'no'}); code {facts['git_commit']}"
        f"{' + uncommitted changes' if facts['git_dirty_files'] else ''}; load average at start "
        f"{' / '.join(str(x) for x in report['load_average_start'])}.",
        "",
        f"Book: {book['officers']:,} officers, {book['loans']:,} loans, latest calculated date "
        f"{book['latest_calculated_date']} ({book['calculated_dates']} dated), {book['fimr_tagged_loans']:,} "
        f"FIMR-tagged loans. Load: {report['load_generator']['version']}, {report['load_generator']['threads']} "
        f"thread(s), {report['parameters']['duration']:g} s per run after a {report['parameters']['warmup']:g} s "
        "warm-up; one server process each (uncached = LOANMETRICS_CACHE_ENABLED=false, no Redis).",
        "",
        "| scenario | clients | req/s | p50 ms | p95 ms | p99 ms | floor req/s | floor p50 | floor p95 "
        "| floor ÷ ours req/s | p95 ÷ floor p95 | CPU ms/req (server + PG) | floor CPU ms/req |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, data in summary.items():
        for level in data["levels"]:
            floor = level.get("floor") or {}
            cpu, fcpu = level["cpu_ms_per_request"], floor.get("cpu_ms_per_request") or {}
            errors = f" ({level['errors']} errors)" if level["errors"] else ""
            lines.append(
                f"| {scenario} | {level['concurrency']} | {_fmt(level['rps'], 0)}{errors} | {_fmt(level['p50_ms'], 2)} "
                f"| {_fmt(level['p95_ms'], 2)} | {_fmt(level['p99_ms'], 2)} | {_fmt(floor.get('rps'), 0)} "
                f"| {_fmt(floor.get('p50_ms'), 2)} | {_fmt(floor.get('p95_ms'), 2)} "
                f"| {_fmt(level.get('floor_rps_over_ours'), 2)}× | {_fmt(level.get('p95_over_floor'), 2)}× "
                f"| {_fmt(cpu['target'], 2)} + {_fmt(cpu['postgres'], 2)} "
                f"| {_fmt(fcpu.get('target'), 2)} + {_fmt(fcpu.get('postgres'), 2)} |"
            )
    lines += [
        "",
        "| scenario | saturation req/s (max over levels) | floor | floor ÷ ours | ours ÷ PostGraphile |",
        "|---|---|---|---|---|",
    ]
    for scenario, data in summary.items():
        versus = data.get("ours_over_postgraphile_saturation")
        lines.append(
            f"| {scenario} | {_fmt(data['saturation_rps'], 0)} | {_fmt(data['floor_saturation_rps'], 0)} "
            f"| {_fmt(data['floor_over_ours_saturation'], 2)}× | {_fmt(versus, 2)}{'×' if versus else ''} |"
        )
    cached = summary.get("officer list (cached)")
    if cached:
        lines += ["", "Cache counters of the cached server per run: " + "; ".join(
            f"{level['concurrency']} clients: {level['cache'].get('hits', 0):,.0f} hits, "
            f"{level['cache'].get('misses', 0):,.0f} misses, {level['cache'].get('errors', 0):,.0f} errors"
            for level in cached["levels"] if level.get("cache") is not None) + "."]
    rest = summary.get("officer list (REST)")
    if rest and any("wrapped_graphql" in level for level in rest["levels"]):
        lines += ["", "REST route against the GraphQL request it wraps (same server, run right after): " + "; ".join(
            f"{level['concurrency']} clients: {level['rps']:,.0f} against {level['wrapped_graphql']['rps']:,.0f} "
            f"req/s = {level['rest_over_wrapped_graphql_rps']:.2f}×"
            for level in rest["levels"] if "wrapped_graphql" in level) + "."]
    lines += ["", *target_lines(summary)]
    if report.get("skipped"):
        lines += ["", "Skipped: " + "; ".join(f"{k}: {v}" for k, v in report["skipped"].items())]
    for key, title in (("profile", "uncached"), ("profile_cached", "cached (Redis)")):
        profile = report.get(key)
        if not profile or "skipped" in profile or not profile["samples"]:
            continue
        per_request = profile["cpu_ms_per_request"]["target"]
        lines += ["", f"py-spy profile of the {title} server, officer list at {TARGET_CLIENTS} clients "
                      f"({profile['samples']:,} on-CPU samples at {profile['rate_hz']} Hz; "
                      f"{profile['rps_while_profiled']:,.0f} req/s and {per_request:.2f} ms of server CPU "
                      "per request while sampled):", "",
                  "| self time by component | % | ≈ ms/request |", "|---|---|---|"]
        lines += [f"| {name} | {pct} | {pct * per_request / 100:.2f} |"
                  for name, pct in profile["self_by_category_pct"]]
        lines += ["", "| inclusive | % | ≈ ms/request |", "|---|---|---|"]
        lines += [f"| {name} | {pct} | {pct * per_request / 100:.2f} |"
                  for name, pct in profile["inclusive_markers_pct"]]
        lines += ["", "| top self functions | % |", "|---|---|"]
        lines += [f"| `{name}` | {pct} |" for name, pct in profile["top_self_pct"][:12]]
    return "\n".join(lines)


def target_lines(summary: Mapping[str, Any]) -> list[str]:
    out = []

    def level(scenario: str, clients: int) -> dict[str, Any] | None:
        data = summary.get(scenario)
        return next((lv for lv in data["levels"] if lv["concurrency"] == clients), None) if data else None

    uncached, cached = level("officer list", TARGET_CLIENTS), level("officer list (cached)", TARGET_CLIENTS)
    if uncached is not None:
        ok = "met" if uncached["p95_ms"] < TARGET_UNCACHED_P95_MS else "missed"
        out.append(f"- Target, uncached officer list p95 < {TARGET_UNCACHED_P95_MS:g} ms at {TARGET_CLIENTS} "
                   f"clients: {uncached['p95_ms']:.1f} ms ({ok}).")
        pgl = summary.get("officer list (PostGraphile)")
        if pgl:
            ours = summary["officer list"]["saturation_rps"]
            ok = "met" if ours >= pgl["saturation_rps"] else "missed"
            out.append(f"- Target, uncached throughput ≥ PostGraphile's: {ours:,.0f} against "
                       f"{pgl['saturation_rps']:,.0f} req/s ({ok}).")
    if cached is not None:
        sat = summary["officer list (cached)"]["saturation_rps"]
        ok_rps = "met" if sat >= TARGET_CACHED_RPS else "missed"
        ok_p95 = "met" if cached["p95_ms"] < TARGET_CACHED_P95_MS else "missed"
        out.append(f"- Target, cached officer list ≥ {TARGET_CACHED_RPS:,} req/s: {sat:,.0f} ({ok_rps}); "
                   f"p95 < {TARGET_CACHED_P95_MS:g} ms at {TARGET_CLIENTS} clients: {cached['p95_ms']:.2f} ms "
                   f"({ok_p95}).")
    return out


# --- main ----------------------------------------------------------------------------------------


GROUPS = ("uncached", "rest", "cached", "postgraphile")


def _groups(text: str) -> set[str]:
    groups = {part.strip() for part in text.split(",") if part.strip()}
    unknown = groups - set(GROUPS)
    if unknown or not groups:
        raise argparse.ArgumentTypeError(f"groups are {', '.join(GROUPS)}; got {text!r}")
    return groups


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from exc
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError("concurrency levels must be positive")
    return levels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="an already seeded book to read (not modified, except a recalculation of the "
                             "business date when it has no daily rows)")
    parser.add_argument("--loans", type=int, default=100_000, help="loans of a seeded book")
    parser.add_argument("--officers", type=int, default=200, help="officers of a seeded book")
    parser.add_argument("--days", type=int, default=120, help="history of a seeded book in days")
    parser.add_argument("--seed", type=int, default=1, help="random seed of a seeded book")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up per target and scenario")
    parser.add_argument("--concurrency", type=_levels, default=[1, 10, 50], help="client levels (default 1,10,50)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (at most the connections)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis of the cached server (%(default)s)")
    parser.add_argument("--no-postgraphile", action="store_true", help="skip the PostGraphile comparison")
    parser.add_argument("--only", type=_groups, default=set(GROUPS),
                        help=f"comma-separated groups to run (default all: {','.join(GROUPS)})")
    parser.add_argument("--postgraphile-dir", type=Path, default=DEFAULT_POSTGRAPHILE_DIR,
                        help="where postgraphile@4 is (or gets) npm-installed, outside the repository "
                             "(default %(default)s)")
    parser.add_argument("--settle-timeout", type=float, default=SETTLE_TIMEOUT_S,
                        help="seconds to wait at most for a quiet machine before each run (default %(default)s)")
    parser.add_argument("--profile-seconds", type=float, default=10.0,
                        help="py-spy profile of the uncached officer list at 10 clients (0: none)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL,
                        help="any database of the cluster, for CREATE/DROP DATABASE (default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep a database this run seeded")
    parser.add_argument("--seed-timeout", type=float, default=3600, help="seconds allowed for seeding")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.wrk_threads < 1:
        parser.error("--duration and --wrk-threads must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        report = run(args)
    except BenchError as exc:
        print(f"\nBENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    path = write_results("api", report, when=datetime.fromisoformat(report["started_at"]))
    print(f"\nresults: {path}\n", file=sys.stderr)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
