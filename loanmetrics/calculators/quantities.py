"""The per-loan quantities the components of SPEC §5.5 sum, as plain Python (the reference).

Each function takes one loan of a group and the window [S, D] and returns that loan's share of
a component: a date's stock (active, DPD, a balance on D, D−7 or M) or its part of a flow over
the window. ``calculators/registry.py`` pairs each with the SQL the engine computes for the same
loan, and the property tests hold the two to each other on random books.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from loanmetrics.calculators import loan_state as ls
from loanmetrics.calculators.book import Book, Repayment
from loanmetrics.calculators.groups import Window
from loanmetrics.calculators.money import ZERO

Value = Decimal | int | bool


@dataclass(frozen=True)
class LoanInWindow:
    """One loan of a group, gathered (``LoanHistory``), over one window."""

    book: Book
    history: ls.LoanHistory
    window: Window


# --- stocks on D, D−7 and M (§5.3) --------------------------------------------------------------


def _active(x: LoanInWindow, d: date) -> bool:
    return ls.active(x.history.loan, d)


def active_d(x: LoanInWindow) -> bool:
    return _active(x, x.window.end)


def dpd_d(x: LoanInWindow) -> int:
    return ls.dpd(x.history, x.window.end)


def out_d(x: LoanInWindow) -> Decimal:
    """total_out(L, D): principal, interest and fees outstanding, the balance of every balance metric."""
    return ls.total_out(x.history, x.window.end)


def principal_out_d(x: LoanInWindow) -> Decimal:
    """principal_out(L, D) = max(0, loan_amount − principal_paid(L, D)): portfolio at risk's balance."""
    return ls.principal_outstanding(x.history, x.window.end)


def active_7(x: LoanInWindow) -> bool:
    return _active(x, x.window.d_minus_7)


def dpd_7(x: LoanInWindow) -> int:
    return ls.dpd(x.history, x.window.d_minus_7)


def out_7(x: LoanInWindow) -> Decimal:
    return ls.total_out(x.history, x.window.d_minus_7)


def active_m(x: LoanInWindow) -> bool:
    return _active(x, x.window.mid_month)


def dpd_m(x: LoanInWindow) -> int:
    return ls.dpd(x.history, x.window.mid_month)


def out_m(x: LoanInWindow) -> Decimal:
    return ls.total_out(x.history, x.window.mid_month)


def pure(x: LoanInWindow) -> bool:
    """The loan's channel equals its officer's primary_channel exactly, or the officer has none."""
    officer = x.book.officers.get(x.history.loan.officer_id)
    primary = officer.primary_channel if officer is not None else None
    return primary is None or x.history.loan.channel == primary


# --- the first installment and disbursement (§5.3, §5.5) -----------------------------------------


def disbursed_in_window(x: LoanInWindow) -> bool:
    return x.window.start <= x.history.loan.disbursement_date <= x.window.end


def eligible(x: LoanInWindow) -> bool:
    """FIMR-eligible on D: the first payment fell due before D."""
    return ls.fimr_eligible(x.history, x.window.end)


def missed(x: LoanInWindow) -> bool:
    return ls.missed(x.history, x.window.end)


def loan_amount(x: LoanInWindow) -> Decimal:
    return x.history.loan.loan_amount


# --- flows over [S, D] (§5.5) --------------------------------------------------------------------


def _paid_in(x: LoanInWindow, first: date) -> list[Repayment]:
    """The loan's counted (non-reversed) repayments dated in [first, D]."""
    return [r for r in x.history.repayments if first <= r.payment_date <= x.window.end]


def fees_collected(x: LoanInWindow) -> Decimal:
    return sum((r.fees_paid for r in _paid_in(x, x.window.start)), ZERO)


def interest_collected(x: LoanInWindow) -> Decimal:
    return sum((r.interest_paid for r in _paid_in(x, x.window.start)), ZERO)


def total_yield(x: LoanInWindow) -> Decimal:
    """Interest and fees paid from the first of D's month (monthly whatever the window)."""
    return sum((r.interest_paid + r.fees_paid for r in _paid_in(x, x.window.month_start)), ZERO)


def waivers_amount(x: LoanInWindow) -> Decimal:
    return sum((r.waiver_amount or ZERO for r in _paid_in(x, x.window.start)), ZERO)


def _entries(x: LoanInWindow) -> list[Repayment]:
    """Every repayment dated in [S, D], reversed ones included (the entry counts)."""
    return [r for r in x.history.entries if x.window.start <= r.payment_date <= x.window.end]


def total_entries(x: LoanInWindow) -> int:
    return len(_entries(x))


def backdated_count(x: LoanInWindow) -> int:
    return sum(1 for r in _entries(x) if r.is_backdated)


def reversals_count(x: LoanInWindow) -> int:
    return sum(1 for r in _entries(x) if r.is_reversed)


def fees_due(x: LoanInWindow) -> Decimal:
    """Σ fee_due of installments due in [S, D] while the loan is active on the due date."""
    h, w = x.history, x.window
    return sum((i.fee_due for i in h.installments if w.start <= i.due_date <= w.end and ls.active(h.loan, i.due_date)),
               ZERO)


def _on_time(x: LoanInWindow) -> list[tuple[int, ls.Installment]]:
    """Installments due in [S, D−1] while the loan is active on the due date."""
    h, w = x.history, x.window
    last = w.end - timedelta(days=1)
    return [(k, i) for k, i in enumerate(h.installments) if w.start <= i.due_date <= last
            and ls.active(h.loan, i.due_date)]


def on_time_paid(x: LoanInWindow) -> Decimal:
    """Σ alloc_i(due_date_i): what was paid of each installment by its due date."""
    return sum((ls.alloc(x.history, k, i.due_date) for k, i in _on_time(x)), ZERO)


def on_time_due(x: LoanInWindow) -> Decimal:
    return sum((i.total_due for _, i in _on_time(x)), ZERO)


def amount_due_7d(x: LoanInWindow) -> Decimal:
    """Σ (total_due_i − alloc_i(D)) over installments due in [D, D+6], when active on D."""
    h, d = x.history, x.window.end
    if not ls.active(h.loan, d):
        return ZERO
    last = d + timedelta(days=6)
    return sum((i.total_due - ls.alloc(h, k, d) for k, i in enumerate(h.installments) if d <= i.due_date <= last),
               ZERO)
