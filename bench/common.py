"""Helpers shared by the benchmarks: databases, a real server subprocess, tokens, RSS sampling, results.

Everything here drives the product from the outside, as an operator would: the ``loanmetrics``
command line in subprocesses, HTTP against ``loanmetrics serve``, and plain asyncpg for database
administration. Nothing imports the server's internals, so a benchmark measures what ships.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = REPO_ROOT / ".venv" / "bin" if (REPO_ROOT / ".venv" / "bin").is_dir() else Path(sys.executable).parent
LOANMETRICS = VENV_BIN / "loanmetrics"
RESULTS_DIR = REPO_ROOT / "bench" / "results"

DEFAULT_ADMIN_URL = os.environ.get("BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""Where databases are created and dropped (any database of the cluster, as a superuser)."""

BENCH_TODAY = date(2026, 9, 18)
"""The business date every benchmark runs at (LOANMETRICS_TODAY), so runs are comparable."""

MIB = 1024 * 1024

# Settings the benchmark controls itself: never inherit them from the caller's shell.
_STRIPPED_ENV_PREFIXES = ("LOANMETRICS_", "DATABASE_", "REDIS_URL")


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and why."""


# --- databases -------------------------------------------------------------------------------


def unique_name(prefix: str) -> str:
    """A fresh database name such as ``lmbench_ingest_3fa9c2d1``."""
    return f"{prefix}_{secrets.token_hex(4)}"


def database_url(url: str, name: str) -> str:
    """``url`` pointing at database ``name`` (same host, port, user and query)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def create_database(admin_url: str, name: str, *, template: str | None = None) -> None:
    """CREATE DATABASE, optionally as a file-level copy of ``template`` (which must have no connections)."""
    conn = await asyncpg.connect(admin_url)
    try:
        sql = f"CREATE DATABASE {quote_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {quote_ident(template)}"
        await conn.execute(sql)
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    """DROP DATABASE IF EXISTS ... WITH (FORCE): also ends leftover sessions (PostgreSQL 13+)."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
    finally:
        await conn.close()


async def execute(url: str, *statements: str) -> None:
    """Run statements one by one on a fresh connection, outside any transaction (VACUUM, CHECKPOINT)."""
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


class Databases:
    """Databases a benchmark created, dropped on exit unless kept (``--keep``)."""

    def __init__(self, admin_url: str, *, keep: bool = False) -> None:
        self.admin_url = admin_url
        self.keep = keep
        self.created: list[str] = []

    def create(self, prefix: str, *, template: str | None = None) -> str:
        """Create a uniquely named database and return its URL."""
        name = unique_name(prefix)
        asyncio.run(create_database(self.admin_url, name, template=template))
        self.created.append(name)
        return database_url(self.admin_url, name)

    def close(self) -> None:
        for name in reversed(self.created):
            if self.keep:
                print(f"kept database {database_url(self.admin_url, name)}", file=sys.stderr)
                continue
            try:
                asyncio.run(drop_database(self.admin_url, name))
            except (OSError, asyncpg.PostgresError) as exc:
                print(f"warning: could not drop database {name}: {exc}", file=sys.stderr)
        self.created.clear()

    def __enter__(self) -> Databases:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- the command line and the server ---------------------------------------------------------


def server_env(
    database: str,
    *,
    jwt_secret: str | None = None,
    today: date = BENCH_TODAY,
    log_level: str = "WARNING",
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for ``loanmetrics`` subprocesses: the caller's, minus any loanmetrics settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_STRIPPED_ENV_PREFIXES)}
    env.update(
        DATABASE_URL=database,
        LOANMETRICS_TODAY=today.isoformat(),
        LOANMETRICS_JWT_SECRET=jwt_secret or secrets.token_urlsafe(32),
        LOANMETRICS_LOG_LEVEL=log_level,
    )
    env.update(extra or {})
    return env


def run_cli(args: Sequence[str], env: Mapping[str, str], *, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``loanmetrics ARGS``; BenchError with the output's tail when it fails or times out."""
    command = [str(LOANMETRICS), *args]
    try:
        done = subprocess.run(
            command, env=dict(env), cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"`loanmetrics {' '.join(args)}` did not finish within {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise BenchError(
            f"`loanmetrics {' '.join(args)}` exited with {done.returncode}:\n{tail(done.stderr or done.stdout)}"
        )
    return done


