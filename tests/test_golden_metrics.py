"""Golden test: the example book's metrics (book-expected-metrics.json) from the SQL engine,
both from the daily tables the recalculation writes and on demand, for every group kind."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from db import metric_engine as engine
from db.ingestion.payload import payload_from_document
from db.ingestion.service import ingest
from scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE, EXAMPLES

BUCKETS = {"0": "0", "1-6": "1_6", "7-30": "7_30", "31-60": "31_60", "61-90": "61_90", "90+": "90_plus"}
PENALTY_NAMES = ("porr", "fimr", "roll", "waivers", "backdated", "reversals", "frr", "channel_purity", "float_gap")
COMPONENT_KEYS = (*engine.MONEY_COMPONENTS, *engine.COUNT_COMPONENTS)


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    path = EXAMPLES / "book-expected-metrics.json"
    assert path.is_file(), f"missing {path}"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.fixture
async def example_db(db, example_payload):
    result = await ingest(db, payload_from_document(example_payload, max_records=100_000), BUSINESS_DATE)
    assert result.errors == []
    return db


def _money(value: Any) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def _compare(row: Any, want: dict[str, Any], *, stored: bool) -> list[tuple[str, Any, Any]]:
    """Every component, ratio, band and score of one group; returns the mismatches."""
    bad: list[tuple[str, Any, Any]] = []

    def check(name: str, got: Any, expected: Any) -> None:
        if got != expected:
            bad.append((name, got, expected))

    for name in COMPONENT_KEYS:
        if name.startswith("bucket_") or (stored and name in ("total_officers", "par15_mid_month_count")):
            continue
        if name not in want:
            continue
        value = row[name]
        check(name, _money(value) if stored and name in engine.MONEY_COMPONENTS
              else engine.cents(value) if name in engine.MONEY_COMPONENTS else value,
              _money(want[name]) if name in engine.MONEY_COMPONENTS else want[name])
    for label, column in BUCKETS.items():
        count, balance = row[f"bucket_{column}_count"], row[f"bucket_{column}_balance"]
        check(f"bucket {label}", (count, _money(balance) if stored else engine.cents(balance)),
              (want["buckets"][label]["count"], _money(want["buckets"][label]["balance"])))
    for name in engine.RATIOS:
        exp = want[name]
        value = row[name]
        if exp["value"] is None:
            check(name, value, None)
        elif stored:  # NUMERIC(20,6)
            check(name, value, Decimal(exp["value"]).quantize(Decimal("0.000001")))
        elif abs(Fraction(value) - Fraction(exp["value"])) >= Fraction(1, 10**38):
            bad.append((name, value, exp["value"]))
        if not stored and name in ("fimr", "all_time_fimr", "d06_slippage", "roll", "ayr"):
            check(f"{name} band", (row[f"{name}_band"] or "").upper() or None, exp["band"])
    check("risk_score", row["risk_score"], want["risk_score"])
    check("risk_band", row["risk_band"].upper(), want["risk_band"])
    check("dqi", row["dqi"], want["dqi"])
    check("dqi_band", row["dqi_band"].upper(), want["dqi_band"])
    check("had_float_gap", row["had_float_gap"], want["had_float_gap"])
    if not stored:
        inputs = [Fraction(Decimal(x)) for x in row["penalty_inputs"]]
        wanted = [Fraction(Decimal(p["input"])) for p in want["risk_penalties"]]
        assert [p["name"] for p in want["risk_penalties"]] == [
            "porr", "fimr", "roll", "waivers", "backdated", "reversals", "frr_shortfall", "channel_impurity",
            "float_gap"]
        for name, got, exp in zip(PENALTY_NAMES, inputs, wanted, strict=True):
            if abs(got - exp) >= Fraction(1, 10**30):
                bad.append((f"penalty {name}", got, exp))
    return bad


@pytest.mark.parametrize("window", ["month_to_date", "custom"])
@pytest.mark.parametrize("kind", ["officer", "branch", "region", "all"])
async def test_on_demand_metrics_equal_the_expected_book(example_db, expected, window, kind):
    spec = expected["windows"][window]
    start, end = date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"])
    async with example_db.raw_reader() as conn:
        rows = {r["group_key"]: r for r in await engine.compute(conn, kind, [(start, end)])}
    assert set(rows) == set(spec[kind])
    mismatches = {}
    for key, want in spec[kind].items():
        assert rows[key]["period_start"] == start
        if kind == "branch":
            assert rows[key]["total_officers"] == want["total_officers"]
        found = _compare(rows[key], want, stored=False)
        if found:
            mismatches[key] = found
    assert mismatches == {}


async def test_daily_rows_equal_the_expected_book(example_db, expected, example_payload):
    result = await recalculate(example_db, engine.EngineOptions(), as_of=BUSINESS_DATE)
    assert result.status == "Completed"
    spec = expected["windows"]["month_to_date"]
    async with example_db.raw_reader() as conn:
        officers = {r["officer_id"]: r for r in await conn.fetch(
            "SELECT * FROM officer_metrics_daily WHERE calculation_date = $1", BUSINESS_DATE)}
        branches = {r["branch"]: r for r in await conn.fetch(
            "SELECT * FROM branch_metrics_daily WHERE calculation_date = $1", BUSINESS_DATE)}
    assert set(officers) == set(spec["officer"])
    assert set(branches) == set(spec["branch"])
    mismatches = {}
    for key, want in spec["officer"].items():
        assert officers[key]["period_start"] == date(2026, 9, 1)
        found = _compare(officers[key], want, stored=True)
        if found:
            mismatches[key] = found
    for key, want in spec["branch"].items():
        row = branches[key]
        assert row["total_officers"] == want["total_officers"]
        assert row["region"] == _main_region(example_payload, key)
        found = _compare(row, want, stored=True)
        if found:
            mismatches[key] = found
    assert mismatches == {}


def _main_region(payload: dict[str, Any], branch: str) -> str:
    """The region most of the branch's loans carry (ties: alphabetical), counted from the payload."""
    from collections import Counter

    counts = Counter(loan["region"] for loan in payload["data"]["loans"] if loan["branch"] == branch)
    return str(min(counts, key=lambda region: (-counts[region], region)))
