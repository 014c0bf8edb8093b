"""The stock and flow components of SPEC §5.5 for a group of loans and a window [S, D].

Stocks are taken on D over the loans active on D; flows sum over S..D over every loan of the group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from loanmetrics.calculators.book import Book
from loanmetrics.calculators.groups import GroupKind, Window
from loanmetrics.calculators.loan_state import (
    BUCKETS,
    Installment,
    LoanHistory,
    active,
    alloc,
    bucket,
    dpd,
    fimr_eligible,
    missed,
    total_out,
)
from loanmetrics.calculators.money import ZERO


@dataclass(frozen=True)
class BucketTotal:
    """Count and Σ total_out(D) of the active loans in one DPD bucket."""

    count: int
    balance: Decimal


@dataclass(frozen=True)
class Components:
    """Every component of §5.5 (column names of officer_metrics_daily) plus a few counts beside them."""

    active_loans: int
    total_portfolio: Decimal
    buckets: Mapping[str, BucketTotal]
    overdue_15d_amount: Decimal
    overdue_15d_count: int
    dpd_1to6_balance: Decimal
    dpd_1to6_count: int
    amount_due_7d: Decimal
    prev_dpd_1to6_balance: Decimal
    prev_dpd_1to6_count: int
    moved_to_7to30: Decimal
    moved_to_7to30_count: int
    moved_to_7to30_balance_on_d: Decimal
    par15_mid_month: Decimal
    par15_mid_month_count: int
    channel_pure_count: int
    disbursed_count: int
    disbursed_amount: Decimal
    fimr_cohort_count: int
    first_miss_count: int
    all_time_fimr_cohort_count: int
    all_time_first_miss_count: int
    fees_collected: Decimal
    fees_due: Decimal
    interest_collected: Decimal
    total_yield: Decimal
    on_time_paid: Decimal
    on_time_due: Decimal
    waivers_amount: Decimal
    total_entries: int
    backdated_count: int
    reversals_count: int
    had_float_gap: bool
    total_officers: int
    loan_count: int
    regions: tuple[str, ...]


def compute_components(
    book: Book, kind: GroupKind, key: str, loans: Sequence[LoanHistory], window: Window
) -> Components:
    """All §5.5 components of the group `kind`/`key` whose loans are `loans`, over `window`."""
    d = window.end
    active_on_d = [h for h in loans if active(h.loan, d)]
    buckets = {label: _bucket_total([h for h in active_on_d if bucket(dpd(h, d)) == label], d) for label in BUCKETS}
    overdue_15d = [h for h in active_on_d if dpd(h, d) > 15]
    dpd_1to6 = [h for h in active_on_d if 1 <= dpd(h, d) <= 6]
    prev = window.d_minus_7
    prev_1to6 = [h for h in loans if active(h.loan, prev) and 1 <= dpd(h, prev) <= 6]
    moved = [h for h in prev_1to6 if active(h.loan, d) and 7 <= dpd(h, d) <= 30]
    m = window.mid_month
    par15 = [h for h in loans if active(h.loan, m) and dpd(h, m) > 15]
    disbursed = [h for h in loans if window.start <= h.loan.disbursement_date <= d]
    fimr_cohort = [h for h in disbursed if fimr_eligible(h, d)]
    all_time_cohort = [h for h in loans if h.loan.disbursement_date <= d and fimr_eligible(h, d)]
    in_window = [r for h in loans for r in h.repayments if window.start <= r.payment_date <= d]
    in_month = [r for h in loans for r in h.repayments if window.month_start <= r.payment_date <= d]
    entries = [r for h in loans for r in h.entries if window.start <= r.payment_date <= d]
    officer = book.officers.get(key) if kind == "officer" else None
    return Components(
        active_loans=len(active_on_d),
        total_portfolio=_sum_total_out(active_on_d, d),
        buckets=buckets,
        overdue_15d_amount=_sum_total_out(overdue_15d, d),
        overdue_15d_count=len(overdue_15d),
        dpd_1to6_balance=_sum_total_out(dpd_1to6, d),
        dpd_1to6_count=len(dpd_1to6),
        amount_due_7d=amount_due_7d(active_on_d, d),
        prev_dpd_1to6_balance=_sum_total_out(prev_1to6, prev),
        prev_dpd_1to6_count=len(prev_1to6),
        moved_to_7to30=_sum_total_out(moved, prev),
        moved_to_7to30_count=len(moved),
        moved_to_7to30_balance_on_d=_sum_total_out(moved, d),
        par15_mid_month=_sum_total_out(par15, m),
        par15_mid_month_count=len(par15),
        channel_pure_count=sum(1 for h in active_on_d if is_channel_pure(book, h)),
        disbursed_count=len(disbursed),
        disbursed_amount=sum((h.loan.loan_amount for h in disbursed), ZERO),
        fimr_cohort_count=len(fimr_cohort),
        first_miss_count=sum(1 for h in fimr_cohort if missed(h, d)),
        all_time_fimr_cohort_count=len(all_time_cohort),
        all_time_first_miss_count=sum(1 for h in all_time_cohort if missed(h, d)),
        fees_collected=sum((r.fees_paid for r in in_window), ZERO),
        fees_due=fees_due(loans, window),
        interest_collected=sum((r.interest_paid for r in in_window), ZERO),
        total_yield=sum((r.interest_paid + r.fees_paid for r in in_month), ZERO),
        on_time_paid=on_time_paid(loans, window),
        on_time_due=on_time_due(loans, window),
        waivers_amount=sum((r.waiver_amount or ZERO for r in in_window), ZERO),
        total_entries=len(entries),
        backdated_count=sum(1 for r in entries if r.is_backdated),
        reversals_count=sum(1 for r in entries if r.is_reversed),
        had_float_gap=officer.had_float_gap if officer is not None else False,
        total_officers=len({h.loan.officer_id for h in active_on_d}),
        loan_count=len(loans),
        regions=tuple(sorted({h.loan.region for h in loans})),
    )


def amount_due_7d(active_on_d: Sequence[LoanHistory], d: date) -> Decimal:
    """Σ (total_due_i − alloc_i(D)) over installments due in [D, D+6] of loans active on D."""
    last = d + timedelta(days=6)
    return sum(
        (
            inst.total_due - alloc(h, k, d)
            for h in active_on_d
            for k, inst in enumerate(h.installments)
            if d <= inst.due_date <= last
        ),
        ZERO,
    )


def fees_due(loans: Sequence[LoanHistory], window: Window) -> Decimal:
    """Σ fee_due of installments due in [S, D] of loans active on their due date."""
    return sum(
        (
            inst.fee_due
            for h in loans
            for inst in h.installments
            if window.start <= inst.due_date <= window.end and active(h.loan, inst.due_date)
        ),
        ZERO,
    )


def on_time_paid(loans: Sequence[LoanHistory], window: Window) -> Decimal:
    """OTI numerator: Σ alloc_i(due_date_i) over the on-time installments of `on_time_due`."""
    return sum((alloc(h, k, inst.due_date) for h, k, inst in _on_time_installments(loans, window)), ZERO)


def on_time_due(loans: Sequence[LoanHistory], window: Window) -> Decimal:
    """OTI denominator: Σ total_due_i, due in [S, D−1], of loans active on the due date."""
    return sum((inst.total_due for _, _, inst in _on_time_installments(loans, window)), ZERO)


def is_channel_pure(book: Book, h: LoanHistory) -> bool:
    """A loan is pure when its channel equals its officer's primary_channel, or the officer has none."""
    officer = book.officers.get(h.loan.officer_id)
    primary = officer.primary_channel if officer is not None else None
    return primary is None or h.loan.channel == primary


def _on_time_installments(loans: Sequence[LoanHistory], window: Window) -> list[tuple[LoanHistory, int, Installment]]:
    last = window.end - timedelta(days=1)
    return [
        (h, k, inst)
        for h in loans
        for k, inst in enumerate(h.installments)
        if window.start <= inst.due_date <= last and active(h.loan, inst.due_date)
    ]


def _sum_total_out(loans: Sequence[LoanHistory], d: date) -> Decimal:
    return sum((total_out(h, d) for h in loans), ZERO)


def _bucket_total(loans: Sequence[LoanHistory], d: date) -> BucketTotal:
    return BucketTotal(count=len(loans), balance=_sum_total_out(loans, d))
