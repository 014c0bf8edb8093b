"""The metric registry (calculators/registry.py) is the one definition of every metric: each
consumer carries every registry entry, so a test here fails when one is missing anywhere.

Consumers derived from the registry are checked for what they expose (the daily and fine
tables as migrated, the engine's rows, the GraphQL schema, the SQL-built officer nodes' field
maps, the REST rows and OpenAPI schemas, the reference); what is written by hand (migrations,
the original REST row) is checked against the registry.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest
from graphql import GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLScalarType
from strawberry.utils.str_converters import to_camel_case

from loanmetrics.calculators import registry
from loanmetrics.calculators.bands import DEFAULT_THRESHOLDS, BandThresholds
from loanmetrics.calculators.book import Book
from loanmetrics.calculators.metrics import group_metrics
from loanmetrics.db import metric_engine as engine
from loanmetrics.db import metric_sql
from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.graph.rest.fields import BRANCH_ROW, METRICS, OFFICER_ROW, OFFICER_ROW_KEYS, PORTFOLIO
from loanmetrics.graph.rest.officers import SORTS
from loanmetrics.graph.rest.openapi import build_document
from loanmetrics.graph.schema import build_schema
from loanmetrics.resolvers import officer_json
from loanmetrics.resolvers.metric_rows import PENALTIES
from loanmetrics.settings import Settings, load_settings
from tests.conftest import BUSINESS_DATE, make_settings

DAILY_TABLES = ("officer_metrics_daily", "branch_metrics_daily")
# columns of the daily tables that are not registry metrics
DAILY_OWN = {"id", "officer_id", "branch", "calculation_date", "region", "total_officers", "period_start",
             "had_float_gap", "risk_score", "risk_band", "dqi", "dqi_band", "calculated_at", "created_at",
             "updated_at"}
FINE_OWN = {"calculation_date", "officer_id", "branch", "region", "loans", "created_at", "updated_at"}


def test_every_entry_refers_to_declared_entries() -> None:
    names = [c.name for c in registry.COMPONENTS] + [r.name for r in registry.RATIOS]
    assert len(names) == len(set(names)), "a name is declared twice"
    for c in registry.COMPONENTS:
        assert c.sums is None or c.sums in registry.QUANTITY, c.name
        assert all(cond.quantity in registry.QUANTITY for cond in c.where), c.name
    for r in registry.RATIOS:
        assert {r.numerator, r.denominator} <= set(registry.COMPONENT), r.name
        assert r.band is None or r.band in registry.BAND_RULE, r.name
    for p in registry.PENALTIES:
        assert p.flag == "had_float_gap" or set(p.parts) <= set(registry.COMPONENT), p.name
    for term in registry.DQI_TERMS:
        assert term.ratio is None or registry.RATIO[term.ratio].value_when_empty() is not None
    buckets = registry.BUCKETS
    assert buckets[0].low == 0
    assert all(a.high is not None and a.high + 1 == b.low for a, b in itertools.pairwise(buckets))
    assert buckets[-1].high is None


async def test_migrated_tables_have_exactly_the_registry_columns(db: Database) -> None:
    """The daily tables hold every daily component (money NUMERIC(20,2), sums of loans; counts integer) and every
    ratio (NUMERIC(20,6)); metric_fine_daily every component (bigint); and nothing else."""
    daily = {c.name: ("numeric", 20, 2) if c.money else ("integer", 32, 0) for c in registry.COMPONENTS if c.daily}
    daily.update({r.name: ("numeric", 20, 6) for r in registry.RATIOS})
    fine = {c.name: ("bigint", 64, 0) for c in registry.COMPONENTS}
    async with db.raw_reader() as conn:
        for table, want, own in ((*DAILY_TABLES[:1], daily, DAILY_OWN), (DAILY_TABLES[1], daily, DAILY_OWN),
                                 ("metric_fine_daily", fine, FINE_OWN)):
            rows = await conn.fetch(
                "SELECT column_name, data_type, numeric_precision, coalesce(numeric_scale, 0) AS scale, is_nullable "
                "FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1", table)
            found = {r["column_name"]: (r["data_type"], r["numeric_precision"], r["scale"]) for r in rows
                     if r["column_name"] not in own}
            assert found == want, table
            nullable = {r["column_name"] for r in rows if r["is_nullable"] == "YES"}
            assert nullable & set(want) == ({r.name for r in registry.RATIOS} if table != "metric_fine_daily"
                                            else set()), table


async def test_engine_rows_carry_every_registry_metric(db: Database) -> None:
    document = {"data": {
        "officers": [{"officer_id": "O1", "officer_name": "O", "region": "R", "branch": "B"}],
        "loans": [{"loan_id": "L1", "customer_id": "C", "customer_name": "C", "officer_id": "O1",
                   "officer_name": "O", "region": "R", "branch": "B", "loan_amount": "100.00",
                   "disbursement_date": "2026-08-01", "maturity_date": "2026-09-01", "loan_term_days": 31,
                   "channel": "Branch", "status": "Active"}],
    }}
    assert (await ingest(db, payload_from_document(document, max_records=100), BUSINESS_DATE)).errors == []
    async with db.raw_reader() as conn:
        rows = await engine.compute(conn, ("officer", "branch", "region", "all"), [(date(2026, 9, 1), BUSINESS_DATE)])
    assert {row["group_kind"] for row in rows} == {"officer", "branch", "region", "all"}
    for row in rows:
        for c in registry.COMPONENTS:
            assert isinstance(row[c.name], int), c.name
        for r in registry.RATIOS:
            assert r.name in row, r.name
            if r.band:
                assert f"{r.name}_band" in row, r.name
        assert len(row["penalty_inputs"]) == len(registry.PENALTIES)
        assert {row["risk_band"], row["dqi_band"]} <= {band.title_case for band in registry.Band}


def _named(type_: Any) -> Any:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    return type_


def test_graphql_schema_carries_every_registry_metric() -> None:
    schema = build_schema(make_settings(None))._schema
    ratios = {to_camel_case(r.name) for r in registry.RATIOS}
    for type_name in ("OfficerMetrics", "BranchMetrics", "RegionMetrics"):
        object_type = schema.type_map[type_name]
        assert isinstance(object_type, GraphQLObjectType)
        for name in ratios:
            field = object_type.fields[name]
            assert isinstance(field.type, GraphQLNonNull), (type_name, name)
            assert _named(field.type).name == "Ratio", (type_name, name)
    portfolio = schema.type_map["Portfolio"]
    assert isinstance(portfolio, GraphQLObjectType)
    for c in registry.COMPONENTS:
        name = to_camel_case(c.name)
        if not c.portfolio:
            assert name not in portfolio.fields, name
            continue
        scalar = _named(portfolio.fields[name].type)
        assert isinstance(scalar, GraphQLScalarType)
        assert scalar.name == ("Float" if c.money else "Int"), name
    assert "buckets" in portfolio.fields
    sort = schema.type_map["OfficerSortField"]
    assert isinstance(sort, GraphQLEnumType)
    assert set(sort.values) == {name.upper() for name in (
        "risk_score", "dqi", "officer_name", "officer_id", *(r.name for r in registry.RATIOS),
        *(c.name for c in registry.COMPONENTS if c.portfolio))}
    band = schema.type_map["Band"]
    assert isinstance(band, GraphQLEnumType)
    assert list(band.values) == [b.name for b in registry.Band]
    penalty = schema.type_map["RiskPenalty"]
    assert isinstance(penalty, GraphQLObjectType)
    assert set(penalty.fields) == {"name", "weight", "input", "points"}


def test_sql_built_nodes_know_every_registry_metric() -> None:
    assert set(officer_json._RATIO_FIELDS.values()) == {r.name for r in registry.RATIOS}
    assert {c.name for c in officer_json._PORTFOLIO.values()} == {c.name for c in registry.COMPONENTS if c.portfolio}
    assert tuple((p.name, p.weight) for p in registry.PENALTIES) == PENALTIES


def test_rest_rows_metric_objects_and_openapi_carry_every_registry_metric() -> None:
    keys = [*(r.rest_key for r in registry.RATIOS if r.rest_key), *(c.rest_key for c in registry.COMPONENTS
                                                                     if c.rest_key)]
    assert set(keys) <= {out.key for out in OFFICER_ROW}
    assert set(keys) <= {out.key for out in BRANCH_ROW}
    assert set(keys) <= set(SORTS)
    assert OFFICER_ROW_KEYS[-1] == "rank"
    metric_keys = {out.key for out in METRICS}
    assert {r.name for r in registry.RATIOS} <= metric_keys
    assert [out.key for out in PORTFOLIO] == [*(c.name for c in registry.COMPONENTS if c.portfolio), "buckets"]
    from loanmetrics.graph.rest import ENDPOINTS

    document = build_document(ENDPOINTS, date(2026, 9, 18))
    officers = document["paths"]["/api/v1/metrics/officers"]["get"]
    row = officers["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]["items"]
    assert set(keys) <= set(row["properties"])
    detail = document["paths"]["/api/v1/metrics/officers/{officer_id}"]["get"]
    data = detail["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]
    current = data["properties"]["current"]["properties"]
    assert {r.name for r in registry.RATIOS} <= set(current)
    assert set(current["portfolio"]["properties"]) == {c.name for c in registry.COMPONENTS if c.portfolio} | {
        "buckets"}
    sort = next(p for p in officers["parameters"] if p["name"] == "sort")
    assert set(keys) <= set(sort["schema"]["enum"])


def test_reference_carries_every_registry_metric() -> None:
    book = Book.from_payload({"officers": [{"officer_id": "O1", "officer_name": "O", "region": "R", "branch": "B"}]})
    m = group_metrics(book, "officer", "O1", BUSINESS_DATE)
    for c in registry.COMPONENTS:
        assert m.components.of(c.name) == 0, c.name
    assert list(m.ratios.by_name()) == [r.name for r in registry.RATIOS]
    assert set(m.ratio_bands) == {r.name for r in registry.RATIOS}
    assert [(p.name, p.weight) for p in m.penalties] == [(p.name, p.weight) for p in registry.PENALTIES]
    assert list(m.components.buckets) == [b.label for b in registry.BUCKETS]


def test_one_threshold_type_with_a_setting_per_rule_and_level(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.model_fields["bands"].annotation is BandThresholds
    assert engine.EngineOptions().bands == DEFAULT_THRESHOLDS
    fields = set(BandThresholds.model_fields)
    assert fields == {rule.setting(band) for rule in registry.BAND_RULES for band, _ in rule.levels}
    for rule in registry.BAND_RULES:
        for band, default in rule.levels:
            assert getattr(DEFAULT_THRESHOLDS, rule.setting(band)) == default
            changed = default + 1 if isinstance(default, int) else default / 2
            monkeypatch.setenv(f"LOANMETRICS_BANDS__{rule.setting(band).upper()}", str(changed))
            assert getattr(load_settings().bands, rule.setting(band)) == changed
            monkeypatch.delenv(f"LOANMETRICS_BANDS__{rule.setting(band).upper()}")


def test_bucket_labels_in_sql_follow_the_registry() -> None:
    sql = metric_sql.bucket_label("x")
    for bucket in registry.BUCKETS[:-1]:
        assert f"WHEN x <= {bucket.high} THEN '{bucket.label}'" in sql
    assert sql.endswith(f"ELSE '{registry.BUCKETS[-1].label}' END")
    assert [registry.bucket_of(n).label for n in (0, 1, 6, 7, 30, 31, 60, 61, 90, 91)] == [
        "0", "1-6", "1-6", "7-30", "7-30", "31-60", "31-60", "61-90", "61-90", "90+"]
