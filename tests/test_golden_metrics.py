"""Golden test: the example book's metrics (book-expected-metrics.json) from the SQL engine,
both from the daily tables the recalculation writes and on demand, for every group kind.

Penalties are checked as the code emits them: names, order and weights as GraphQL's
``riskPenalties`` lists them (``OfficerMetrics.of(snapshot).risk_penalties``, floats: inputs, points
and their total to 1e-12), and the engine's exact ``penalty_inputs`` with the product's
penalty points SQL (``metric_sql.penalty_points``, NUMERIC: inputs, points and their total to 1e-30). ``dqi_raw``
is not exposed by the engine (``lm_dqi`` returns only the rounded integer), so only the rounded
DQI is compared.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest

from loanmetrics.db import metric_engine as engine
from loanmetrics.db import metric_sql
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.graph.types import OfficerMetrics, RiskPenalty
from loanmetrics.resolvers.metric_rows import daily_snapshot_columns, snapshot_from_row
from loanmetrics.scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE, EXAMPLES

BUCKETS = {"0": "0", "1-6": "1_6", "7-30": "7_30", "31-60": "31_60", "61-90": "61_90", "90+": "90_plus"}
# The API spells two penalties by the SPEC §5.6 name, the example file by what they measure
# (docs/ARCHITECTURE.md, API names); every other name is the same in both.
EXAMPLE_PENALTY_NAMES = {"frr": "frr_shortfall", "channel_purity": "channel_impurity"}
EXACT = Fraction(1, 10**30)  # NUMERIC values at 40 decimals against the file's 40-digit strings
FLOAT_TOLERANCE = 1e-12  # the API's floats against the file's exact decimals
STORED_RATIO = Decimal("0.000001")
COMPONENT_KEYS = (*engine.MONEY_COMPONENTS, *engine.COUNT_COMPONENTS)
# the ratios the example file reports (portfolio at risk has its own file: test_golden_par.py)
RATIOS_IN_FILE = tuple(name for name in engine.RATIOS if not name.startswith("par"))


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


def _stored_ratio(value: str) -> Decimal:
    """The NUMERIC(20,6) a ratio is stored as: PostgreSQL's round(x, 6) rounds half away from zero
    (ratios are never negative, so that is ROUND_HALF_UP), not Decimal's default half-even."""
    return Decimal(value).quantize(STORED_RATIO, rounding=ROUND_HALF_UP)


async def test_stored_ratio_rounds_like_postgresql(db):
    ties = ["0.0078125", "0.0000025", "0.0000035", "1.2345645"]  # 1/128 = 0.0078125: half-even gives 0.007812
    async with db.raw_reader() as conn:
        rounded = await conn.fetch(
            "SELECT round(x, 6)::numeric(20,6) AS r FROM unnest($1::numeric[]) WITH ORDINALITY AS t(x, n) ORDER BY n",
            [Decimal(t) for t in ties])
    assert [r["r"] for r in rounded] == [_stored_ratio(t) for t in ties]
    assert _stored_ratio("0.0078125") == Decimal("0.007813")


def _close(got: float, expected: str) -> bool:
    return math.isclose(got, float(Decimal(expected)), rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE)


def _api_penalties(row: Any) -> list[RiskPenalty]:
    """``riskPenalties`` as GraphQL emits it for a row in the engine's form (money in cents)."""
    return OfficerMetrics.of(snapshot_from_row(row, key_column="group_key", cents=True)).risk_penalties


