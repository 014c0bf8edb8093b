"""Golden test: the reference calculators reproduce the worked example in tests/fixtures.

Loans to the cent on the business date; every group of both windows: components, ratios, bands,
penalties, risk score and DQI. No database needed. Missing example files fail the test.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, localcontext
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from loanmetrics.calculators import loan_state as ls
from loanmetrics.calculators.book import Book
from loanmetrics.calculators.groups import GROUP_KINDS
from loanmetrics.calculators.metrics import GroupMetrics, all_group_metrics
from loanmetrics.calculators.registry import bucket_of

EXAMPLES = Path(__file__).resolve().parent / "fixtures"
BUSINESS_DATE = date(2026, 9, 18)

# The example JSON spells two penalty names differently from SPEC §5.6.
PENALTY_NAME_IN_EXAMPLE = {"frr": "frr_shortfall", "channel_purity": "channel_impurity"}

# Components compared one to one; `fimr_cohort` and `all_time_fimr_cohort` are aliases in the file.
COMPONENT_ALIASES = {"fimr_cohort": "fimr_cohort_count", "all_time_fimr_cohort": "all_time_fimr_cohort_count"}
NON_COMPONENT_KEYS = {
    "group_by",
    "group",
    "period_start",
    "period_end",
    "d_minus_7",
    "mid_month_date",
    "month_start",
    "buckets",
    "risk_penalties",
    "penalties",
    "risk_score",
    "risk_band",
    "dqi_raw",
    "dqi",
    "dqi_band",
}
RATIO_KEYS = (
    "fimr",
    "all_time_fimr",
    "d06_slippage",
    "roll",
    "frr",
    "ayr",
    "porr",
    "on_time_rate",
    "channel_purity",
)
# The file's unrounded quantities (penalties, dqi_raw) are 40-digit decimals computed step by step;
# the reference keeps them as exact fractions, so they agree far beyond 1e-6.
UNROUNDED_TOLERANCE = Fraction(1, 10**30)


def _load(name: str) -> Any:
    path = EXAMPLES / name
    assert path.is_file(), f"worked example missing: {path}"
    with path.open() as f:
        return json.load(f)


@pytest.fixture(scope="module")
def book() -> Book:
    return Book.from_payload(_load("book-payload.json"))


@pytest.fixture(scope="module")
def expected_loans() -> dict[str, Any]:
    data: dict[str, Any] = _load("book-expected-loans.json")
    return data


@pytest.fixture(scope="module")
def expected_metrics() -> dict[str, Any]:
    data: dict[str, Any] = _load("book-expected-metrics.json")
    return data


def _same(actual: object, expected: Any) -> bool:
    """Exact comparison of a computed value with its JSON spelling (decimal strings, ISO dates)."""
    if expected is None or actual is None:
        return actual is None and expected is None
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, Decimal):
        return isinstance(expected, str) and actual == Decimal(expected)
    if isinstance(actual, date):
        return bool(actual.isoformat() == expected)
    if isinstance(actual, Fraction):
        return actual == Fraction(Decimal(str(expected)))
    return bool(actual == expected)


def _as_40_digits(value: Fraction) -> Decimal:
    """The exact value rounded to 40 significant digits, the precision of the example file."""
    with localcontext() as ctx:
        ctx.prec = 40
        return Decimal(value.numerator) / Decimal(value.denominator)


# --- loans --------------------------------------------------------------------------------------


def test_every_loan_matches_to_the_cent(book: Book, expected_loans: dict[str, Any]) -> None:
    assert set(expected_loans) == set(book.loans)
    mismatches: list[str] = []
    for loan_id, exp in sorted(expected_loans.items()):
        assert exp["as_of"] == BUSINESS_DATE.isoformat()
        h = ls.loan_history(book, loan_id)
        fields = ls.compute_loan_fields(h, BUSINESS_DATE)
        day_dpd = ls.dpd(h, BUSINESS_DATE)
        actual: dict[str, object] = dict(vars(fields))
        actual.update(
            dpd=day_dpd,
            bucket=bucket_of(day_dpd).label,
            active=ls.active(h.loan, BUSINESS_DATE),
            days_late=ls.days_late(h, BUSINESS_DATE),
            fimr_eligible=ls.fimr_eligible(h, BUSINESS_DATE),
            paid=ls.paid(h, BUSINESS_DATE),
            implied_schedule=not h.rows,
        )
        assert len(vars(fields)) == 14
        for key, value in actual.items():
            if not _same(value, exp[key]):
                mismatches.append(f"{loan_id}.{key}: got {value!r}, expected {exp[key]!r}")

        states = ls.schedule_state(h, BUSINESS_DATE)
        if len(states) != len(exp["schedule"]):
            mismatches.append(f"{loan_id}: {len(states)} schedule rows, expected {len(exp['schedule'])}")
            continue
        for state, exp_row in zip(states, exp["schedule"], strict=True):
            for key in (
                "installment_number",
                "due_date",
                "total_due",
                "implied",
                "ignored",
                "cumulative_due",
                "settled_at",
                "amount_paid",
                "payment_date",
                "payment_status",
            ):
                value = getattr(state, key)
                if not _same(value, exp_row[key]):
                    mismatches.append(
                        f"{loan_id}#{exp_row['installment_number']}.{key}: got {value!r}, expected {exp_row[key]!r}"
                    )
    assert not mismatches, "\n".join(mismatches[:50])


def test_loan_fields_entry_point_agrees(book: Book, expected_loans: dict[str, Any]) -> None:
    for loan_id in sorted(expected_loans)[:20]:
        fields = ls.loan_fields(book, loan_id, BUSINESS_DATE)
        assert _same(fields.total_outstanding, expected_loans[loan_id]["total_outstanding"])
        assert fields.max_dpd_ever == expected_loans[loan_id]["max_dpd_ever"]


# --- groups -------------------------------------------------------------------------------------


def _group_mismatches(label: str, got: GroupMetrics, exp: dict[str, Any]) -> list[str]:
    out: list[str] = []

    def check(name: str, value: object, expected: Any) -> None:
        if not _same(value, expected):
            out.append(f"{label}.{name}: got {value!r}, expected {expected!r}")

    w = got.window
    check("period_start", w.start, exp["period_start"])
    check("period_end", w.end, exp["period_end"])
    check("d_minus_7", w.d_minus_7, exp["d_minus_7"])
    check("mid_month_date", w.mid_month, exp["mid_month_date"])
    check("month_start", w.month_start, exp["month_start"])
    check("group", got.key, exp["group"])
    check("group_by", got.kind, exp["group_by"])

    components = vars(got.components)
    for key, expected in exp.items():
        if key in NON_COMPONENT_KEYS or key in RATIO_KEYS:
            continue
        attr = COMPONENT_ALIASES.get(key, key)
        if attr not in components:
            out.append(f"{label}.{key}: no such component")
            continue
        value = components[attr]
        check(key, list(value) if isinstance(value, tuple) else value, expected)
    if set(got.components.buckets) != set(exp["buckets"]):
        out.append(f"{label}.buckets: labels {sorted(got.components.buckets)} vs {sorted(exp['buckets'])}")
    for name, total in got.components.buckets.items():
        check(f"buckets[{name}].count", total.count, exp["buckets"][name]["count"])
        check(f"buckets[{name}].balance", total.balance, exp["buckets"][name]["balance"])

    ratios = got.ratios.by_name()
    assert {name for name in ratios if not name.startswith("par")} == set(RATIO_KEYS)  # PAR: test_golden_par.py
    for name in RATIO_KEYS:
        r, e = ratios[name], exp[name]
        check(f"{name}.numerator", r.numerator, e["numerator"])
        check(f"{name}.denominator", r.denominator, e["denominator"])
        if r.value is None or e["value"] is None:
            check(f"{name}.value", r.value, e["value"])
        else:
            # Exact: the value is numerator/denominator (CP of no active loans is 1), and its
            # rounding to 40 significant digits is the file's spelling.
            denominator = Fraction(Decimal(str(e["denominator"])))
            exact = Fraction(1) if denominator == 0 else Fraction(Decimal(str(e["numerator"]))) / denominator
            if r.value != exact:
                out.append(f"{label}.{name}.value: got {r.value}, expected exactly {exact}")
            check(f"{name}.value(40 digits)", _as_40_digits(r.value), e["value"])
        band = got.ratio_bands[name]
        check(f"{name}.band", None if band is None else band.value, e["band"])

    names = [PENALTY_NAME_IN_EXAMPLE.get(p.name, p.name) for p in got.penalties]
    if names != [p["name"] for p in exp["risk_penalties"]]:
        out.append(f"{label}.risk_penalties names: {names}")
    else:
        for p, e in zip(got.penalties, exp["risk_penalties"], strict=True):
            check(f"penalty[{p.name}].weight", p.weight, e["weight"])
            for attr in ("input", "points"):
                diff = abs(getattr(p, attr) - Fraction(Decimal(e[attr])))
                if diff > UNROUNDED_TOLERANCE:
                    out.append(f"{label}.penalty[{p.name}].{attr}: got {getattr(p, attr)}, expected {e[attr]}")
    if abs(got.penalties_total - Fraction(Decimal(exp["penalties"]))) > UNROUNDED_TOLERANCE:
        out.append(f"{label}.penalties: got {float(got.penalties_total)}, expected {exp['penalties']}")
    if abs(got.dqi_raw - Fraction(Decimal(exp["dqi_raw"]))) > UNROUNDED_TOLERANCE:
        out.append(f"{label}.dqi_raw: got {float(got.dqi_raw)}, expected {exp['dqi_raw']}")
    check("risk_score", got.risk_score, exp["risk_score"])
    check("risk_band", got.risk_band.value, exp["risk_band"])
    check("dqi", got.dqi, exp["dqi"])
    check("dqi_band", got.dqi_band.value, exp["dqi_band"])
    return out


@pytest.mark.parametrize("window_name", ["month_to_date", "custom"])
def test_every_group_matches(book: Book, expected_metrics: dict[str, Any], window_name: str) -> None:
    assert expected_metrics["business_date"] == BUSINESS_DATE.isoformat()
    window = expected_metrics["windows"][window_name]
    start, end = date.fromisoformat(window["start"]), date.fromisoformat(window["end"])
    assert end == BUSINESS_DATE
    mismatches: list[str] = []
    for kind in GROUP_KINDS:
        computed = all_group_metrics(book, kind, end, start)
        assert sorted(computed) == sorted(window[kind]), kind
        for key, exp in sorted(window[kind].items()):
            mismatches += _group_mismatches(f"{window_name}/{kind}/{key}", computed[key], exp)
    assert not mismatches, "\n".join(mismatches[:50])
