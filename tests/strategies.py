"""Hypothesis strategies for random but valid loan books, as ETL payload batches.

They aim at the corners of SPEC §5: bullet loans without schedule, rows with total_due 0 and one
cent, unsorted due dates, partial, late, prepaid and never-paid loans, zero-coverage (penalty
only) repayments, reversals, same-day payments, closures and write-offs, and payments that leave
an installment exactly 0.00, 0.01 or 0.02 short of settling.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from loanmetrics.calculators.money import round2

BUSINESS_DATE = date(2026, 9, 18)
# Dates around the boundaries the metrics test: D, D-7, the 15th, DPD 6/7, 15/16, 30/31 on them.
_ANCHORS = (date(2026, 9, 15), date(2026, 8, 15), date(2026, 9, 11), date(2026, 9, 1), date(2026, 8, 25))
ANCHOR_DATES = tuple(sorted({a - timedelta(days=k) for a in (*_ANCHORS, BUSINESS_DATE)
                             for k in (-6, -1, 0, 1, 6, 7, 15, 16, 30, 31)}))
# Due dates that put DPD exactly on a bucket, PAR15 or PAR boundary on D = BUSINESS_DATE or M = the 15th.
CRITICAL_DUE_DATES = tuple(
    anchor - timedelta(days=k)
    for anchor in (BUSINESS_DATE, date(2026, 9, 15), date(2026, 8, 15), date(2026, 9, 11))
    for k in (1, 6, 7, 15, 16, 30, 31, 60, 61, 90, 91)
)
REGIONS = {"North": ("Alpha", "Beta"), "South": ("Gamma",)}
CHANNELS = ("Branch", "Agent", "Mobile")


def cents(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


@st.composite
def officers(draw: st.DrawFn, count: int) -> list[dict[str, Any]]:
    out = []
    for n in range(count):
        region = draw(st.sampled_from(sorted(REGIONS)))
        out.append({
            "officer_id": f"OF{n}",
            "officer_name": f"Officer {n}",
            "region": region,
            "branch": draw(st.sampled_from(REGIONS[region])),
            "primary_channel": draw(st.none() | st.sampled_from(CHANNELS)),
            "had_float_gap": draw(st.booleans()),
        })
    return out


@st.composite
def schedule(draw: st.DrawFn, loan_id: str, disbursed: date, horizon: int) -> list[dict[str, Any]]:
    rows = []
    count = draw(st.integers(1, 5))
    for number in range(1, count + 1):
        kind = draw(st.sampled_from(("normal", "normal", "normal", "zero", "cent")))
        if kind == "zero":
            principal = interest = fee = 0
        elif kind == "cent":
            principal, interest, fee = 0, 0, 1
        else:
            principal = draw(st.integers(0, 50_000))
            interest = draw(st.integers(0, 5_000))
            fee = draw(st.integers(0, 1_000))
        offset = draw(st.integers(0, horizon))
        anchors = [a for a in ANCHOR_DATES if a >= disbursed]
        critical = [a for a in CRITICAL_DUE_DATES if a >= disbursed]
        pick = draw(st.integers(0, 5))
        if critical and pick < 2:
            offset = (draw(st.sampled_from(critical)) - disbursed).days
        elif anchors and pick < 3:
            offset = (draw(st.sampled_from(anchors)) - disbursed).days
        rows.append({
            "loan_id": loan_id,
            "installment_number": number,
            "due_date": (disbursed + timedelta(days=offset)).isoformat(),
            "principal_due": cents(principal),
            "interest_due": cents(interest),
            "fee_due": cents(fee),
            "total_due": cents(principal + interest + fee),
        })
    return rows


def cumulative_dues(loan: dict[str, Any], rows: list[dict[str, Any]]) -> list[int]:
    """C_i in cents of the loan's effective installments (SPEC §5.1-5.2): the rows with total_due
    above 0 by installment number, or the implied bullet installment of a loan without rows."""
    if not rows:
        amount = Decimal(loan["loan_amount"])
        rate = Decimal(loan["interest_rate"] or 0)
        interest = round2(Fraction(amount) * Fraction(rate) * loan["loan_term_days"] / 365)
        return [int((amount + interest + Decimal(loan["fee_amount"] or 0)) * 100)]
    out, total = [], 0
    for row in sorted(rows, key=lambda r: r["installment_number"]):
        due = int(Decimal(row["total_due"]) * 100)
        if due > 0:
            total += due
            out.append(total)
    return out


def _payment(loan_id: str, number: int, paid_on: date, coverage: int, penalty: int, **extra: Any) -> dict[str, Any]:
    """A non-reversed repayment whose principal, interest and fees add up to ``coverage`` cents."""
    fees = min(coverage, 100)
    interest = min(coverage - fees, 1_000)
    principal = coverage - fees - interest
    return {
        "repayment_id": f"{loan_id}-R{number}", "loan_id": loan_id, "payment_date": paid_on.isoformat(),
        "payment_amount": cents(coverage + penalty), "principal_paid": cents(principal),
        "interest_paid": cents(interest), "fees_paid": cents(fees), "penalty_paid": cents(penalty),
        "payment_method": "Cash", "is_reversed": False, **extra,
    }


@st.composite
def repayments(
    draw: st.DrawFn, loan_id: str, disbursed: date, start: int, dues: list[int] | None = None
) -> list[dict[str, Any]]:
    """Random repayments; with ``dues`` (the loan's C_i in cents), sometimes one that leaves paid(L)
    exactly 0, 1 or 2 cents short of an installment's C_i (SPEC §5.2 settles within 0.01), maybe
    topped up by a later cent."""
    span = (BUSINESS_DATE - disbursed).days
    if dues and draw(st.integers(0, 3)) == 0:
        short = draw(st.sampled_from((0, 1, 1, 2, 2)))
        coverage = draw(st.sampled_from(dues)) - short
        if coverage > 0:
            paid_on = disbursed + timedelta(days=draw(st.integers(0, span)))
            if draw(st.booleans()):
                paid_on = draw(st.sampled_from([a for a in ANCHOR_DATES if disbursed <= a <= BUSINESS_DATE]
                                               or [paid_on]))
            out = [_payment(loan_id, start, paid_on, coverage, draw(st.integers(0, 300)))]
            if draw(st.booleans()):
                later = paid_on + timedelta(days=draw(st.integers(0, (BUSINESS_DATE - paid_on).days)))
                out.append(_payment(loan_id, start + 1, later, 1, 0))
            return out
    out = []
    anchors = [a for a in ANCHOR_DATES if disbursed <= a <= BUSINESS_DATE]
    for n in range(draw(st.integers(0, 6))):
        paid_on = disbursed + timedelta(days=draw(st.integers(0, span)))
        on_anchor = draw(st.booleans())
        if anchors and on_anchor:
            paid_on = draw(st.sampled_from(anchors))
        principal = draw(st.integers(0, 40_000))
        interest = draw(st.integers(0, 4_000))
        fees = draw(st.integers(0, 800))
        if draw(st.integers(0, 9)) == 0:
            principal = interest = fees = 0  # penalty only: no coverage
        penalty = draw(st.integers(0, 300))
        reversed_ = draw(st.integers(0, 5)) == 0
        reversal_on = paid_on + timedelta(days=draw(st.integers(0, (BUSINESS_DATE - paid_on).days)))
        out.append({
            "repayment_id": f"{loan_id}-R{start + n}",
            "loan_id": loan_id,
            "payment_date": paid_on.isoformat(),
            "payment_amount": cents(principal + interest + fees + penalty),
            "principal_paid": cents(principal),
            "interest_paid": cents(interest),
            "fees_paid": cents(fees),
            "penalty_paid": cents(penalty),
            "payment_method": "Cash",
            "is_backdated": draw(st.booleans()),
            "is_reversed": reversed_,
            "reversal_date": reversal_on.isoformat() if reversed_ else None,
            "reversal_reason": "bounced" if reversed_ else None,
            "waiver_amount": cents(draw(st.integers(0, 500))) if draw(st.booleans()) else None,
        })
    return out


@st.composite
def loan_books(draw: st.DrawFn, max_loans: int = 6) -> list[dict[str, Any]]:
    """One to three ETL batches: parties and loans with schedules, then repayments, then reversals."""
    officer_list = draw(officers(draw(st.integers(1, 3))))
    loans, rows, payments = [], [], []
    for n in range(draw(st.integers(1, max_loans))):
        loan_id = f"L{n}"
        officer = draw(st.sampled_from(officer_list))
        disbursed = BUSINESS_DATE - timedelta(days=draw(st.integers(0, 120)))
        term = draw(st.integers(7, 180))
        status = draw(st.sampled_from(("Active", "Active", "Active", "Closed", "Written Off")))
        closed = None
        if status != "Active":
            closed = disbursed + timedelta(days=draw(st.integers(0, (BUSINESS_DATE - disbursed).days)))
        region = officer["region"] if draw(st.booleans()) else draw(st.sampled_from(sorted(REGIONS)))
        loans.append({
            "loan_id": loan_id,
            "customer_id": f"C{n % 3}",
            "customer_name": f"Customer {n % 3}",
            "officer_id": officer["officer_id"],
            "officer_name": officer["officer_name"],
            "region": region,
            "branch": draw(st.sampled_from(REGIONS[region])),
            "loan_amount": cents(draw(st.integers(1, 100_000))),
            "disbursement_date": disbursed.isoformat(),
            "maturity_date": (disbursed + timedelta(days=term)).isoformat(),
            "loan_term_days": term,
            "interest_rate": draw(st.none() | st.sampled_from(("0", "0.15", "0.365", "0.48"))),
            "fee_amount": draw(st.none() | st.integers(0, 2_000).map(cents)),
            "channel": draw(st.sampled_from(CHANNELS)),
            "status": status,
            "closed_date": closed.isoformat() if closed else None,
        })
        if draw(st.integers(0, 4)) > 0:
            rows += draw(schedule(loan_id, disbursed, term))
        loan_rows = [row for row in rows if row["loan_id"] == loan_id]
        payments += draw(repayments(loan_id, disbursed, 0, cumulative_dues(loans[-1], loan_rows)))
    first = {"data": {"officers": officer_list, "loans": loans, "loan_schedules": rows}}
    batches = [first]
    if draw(st.booleans()):
        first["data"]["repayments"] = payments
    else:
        batches.append({"data": {"repayments": payments}})
    if draw(st.booleans()):
        # the core restructures a loan: its whole schedule is sent again, possibly shorter or empty-valued
        loan = draw(st.sampled_from(loans))
        disbursed = date.fromisoformat(loan["disbursement_date"])
        batches.append({"data": {"loan_schedules": draw(schedule(loan["loan_id"], disbursed, loan["loan_term_days"]))}})
    if draw(st.booleans()):
        # a loan re-sent with a new status (closure or write-off) and amount
        loan = dict(draw(st.sampled_from(loans)))
        disbursed_on = date.fromisoformat(loan["disbursement_date"])
        closed = disbursed_on + timedelta(days=draw(st.integers(0, (BUSINESS_DATE - disbursed_on).days)))
        loan.update(status="Closed", closed_date=closed.isoformat(), loan_amount=cents(draw(st.integers(1, 100_000))))
        batches.append({"data": {"loans": [loan]}})
    reversible = [p for p in payments if not p["is_reversed"]]
    resend_reversal = draw(st.booleans())
    if reversible and resend_reversal:
        target: dict[str, Any] = dict(draw(st.sampled_from(reversible)))
        target.update(is_reversed=True, reversal_date=BUSINESS_DATE.isoformat(), reversal_reason="re-sent reversal")
        batches.append({"data": {"repayments": [target]}})
    return batches