def _compare_penalties(
    emitted: Sequence[RiskPenalty], want: dict[str, Any], *, exact_inputs: Sequence[Decimal] | None = None,
    exact_points: Sequence[Decimal] | None = None,
) -> list[tuple[str, Any, Any]]:
    """The emitted penalties (names in order, weights, inputs, points, their total) against the
    file; optionally the engine's exact NUMERIC inputs and points too."""
    expected = want["risk_penalties"]
    names = [EXAMPLE_PENALTY_NAMES.get(p.name, p.name) for p in emitted]
    if names != [p["name"] for p in expected]:
        return [("penalty names", names, [p["name"] for p in expected])]
    bad: list[tuple[str, Any, Any]] = []
    for p, e in zip(emitted, expected, strict=True):
        if p.weight != e["weight"]:
            bad.append((f"penalty {p.name} weight", p.weight, e["weight"]))
        if not _close(p.input, e["input"]):
            bad.append((f"penalty {p.name} input", p.input, e["input"]))
        if not _close(p.points, e["points"]):
            bad.append((f"penalty {p.name} points", p.points, e["points"]))
    total = math.fsum(p.points for p in emitted)
    if not _close(total, want["penalties"]):
        bad.append(("penalties (float)", total, want["penalties"]))
    for label, exact in (("input", exact_inputs), ("points", exact_points)):
        if exact is None:
            continue
        assert len(exact) == len(expected), (label, exact)
        for p, got, e in zip(emitted, exact, expected, strict=True):
            if abs(Fraction(got) - Fraction(Decimal(e[label]))) >= EXACT:
                bad.append((f"penalty {p.name} {label} (exact)", got, e[label]))
    if exact_points is not None:
        exact_total = sum((Fraction(x) for x in exact_points), Fraction(0))
        if abs(exact_total - Fraction(Decimal(want["penalties"]))) >= EXACT:
            bad.append(("penalties (exact)", exact_total, want["penalties"]))
    return bad


def _compare(
    row: Any, want: dict[str, Any], *, stored: bool, exact_points: Sequence[Decimal] | None = None
) -> list[tuple[str, Any, Any]]:
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
    for name in RATIOS_IN_FILE:
        exp = want[name]
        value = row[name]
        if exp["value"] is None:
            check(name, value, None)
        elif stored:  # NUMERIC(20,6)
            check(name, value, _stored_ratio(exp["value"]))
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
        bad += _compare_penalties(_api_penalties(row), want, exact_inputs=row["penalty_inputs"],
                                  exact_points=exact_points)
    return bad


@pytest.mark.parametrize("window", ["month_to_date", "custom"])
@pytest.mark.parametrize("kind", ["officer", "branch", "region", "all"])
async def test_on_demand_metrics_equal_the_expected_book(example_db, expected, window, kind):
    spec = expected["windows"][window]
    start, end = date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"])
    async with example_db.raw_reader() as conn:
        rows = {r["group_key"]: r for r in await engine.compute(conn, kind, [(start, end)])}
        # points = weight · c(input), by the product's own SQL (generated from the registry), on the exact inputs
        points = {key: await conn.fetchval(f"SELECT {metric_sql.penalty_points('$1::numeric[]')}",
                                           row["penalty_inputs"])
                  for key, row in rows.items()}
    assert set(rows) == set(spec[kind])
    mismatches = {}
    for key, want in spec[kind].items():
        assert rows[key]["period_start"] == start
        if kind == "branch":
            assert rows[key]["total_officers"] == want["total_officers"]
        found = _compare(rows[key], want, stored=False, exact_points=points[key])
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
        # what the API reads from the daily tables (money as cents, penalty inputs as float8)
        bands = engine.EngineOptions().bands
        api_officers = {r["officer_id"]: r for r in await conn.fetch(
            f"SELECT o.officer_id, {daily_snapshot_columns('o', bands)} FROM officer_metrics_daily o"
            " WHERE o.calculation_date = $1", BUSINESS_DATE)}
        api_branches = {r["branch"]: r for r in await conn.fetch(
            f"SELECT b.branch, {daily_snapshot_columns('b', bands)} FROM branch_metrics_daily b"
            " WHERE b.calculation_date = $1", BUSINESS_DATE)}
    assert set(officers) == set(spec["officer"])
    assert set(branches) == set(spec["branch"])
    mismatches = {}
    for key, want in spec["officer"].items():
        assert officers[key]["period_start"] == date(2026, 9, 1)
        found = _compare(officers[key], want, stored=True) + _compare_penalties(_api_penalties(api_officers[key]), want)
        if found:
            mismatches[key] = found
    for key, want in spec["branch"].items():
        row = branches[key]
        assert row["total_officers"] == want["total_officers"]
        assert row["region"] == _main_region(example_payload, key)
        found = _compare(row, want, stored=True) + _compare_penalties(_api_penalties(api_branches[key]), want)
        if found:
            mismatches[key] = found
    assert mismatches == {}


def _main_region(payload: dict[str, Any], branch: str) -> str:
    """The region most of the branch's loans carry (ties: alphabetical), counted from the payload."""
    from collections import Counter

    counts = Counter(loan["region"] for loan in payload["data"]["loans"] if loan["branch"] == branch)
    return str(min(counts, key=lambda region: (-counts[region], region)))
