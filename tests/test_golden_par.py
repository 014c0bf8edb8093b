"""Golden test of portfolio at risk (SPEC §5.5): tests/fixtures/book-expected-par.json.

For both windows and every group kind: gross_loan_portfolio and PAR1/30/60/90 (amount, count,
numerator, denominator, value, band) from the Python reference, from the SQL engine on demand,
from the daily tables the recalculation writes (month to date, officers and branches), and
through the API (GraphQL officers, branches and regions, default and custom windows; REST officer
and branch rows).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import pytest

from loanmetrics.calculators.book import Book as ReferenceBook
from loanmetrics.calculators.metrics import all_group_metrics
from loanmetrics.db import metric_engine as engine
from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE, EXAMPLES
from tests.graphql_support import Book, loaded_book

EXPECTED: dict[str, Any] = json.loads((EXAMPLES / "book-expected-par.json").read_text())
LEVELS = (1, 30, 60, 90)
KINDS: tuple[engine.GroupKind, ...] = ("officer", "branch", "region", "all")
WINDOWS = ("month_to_date", "custom")
VALUE_TOLERANCE = Fraction(1, 10**38)  # the file's 40 significant digits against exact or 40-decimal values


def _window(name: str) -> tuple[date, date]:
    spec = EXPECTED["windows"][name]
    return date.fromisoformat(spec["start"]), date.fromisoformat(spec["end"])


def _groups(window: str, kind: str) -> dict[str, Any]:
    groups: dict[str, Any] = EXPECTED["windows"][window][kind]
    return groups


def test_the_file_covers_every_kind_and_window() -> None:
    assert EXPECTED["business_date"] == BUSINESS_DATE.isoformat()
    for window in WINDOWS:
        for kind in KINDS:
            assert _groups(window, kind), (window, kind)
            for want in _groups(window, kind).values():
                assert set(want) == {"gross_loan_portfolio", *(f"par{n}{part}" for n in LEVELS
                                                               for part in ("", "_amount", "_count"))}


def _mismatches(got: dict[str, Any], want: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """``got``: gross_loan_portfolio, parN_amount (Decimal), parN_count (int), parN (Fraction or
    Decimal value, None for null) and parN_band (GraphQL spelling or None)."""
    bad = []
    if got["gross_loan_portfolio"] != Decimal(want["gross_loan_portfolio"]):
        bad.append(("gross_loan_portfolio", got["gross_loan_portfolio"], want["gross_loan_portfolio"]))
    for n in LEVELS:
        ratio = want[f"par{n}"]
        assert ratio["numerator"] == want[f"par{n}_amount"]
        assert ratio["denominator"] == want["gross_loan_portfolio"]
        if got[f"par{n}_amount"] != Decimal(want[f"par{n}_amount"]):
            bad.append((f"par{n}_amount", got[f"par{n}_amount"], want[f"par{n}_amount"]))
        if got[f"par{n}_count"] != want[f"par{n}_count"]:
            bad.append((f"par{n}_count", got[f"par{n}_count"], want[f"par{n}_count"]))
        value = got[f"par{n}"]
        if (value is None) != (ratio["value"] is None) or (
                value is not None and abs(Fraction(value) - Fraction(ratio["value"])) >= VALUE_TOLERANCE):
            bad.append((f"par{n}", value, ratio["value"]))
        if got[f"par{n}_band"] != ratio["band"]:
            bad.append((f"par{n} band", got[f"par{n}_band"], ratio["band"]))
    return bad


# --- the reference ----------------------------------------------------------------------------------


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("kind", KINDS)
def test_reference_portfolio_at_risk(example_payload: dict[str, Any], window: str, kind: engine.GroupKind) -> None:
    book = ReferenceBook.from_payload(example_payload)
    start, end = _window(window)
    metrics = all_group_metrics(book, kind, end, start)
    assert set(metrics) == set(_groups(window, kind))
    mismatches = {}
    for key, want in _groups(window, kind).items():
        m = metrics[key]
        ratios = m.ratios.by_name()
        got: dict[str, Any] = {"gross_loan_portfolio": m.components.of("gross_loan_portfolio")}
        for n in LEVELS:
            band = m.ratio_bands[f"par{n}"]
            got.update({f"par{n}_amount": m.components.of(f"par{n}_amount"),
                        f"par{n}_count": m.components.of(f"par{n}_count"), f"par{n}": ratios[f"par{n}"].value,
                        f"par{n}_band": band.value if band else None})
            assert ratios[f"par{n}"].numerator == m.components.of(f"par{n}_amount")
            assert ratios[f"par{n}"].denominator == m.components.of("gross_loan_portfolio")
        if found := _mismatches(got, want):
            mismatches[key] = found
    assert mismatches == {}


# --- the engine and the daily tables --------------------------------------------------------------


@pytest.fixture
async def example_db(db: Database, example_payload: dict[str, Any]) -> Database:
    result = await ingest(db, payload_from_document(example_payload, max_records=100_000), BUSINESS_DATE)
    assert result.errors == []
    return db


def _engine_values(row: Any) -> dict[str, Any]:
    got: dict[str, Any] = {"gross_loan_portfolio": engine.cents(row["gross_loan_portfolio"])}
    for n in LEVELS:
        band = row.get(f"par{n}_band") if f"par{n}_band" in row else None
        got.update({f"par{n}_amount": engine.cents(row[f"par{n}_amount"]), f"par{n}_count": row[f"par{n}_count"],
                    f"par{n}": row[f"par{n}"], f"par{n}_band": band.upper() if band else None})
    return got


@pytest.mark.parametrize("window", WINDOWS)
async def test_engine_portfolio_at_risk(example_db: Database, window: str) -> None:
    start, end = _window(window)
    async with example_db.raw_reader() as conn:
        rows = await engine.compute(conn, KINDS, [(start, end)])
    mismatches = {}
    for kind in KINDS:
        got = {r["group_key"]: r for r in rows if r["group_kind"] == kind}
        assert set(got) == set(_groups(window, kind)), kind
        for key, want in _groups(window, kind).items():
            if found := _mismatches(_engine_values(got[key]), want):
                mismatches[(kind, key)] = found
    assert mismatches == {}


def _stored(value: str | None) -> Decimal | None:
    """A ratio as NUMERIC(20,6) stores it (PostgreSQL rounds half away from zero)."""
    return None if value is None else Decimal(value).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


async def test_daily_rows_portfolio_at_risk(example_db: Database) -> None:
    assert (await recalculate(example_db, engine.EngineOptions(), as_of=BUSINESS_DATE)).status == "Completed"
    async with example_db.raw_reader() as conn:
        tables = {
            "officer": {r["officer_id"]: r for r in await conn.fetch(
                "SELECT * FROM officer_metrics_daily WHERE calculation_date = $1", BUSINESS_DATE)},
            "branch": {r["branch"]: r for r in await conn.fetch(
                "SELECT * FROM branch_metrics_daily WHERE calculation_date = $1", BUSINESS_DATE)},
        }
    for kind, rows in tables.items():
        assert set(rows) == set(_groups("month_to_date", kind)), kind
        for key, want in _groups("month_to_date", kind).items():
            row = rows[key]
            assert row["gross_loan_portfolio"] == Decimal(want["gross_loan_portfolio"]), (kind, key)
            for n in LEVELS:
                assert (row[f"par{n}_amount"], row[f"par{n}_count"], row[f"par{n}"]) == (
                    Decimal(want[f"par{n}_amount"]), want[f"par{n}_count"], _stored(want[f"par{n}"]["value"])
                ), (kind, key, n)


# --- the API ------------------------------------------------------------------------------------------

PAR_FIELDS = " ".join(f"par{n} {{ value numerator denominator band }}" for n in LEVELS)
PORTFOLIO_FIELDS = "grossLoanPortfolio " + " ".join(f"par{n}Amount par{n}Count" for n in LEVELS)


@pytest.fixture(scope="module")
async def api() -> AsyncIterator[Book]:
    async with loaded_book() as book:
        yield book


def _api_values(metrics: dict[str, Any]) -> dict[str, Any]:
    portfolio = metrics["portfolio"]
    got: dict[str, Any] = {"gross_loan_portfolio": Decimal(str(portfolio["grossLoanPortfolio"]))}
    for n in LEVELS:
        ratio = metrics[f"par{n}"]
        assert ratio["numerator"] == portfolio[f"par{n}Amount"]
        assert ratio["denominator"] == portfolio["grossLoanPortfolio"]
        got.update({f"par{n}_amount": Decimal(str(ratio["numerator"])), f"par{n}_count": portfolio[f"par{n}Count"],
                    f"par{n}": None if ratio["value"] is None else Decimal(str(ratio["value"])),
                    f"par{n}_band": ratio["band"]})
    return got


def _float_mismatches(got: dict[str, Any], want: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """As ``_mismatches``, with the API's float ratio values compared to 1e-12."""
    exact = {**got}
    for n in LEVELS:
        value = got[f"par{n}"]
        if value is not None and want[f"par{n}"]["value"] is not None and \
                abs(float(value) - float(want[f"par{n}"]["value"])) < 1e-12:
            exact[f"par{n}"] = Fraction(want[f"par{n}"]["value"])
    return _mismatches(exact, want)


