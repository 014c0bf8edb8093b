"""Property tests: the SQL metric engine agrees with the Python reference (SPEC §5.4-5.7).

Random loan books, random calculation dates and windows, every group kind: every component to
the cent, every ratio to 1e-39 of the exact fraction, risk score, DQI and every band exactly.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loanmetrics.calculators import registry
from loanmetrics.calculators.bands import BandThresholds
from loanmetrics.calculators.book import Book
from loanmetrics.calculators.groups import branch_region
from loanmetrics.calculators.metrics import GroupMetrics, all_group_metrics
from loanmetrics.db import metric_engine as engine
from loanmetrics.db.engine import Database
from tests.strategies import BUSINESS_DATE, loan_books
from tests.test_property_loan_state import _ingest_batches

KINDS: tuple[engine.GroupKind, ...] = ("officer", "branch", "region", "all")
# every registry component (portfolio at risk included) but the buckets, compared below by label
COUNTS = (*(c.name for c in registry.COMPONENTS if not c.money and not c.name.startswith("bucket_")),
          "total_officers")
MONEY = tuple(c.name for c in registry.COMPONENTS if c.money and not c.name.startswith("bucket_"))
BANDED = tuple(r.name for r in registry.RATIOS if r.band is not None)
BUCKET_LABELS = {"0": "0", "1_6": "1-6", "7_30": "7-30", "31_60": "31-60", "61_90": "61-90", "90_plus": "90+"}
TIGHT = BandThresholds(fimr_green=0.25, fimr_watch=0.5, slippage_green=0.5, slippage_watch=1, roll_green=0.25,
                     roll_watch=0.5, ayr_green=0.05, ayr_watch=0.01, risk_green=95, risk_watch=85, risk_amber=70,
                     dqi_green=90, dqi_watch=80, par30_green=0.02, par30_watch=0.2)


@st.composite
def windows(draw: st.DrawFn) -> list[tuple[date, date]]:
    """One or two calculation dates, each with the default or a custom window start."""
    ends = sorted(draw(st.sets(st.integers(0, 45), min_size=1, max_size=2)))
    out = []
    for back in ends:
        end = BUSINESS_DATE - timedelta(days=back)
        start = date(end.year, end.month, 1) if draw(st.booleans()) else end - timedelta(days=draw(st.integers(0, 50)))
        out.append((start, end))
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=loan_books(), spans=windows(), tight=st.booleans(), purity_counts=st.booleans())
async def test_sql_metrics_match_reference(
    db: Database, batches: list[dict[str, Any]], spans: list[tuple[date, date]], tight: bool, purity_counts: bool
) -> None:
    await _ingest_batches(db, batches)
    book = Book.from_payloads(batches)
    bands = TIGHT if tight else BandThresholds()
    options = engine.EngineOptions(bands=bands, channel_purity_in_dqi=purity_counts)
    async with db.raw_reader() as conn:
        rows = await engine.compute(conn, KINDS, spans, options=options)
    for start, end in spans:
        for kind in KINDS:
            got = {r["group_key"]: r for r in rows if r["group_kind"] == kind and r["calculation_date"] == end}
            disbursed = [loan for loan in book.loans.values() if loan.disbursement_date <= end]
            keys = {"officer": {x.officer_id for x in disbursed}, "branch": {x.branch for x in disbursed},
                    "region": {x.region for x in disbursed}, "all": {"all"} if disbursed else set()}[kind]
            assert set(got) == keys, (kind, end)
            expected = all_group_metrics(book, kind, end, start, thresholds=bands,
                                         channel_purity_in_dqi=purity_counts, keys=sorted(keys))
            for key, want in expected.items():
                _assert_group(got[key], want, (kind, key, start, end))
                if kind == "branch":
                    assert got[key]["main_region"] == branch_region(book, key, end)


def _assert_group(row: Any, want: GroupMetrics, where: tuple[Any, ...]) -> None:
    c = want.components
    assert row["period_start"] == want.window.start, where
    for name in COUNTS:
        assert row[name] == getattr(c, name), (where, name)
    for name in MONEY:
        assert engine.cents(row[name]) == getattr(c, name), (where, name)
    for column, label in BUCKET_LABELS.items():
        assert row[f"bucket_{column}_count"] == c.buckets[label].count, (where, label)
        assert engine.cents(row[f"bucket_{column}_balance"]) == c.buckets[label].balance, (where, label)
    assert row["had_float_gap"] == c.had_float_gap, where
    for name, ratio in want.ratios.by_name().items():
        value = row[name]
        if ratio.value is None:
            assert value is None, (where, name)
        else:
            assert abs(Fraction(value) - ratio.value) < Fraction(1, 10**39), (where, name, value, ratio.value)
    for name in BANDED:
        band = want.ratio_bands[name]
        assert row[f"{name}_band"] == (band.title_case if band else None), (where, name)
    assert row["risk_score"] == want.risk_score, where
    assert row["risk_band"] == want.risk_band.title_case, where
    assert row["dqi"] == want.dqi, where
    assert row["dqi_band"] == want.dqi_band.title_case, where
    inputs = [Decimal(x) for x in row["penalty_inputs"]]
    assert [abs(Fraction(x) - p.input) < Fraction(1, 10**38) for x, p in zip(inputs, want.penalties, strict=True)] \
        == [True] * 9, where