def mint_token(env: Mapping[str, str], role: str, *, ttl: str = "1d", extra_args: Sequence[str] = ()) -> str:
    """A bearer token from ``loanmetrics token create`` (signed with the env's LOANMETRICS_JWT_SECRET)."""
    done = run_cli(["token", "create", "--role", role, "--ttl", ttl, *extra_args], env, timeout=60)
    token = done.stdout.strip()
    if not token:
        raise BenchError("`loanmetrics token create` printed no token")
    return token


def tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """``loanmetrics serve`` as a subprocess in its own session, logging to a temporary file.

    Use as a context manager: it is up (``/healthz`` answers) inside the block and stopped after.
    The log file is removed on a clean stop and kept (its path printed) when something failed.
    """

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        port: int | None = None,
        workers: int = 1,
        extra_args: Sequence[str] = ("--no-scheduler",),
        start_timeout: float = 120.0,
    ) -> None:
        self.env = dict(env)
        self.port = port or free_port()
        self.workers = workers
        self.extra_args = tuple(extra_args)
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
            raise BenchError("the server is not running")
        return self.process.pid

    def start(self) -> None:
        fd, log_name = tempfile.mkstemp(prefix="lmbench-server-", suffix=".log")
        self.log_path = Path(log_name)
        command = [
            str(LOANMETRICS), "serve", "--port", str(self.port), "--workers", str(self.workers), *self.extra_args,
        ]
        with os.fdopen(fd, "wb") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + self.start_timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                code = self.process.poll()
                if code is not None:
                    self.failed = True
                    raise BenchError(f"the server exited with {code} while starting:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.base_url + "/healthz").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.failed = True
                    self.stop()
                    raise BenchError(f"the server did not answer /healthz within {self.start_timeout:.0f} s")
                time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> None:
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own session: only its processes
                process.wait(timeout=10)
        self.process = None
        if self.log_path is not None:
            if self.failed:
                print(f"server log kept at {self.log_path}", file=sys.stderr)
            else:
                self.log_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return tail(self.log_path.read_text(errors="replace"), lines)

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.failed = True
        self.stop()


# --- memory ----------------------------------------------------------------------------------


class PeakRSS:
    """Samples the RSS of a process and its descendants every ``interval`` seconds in a thread.

    The descendant list is refreshed once a second (walking /proc is the expensive part); RSS is
    summed over the tree, so shared pages of forked workers count once per process (an upper bound).
    """

    def __init__(self, pid: int, *, interval: float = 0.05, children_every: float = 1.0) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.children_every = children_every
        self.peak_bytes = 0
        self.last_bytes = 0
        self.samples = 0
        self._tree: list[psutil.Process] = [self.root]
        self._tree_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def sample(self) -> int:
        now = time.monotonic()
        if now - self._tree_at >= self.children_every:
            with contextlib.suppress(psutil.Error):
                self._tree = [self.root, *self.root.children(recursive=True)]
            self._tree_at = now
        total = 0
        for proc in self._tree:
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        with self._lock:
            self.last_bytes = total
            self.peak_bytes = max(self.peak_bytes, total)
            self.samples += 1
        return total

    def reset_peak(self) -> int:
        """Start a new peak from the current RSS (which it returns)."""
        current = self.sample()
        with self._lock:
            self.peak_bytes = current
        return current

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> PeakRSS:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(psutil.Error):
            self.sample()


# --- CPU accounting --------------------------------------------------------------------------


class CpuSnapshot:
    """CPU seconds (user + system) of every process and of the whole machine, at one instant.

    The difference of two snapshots says where a benchmark's CPU went: the server, its PostgreSQL
    backends, the rest of PostgreSQL (checkpointer, WAL writer, autovacuum, other databases) and
    everything else on the machine (interference from other work).
    """

    def __init__(self) -> None:
        self.at = time.perf_counter()
        machine = psutil.cpu_times()
        self.machine_busy = machine.user + machine.system + sum(
            getattr(machine, name, 0.0) for name in ("nice", "irq", "softirq")
        )
        # time the hypervisor gave to other guests, and time spent waiting for I/O
        self.machine_steal = getattr(machine, "steal", 0.0)
        self.machine_iowait = getattr(machine, "iowait", 0.0)
        # pid -> (name, start time, CPU seconds); the start time tells a reused pid from the same process
        self.processes: dict[int, tuple[str, float, float]] = {}
        self.kernel: set[int] = set()
        for proc in psutil.process_iter(["name", "ppid", "create_time", "cpu_times"]):
            times = proc.info.get("cpu_times")
            if times is not None:
                self.processes[proc.pid] = (
                    proc.info.get("name") or "", proc.info.get("create_time") or 0.0, times.user + times.system
                )
            if proc.pid == 2 or proc.info.get("ppid") == 2:  # kthreadd and its kernel threads
                self.kernel.add(proc.pid)


def cpu_breakdown(
    before: CpuSnapshot, after: CpuSnapshot, groups: Mapping[str, Iterable[int]]
) -> dict[str, Any]:
    """CPU seconds between two snapshots per named group of pids, plus ``other_postgres``,
    ``kernel_threads``, ``other_processes``, ``machine_busy``, ``machine_steal`` (taken by the hypervisor),
    ``machine_iowait`` and ``machine_capacity`` (wall time × cores), and
    ``other_top``: the busiest other processes (name and seconds), to spot interference."""
    claimed: dict[int, str] = {}
    for name, pids in groups.items():
        for pid in pids:
            claimed.setdefault(pid, name)
    out: dict[str, float] = dict.fromkeys(groups, 0.0)
    out["other_postgres"] = 0.0
    out["kernel_threads"] = 0.0  # writeback, memory reclaim: mostly caused by the benchmark's own I/O
    out["other_processes"] = 0.0
    others: dict[str, float] = {}
    for pid, (name, started, seconds) in after.processes.items():
        previous = before.processes.get(pid)
        delta = seconds - (previous[2] if previous is not None and previous[1] == started else 0.0)
        if delta <= 0:
            continue
        group = claimed.get(pid) or (
            "other_postgres" if name.startswith("postgres")
            else "kernel_threads" if pid in after.kernel
            else "other_processes"
        )
        out[group] += delta
        if group == "other_processes":
            others[name] = others.get(name, 0.0) + delta
    out["machine_busy"] = after.machine_busy - before.machine_busy
    out["machine_steal"] = after.machine_steal - before.machine_steal
    out["machine_iowait"] = after.machine_iowait - before.machine_iowait
    out["machine_capacity"] = (after.at - before.at) * (os.cpu_count() or 1)
    result: dict[str, Any] = {key: round(value, 3) for key, value in out.items()}
    top = sorted(others.items(), key=lambda item: -item[1])[:5]
    result["other_top"] = [[name, round(seconds, 3)] for name, seconds in top]
    return result


# --- facts and results -----------------------------------------------------------------------


def summarize(values: Sequence[float]) -> dict[str, float]:
    """min / median / p95 / max / mean of a non-empty sample."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "min": ordered[0],
        "median": statistics.median(ordered),
        "p95": p95,
        "max": ordered[-1],
        "mean": statistics.fmean(ordered),
    }


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.rstrip() if done.returncode == 0 else None


async def _postgres_facts(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(url)
    try:
        facts: dict[str, Any] = {"version": await conn.fetchval("SELECT version()")}
        for name in ("server_version", "shared_buffers", "work_mem", "max_wal_size", "synchronous_commit", "jit"):
            facts[name] = await conn.fetchval(f"SHOW {name}")
        return facts
    finally:
        await conn.close()


def machine_facts(url: str) -> dict[str, Any]:
    """Cores, memory, load, Python, PostgreSQL and the code under test (git commit, dirty files)."""
    status = _git("status", "--porcelain")
    return {
        "cpu_logical": os.cpu_count(),
        "cpu_physical": psutil.cpu_count(logical=False),
        "cpu_model": _cpu_model(),
        "memory_total_mib": round(psutil.virtual_memory().total / MIB),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": asyncio.run(_postgres_facts(url)),
        "git_commit": (_git("rev-parse", "--short", "HEAD") or "").strip() or None,
        "git_dirty_files": [line[3:] for line in status.splitlines() if line.strip()] if status else [],
    }


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_results(name: str, data: Mapping[str, Any], *, when: datetime | None = None) -> Path:
    """Write ``bench/results/NAME-YYYYmmddTHHMMSSZ.json`` and return its path."""
    when = when or datetime.now(UTC)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}-{when.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_bytes(orjson.dumps(data, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    return path


def command_line() -> str:
    """The command that started this benchmark, as typed from the repository root."""
    module = Path(sys.argv[0]).resolve()
    with contextlib.suppress(ValueError):
        rel = module.relative_to(REPO_ROOT).with_suffix("")
        return " ".join([".venv/bin/python", "-m", ".".join(rel.parts), *sys.argv[1:]])
    return " ".join([sys.executable, *sys.argv])


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` holds the elapsed seconds."""
    elapsed: list[float] = [0.0]
    started = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed[0] = time.perf_counter() - started
