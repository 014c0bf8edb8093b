"""``/metrics`` (SPEC §11): authentication, request latency by route, method, status class and
operation, cache counters, ETL records, job durations and outcomes, process metrics and data
freshness."""

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
    assert 'loanmetrics_request_seconds_count{method="GET",operation="",route="/healthz",status="2xx"} 1.0' in text
    assert 'loanmetrics_request_seconds_bucket{le="0.005",method="GET",operation="",route="/healthz",status="2xx"}' \
        in text
    assert 'loanmetrics_request_seconds_count{method="GET",operation="",route="unmatched",status="4xx"} 1.0' in text
    assert ('loanmetrics_request_seconds_count{method="POST",operation="",route="/api/v1/etl/sync",status="4xx"} 1.0'
            in text)
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
    ok = {"route": "/probe", "method": "GET", "status": "2xx"}
    assert sample(app, "loanmetrics_request_seconds_count", **ok, operation="OfficerList") == 2
    assert sample(app, "loanmetrics_request_seconds_count", **ok, operation=OTHER) == 1
    assert sample(app, "loanmetrics_request_seconds_count", **ok, operation="") == 1


async def test_status_and_method_labels_separate_outcomes(client: httpx.AsyncClient, app: Application):
    """A 401 and a 200 on one route land in different series, so a 5xx or 4xx rate can be
    computed; unknown methods and statuses map to fixed labels."""
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=bearer(app, "viewer"))).status_code == 200
    assert (await client.post("/graphql", headers=bearer(app, "viewer"), content=b"{}",
                               )).status_code in (400, 415)
    assert (await client.request("BREW", "/healthz")).status_code == 405
    metrics = {"route": "/metrics", "method": "GET", "operation": ""}
    assert sample(app, "loanmetrics_request_seconds_count", **metrics, status="4xx") == 1
    assert sample(app, "loanmetrics_request_seconds_count", **metrics, status="2xx") == 1
    assert sample(app, "loanmetrics_request_seconds_count", route="/graphql", method="POST", operation="",
                  status="4xx") == 1
    assert sample(app, "loanmetrics_request_seconds_count", route="/healthz", method="other", operation="",
                  status="4xx") == 1


async def test_process_metrics_are_exposed(client: httpx.AsyncClient, app: Application):
    text = (await client.get("/metrics", headers=bearer(app, "viewer"))).text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line and not line.startswith("#") and " " in line}
    assert values["process_cpu_seconds_total"] > 0
    assert values["process_resident_memory_bytes"] > 1_000_000
    assert values["process_open_fds"] >= 3
    assert values["process_max_fds"] >= values["process_open_fds"]
    assert any(name.startswith("python_info{") for name in values)
    assert any(name.startswith("python_gc_collections_total{") for name in values)


async def test_etl_records_by_entity_and_outcome(client: httpx.AsyncClient, app: Application):
    officer = {"officer_id": "O1", "officer_name": "Ada", "region": "North", "branch": "B1"}
    batch = {"data": {"officers": [officer, {"officer_id": "O2", "officer_name": "Bo", "region": "North"}]}}
    response = await client.post("/api/v1/etl/sync", json=batch, headers=bearer(app, "etl"))
    assert response.status_code == 207, response.text
    again = {"data": {"officers": [officer, {**officer, "officer_id": "O3"}]}}
    assert (await client.post("/api/v1/etl/sync", json=again, headers=bearer(app, "etl"))).status_code == 200
    counted = {outcome: sample(app, "loanmetrics_etl_records_total", entity="officers", outcome=outcome)
               for outcome in ("inserted", "updated", "unchanged", "failed")}
    assert counted == {"inserted": 2, "updated": None, "unchanged": 1, "failed": 1}
    text = (await client.get("/metrics", headers=bearer(app, "viewer"))).text
    assert 'loanmetrics_etl_records_total{entity="officers",outcome="inserted"} 2.0' in text


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
