"""``/metrics`` (SPEC §11): authentication, request latency by route and operation, cache
counters, job durations and outcomes, and data freshness."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from loanmetrics.application import Application
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.graph.app import create_app
from loanmetrics.graph.telemetry import MAX_OPERATION_LABELS, OTHER, Telemetry, label_operation
from loanmetrics.scheduler.recalculation import recalculate
from loanmetrics.scheduler.service import SchedulerService
from tests.conftest import BUSINESS_DATE, bearer


def sample(application: Application, name: str, **labels: str) -> float | None:
    return application.telemetry.registry.get_sample_value(name, labels)


async def test_metrics_requires_a_token_and_a_reading_role(client: httpx.AsyncClient, app: Application):
    response = await client.get("/metrics")
    assert response.status_code == 401
    assert (await client.get("/metrics", headers=bearer(app, "etl"))).status_code == 403
    for role in ("viewer", "auditor", "admin"):
        assert (await client.get("/metrics", headers=bearer(app, role))).status_code == 200


async def test_metrics_exposes_request_latency_and_cache_counters(client: httpx.AsyncClient, app: Application):
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/no-such-route", headers=bearer(app, "viewer"))).status_code == 404
    assert (await client.post("/api/v1/etl/sync")).status_code == 401  # counted under its route, too
    assert app.cache is not None
    key = app.cache.key("{ officers { officerId } }", None, "viewer||")
    generation, _ = await app.cache.lookup(key)
    await app.cache.store(generation, key, b"{}")
    await app.cache.lookup(key)

    response = await client.get("/metrics", headers=bearer(app, "viewer"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    assert 'loanmetrics_request_seconds_count{operation="",route="/healthz"} 1.0' in text
    assert 'loanmetrics_request_seconds_bucket{le="0.005",operation="",route="/healthz"}' in text
    assert 'loanmetrics_request_seconds_count{operation="",route="unmatched"} 1.0' in text
    assert 'loanmetrics_request_seconds_count{operation="",route="/api/v1/etl/sync"} 1.0' in text
    assert "loanmetrics_cache_hits_total 1.0" in text
    assert "loanmetrics_cache_misses_total 1.0" in text
    assert "loanmetrics_cache_errors_total 0.0" in text
    assert "loanmetrics_data_freshness_seconds" not in text  # no calculation has run yet


async def test_operation_name_labels_the_request(app: Application):
    """The GraphQL endpoint names the operation through ``label_operation``."""

    async def endpoint(request: Request) -> Response:
        label_operation(request.scope, request.query_params.get("op"))
        return PlainTextResponse("ok")

    asgi = create_app(app)
    asgi.router.routes.insert(0, Route("/probe", endpoint, methods=["GET"]))
    transport = httpx.ASGITransport(app=asgi)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for op in ("OfficerList", "OfficerList", "bad name!", None):
            params = {"op": op} if op else {}
            assert (await http.get("/probe", params=params, headers=bearer(app, "viewer"))).status_code == 200
    assert sample(app, "loanmetrics_request_seconds_count", route="/probe", operation="OfficerList") == 2
    assert sample(app, "loanmetrics_request_seconds_count", route="/probe", operation=OTHER) == 1
    assert sample(app, "loanmetrics_request_seconds_count", route="/probe", operation="") == 1


def test_operation_labels_are_bounded():
    telemetry = Telemetry()
    names = [f"Op{n}" for n in range(MAX_OPERATION_LABELS + 5)]
    labels = [telemetry.operation_label(name) for name in names]
    assert labels[:MAX_OPERATION_LABELS] == names[:MAX_OPERATION_LABELS]
    assert set(labels[MAX_OPERATION_LABELS:]) == {OTHER}
    assert telemetry.operation_label("Op0") == "Op0"
    assert telemetry.operation_label(None) == ""


def test_job_metrics():
    telemetry = Telemetry()
    telemetry.observe_job("recalculation", "completed", 1.5)
    telemetry.observe_job("recalculation", "failed", 0.2)
    registry = telemetry.registry
    assert registry.get_sample_value("loanmetrics_jobs_total", {"job": "recalculation", "status": "completed"}) == 1
    assert registry.get_sample_value("loanmetrics_jobs_total", {"job": "recalculation", "status": "failed"}) == 1
    labels = {"job": "recalculation", "status": "completed"}
    assert registry.get_sample_value("loanmetrics_job_seconds_sum", labels) == 1.5
    assert registry.get_sample_value("loanmetrics_job_seconds_bucket", {**labels, "le": "2.0"}) == 1


async def _load(app: Application, payload: dict[str, Any]) -> None:
    result = await ingest(app.db, payload_from_document(payload, max_records=100_000), BUSINESS_DATE)
    assert result.errors == []


@pytest.mark.slow
async def test_freshness_after_a_recalculation(client: httpx.AsyncClient, app: Application, example_payload):
    await _load(app, example_payload)
    result = await recalculate(app.db, app.engine_options, as_of=BUSINESS_DATE, calculation_type="scheduled")
    assert result.status == "Completed"
    text = (await client.get("/metrics", headers=bearer(app, "admin"))).text
    (line,) = [row for row in text.splitlines() if row.startswith("loanmetrics_data_freshness_seconds ")]
    assert 0 <= float(line.split()[1]) < 60


@pytest.mark.slow
async def test_scheduler_jobs_are_observed(app: Application, example_payload):
    await _load(app, example_payload)
    service = SchedulerService(app)
    try:
        assert await service.recalculation_job() is not None
        assert await service.daily_job() is not None
    finally:
        await service.stop()
    assert sample(app, "loanmetrics_jobs_total", job="recalculation", status="completed") == 1
    assert sample(app, "loanmetrics_jobs_total", job="daily_refresh", status="completed") == 1
    seconds = sample(app, "loanmetrics_job_seconds_sum", job="recalculation", status="completed")
    assert seconds is not None
    assert seconds > 0