@pytest.mark.parametrize("window", WINDOWS)
async def test_graphql_portfolio_at_risk(api: Book, window: str) -> None:
    start, end = _window(window)
    period = f'period: {{startDate: "{start}", endDate: "{end}"}}'
    officers, groups = ("first: 50", "") if window == "month_to_date" else (f"first: 50, {period}", f"({period})")
    metrics = f"{PAR_FIELDS} portfolio {{ {PORTFOLIO_FIELDS} }}"
    data = await api.gql(
        f"{{ officers({officers}) {{ nodes {{ officerId metrics {{ {metrics} }} }} }}"
        f"  branches{groups} {{ branch {metrics} }} regions{groups} {{ region {metrics} }} }}")
    found = {
        "officer": {node["officerId"]: node["metrics"] for node in data["officers"]["nodes"]},
        "branch": {row["branch"]: row for row in data["branches"]},
        "region": {row["region"]: row for row in data["regions"]},
    }
    mismatches = {}
    for kind, rows in found.items():
        assert set(rows) == set(_groups(window, kind)), kind
        for key, want in _groups(window, kind).items():
            if bad := _float_mismatches(_api_values(rows[key]), want):
                mismatches[(kind, key)] = bad
    assert mismatches == {}


async def test_rest_rows_carry_portfolio_at_risk(api: Book) -> None:
    for path, key, kind in (("/api/v1/metrics/officers", "officer_id", "officer"),
                            ("/api/v1/metrics/branches", "branch", "branch")):
        response = await api.http.get(path, headers=api.headers("viewer"))
        assert response.status_code == 200, response.text
        rows = {row[key]: row for row in response.json()["data"]}
        assert set(rows) == set(_groups("month_to_date", kind))
        for name, want in _groups("month_to_date", kind).items():
            row = rows[name]
            assert row["gross_loan_portfolio"] == float(Decimal(want["gross_loan_portfolio"]))
            for n in LEVELS:
                expected = want[f"par{n}"]["value"]
                if expected is None:
                    assert row[f"par{n}"] is None
                else:
                    assert row[f"par{n}"] == pytest.approx(float(Decimal(expected)), rel=1e-12, abs=1e-12)
