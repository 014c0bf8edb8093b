"""Prometheus instruments of one application instance (SPEC §11): request latency by route, method,
status class and GraphQL operation, cache hits/misses/errors, ETL records by entity and outcome, job
durations and outcomes, data freshness, and the process's CPU, memory, file descriptors and GC.

Every ``Telemetry`` owns its own ``CollectorRegistry`` (never the global default), so several
applications can live in one process (tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from loanmetrics.db.engine import Database

log = logging.getLogger(__name__)

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JOB_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
MAX_OPERATION_LABELS = 200
OTHER = "other"
OPERATION_SCOPE_KEY = "loanmetrics.graphql_operation"
FRESHNESS_QUERY_TIMEOUT = 2.0

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ETL_OUTCOMES = ("inserted", "updated", "unchanged", "failed")

_OPERATION_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")

LAST_COMPLETED_RUN = """
SELECT extract(epoch FROM end_time)::float8
FROM metric_calculation_log
WHERE status = 'Completed'
ORDER BY start_time DESC
LIMIT 1
"""


class CacheMetrics:
    """The response cache's view of the telemetry: three counters."""

    def __init__(self, hits: Counter, misses: Counter, errors: Counter) -> None:
        self._hits = hits
        self._misses = misses
        self._errors = errors

    def hit(self) -> None:
        self._hits.inc()

    def miss(self) -> None:
        self._misses.inc()

    def error(self) -> None:
        self._errors.inc()


class FreshnessCollector(Collector):
    """``loanmetrics_data_freshness_seconds``: age of the newest Completed calculation run at scrape
    time. The end time is refreshed from the database by the /metrics handler; the age keeps
    growing between refreshes (and while the database is unreachable). Absent before any run."""

    def __init__(self, wall_clock: Callable[[], float]) -> None:
        self.last_completed: float | None = None
        self._wall_clock = wall_clock

    def collect(self) -> Iterable[Metric]:
        if self.last_completed is None:
            return
        family = GaugeMetricFamily(
            "loanmetrics_data_freshness_seconds",
            "Seconds since the newest Completed metric_calculation_log run ended",
        )
        family.add_metric([], max(0.0, self._wall_clock() - self.last_completed))
        yield family


class Telemetry:
    """The instruments and their registry; ``render()`` is the /metrics body."""

    def __init__(self, *, wall_clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry()
        # the process's CPU, memory and file descriptors, the Python version and GC activity:
        # prometheus-client's own collectors, on this registry (it never uses the global one)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.request_seconds = Histogram(
            "loanmetrics_request_seconds",
            "HTTP request latency by route template, method, status class (2xx, 4xx, 5xx) and GraphQL operation",
            ["route", "method", "status", "operation"], buckets=REQUEST_BUCKETS, registry=self.registry,
        )
        self.etl_records = Counter(
            "loanmetrics_etl_records", "ETL records by entity and outcome (inserted, updated, unchanged, failed)",
            ["entity", "outcome"], registry=self.registry,
        )
        hits = Counter("loanmetrics_cache_hits", "Response-cache hits", registry=self.registry)
        misses = Counter("loanmetrics_cache_misses", "Response-cache misses", registry=self.registry)
        errors = Counter(
            "loanmetrics_cache_errors", "Response-cache backend failures (Redis down or slow)", registry=self.registry
        )
        self.cache = CacheMetrics(hits, misses, errors)
        self.job_seconds = Histogram(
            "loanmetrics_job_seconds", "Scheduler job duration by job and outcome",
            ["job", "status"], buckets=JOB_BUCKETS, registry=self.registry,
        )
        self.jobs_total = Counter(
            "loanmetrics_jobs", "Scheduler job runs by job and outcome", ["job", "status"], registry=self.registry
        )
        self.freshness = FreshnessCollector(wall_clock)
        self.registry.register(self.freshness)
        self._operations: set[str] = set()

    def observe_request(self, route: str, method: str, status: int, operation: str | None, seconds: float) -> None:
        """One request's latency; the method and status are reduced to bounded label sets."""
        method_label = method if method in METHODS else OTHER
        self.request_seconds.labels(route, method_label, status_class(status), self.operation_label(operation)
                                    ).observe(seconds)

    def count_etl(self, results: Mapping[str, Mapping[str, int]]) -> None:
        """An ingested batch's per-entity counts (the response's ``results``)."""
        for entity, counts in results.items():
            for outcome in ETL_OUTCOMES:
                if counts.get(outcome):
                    self.etl_records.labels(entity, outcome).inc(counts[outcome])

    def observe_job(self, job: str, status: str, seconds: float) -> None:
        self.job_seconds.labels(job, status).observe(seconds)
        self.jobs_total.labels(job, status).inc()

    def operation_label(self, operation: str | None) -> str:
        """Client-chosen operation names, bounded: malformed names and names beyond the first
        ``MAX_OPERATION_LABELS`` distinct ones are reported as ``other``."""
        if not operation:
            return ""
        if operation in self._operations:
            return operation
        if not _OPERATION_NAME.match(operation) or len(self._operations) >= MAX_OPERATION_LABELS:
            return OTHER
        self._operations.add(operation)
        return operation

    async def refresh_freshness(self, database: Database) -> None:
        """Read the newest Completed run's end time; on failure keep the previous value."""
        try:
            async with asyncio.timeout(FRESHNESS_QUERY_TIMEOUT), database.raw_reader() as conn:
                value = await conn.fetchval(LAST_COMPLETED_RUN)
        except Exception as exc:  # the scrape must work while the database is down
            log.warning("data freshness not refreshed: %s", type(exc).__name__)
            return
        if value is not None:
            self.freshness.last_completed = float(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def status_class(status: int) -> str:
    """'2xx', '4xx', ...: a 401 and a 200 land in different series, a scanner cannot grow the set."""
    return f"{status // 100}xx" if 100 <= status < 600 else OTHER


def label_operation(scope: MutableMapping[str, Any], operation: str | None) -> None:
    """Called by the GraphQL endpoint: the request-latency sample of this request (recorded by
    the request middleware when the response is done) carries this operation name."""
    scope[OPERATION_SCOPE_KEY] = operation or ""


def operation_of(scope: MutableMapping[str, Any]) -> str:
    return str(scope.get(OPERATION_SCOPE_KEY, ""))
